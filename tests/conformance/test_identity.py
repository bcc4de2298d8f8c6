"""Authentication, the error envelope of a bad token, and the SCIM identity endpoints."""

import requests
from databricks.sdk.errors import NotFound, PermissionDenied

from support import ADMIN, ALICE, DATA_ENG, SERVICE_PRINCIPAL, expect_error, make_client


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
    for headers in ({"Authorization": "Bearer nope"}, {}):
        response = requests.get(f"{host}/api/2.2/jobs/list", headers=headers, timeout=10)
        assert response.status_code == 403
        body = response.json()
        assert body["error_code"] == 403 and isinstance(body["error_code"], int)
        assert body["message"] == "Invalid access token."


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
