"""Fixtures for the SDK conformance suite.

The suite drives an already running tandem emulator (tests/conformance/run starts one and exports
DATABRICKS_HOST and DATABRICKS_TOKEN) with the official Databricks SDK for Python. Every test starts
from a freshly reset workspace.
"""

import os

import pytest

from support import Emulator, make_client


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(
            f"{name} is not set: run the suite with tests/conformance/run, which starts an emulator",
            returncode=4,
        )
    return value


@pytest.fixture(scope="session")
def host() -> str:
    """The emulator's base URL."""
    return _required_env("DATABRICKS_HOST").rstrip("/")


@pytest.fixture(scope="session")
def token() -> str:
    """A token the emulator accepts (an admin's)."""
    return _required_env("DATABRICKS_TOKEN")


@pytest.fixture(scope="session")
def emulator(host: str, token: str) -> Emulator:
    """The emulator's own control API (/__emulator/*), outside the Databricks API."""
    return Emulator(host, token)


@pytest.fixture(scope="session")
def w(host: str, token: str):
    """A WorkspaceClient authenticating with a personal access token."""
    return make_client(host, token)


@pytest.fixture(autouse=True)
def fresh_workspace(emulator: Emulator):
    """Resets the workspace (data, fault rules, request counts) before every test."""
    emulator.reset()
    yield
