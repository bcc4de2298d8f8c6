"""Helpers shared by the conformance tests: the SDK client, the emulator's control API, and
builders for the objects the tests create."""

import re
import subprocess
from datetime import timedelta
from typing import Any, Callable, Optional, Tuple, Type

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import DatabricksError
from databricks.sdk.errors import NotImplemented as SdkNotImplemented
from databricks.sdk.service import compute, jobs

# The user the emulator's default token `dev` authenticates as (a workspace admin).
ADMIN = "admin@example.com"
# Principals of the emulator's default set.
ALICE = "alice@example.com"
BOB = "bob@example.com"
DATA_ENG = "data-eng"
ANALYSTS = "analysts"
SERVICE_PRINCIPAL = "6f1c2a9e-1d2b-4c3d-9e8f-0a1b2c3d4e5f"

SPARK_VERSION = "15.4.x-scala2.12"
# The suite's emulator runs on Azure (`tandem emulator`'s default cloud): its node types only.
NODE_TYPE = "Standard_DS3_v2"
OTHER_NODE_TYPE = "Standard_DS4_v2"

# Cluster waits: the emulator runs with --cluster-start-ms 0, so a cluster settles within a few
# SDK polls; a real state machine bug must fail the test instead of hanging it.
WAIT = timedelta(seconds=40)


def make_client(host: str, token: str) -> WorkspaceClient:
    """A WorkspaceClient using PAT auth only (auth_type="pat": no OAuth or other credential
    discovery), with a retry budget short enough that a broken emulator fails the suite quickly.
    The SDK still reads /.well-known/databricks-config once (workspace and account ids, the OIDC
    endpoint); with PAT auth nothing else comes of it."""
    config = Config(
        host=host,
        token=token,
        auth_type="pat",
        retry_timeout_seconds=45,
        http_timeout_seconds=30,
    )
    return WorkspaceClient(config=config)


class Emulator:
    """The emulator's control API, `/__emulator/*` (not part of Databricks). It takes the same
    bearer tokens as the API and answers 401 without one."""

    def __init__(self, host: str, token: str):
        self.host = host
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        response = self.session.request(method, f"{self.host}/__emulator{path}", json=body, timeout=30)
        assert response.status_code == 200, f"{method} /__emulator{path}: {response.status_code} {response.text}"
        return response.json()

    def reset(self) -> None:
        """Back to the seeded workspace: no objects, no fault rules, zero request counts."""
        self._call("POST", "/reset")

    def add_fault(self, **rule: Any) -> None:
        """Adds a fault rule (path, method, status, times, retry_after, commit, ...)."""
        self._call("POST", "/faults", rule)

    def faults(self) -> list:
        """The fault rules with their counters."""
        return self._call("GET", "/faults")["rules"]

    def stats(self) -> dict:
        """`{"total", "routes": {"METHOD /route": n}, "faults_injected"}`."""
        return self._call("GET", "/stats")

    def reset_stats(self) -> None:
        """Zeroes the request counts."""
        self._call("DELETE", "/stats")

    def count(self, method: str, route: str) -> int:
        """Requests served for one route, e.g. count("GET", "/api/2.2/jobs/get")."""
        return self.stats()["routes"].get(f"{method} {route}", 0)


def raw(w: WorkspaceClient, method: str, path: str, query: Optional[dict] = None, body: Optional[dict] = None):
    """The JSON the API answered, through the SDK's own HTTP client (auth, retries, error mapping):
    for checks on the wire shape that the typed dataclasses hide."""
    return w.api_client.do(method, path, query=query, body=body)


def expect_error(
    classes: Tuple[Type[DatabricksError], ...], fn: Callable, *args: Any, **kwargs: Any
) -> DatabricksError:
    """Calls fn and asserts that the SDK raised one of `classes`, and not for a route the emulator
    lacks (a 404 ENDPOINT_NOT_FOUND, which the SDK maps to NotFound too, or a 501). Returns the
    error for further checks."""
    with pytest.raises(DatabricksError) as info:
        result = fn(*args, **kwargs)
        # Iterators (list calls) only send their request when consumed.
        if hasattr(result, "__next__"):
            list(result)
    error = info.value
    assert not isinstance(error, SdkNotImplemented), f"endpoint not implemented: {error}"
    assert error.error_code != "ENDPOINT_NOT_FOUND", f"no such endpoint: {error}"
    assert isinstance(error, classes), (
        f"expected {[c.__name__ for c in classes]}, got {type(error).__name__} "
        f"(error_code={error.error_code!r}): {error}"
    )
    return error


def notebook_task(key: str, cluster_key: str = "main", depends_on: Tuple[str, ...] = ()) -> jobs.Task:
    """A notebook task on a shared job cluster."""
    return jobs.Task(
        task_key=key,
        job_cluster_key=cluster_key,
        notebook_task=jobs.NotebookTask(notebook_path=f"/Shared/{key}"),
        depends_on=[jobs.TaskDependency(task_key=d) for d in depends_on] or None,
    )


def job_cluster(key: str = "main", num_workers: int = 1) -> jobs.JobCluster:
    """A shared job cluster."""
    return jobs.JobCluster(
        job_cluster_key=key,
        new_cluster=compute.ClusterSpec(
            spark_version=SPARK_VERSION,
            node_type_id=NODE_TYPE,
            num_workers=num_workers,
        ),
    )


def create_job(w: WorkspaceClient, name: str = "conformance job", **settings: Any) -> int:
    """Creates a job (one task on one job cluster unless given) and returns its ID."""
    settings.setdefault("tasks", [notebook_task("main")])
    settings.setdefault("job_clusters", [job_cluster("main")])
    return w.jobs.create(name=name, **settings).job_id


def create_cluster(w: WorkspaceClient, name: str = "conformance cluster", **spec: Any):
    """Starts creating a cluster; returns the SDK's Wait (its `.cluster_id` is known at once)."""
    spec.setdefault("node_type_id", NODE_TYPE)
    spec.setdefault("num_workers", 1)
    spec.setdefault("autotermination_minutes", 60)
    return w.clusters.create(spark_version=SPARK_VERSION, cluster_name=name, **spec)


def create_pool(w: WorkspaceClient, name: str = "conformance pool", **spec: Any) -> str:
    """Creates an instance pool and returns its ID."""
    return w.instance_pools.create(
        instance_pool_name=name, node_type_id=spec.pop("node_type_id", NODE_TYPE), **spec
    ).instance_pool_id


class SpawnedEmulator:
    """A second emulator process with its own options (e.g. a slower cluster start), for the
    behaviours the suite's main emulator settles too fast to observe."""

    def __init__(self, binary: str, *args: str):
        self.process = subprocess.Popen(
            [binary, "emulator", "--port", "0", "--token", "dev", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = self.process.stdout.readline()
        match = re.match(r"tandem workspace emulator listening on (http://\S+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"{binary} emulator did not start: {line!r}")
        self.url = match.group(1)

    def stop(self) -> None:
        """Stops the process (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
