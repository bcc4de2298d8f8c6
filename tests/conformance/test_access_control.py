"""Identity and access as a non-admin caller sees them, on a second emulator that also accepts a
token for alice@example.com (not a workspace admin): creator and owner come from the caller,
object ACLs and secret ACLs are enforced, and permissions are checked before existence.

tests/conformance/run sets TANDEM_BIN to the emulator binary; without it these tests are skipped."""

import os

import pytest
from databricks.sdk.errors import BadRequest, PermissionDenied
from databricks.sdk.service import jobs
from databricks.sdk.service.workspace import AclPermission

from support import (
    ADMIN,
    ALICE,
    BOB,
    Emulator,
    SpawnedEmulator,
    create_cluster,
    create_job,
    expect_error,
    make_client,
)


@pytest.fixture(scope="module")
def workspace():
    """The second emulator's URL (tokens: `dev` for the admin, `alice-token` for alice)."""
    binary = os.environ.get("TANDEM_BIN")
    if not binary:
        pytest.skip("TANDEM_BIN is not set (tests/conformance/run sets it)")
    emulator = SpawnedEmulator(binary, "--token", f"alice-token={ALICE}")
    try:
        yield emulator.url
    finally:
        emulator.stop()


@pytest.fixture
def admin(workspace):
    """The admin's client, on a freshly reset workspace."""
    Emulator(workspace, "dev").reset()
    return make_client(workspace, "dev")


@pytest.fixture
def alice(workspace, admin):
    """alice's client (a non-admin user)."""
    return make_client(workspace, "alice-token")


def test_the_caller_creates_and_owns(admin, alice):
    assert alice.current_user.me().user_name == ALICE
    job_id = create_job(alice, name="alice's job")
    job = alice.jobs.get(job_id)
    assert job.creator_user_name == ALICE
    assert job.run_as_user_name == ALICE
    owners = {
        e.user_name
        for e in alice.jobs.get_permissions(str(job_id)).access_control_list
        for p in e.all_permissions
        if p.permission_level == jobs.JobPermissionLevel.IS_OWNER
    }
    assert owners == {ALICE}
    # Admins manage every job.
    assert admin.jobs.get(job_id).settings.name == "alice's job"


def test_job_acls_are_enforced(admin, alice):
    job_id = create_job(admin, name="admin's job")
    expect_error((PermissionDenied,), alice.jobs.get, job_id)
    assert [j.job_id for j in alice.jobs.list()] == []

    admin.jobs.update_permissions(
        str(job_id),
        access_control_list=[
            jobs.JobAccessControlRequest(user_name=ALICE, permission_level=jobs.JobPermissionLevel.CAN_VIEW)
        ],
    )
    assert alice.jobs.get(job_id).settings.name == "admin's job"
    assert [j.job_id for j in alice.jobs.list()] == [job_id]
    expect_error(
        (PermissionDenied,),
        alice.jobs.update,
        job_id,
        new_settings=jobs.JobSettings(name="renamed by alice"),
    )
    expect_error((PermissionDenied,), alice.jobs.delete, job_id)
    assert admin.jobs.get(job_id).settings.name == "admin's job"


def test_permissions_are_checked_before_existence(admin, alice):
    job_id = create_job(admin, name="deleted")
    admin.jobs.delete(job_id)
    expect_error((PermissionDenied,), alice.jobs.get, job_id)


def test_non_admins_may_only_run_as_themselves(admin, alice):
    expect_error(
        (PermissionDenied, BadRequest),
        alice.jobs.create,
        name="impersonation",
        run_as=jobs.JobRunAs(user_name=BOB),
    )
    job_id = alice.jobs.create(name="self", run_as=jobs.JobRunAs(user_name=ALICE)).job_id
    assert alice.jobs.get(job_id).run_as_user_name == ALICE


def test_pinning_is_for_admins(admin, alice):
    cluster_id = create_cluster(admin).cluster_id
    expect_error((PermissionDenied,), alice.clusters.pin, cluster_id)
    admin.clusters.pin(cluster_id)


def test_secret_acls_are_enforced(admin, alice):
    admin.secrets.create_scope("shared")
    admin.secrets.put_secret("shared", "token", string_value="s3cret")
    expect_error((PermissionDenied,), alice.secrets.list_secrets, "shared")

    admin.secrets.put_acl("shared", ALICE, AclPermission.READ)
    assert [s.key for s in alice.secrets.list_secrets("shared")] == ["token"]
    expect_error((PermissionDenied,), alice.secrets.put_secret, "shared", "mine", string_value="x")
    # Every ACL call needs MANAGE.
    expect_error((PermissionDenied,), alice.secrets.list_acls, "shared")

    admin.secrets.put_acl("shared", ALICE, AclPermission.WRITE)
    alice.secrets.put_secret("shared", "mine", string_value="x")
    assert sorted(s.key for s in admin.secrets.list_secrets("shared")) == ["mine", "token"]
    acls = {a.principal: a.permission for a in admin.secrets.list_acls("shared")}
    assert acls == {ADMIN: AclPermission.MANAGE, ALICE: AclPermission.WRITE}
