"""Instance pools API 2.0 through the SDK."""

from databricks.sdk.errors import BadRequest, NotFound, ResourceConflict
from databricks.sdk.service.compute import InstancePoolState

from support import NODE_TYPE, OTHER_NODE_TYPE, SPARK_VERSION, create_pool, expect_error, raw

DUPLICATE = (BadRequest, ResourceConflict)


def test_create_and_get_with_server_defaults(w):
    pool_id = create_pool(w, "pool-a", min_idle_instances=1, custom_tags={"team": "data"})
    assert pool_id
    pool = w.instance_pools.get(pool_id)
    assert pool.instance_pool_id == pool_id
    assert pool.instance_pool_name == "pool-a"
    assert pool.node_type_id == NODE_TYPE
    assert pool.min_idle_instances == 1
    assert pool.custom_tags == {"team": "data"}
    assert pool.state == InstancePoolState.ACTIVE
    assert pool.enable_elastic_disk is True
    assert pool.idle_instance_autotermination_minutes == 60
    assert (pool.default_tags or {}).get("Vendor") == "Databricks"
    body = raw(w, "GET", "/api/2.0/instance-pools/get", query={"instance_pool_id": pool_id})
    assert "stats" in body


def test_names_are_unique(w):
    create_pool(w, "shared-name")
    expect_error(DUPLICATE, create_pool, w, "shared-name")
    assert [p.instance_pool_name for p in w.instance_pools.list()] == ["shared-name"]


def test_name_length_is_validated(w):
    expect_error((BadRequest,), create_pool, w, "")
    expect_error((BadRequest,), create_pool, w, "p" * 101)
    create_pool(w, "p" * 100)


def test_at_most_one_preloaded_spark_version(w):
    expect_error(
        (BadRequest,),
        create_pool,
        w,
        "two versions",
        preloaded_spark_versions=[SPARK_VERSION, "14.3.x-scala2.12"],
    )
    pool_id = create_pool(w, "one version", preloaded_spark_versions=[SPARK_VERSION])
    assert w.instance_pools.get(pool_id).preloaded_spark_versions == [SPARK_VERSION]


def test_edit_changes_the_editable_subset(w):
    pool_id = create_pool(w, "before", custom_tags={"team": "data"})
    w.instance_pools.edit(pool_id, "after", NODE_TYPE, min_idle_instances=2, max_capacity=10)
    pool = w.instance_pools.get(pool_id)
    assert pool.instance_pool_name == "after"
    assert pool.min_idle_instances == 2
    assert pool.max_capacity == 10
    assert pool.node_type_id == NODE_TYPE
    # Edit replaces the editable subset: omitted custom tags are cleared.
    assert not pool.custom_tags
    assert pool.state == InstancePoolState.ACTIVE


def test_node_type_is_immutable(w):
    pool_id = create_pool(w, "fixed")
    expect_error((BadRequest,), w.instance_pools.edit, pool_id, "fixed", OTHER_NODE_TYPE)
    assert w.instance_pools.get(pool_id).node_type_id == NODE_TYPE


def test_edit_cannot_take_another_pools_name(w):
    create_pool(w, "taken")
    pool_id = create_pool(w, "mine")
    expect_error(DUPLICATE, w.instance_pools.edit, pool_id, "taken", NODE_TYPE)
    w.instance_pools.edit(pool_id, "mine", NODE_TYPE, min_idle_instances=1)
    assert w.instance_pools.get(pool_id).instance_pool_name == "mine"


def test_list_and_delete(w):
    keep = create_pool(w, "keep")
    gone = create_pool(w, "gone")
    listed = {p.instance_pool_id: p for p in w.instance_pools.list()}
    assert set(listed) == {keep, gone}
    assert listed[keep].instance_pool_name == "keep"
    assert listed[keep].state == InstancePoolState.ACTIVE
    w.instance_pools.delete(gone)
    assert [p.instance_pool_id for p in w.instance_pools.list()] == [keep]
    # A deleted pool is gone, or answers as DELETED.
    try:
        assert w.instance_pools.get(gone).state == InstancePoolState.DELETED
    except NotFound:
        pass


def test_missing_pool(w):
    expect_error((NotFound, BadRequest), w.instance_pools.get, "0101-000000-nosuch-pool-ABCDEFGH")
    expect_error((NotFound, BadRequest), w.instance_pools.edit, "0101-000000-nosuch-pool-ABCDEFGH", "x", NODE_TYPE)
