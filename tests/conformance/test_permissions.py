"""Object permissions (jobs, clusters, instance pools) through the typed per-service methods and
the generic Permissions API."""

from databricks.sdk.errors import BadRequest, InvalidParameterValue, NotFound
from databricks.sdk.service import compute, iam, jobs

from support import (
    ADMIN,
    ALICE,
    BOB,
    DATA_ENG,
    SERVICE_PRINCIPAL,
    create_cluster,
    create_job,
    create_pool,
    expect_error,
)

OWNER_RULE = "The job must have exactly one owner."


def _principal(entry) -> str:
    return entry.user_name or entry.group_name or entry.service_principal_name


def _direct(acl) -> dict:
    """principal -> level of the direct (not inherited) grants."""
    out = {}
    for entry in acl.access_control_list or []:
        for perm in entry.all_permissions or []:
            if not perm.inherited:
                out[_principal(entry)] = perm.permission_level.value
    return out


def _inherited(acl) -> dict:
    """principal -> [(level, inherited_from_object)] of the inherited grants."""
    out = {}
    for entry in acl.access_control_list or []:
        for perm in entry.all_permissions or []:
            if perm.inherited:
                out.setdefault(_principal(entry), []).append(
                    (perm.permission_level.value, list(perm.inherited_from_object or []))
                )
    return out


def _job_acl(*grants):
    """JobAccessControlRequest entries from (kind, name, level) triples."""
    return [
        jobs.JobAccessControlRequest(**{kind: name}, permission_level=jobs.JobPermissionLevel(level))
        for kind, name, level in grants
    ]


def test_new_job_has_creator_owner_and_inherited_admins(w):
    job_id = create_job(w)
    acl = w.jobs.get_permissions(str(job_id))
    assert acl.object_id == f"/jobs/{job_id}"
    assert acl.object_type == "job"
    assert _direct(acl) == {ADMIN: "IS_OWNER"}
    assert ("CAN_MANAGE", ["/jobs/"]) in _inherited(acl).get("admins", [])


def test_job_needs_exactly_one_owner(w):
    job_id = str(create_job(w))
    cases = [
        [("group_name", DATA_ENG, "CAN_VIEW")],
        [("user_name", ADMIN, "IS_OWNER"), ("user_name", ALICE, "IS_OWNER")],
        [],
        # One level per principal and the last entry wins, so this leaves no owner.
        [("user_name", ADMIN, "IS_OWNER"), ("user_name", ADMIN, "CAN_MANAGE")],
    ]
    for grants in cases:
        error = expect_error(
            (InvalidParameterValue,), w.jobs.set_permissions, job_id, access_control_list=_job_acl(*grants)
        )
        assert OWNER_RULE in str(error), grants
    assert _direct(w.jobs.get_permissions(job_id)) == {ADMIN: "IS_OWNER"}


def test_set_replaces_direct_grants_and_keeps_inherited(w):
    job_id = str(create_job(w))
    answer = w.jobs.set_permissions(
        job_id,
        access_control_list=_job_acl(
            ("user_name", ADMIN, "IS_OWNER"),
            ("group_name", DATA_ENG, "CAN_VIEW"),
            ("service_principal_name", SERVICE_PRINCIPAL, "CAN_MANAGE_RUN"),
        ),
    )
    expected = {ADMIN: "IS_OWNER", DATA_ENG: "CAN_VIEW", SERVICE_PRINCIPAL: "CAN_MANAGE_RUN"}
    assert _direct(answer) == expected
    assert answer.object_id == f"/jobs/{job_id}"
    got = w.jobs.get_permissions(job_id)
    assert _direct(got) == expected
    assert "admins" in _inherited(got)

    w.jobs.set_permissions(
        job_id,
        access_control_list=_job_acl(("user_name", ALICE, "IS_OWNER"), ("user_name", BOB, "CAN_MANAGE")),
    )
    got = w.jobs.get_permissions(job_id)
    assert _direct(got) == {ALICE: "IS_OWNER", BOB: "CAN_MANAGE"}
    assert "admins" in _inherited(got)


def test_update_merges_grants(w):
    job_id = str(create_job(w))
    w.jobs.update_permissions(job_id, access_control_list=_job_acl(("group_name", DATA_ENG, "CAN_VIEW")))
    answer = w.jobs.update_permissions(job_id, access_control_list=_job_acl(("user_name", ALICE, "CAN_MANAGE_RUN")))
    assert _direct(answer) == {ADMIN: "IS_OWNER", DATA_ENG: "CAN_VIEW", ALICE: "CAN_MANAGE_RUN"}
    w.jobs.update_permissions(job_id, access_control_list=_job_acl(("group_name", DATA_ENG, "CAN_MANAGE")))
    assert _direct(w.jobs.get_permissions(job_id)) == {
        ADMIN: "IS_OWNER",
        DATA_ENG: "CAN_MANAGE",
        ALICE: "CAN_MANAGE_RUN",
    }


def test_unknown_principals_are_rejected(w):
    job_id = str(create_job(w))
    for kind, name in (("user_name", "nobody@example.com"), ("group_name", "no-such-group")):
        error = expect_error(
            (BadRequest, NotFound),
            w.jobs.update_permissions,
            job_id,
            access_control_list=_job_acl((kind, name, "CAN_VIEW")),
        )
        assert "does not exist" in str(error)
    assert _direct(w.jobs.get_permissions(job_id)) == {ADMIN: "IS_OWNER"}


def test_levels_are_validated_per_object_type(w):
    job_id = str(create_job(w))
    cluster_id = create_cluster(w).cluster_id
    wrong = [
        ("jobs", job_id, iam.PermissionLevel.CAN_ATTACH_TO),
        ("clusters", cluster_id, iam.PermissionLevel.IS_OWNER),
        ("clusters", cluster_id, iam.PermissionLevel.CAN_MANAGE_RUN),
    ]
    for object_type, object_id, level in wrong:
        expect_error(
            (BadRequest,),
            w.permissions.update,
            object_type,
            object_id,
            access_control_list=[iam.AccessControlRequest(group_name=DATA_ENG, permission_level=level)],
        )


def test_permission_levels_per_type(w):
    job_id = str(create_job(w))
    cluster_id = create_cluster(w).cluster_id
    pool_id = create_pool(w)

    def levels(response):
        return {d.permission_level.value for d in response.permission_levels}

    assert levels(w.jobs.get_permission_levels(job_id)) == {"CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER"}
    assert levels(w.clusters.get_permission_levels(cluster_id)) == {"CAN_ATTACH_TO", "CAN_RESTART", "CAN_MANAGE"}
    assert levels(w.instance_pools.get_permission_levels(pool_id)) == {"CAN_ATTACH_TO", "CAN_MANAGE"}
    assert levels(w.permissions.get_permission_levels("jobs", job_id)) == {
        "CAN_VIEW",
        "CAN_MANAGE_RUN",
        "CAN_MANAGE",
        "IS_OWNER",
    }
    for response in (w.jobs.get_permission_levels(job_id), w.permissions.get_permission_levels("clusters", cluster_id)):
        assert all(d.description for d in response.permission_levels)


def test_cluster_permissions(w):
    cluster_id = create_cluster(w).cluster_id
    acl = w.clusters.get_permissions(cluster_id)
    assert acl.object_id == f"/clusters/{cluster_id}"
    assert acl.object_type == "cluster"
    assert _direct(acl) == {ADMIN: "CAN_MANAGE"}
    assert ("CAN_MANAGE", ["/clusters/"]) in _inherited(acl).get("admins", [])

    answer = w.clusters.set_permissions(
        cluster_id,
        access_control_list=[
            compute.ClusterAccessControlRequest(
                group_name=DATA_ENG, permission_level=compute.ClusterPermissionLevel.CAN_ATTACH_TO
            )
        ],
    )
    assert _direct(answer) == {DATA_ENG: "CAN_ATTACH_TO"}
    w.clusters.update_permissions(
        cluster_id,
        access_control_list=[
            compute.ClusterAccessControlRequest(
                user_name=ALICE, permission_level=compute.ClusterPermissionLevel.CAN_RESTART
            )
        ],
    )
    assert _direct(w.clusters.get_permissions(cluster_id)) == {DATA_ENG: "CAN_ATTACH_TO", ALICE: "CAN_RESTART"}


def test_instance_pool_permissions(w):
    pool_id = create_pool(w)
    acl = w.instance_pools.get_permissions(pool_id)
    assert acl.object_id == f"/instance-pools/{pool_id}"
    assert acl.object_type == "instance-pool"
    assert _direct(acl) == {ADMIN: "CAN_MANAGE"}
    assert [level for level, _ in _inherited(acl).get("admins", [])] == ["CAN_MANAGE"]

    w.instance_pools.update_permissions(
        pool_id,
        access_control_list=[
            compute.InstancePoolAccessControlRequest(
                group_name=DATA_ENG, permission_level=compute.InstancePoolPermissionLevel.CAN_ATTACH_TO
            )
        ],
    )
    assert _direct(w.instance_pools.get_permissions(pool_id)) == {ADMIN: "CAN_MANAGE", DATA_ENG: "CAN_ATTACH_TO"}


def test_generic_permissions_api_matches_the_typed_one(w):
    job_id = str(create_job(w))
    generic = w.permissions.get("jobs", job_id)
    assert generic.object_id == f"/jobs/{job_id}"
    assert generic.object_type == "job"
    assert _direct(generic) == {ADMIN: "IS_OWNER"}

    answer = w.permissions.set(
        "jobs",
        job_id,
        access_control_list=[
            iam.AccessControlRequest(user_name=ADMIN, permission_level=iam.PermissionLevel.IS_OWNER),
            iam.AccessControlRequest(group_name=DATA_ENG, permission_level=iam.PermissionLevel.CAN_MANAGE_RUN),
        ],
    )
    assert _direct(answer) == {ADMIN: "IS_OWNER", DATA_ENG: "CAN_MANAGE_RUN"}
    w.permissions.update(
        "jobs",
        job_id,
        access_control_list=[iam.AccessControlRequest(user_name=BOB, permission_level=iam.PermissionLevel.CAN_VIEW)],
    )
    assert _direct(w.jobs.get_permissions(job_id)) == {ADMIN: "IS_OWNER", DATA_ENG: "CAN_MANAGE_RUN", BOB: "CAN_VIEW"}
    error = expect_error(
        (InvalidParameterValue,),
        w.permissions.set,
        "jobs",
        job_id,
        access_control_list=[
            iam.AccessControlRequest(group_name=DATA_ENG, permission_level=iam.PermissionLevel.CAN_VIEW)
        ],
    )
    assert OWNER_RULE in str(error)


def test_principals_are_answered_as_the_workspace_stores_them(w):
    # A user is answered by the e-mail the workspace stores, lower-case, whatever case it was
    # granted in: "The Databricks API normalizes user emails to lowercase (e.g. config has
    # User@Example.com, API returns user@example.com)" (terraform-provider-databricks PR #5757,
    # fixing the permanent drift of issue #5183). Service principal application IDs (UUIDs) are
    # likewise answered lower-case (the same PR lower-cases service_principal_name). Group names
    # are case-sensitive (terraform-provider-databricks issue #3596, PR #3708): a group named in
    # another case than its own is another, here missing, group.
    job_id = str(create_job(w))
    answer = w.jobs.update_permissions(
        job_id,
        access_control_list=_job_acl(
            ("user_name", ALICE.upper(), "CAN_VIEW"),
            ("service_principal_name", SERVICE_PRINCIPAL.upper(), "CAN_MANAGE_RUN"),
            ("group_name", DATA_ENG, "CAN_VIEW"),
        ),
    )
    expected = {ADMIN: "IS_OWNER", ALICE: "CAN_VIEW", SERVICE_PRINCIPAL: "CAN_MANAGE_RUN", DATA_ENG: "CAN_VIEW"}
    assert _direct(answer) == expected
    assert _direct(w.jobs.get_permissions(job_id)) == expected
    # The same user in another case is the same principal: one grant, updated.
    w.jobs.update_permissions(job_id, access_control_list=_job_acl(("user_name", "Alice@Example.com", "CAN_MANAGE")))
    assert _direct(w.jobs.get_permissions(job_id))[ALICE] == "CAN_MANAGE"
    error = expect_error(
        (BadRequest, NotFound),
        w.jobs.update_permissions,
        job_id,
        access_control_list=_job_acl(("group_name", DATA_ENG.upper(), "CAN_VIEW")),
    )
    assert "does not exist" in str(error)
    cluster_id = create_cluster(w).cluster_id
    answer = w.clusters.update_permissions(
        cluster_id,
        access_control_list=[
            compute.ClusterAccessControlRequest(
                user_name="Bob@EXAMPLE.com", permission_level=compute.ClusterPermissionLevel.CAN_RESTART
            )
        ],
    )
    assert _direct(answer)[BOB] == "CAN_RESTART"
