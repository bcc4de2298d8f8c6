"""Secrets API 2.0 through the SDK: scopes, write-only secrets, and secret ACLs."""

import base64
import time

from databricks.sdk.errors import (
    BadRequest,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from databricks.sdk.service.workspace import AclPermission, ScopeBackendType

from support import ADMIN, ALICE, DATA_ENG, expect_error, raw


def _acls(w, scope):
    return {a.principal: a.permission for a in w.secrets.list_acls(scope)}


def test_create_list_and_delete_scopes(w):
    w.secrets.create_scope("team-a")
    w.secrets.create_scope("team-b")
    scopes = {s.name: s for s in w.secrets.list_scopes()}
    assert set(scopes) == {"team-a", "team-b"}
    assert scopes["team-a"].backend_type == ScopeBackendType.DATABRICKS
    w.secrets.delete_scope("team-a")
    assert [s.name for s in w.secrets.list_scopes()] == ["team-b"]


def test_duplicate_scope_already_exists_case_insensitively(w):
    w.secrets.create_scope("Prod")
    expect_error((ResourceAlreadyExists,), w.secrets.create_scope, "Prod")
    expect_error((ResourceAlreadyExists,), w.secrets.create_scope, "prod")


def test_invalid_scope_name(w):
    expect_error((BadRequest,), w.secrets.create_scope, "bad name!")
    expect_error((BadRequest,), w.secrets.create_scope, "s" * 129)


def test_delete_missing_scope_is_not_found(w):
    expect_error((ResourceDoesNotExist,), w.secrets.delete_scope, "nope")


def test_secret_values_are_write_only(w):
    w.secrets.create_scope("app")
    w.secrets.put_secret("app", "db-password", string_value="hunter2")
    w.secrets.put_secret("app", "cert", bytes_value=base64.b64encode(b"\x00\x01binary").decode())
    listed = {s.key: s for s in w.secrets.list_secrets("app")}
    assert set(listed) == {"db-password", "cert"}
    for secret in listed.values():
        assert secret.last_updated_timestamp and secret.last_updated_timestamp > 1_600_000_000_000
    body = raw(w, "GET", "/api/2.0/secrets/list", query={"scope": "app"})
    for entry in body["secrets"]:
        assert set(entry) == {"key", "last_updated_timestamp"}
    error = expect_error((BadRequest, PermissionDenied), w.secrets.get_secret, "app", "db-password")
    assert "hunter2" not in str(error)


def test_put_overwrites_and_advances_the_timestamp(w):
    w.secrets.create_scope("app")
    w.secrets.put_secret("app", "token", string_value="v1")
    (first,) = list(w.secrets.list_secrets("app"))
    time.sleep(0.01)
    w.secrets.put_secret("app", "token", string_value="v2")
    (second,) = list(w.secrets.list_secrets("app"))
    assert second.key == "token"
    assert second.last_updated_timestamp > first.last_updated_timestamp


def test_put_validates_the_value(w):
    w.secrets.create_scope("app")
    expect_error((BadRequest,), w.secrets.put_secret, "app", "k", bytes_value="%%% not base64 %%%")
    expect_error((BadRequest,), w.secrets.put_secret, "app", "k", string_value="a", bytes_value="YQ==")
    expect_error((BadRequest,), w.secrets.put_secret, "app", "k")
    expect_error((BadRequest,), w.secrets.put_secret, "app", "bad key!", string_value="a")
    assert list(w.secrets.list_secrets("app")) == []


def test_missing_scope_or_key(w):
    expect_error((ResourceDoesNotExist,), w.secrets.put_secret, "nope", "k", string_value="v")
    expect_error((ResourceDoesNotExist,), w.secrets.list_secrets, "nope")
    w.secrets.create_scope("app")
    expect_error((ResourceDoesNotExist,), w.secrets.delete_secret, "app", "missing")


def test_delete_secret(w):
    w.secrets.create_scope("app")
    w.secrets.put_secret("app", "a", string_value="1")
    w.secrets.put_secret("app", "b", string_value="2")
    w.secrets.delete_secret("app", "a")
    assert [s.key for s in w.secrets.list_secrets("app")] == ["b"]


def test_creator_gets_manage_acl(w):
    w.secrets.create_scope("mine")
    assert _acls(w, "mine") == {ADMIN: AclPermission.MANAGE}
    w.secrets.create_scope("everyone", initial_manage_principal="users")
    assert _acls(w, "everyone").get("users") == AclPermission.MANAGE


def test_acl_put_upserts_get_and_delete(w):
    w.secrets.create_scope("app")
    w.secrets.put_acl("app", DATA_ENG, AclPermission.READ)
    acl = w.secrets.get_acl("app", DATA_ENG)
    assert acl.principal == DATA_ENG
    assert acl.permission == AclPermission.READ
    w.secrets.put_acl("app", DATA_ENG, AclPermission.WRITE)
    w.secrets.put_acl("app", ALICE, AclPermission.MANAGE)
    assert _acls(w, "app") == {
        ADMIN: AclPermission.MANAGE,
        DATA_ENG: AclPermission.WRITE,
        ALICE: AclPermission.MANAGE,
    }
    w.secrets.delete_acl("app", DATA_ENG)
    assert DATA_ENG not in _acls(w, "app")
    expect_error((ResourceDoesNotExist,), w.secrets.get_acl, "app", DATA_ENG)
    expect_error((ResourceDoesNotExist,), w.secrets.delete_acl, "app", DATA_ENG)


def test_acl_for_unknown_principal_is_rejected(w):
    w.secrets.create_scope("app")
    expect_error((BadRequest, NotFound), w.secrets.put_acl, "app", "nobody@example.com", AclPermission.READ)
    assert "nobody@example.com" not in _acls(w, "app")


def test_delete_scope_cascades(w):
    w.secrets.create_scope("app")
    w.secrets.put_secret("app", "k", string_value="v")
    w.secrets.put_acl("app", DATA_ENG, AclPermission.READ)
    w.secrets.delete_scope("app")
    expect_error((ResourceDoesNotExist,), w.secrets.list_secrets, "app")
    w.secrets.create_scope("app")
    assert list(w.secrets.list_secrets("app")) == []
    assert _acls(w, "app") == {ADMIN: AclPermission.MANAGE}


def test_acl_principals_are_stored_as_the_workspace_names_them(w):
    # Secret ACLs name a user by the e-mail the workspace stores, lower-case (user names are
    # normalised to lower case: terraform-provider-databricks PR #5757 / #2786); a mixed-case
    # request reaches the same ACL. Group names keep their case (see test_permissions.py).
    w.secrets.create_scope("app")
    w.secrets.put_acl("app", ALICE.upper(), AclPermission.READ)
    assert _acls(w, "app") == {ADMIN: AclPermission.MANAGE, ALICE: AclPermission.READ}
    acl = w.secrets.get_acl("app", "Alice@Example.com")
    assert acl.principal == ALICE and acl.permission == AclPermission.READ
    w.secrets.delete_acl("app", "ALICE@example.com")
    assert ALICE not in _acls(w, "app")
