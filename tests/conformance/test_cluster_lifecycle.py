"""The cluster state machine's transitional states (PENDING, RESTARTING, TERMINATING) as the SDK's
waiters see them, on a second emulator whose clusters take 1.5 s per transition.

tests/conformance/run sets TANDEM_BIN to the emulator binary; without it these tests are skipped."""

import os

import pytest
from databricks.sdk.errors import BadRequest, InvalidState
from databricks.sdk.service.compute import State

from support import NODE_TYPE, SPARK_VERSION, WAIT, SpawnedEmulator, create_cluster, expect_error, make_client


@pytest.fixture(scope="module")
def slow():
    """A WorkspaceClient on an emulator started with --cluster-start-ms 1500."""
    binary = os.environ.get("TANDEM_BIN")
    if not binary:
        pytest.skip("TANDEM_BIN is not set (tests/conformance/run sets it)")
    emulator = SpawnedEmulator(binary, "--cluster-start-ms", "1500")
    try:
        yield make_client(emulator.url, "dev")
    finally:
        emulator.stop()


def _observed(waiter):
    """Waits for the waiter's target state and returns it with the states polled on the way."""
    seen = []
    details = waiter.result(timeout=WAIT, callback=lambda c: seen.append(c.state))
    return details, seen


def test_create_is_pending_then_running(slow):
    waiter = create_cluster(slow, "slow start")
    cluster_id = waiter.cluster_id
    assert slow.clusters.get(cluster_id).state == State.PENDING
    # Edit and start are refused while the cluster is starting.
    expect_error(
        (InvalidState,),
        slow.clusters.edit,
        cluster_id=cluster_id,
        spark_version=SPARK_VERSION,
        cluster_name="too early",
        node_type_id=NODE_TYPE,
        num_workers=1,
    )
    error = expect_error((BadRequest,), slow.clusters.start, cluster_id)
    assert "unexpected state" in str(error).lower()
    details, seen = _observed(waiter)
    assert details.state == State.RUNNING
    assert details.cluster_name == "slow start"
    assert State.PENDING in seen


def test_edit_of_a_running_cluster_goes_through_restarting(slow):
    cluster_id = create_cluster(slow, "before").result(timeout=WAIT).cluster_id
    waiter = slow.clusters.edit(
        cluster_id=cluster_id,
        spark_version=SPARK_VERSION,
        cluster_name="after",
        node_type_id=NODE_TYPE,
        num_workers=2,
    )
    assert slow.clusters.get(cluster_id).state == State.RESTARTING
    details, seen = _observed(waiter)
    assert details.state == State.RUNNING
    assert details.cluster_name == "after"
    assert details.num_workers == 2
    assert State.RESTARTING in seen


def test_delete_goes_through_terminating(slow):
    cluster_id = create_cluster(slow, "short lived").result(timeout=WAIT).cluster_id
    waiter = slow.clusters.delete(cluster_id)
    assert slow.clusters.get(cluster_id).state == State.TERMINATING
    details, seen = _observed(waiter)
    assert details.state == State.TERMINATED
    assert State.TERMINATING in seen
