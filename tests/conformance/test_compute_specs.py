"""What a workspace refuses in a cluster spec, wherever the spec is written (clusters, instance
pools, jobs' new_cluster), and the cloud an emulator instance runs on (issue #16: the test bed
must not accept what a real workspace refuses).

Each test cites where the behaviour is documented or was observed."""

import json
import os

import pytest
from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service import compute, jobs

from support import (
    NODE_TYPE,
    OTHER_NODE_TYPE,
    SPARK_VERSION,
    WAIT,
    SpawnedEmulator,
    create_cluster,
    create_job,
    create_pool,
    expect_error,
    make_client,
    notebook_task,
    raw,
)

POOL_CONFLICT = "The field 'node_type_id' cannot be supplied when an instance pool ID is provided."


def _job_cluster(**spec) -> jobs.JobCluster:
    spec.setdefault("spark_version", SPARK_VERSION)
    spec.setdefault("num_workers", 1)
    return jobs.JobCluster(job_cluster_key="main", new_cluster=compute.ClusterSpec(**spec))


# --- one cloud per emulator instance ---------------------------------------------------------


def test_node_types_runtimes_and_metadata_are_one_clouds(w):
    """list-node-types answers the workspace's cloud's node types only (an Azure workspace lists
    Standard_* VMs: terraform-provider-databricks#220 quotes one's list), and the host metadata
    names that cloud (`/.well-known/databricks-config`, read by the SDK's config)."""
    node_types = w.clusters.list_node_types().node_types
    assert node_types and all(n.node_type_id.startswith("Standard_") for n in node_types)
    versions = [v.key for v in w.clusters.spark_versions().versions]
    assert SPARK_VERSION in versions
    # Graviton (aarch64) runtimes are AWS's.
    assert not [v for v in versions if "aarch64" in v]
    assert w.clusters.list_zones().zones
    assert raw(w, "GET", "/.well-known/databricks-config")["cloud"] == "azure"


def test_select_node_type_reads_node_instance_type(w):
    """The SDK's `select_node_type` (databricks/sdk/mixins/compute.py) sorts and filters on
    `node_instance_type.local_disks`, `local_nvme_disks` and their sizes, `num_gpus`,
    `is_io_cache_enabled` and the photon flags; it crashes on entries without
    `node_instance_type` when asked for a local disk."""
    by_id = {n.node_type_id: n for n in w.clusters.list_node_types().node_types}
    with_disk = w.clusters.select_node_type(local_disk=True)
    instance = by_id[with_disk].node_instance_type
    assert (instance.local_disks or 0) + (instance.local_nvme_disks or 0) >= 1
    big_disk = w.clusters.select_node_type(local_disk_min_size=1000)
    assert by_id[big_disk].node_instance_type.local_nvme_disk_size_gb >= 1000
    assert by_id[w.clusters.select_node_type(min_gpus=1)].num_gpus >= 1
    assert by_id[w.clusters.select_node_type(photon_worker_capable=True, min_cores=8)].num_cores >= 8
    assert by_id[w.clusters.select_node_type(is_io_cache_enabled=True)].is_io_cache_enabled
    smallest = w.clusters.select_node_type()
    assert by_id[smallest].num_cores == min(n.num_cores for n in by_id.values())


@pytest.fixture(scope="module")
def aws():
    """A second emulator started with `--cloud aws`."""
    spawned = SpawnedEmulator(os.environ["TANDEM_BIN"], "--cloud", "aws")
    yield make_client(spawned.url, "dev")
    spawned.stop()


def test_an_aws_workspace_offers_aws_node_types_only(aws):
    """`tandem emulator --cloud aws`: EC2 node types, Graviton runtimes, the metadata's cloud;
    an Azure node type is refused there as any unknown one is (terraform-provider-databricks#220:
    "Node type m4.large is not supported. Supported node types: Standard_DS3_v2, ...")."""
    node_types = {n.node_type_id: n for n in aws.clusters.list_node_types().node_types}
    assert "i3.xlarge" in node_types and not [n for n in node_types if n.startswith("Standard_")]
    assert node_types[aws.clusters.select_node_type(graviton=True)].is_graviton
    assert "15.4.x-aarch64-scala2.12" in [v.key for v in aws.clusters.spark_versions().versions]
    assert raw(aws, "GET", "/.well-known/databricks-config")["cloud"] == "aws"
    error = expect_error(
        (BadRequest,), aws.clusters.create, spark_version=SPARK_VERSION, node_type_id=NODE_TYPE, num_workers=1
    )
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert str(error).startswith(f"Node type {NODE_TYPE} is not supported. Supported node types: ")
    aws.clusters.create(spark_version=SPARK_VERSION, node_type_id="i3.xlarge", num_workers=1).result(timeout=WAIT)


# --- instance pool plus node type ------------------------------------------------------------


def test_a_cluster_cannot_name_a_node_type_beside_its_pool(w):
    """Observed: "The field 'node_type_id' cannot be supplied when an instance pool ID is
    provided." at cluster edit (terraform-provider-databricks#3533, which sent back the node
    types GET had filled in) and at job create/update (#2141; Nike-Inc/brickflow#43). The driver
    pool defaults to the worker pool, so the driver's node type conflicts the same way."""
    pool_id = create_pool(w, "workers")
    error = expect_error((BadRequest,), create_cluster, w, instance_pool_id=pool_id)
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert str(error) == POOL_CONFLICT
    error = expect_error(
        (BadRequest,),
        create_cluster,
        w,
        instance_pool_id=pool_id,
        node_type_id=None,
        driver_node_type_id=NODE_TYPE,
    )
    assert "'driver_node_type_id'" in str(error)
    driver_pool = create_pool(w, "drivers", node_type_id=OTHER_NODE_TYPE)
    details = create_cluster(
        w, instance_pool_id=pool_id, driver_instance_pool_id=driver_pool, node_type_id=None
    ).result(timeout=WAIT)
    # GET fills the node types in from the pools ...
    assert details.node_type_id == NODE_TYPE
    assert details.driver_node_type_id == OTHER_NODE_TYPE
    # ... and sending them back, as a read-modify-write client does, is refused.
    error = expect_error(
        (BadRequest,),
        w.clusters.edit,
        cluster_id=details.cluster_id,
        spark_version=SPARK_VERSION,
        instance_pool_id=pool_id,
        driver_instance_pool_id=driver_pool,
        node_type_id=details.node_type_id,
        driver_node_type_id=details.driver_node_type_id,
        num_workers=2,
    )
    assert str(error) == POOL_CONFLICT


def test_a_jobs_new_cluster_cannot_name_a_node_type_beside_its_pool(w):
    """The same refusal at jobs create, reset and update (terraform-provider-databricks#2141:
    "cannot update job: The field 'node_type_id' cannot be supplied when an instance pool ID is
    provided.")."""
    pool_id = create_pool(w)
    both = [_job_cluster(instance_pool_id=pool_id, node_type_id=NODE_TYPE)]
    error = expect_error((BadRequest,), create_job, w, job_clusters=both)
    assert str(error) == POOL_CONFLICT
    job_id = create_job(w, job_clusters=[_job_cluster(instance_pool_id=pool_id)])
    settings = jobs.JobSettings(name="j", tasks=[notebook_task("main")], job_clusters=both)
    expect_error((BadRequest,), w.jobs.reset, job_id, settings)
    expect_error((BadRequest,), w.jobs.update, job_id, new_settings=settings)
    task = jobs.Task(
        task_key="own",
        new_cluster=compute.ClusterSpec(
            spark_version=SPARK_VERSION, instance_pool_id=pool_id, driver_node_type_id=NODE_TYPE, num_workers=1
        ),
        notebook_task=jobs.NotebookTask(notebook_path="/Shared/own"),
    )
    expect_error((BadRequest,), create_job, w, tasks=[task], job_clusters=None)


# --- unknown node types and runtimes ---------------------------------------------------------


def test_unknown_node_types_and_runtimes_are_refused_everywhere(w):
    """Observed: "Node type m4.large is not supported. Supported node types: ..."
    (terraform-provider-databricks#220) and "INVALID_PARAMETER_VALUE: Invalid spark version
    11.3.x-photon-scala2.12." (databrickslabs/dbx#782; databricks/databricks-sdk-java#54 quotes
    "Invalid spark version 13.0.x-scala2.11.")."""
    error = expect_error((BadRequest,), create_cluster, w, node_type_id="i3.xlarge")
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert str(error).startswith("Node type i3.xlarge is not supported. Supported node types: ")
    assert NODE_TYPE in str(error)
    error = expect_error(
        (BadRequest,), w.clusters.create, spark_version="13.0.x-scala2.11", node_type_id=NODE_TYPE, num_workers=1
    )
    assert str(error) == "Invalid spark version 13.0.x-scala2.11."
    cluster_id = create_cluster(w).result(timeout=WAIT).cluster_id
    expect_error(
        (BadRequest,),
        w.clusters.edit,
        cluster_id=cluster_id,
        spark_version=SPARK_VERSION,
        node_type_id="n2-highmem-4",
        num_workers=1,
    )
    error = expect_error((BadRequest,), create_pool, w, node_type_id="m5d.large")
    assert "not supported" in str(error)
    error = expect_error((BadRequest,), create_pool, w, preloaded_spark_versions=["9.9.x-scala2.12"])
    assert str(error) == "Invalid spark version 9.9.x-scala2.12."
    error = expect_error((BadRequest,), create_job, w, job_clusters=[_job_cluster(node_type_id="i3.xlarge")])
    assert "not supported" in str(error)
    error = expect_error(
        (BadRequest,),
        create_job,
        w,
        job_clusters=[_job_cluster(node_type_id=NODE_TYPE, spark_version="11.3.x-photon-scala2.12")],
    )
    assert str(error) == "Invalid spark version 11.3.x-photon-scala2.12."


# --- instance pool edit ----------------------------------------------------------------------


def test_pool_edit_refuses_changes_not_unchanged_fields(w):
    """Only changes of settings edit cannot make are refused; a client sending the whole pool
    back unchanged succeeds. Observed wording: "Requested instance pool field change is not
    supported on existing pools: preloaded_spark_versions. Please check Databricks documentations
    to see which fields can be edited." (terraform-provider-databricks#623). The editable subset
    is the SDK's `instance_pools.edit` signature (name, node type, custom tags, idle instances,
    capacity, idle auto-termination, remote disk settings)."""
    pool_id = create_pool(w, "etl", preloaded_spark_versions=[SPARK_VERSION], enable_elastic_disk=False)
    body = {
        "instance_pool_id": pool_id,
        "instance_pool_name": "etl-renamed",
        "node_type_id": NODE_TYPE,
        "preloaded_spark_versions": [SPARK_VERSION],
        "enable_elastic_disk": False,
        "max_capacity": 5,
    }
    raw(w, "POST", "/api/2.0/instance-pools/edit", body=body)
    pool = w.instance_pools.get(pool_id)
    assert (pool.instance_pool_name, pool.max_capacity) == ("etl-renamed", 5)
    changed = dict(body, preloaded_spark_versions=["14.3.x-scala2.12"], enable_elastic_disk=True)
    error = expect_error((BadRequest,), raw, w, "POST", "/api/2.0/instance-pools/edit", body=changed)
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert str(error).startswith(
        "Requested instance pool field change is not supported on existing pools: "
        "preloaded_spark_versions, enable_elastic_disk."
    )
    assert w.instance_pools.get(pool_id).preloaded_spark_versions == [SPARK_VERSION]


# --- cluster policies ------------------------------------------------------------------------


def _policy(w, name="policy", **rules) -> str:
    return w.cluster_policies.create(name=name, definition=json.dumps(rules)).policy_id


def test_policies_crud_through_the_sdk(w):
    """Cluster Policies API 2.0 (`/api/2.0/policies/clusters/*`): `definition` is a JSON document
    passed as a string (SDK docstring of `cluster_policies.create`); a missing policy is
    RESOURCE_DOES_NOT_EXIST ("Can't find a cluster policy with id: ...", as observed in public
    pipeline-migration logs), which the SDK raises as NotFound."""
    definition = {"spark_version": {"type": "fixed", "value": SPARK_VERSION}}
    policy_id = _policy(w, "fixed runtime", **definition)
    policy = w.cluster_policies.get(policy_id)
    assert policy.name == "fixed runtime"
    assert json.loads(policy.definition) == definition
    assert [p.policy_id for p in w.cluster_policies.list()] == [policy_id]
    w.cluster_policies.edit(policy_id, name="renamed", definition="{}", max_clusters_per_user=2)
    edited = w.cluster_policies.get(policy_id)
    assert (edited.name, edited.definition, edited.max_clusters_per_user) == ("renamed", "{}", 2)
    expect_error((BadRequest,), w.cluster_policies.create, name="bad", definition="[1, 2]")
    w.cluster_policies.delete(policy_id)
    error = expect_error((NotFound,), w.cluster_policies.get, policy_id)
    assert "Can't find a cluster policy with id" in str(error)


def test_a_missing_policy_is_refused_for_clusters_and_jobs(w):
    """A `policy_id` naming no policy is refused at cluster create and edit and in a job's
    new_cluster (same RESOURCE_DOES_NOT_EXIST as above)."""
    expect_error((NotFound,), create_cluster, w, policy_id="0123456789ABCDEF")
    cluster_id = create_cluster(w).result(timeout=WAIT).cluster_id
    expect_error(
        (NotFound,),
        w.clusters.edit,
        cluster_id=cluster_id,
        spark_version=SPARK_VERSION,
        node_type_id=NODE_TYPE,
        num_workers=1,
        policy_id="0123456789ABCDEF",
    )
    error = expect_error(
        (NotFound,), create_job, w, job_clusters=[_job_cluster(node_type_id=NODE_TYPE, policy_id="0123456789ABCDEF")]
    )
    assert "0123456789ABCDEF" in str(error)


def test_policy_rules_are_enforced_on_clusters(w):
    """Policy definition language (docs: "Policy definition reference"): `fixed` values are
    applied to what the spec leaves out and a different value is refused; `allowlist`,
    `blocklist`, `range` (minValue/maxValue) and `forbidden`. With
    `apply_policy_default_values` the rules' defaultValues fill omitted fields too (SDK docstring
    of ClusterSpec.apply_policy_default_values). Refusals are INVALID_PARAMETER_VALUE
    "Validation failed for <attribute>, ..." (observed: "Cluster validation error: Validation
    failed for spark_version, must be 13.3.x-scala2.12 ...", databrickslabs/dbx#854)."""
    policy_id = _policy(
        w,
        spark_version={"type": "fixed", "value": SPARK_VERSION},
        node_type_id={"type": "allowlist", "values": [NODE_TYPE, OTHER_NODE_TYPE]},
        runtime_engine={"type": "blocklist", "values": ["PHOTON"]},
        num_workers={"type": "range", "minValue": 1, "maxValue": 4},
        autotermination_minutes={"type": "range", "maxValue": 120, "defaultValue": 30, "isOptional": True},
        **{"custom_tags.team": {"type": "fixed", "value": "data"}, "instance_pool_id": {"type": "forbidden"}},
    )
    # spark_version comes from the policy.
    created = raw(
        w,
        "POST",
        "/api/2.1/clusters/create",
        body={"policy_id": policy_id, "node_type_id": NODE_TYPE, "num_workers": 2, "apply_policy_default_values": True},
    )
    details = w.clusters.get(created["cluster_id"])
    assert details.spark_version == SPARK_VERSION
    assert details.custom_tags == {"team": "data"}
    assert details.autotermination_minutes == 30
    for bad, attribute in [
        ({"spark_version": "14.3.x-scala2.12"}, "spark_version"),
        ({"node_type_id": "Standard_E8ds_v5"}, "node_type_id"),
        ({"runtime_engine": "PHOTON"}, "runtime_engine"),
        ({"num_workers": 8}, "num_workers"),
        ({"autotermination_minutes": 240}, "autotermination_minutes"),
        ({"custom_tags": {"team": "ops"}}, "custom_tags.team"),
    ]:
        body = dict({"policy_id": policy_id, "node_type_id": NODE_TYPE, "num_workers": 2}, **bad)
        error = expect_error((BadRequest,), raw, w, "POST", "/api/2.1/clusters/create", body=body)
        assert error.error_code == "INVALID_PARAMETER_VALUE"
        assert str(error).startswith(f"Validation failed for {attribute}, "), str(error)
    pool_id = create_pool(w)
    body = {"policy_id": policy_id, "instance_pool_id": pool_id, "num_workers": 2}
    error = expect_error((BadRequest,), raw, w, "POST", "/api/2.1/clusters/create", body=body)
    assert "Validation failed for instance_pool_id, the value must not be present" in str(error)
    # The same rules hold at edit.
    error = expect_error(
        (BadRequest,),
        w.clusters.edit,
        cluster_id=details.cluster_id,
        spark_version=SPARK_VERSION,
        node_type_id=NODE_TYPE,
        num_workers=9,
        policy_id=policy_id,
    )
    assert "Validation failed for num_workers" in str(error)


def test_policy_rules_are_enforced_on_jobs(w):
    """A job's new_cluster is checked against its policy at create, reset and update
    (databrickslabs/dbx#854: deploying a job whose cluster broke its policy's fixed spark_version
    failed with "Cluster validation error: Validation failed for spark_version, ..."); the
    `cluster_type` attribute is `job` there and `all-purpose` for the Clusters API."""
    policy_id = _policy(
        w,
        cluster_type={"type": "fixed", "value": "job"},
        spark_version={"type": "fixed", "value": SPARK_VERSION},
        num_workers={"type": "range", "maxValue": 4},
    )
    job_id = create_job(w, job_clusters=[_job_cluster(node_type_id=NODE_TYPE, policy_id=policy_id, num_workers=2)])
    wrong = [_job_cluster(node_type_id=NODE_TYPE, policy_id=policy_id, spark_version="14.3.x-scala2.12")]
    error = expect_error((BadRequest,), create_job, w, job_clusters=wrong)
    assert "Validation failed for spark_version" in str(error)
    too_big = [_job_cluster(node_type_id=NODE_TYPE, policy_id=policy_id, num_workers=10)]
    settings = jobs.JobSettings(name="j", tasks=[notebook_task("main")], job_clusters=too_big)
    expect_error((BadRequest,), w.jobs.reset, job_id, settings)
    expect_error((BadRequest,), w.jobs.update, job_id, new_settings=settings)
    # A job-only policy refuses all-purpose clusters.
    error = expect_error((BadRequest,), create_cluster, w, policy_id=policy_id)
    assert "Validation failed for cluster_type" in str(error)
