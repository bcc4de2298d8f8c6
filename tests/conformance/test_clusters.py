"""Clusters API 2.1 through the SDK, including its waiters over the cluster state machine.

The main emulator runs with --cluster-start-ms 0, so transitions complete by the next read; the
transitional states themselves are checked in test_cluster_lifecycle.py."""

import itertools

from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service.compute import (
    ClusterSource,
    DataSecurityMode,
    EventType,
    GetEventsOrder,
    ListClustersFilterBy,
    State,
)

from support import (
    ADMIN,
    NODE_TYPE,
    OTHER_NODE_TYPE,
    SPARK_VERSION,
    WAIT,
    create_cluster,
    expect_error,
    raw,
)


def _running_cluster(w, name="conformance cluster", **spec) -> str:
    return create_cluster(w, name, **spec).result(timeout=WAIT).cluster_id


def test_create_waits_until_running(w):
    waiter = create_cluster(w, "etl", custom_tags={"team": "data"})
    cluster_id = waiter.cluster_id
    assert cluster_id
    details = waiter.result(timeout=WAIT)
    assert details.state == State.RUNNING
    assert details.cluster_id == cluster_id
    assert details.cluster_name == "etl"
    assert details.spark_version == SPARK_VERSION
    assert details.node_type_id == NODE_TYPE
    assert details.driver_node_type_id == NODE_TYPE
    assert details.num_workers == 1
    assert details.autotermination_minutes == 60
    assert details.custom_tags == {"team": "data"}
    assert details.creator_user_name == ADMIN
    assert details.cluster_source == ClusterSource.API
    assert details.start_time and details.start_time > 0
    tags = details.default_tags or {}
    assert tags.get("Vendor") == "Databricks"
    assert tags.get("Creator") == ADMIN
    assert tags.get("ClusterName") == "etl"
    assert tags.get("ClusterId") == cluster_id
    assert details.spec is not None and details.spec.cluster_name == "etl"


def test_single_user_mode_defaults_the_user_to_the_creator(w):
    cluster_id = _running_cluster(w, data_security_mode=DataSecurityMode.SINGLE_USER)
    assert w.clusters.get(cluster_id).single_user_name == ADMIN


def test_get_missing_cluster_is_not_found(w):
    error = expect_error((NotFound,), w.clusters.get, "0101-000000-nosuchcl")
    assert "does not exist" in str(error)


def test_list_shows_clusters_without_spec(w):
    first = _running_cluster(w, "first")
    second = create_cluster(w, "second").cluster_id
    listed = {c.cluster_id: c for c in w.clusters.list()}
    assert set(listed) == {first, second}
    assert listed[first].cluster_name == "first"
    assert listed[first].state == State.RUNNING
    for cluster in listed.values():
        assert cluster.spec is None


def test_list_pages_with_page_size(w):
    created = {create_cluster(w, f"cluster {i}").cluster_id for i in range(5)}
    seen = [c.cluster_id for c in itertools.islice(w.clusters.list(page_size=2), 100)]
    assert len(seen) == 5
    assert set(seen) == created


def test_spark_versions_and_node_types_feed_the_sdk_selectors(w):
    versions = {v.key: v.name for v in w.clusters.spark_versions().versions}
    assert versions
    lts = w.clusters.select_spark_version(long_term_support=True)
    assert lts in versions and "LTS" in versions[lts]
    node_types = {n.node_type_id: n for n in w.clusters.list_node_types().node_types}
    assert node_types
    chosen = w.clusters.select_node_type(min_cores=8)
    assert chosen in node_types and node_types[chosen].num_cores >= 8


def test_edit_of_a_running_cluster_restarts_it_with_the_new_spec(w):
    cluster_id = _running_cluster(w, "before", custom_tags={"team": "data"})
    waiter = w.clusters.edit(
        cluster_id=cluster_id,
        spark_version=SPARK_VERSION,
        cluster_name="after",
        node_type_id=OTHER_NODE_TYPE,
        num_workers=3,
    )
    assert w.clusters.get(cluster_id).state in (State.RESTARTING, State.RUNNING)
    details = waiter.result(timeout=WAIT)
    assert details.state == State.RUNNING
    assert details.cluster_name == "after"
    assert details.node_type_id == OTHER_NODE_TYPE
    assert details.num_workers == 3
    # Edit is a full replacement: what the edit leaves out is reset.
    assert not details.custom_tags
    assert details.autotermination_minutes in (None, 0)


def test_delete_terminates_and_keeps_the_record(w):
    cluster_id = _running_cluster(w)
    details = w.clusters.delete(cluster_id).result(timeout=WAIT)
    assert details.state == State.TERMINATED
    again = w.clusters.get(cluster_id)
    assert again.state == State.TERMINATED
    assert again.terminated_time and again.terminated_time >= again.start_time
    # Deleting a terminated cluster is a no-op.
    w.clusters.delete(cluster_id)
    assert w.clusters.get(cluster_id).state == State.TERMINATED
    assert cluster_id in {c.cluster_id for c in w.clusters.list()}


def test_start_only_from_terminated(w):
    cluster_id = _running_cluster(w, num_workers=2)
    error = expect_error((BadRequest,), w.clusters.start, cluster_id)
    assert "unexpected state" in str(error).lower()
    w.clusters.delete(cluster_id).result(timeout=WAIT)
    details = w.clusters.start(cluster_id).result(timeout=WAIT)
    assert details.state == State.RUNNING
    assert details.cluster_id == cluster_id
    assert details.num_workers == 2


def test_edit_of_a_terminated_cluster_applies_at_next_start(w):
    cluster_id = _running_cluster(w, "old name")
    w.clusters.delete(cluster_id).result(timeout=WAIT)
    w.clusters.edit(
        cluster_id=cluster_id,
        spark_version=SPARK_VERSION,
        cluster_name="new name",
        node_type_id=NODE_TYPE,
        num_workers=4,
    )
    stopped = w.clusters.get(cluster_id)
    assert stopped.state == State.TERMINATED
    assert stopped.cluster_name == "new name"
    started = w.clusters.start(cluster_id).result(timeout=WAIT)
    assert started.cluster_name == "new name"
    assert started.num_workers == 4


def test_resize_a_running_cluster(w):
    cluster_id = _running_cluster(w)
    details = w.clusters.resize(cluster_id, num_workers=5).result(timeout=WAIT)
    assert details.state == State.RUNNING
    assert details.num_workers == 5
    w.clusters.delete(cluster_id).result(timeout=WAIT)
    expect_error((BadRequest,), w.clusters.resize, cluster_id, num_workers=2)


def test_permanent_delete_is_blocked_while_pinned(w):
    cluster_id = _running_cluster(w)
    other = _running_cluster(w, "not pinned")
    w.clusters.pin(cluster_id)
    w.clusters.pin(cluster_id)  # idempotent
    pinned = {c.cluster_id for c in w.clusters.list(filter_by=ListClustersFilterBy(is_pinned=True))}
    assert pinned == {cluster_id}

    error = expect_error((BadRequest,), w.clusters.permanent_delete, cluster_id)
    assert "unpin" in str(error).lower()
    assert w.clusters.get(cluster_id).state == State.RUNNING

    w.clusters.unpin(cluster_id)
    w.clusters.unpin(cluster_id)  # idempotent
    w.clusters.permanent_delete(cluster_id)
    expect_error((NotFound,), w.clusters.get, cluster_id)
    assert {c.cluster_id for c in w.clusters.list()} == {other}


def test_the_2_0_api_serves_the_same_clusters(w):
    cluster_id = _running_cluster(w, "shared")
    body = raw(w, "GET", "/api/2.0/clusters/get", query={"cluster_id": cluster_id})
    assert body["cluster_id"] == cluster_id
    assert body["cluster_name"] == "shared"
    assert body["state"] == "RUNNING"


def test_the_event_log_records_the_life_cycle_and_pages(w):
    # POST /api/2.1/clusters/events (docs.databricks.com/api/workspace/clusters/events): newest
    # first by default, filtered by event_types and time, paged by offset/limit with `next_page`
    # being the request for the next page; the SDK's w.clusters.events() follows next_page
    # (databricks/sdk/service/compute.py, ClustersAPI.events).
    cluster_id = _running_cluster(w)
    w.clusters.delete(cluster_id).result(timeout=WAIT)
    w.clusters.start(cluster_id).result(timeout=WAIT)
    events = list(w.clusters.events(cluster_id, order=GetEventsOrder.ASC, limit=2))
    kinds = [e.type for e in events]
    assert kinds == [
        EventType.CREATING,
        EventType.RUNNING,
        EventType.TERMINATING,
        EventType.STARTING,
        EventType.RUNNING,
    ]
    assert all(e.cluster_id == cluster_id for e in events)
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    assert events[2].details.reason.code.value == "USER_REQUEST"
    newest = next(iter(w.clusters.events(cluster_id)))
    assert newest.type == EventType.RUNNING
    only = list(w.clusters.events(cluster_id, event_types=[EventType.TERMINATING]))
    assert [e.type for e in only] == [EventType.TERMINATING]
    page = raw(w, "POST", "/api/2.0/clusters/events", body={"cluster_id": cluster_id, "limit": 2})
    assert page["total_count"] == 5 and len(page["events"]) == 2
    assert page["next_page"]["offset"] == 2
    expect_error((BadRequest, NotFound), lambda: list(w.clusters.events("0000-000000-nope")))
