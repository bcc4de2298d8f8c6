"""Authentication, the error envelope of a bad token, and the SCIM identity endpoints."""

import re

import requests
from databricks.sdk.errors import BadRequest, NotFound, PermissionDenied, ResourceConflict, Unauthenticated
from databricks.sdk.errors.parser import _Parser
from databricks.sdk.service import iam

from support import ADMIN, ALICE, BOB, DATA_ENG, SERVICE_PRINCIPAL, expect_error, make_client


def test_current_user_is_the_token_owner(w):
    me = w.current_user.me()
    assert me.user_name == ADMIN
    assert me.id
    assert me.active is True
    assert "admins" in {g.display for g in me.groups or []}


def test_wrong_token_is_permission_denied_with_numeric_code(host):
    intruder = make_client(host, "not-a-valid-token")
    error = expect_error((PermissionDenied,), intruder.jobs.get, 1)
    # The real gateway answers a bad token with a numeric error_code, not a string.
    assert error.error_code == 403
    assert "Invalid access token" in str(error)


def test_bad_token_wire_body(host):
    response = requests.get(
        f"{host}/api/2.2/jobs/list", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert response.status_code == 403
    body = response.json()
    assert body["error_code"] == 403 and isinstance(body["error_code"], int)
    assert body["message"] == "Invalid access token."


def test_a_request_without_a_token_is_unauthenticated(host):
    # Observed: a workspace answers a call without credentials (no Authorization header, or a
    # scheme it does not take) with 401 and a numeric error_code, "Credential was not sent or was
    # of an unsupported type for this API." (shared/reference/databricks-api.md §1; the same body
    # is quoted verbatim in public test fixtures and troubleshooting notes). The SDK maps 401 to
    # Unauthenticated (databricks/sdk/errors/platform.py, STATUS_CODE_MAPPING).
    for headers in ({}, {"Authorization": "Basic YTpi"}):
        response = requests.get(f"{host}/api/2.2/jobs/list", headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json() == {
            "error_code": 401,
            "message": "Credential was not sent or was of an unsupported type for this API.",
        }
        error = _Parser().get_api_error(response)
        assert isinstance(error, Unauthenticated), type(error).__name__


def test_users_list_with_filter_and_get(w):
    everyone = {u.user_name: u for u in w.users.list()}
    assert {ADMIN, ALICE} <= set(everyone)
    found = list(w.users.list(filter=f'userName eq "{ALICE}"'))
    assert [u.user_name for u in found] == [ALICE]
    alice = w.users.get(found[0].id)
    assert alice.user_name == ALICE
    assert alice.id == found[0].id
    assert DATA_ENG in {g.display for g in alice.groups or []}


def test_users_filter_is_case_insensitive(w):
    found = list(w.users.list(filter=f'userName eq "{ALICE.upper()}"'))
    assert [u.user_name for u in found] == [ALICE]


def test_missing_user_is_not_found(w):
    expect_error((NotFound,), w.users.get, "123456789")


def test_groups_list_and_get(w):
    groups = {g.display_name: g for g in w.groups.list()}
    assert {"admins", "users", DATA_ENG} <= set(groups)
    data_eng = w.groups.get(groups[DATA_ENG].id)
    assert data_eng.display_name == DATA_ENG
    alice = next(iter(w.users.list(filter=f'userName eq "{ALICE}"')))
    assert alice.id in {m.value for m in data_eng.members or []}
    filtered = list(w.groups.list(filter=f'displayName eq "{DATA_ENG}"'))
    assert [g.display_name for g in filtered] == [DATA_ENG]


def test_service_principals_list(w):
    found = list(w.service_principals.list(filter=f'applicationId eq "{SERVICE_PRINCIPAL}"'))
    assert [sp.application_id for sp in found] == [SERVICE_PRINCIPAL]
    assert w.service_principals.get(found[0].id).display_name == found[0].display_name


# SCIM (docs.databricks.com/api/workspace/users, /groups, /serviceprincipals; the SDK's
# databricks/sdk/service/iam.py). The `filter` parameter documents "equals (eq), contains (co),
# starts with (sw) and not equals (ne)" combined with "and" / "or"; SCIM itself (RFC 7644
# §3.4.2.2) makes attribute names case-insensitive and defines "pr".


def test_users_filters_combine_and_ignore_the_case_of_attribute_names(w):
    found = list(w.users.list(filter=f'username eq "{ALICE}" or userName eq "{BOB}"'))
    assert sorted(u.user_name for u in found) == sorted([ALICE, BOB])
    found = list(w.users.list(filter='emails.value sw "alice" and active eq true'))
    assert [u.user_name for u in found] == [ALICE]
    found = list(w.users.list(filter=f'userName ne "{ALICE}" and userName co "@example.com"'))
    assert ALICE not in {u.user_name for u in found} and BOB in {u.user_name for u in found}
    assert {u.user_name for u in w.users.list(filter="displayName pr")} >= {ALICE, BOB}


def test_a_filter_that_cannot_be_evaluated_is_refused_with_a_scim_error(w):
    # A SCIM error body is {"schemas": [...Error], "detail", "status": "400", "scimType"}
    # (RFC 7644 §3.12: status is a string); the SDK reads it in
    # databricks/sdk/errors/deserializer.py ("Handle SCIM Errors": error_code SCIM_<status>).
    error = expect_error((BadRequest,), w.users.list, filter='userName gt "a"')
    assert error.error_code == "SCIM_400"
    body = _raw_response(w, "GET", "/api/2.0/preview/scim/v2/Users", params={"filter": "nickName eq 1"})
    assert body.status_code == 400
    payload = body.json()
    assert payload["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert payload["status"] == "400" and payload["scimType"] == "invalidFilter"


def test_scim_not_found_is_a_scim_body(w):
    response = _raw_response(w, "GET", "/api/2.0/preview/scim/v2/Groups/123456789")
    assert response.status_code == 404
    payload = response.json()
    assert payload["status"] == "404" and isinstance(payload["status"], str)
    assert "error_code" not in payload and payload["detail"]
    error = expect_error((NotFound,), w.groups.get, "123456789")
    assert error.error_code == "SCIM_404"


def test_users_create_get_list_delete(w):
    # Real workspaces store user names (e-mails) lower-case: "the Databricks API normalizes user
    # emails to lowercase" (terraform-provider-databricks PR #5757 / #5391, issue #5183; PR #2786:
    # "force user names be lower-cased by default").
    created = w.users.create(user_name="Dana.Smith@Example.com", display_name="Dana")
    assert created.id and created.user_name == "dana.smith@example.com"
    assert w.users.get(created.id).user_name == "dana.smith@example.com"
    found = list(w.users.list(filter='userName eq "DANA.smith@example.com"'))
    assert [u.id for u in found] == [created.id]
    expect_error((ResourceConflict,), w.users.create, user_name="dana.smith@example.com")
    w.users.delete(created.id)
    expect_error((NotFound,), w.users.get, created.id)


def test_groups_create_with_members_and_delete(w):
    # Group display names are case-sensitive and unique as spelled: "Admins" and "admins" can
    # both exist (terraform-provider-databricks issue #3596 / PR #3597; PR #3708 stopped
    # lower-casing principals "as group names are case sensitive"); a displayName filter matches
    # case-insensitively and so may return both.
    alice = next(iter(w.users.list(filter=f'userName eq "{ALICE}"')))
    group = w.groups.create(display_name="Data-Eng", members=[iam.ComplexValue(value=alice.id)])
    assert group.id and group.display_name == "Data-Eng"
    assert alice.id in {m.value for m in w.groups.get(group.id).members or []}
    both = {g.display_name for g in w.groups.list(filter='displayName eq "data-eng"')}
    assert both == {"Data-Eng", DATA_ENG}
    expect_error((ResourceConflict,), w.groups.create, display_name="Data-Eng")
    w.groups.delete(group.id)
    expect_error((NotFound,), w.groups.get, group.id)


def test_service_principals_create_get_delete(w):
    # Application IDs are UUIDs, generated lower-case and matched in any case; terraform
    # lower-cases service_principal_name like user_name to match what the API answers
    # (terraform-provider-databricks PR #5757).
    created = w.service_principals.create(display_name="conformance-bot")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", created.application_id)
    assert w.service_principals.get(created.id).display_name == "conformance-bot"
    given = w.service_principals.create(
        application_id="ABCDEF01-2345-6789-ABCD-EF0123456789", display_name="azure-bot"
    )
    assert given.application_id == "abcdef01-2345-6789-abcd-ef0123456789"
    found = list(w.service_principals.list(filter='applicationId eq "ABCDEF01-2345-6789-abcd-ef0123456789"'))
    assert [sp.id for sp in found] == [given.id]
    w.service_principals.delete(created.id)
    expect_error((NotFound,), w.service_principals.get, created.id)


def _raw_response(w, method, path, params=None):
    """The HTTP response itself (status and body), with the SDK's authentication."""
    headers = w.config.authenticate()
    return requests.request(method, f"{w.config.host}{path}", headers=headers, params=params, timeout=10)
