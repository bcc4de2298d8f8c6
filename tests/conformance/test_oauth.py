"""OAuth as the SDK speaks it: host metadata, discovery, OAuth M2M (client credentials) and
GitHub Actions OIDC (token exchange), against a second emulator started with --oauth-clients."""

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config

from support import Emulator, SpawnedEmulator, create_job

ACCOUNT_ID = "7f1c0c9e-3d2b-4a5c-8e9f-0a1b2c3d4e5f"
# A service principal that exists only as an OAuth client: the emulator adds it to the workspace.
CLIENT_ID = "0b6f7c4e-5d3a-4f2b-9c1e-7a8b9c0d1e2f"
CLIENT_SECRET = "m2m-conformance-secret"
# A second client that only federates (no secret), e.g. a GitHub Actions deployment.
FEDERATED_ID = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
SUBJECT = "repo:acme/dr:environment:prod"
IDP_KEY = "conformance-idp-key"
IDP_REQUEST_TOKEN = "actions-request-token"
# The suite exports these for its main emulator (PAT auth); an OAuth client must not pick them up.
PAT_ENV = ("DATABRICKS_TOKEN", "DATABRICKS_AUTH_TYPE", "DATABRICKS_HOST")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_hs256(claims: dict, key: str) -> str:
    """An HS256 JWT, written here independently of the emulator's own signer."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


class FakeGitHubOidc:
    """GitHub's ID-token endpoint: `GET /token?...&audience=A` with the request token answers
    `{"value": <JWT iss=this server, aud=A, sub=SUBJECT>}`; it records the audiences asked for."""

    def __init__(self):
        fake = self
        self.audiences = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.headers.get("Authorization") != f"Bearer {IDP_REQUEST_TOKEN}":
                    self.send_response(401)
                    self.end_headers()
                    return
                audience = parse_qs(urlparse(self.path).query).get("audience", [""])[0]
                fake.audiences.append(audience)
                claims = {"iss": fake.issuer, "aud": audience, "sub": SUBJECT, "exp": int(time.time()) + 300}
                body = json.dumps({"value": sign_hs256(claims, IDP_KEY)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def idp():
    fake = FakeGitHubOidc()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def oauth_host(tmp_path_factory, idp):
    """A second emulator with an oauth clients file."""
    path = tmp_path_factory.mktemp("oauth") / "oauth.yaml"
    path.write_text(
        f"""account_id: {ACCOUNT_ID}
clients:
  - client_id: {CLIENT_ID}
    client_secret: {CLIENT_SECRET}
  - client_id: {FEDERATED_ID}
    federation_policies:
      - issuer: {idp.issuer}
        audiences: [{ACCOUNT_ID}]
        subject: {SUBJECT}
issuers:
  - issuer: {idp.issuer}
    hs256_key: {IDP_KEY}
"""
    )
    spawned = SpawnedEmulator(os.environ["TANDEM_BIN"], "--oauth-clients", str(path))
    yield spawned.url
    spawned.stop()


def m2m_client(host: str, secret: str) -> WorkspaceClient:
    with pytest.MonkeyPatch.context() as patch:
        for name in PAT_ENV:
            patch.delenv(name, raising=False)
        config = Config(
            host=host,
            client_id=CLIENT_ID,
            client_secret=secret,
            auth_type="oauth-m2m",
            retry_timeout_seconds=20,
            http_timeout_seconds=20,
        )
    return WorkspaceClient(config=config)


@pytest.fixture(scope="module")
def m2m(oauth_host):
    """One OAuth M2M client for the module: it authenticates once and reuses its token."""
    return m2m_client(oauth_host, CLIENT_SECRET)


def test_host_metadata_and_discovery_need_no_credentials(oauth_host):
    meta = requests.get(f"{oauth_host}/.well-known/databricks-config", timeout=10)
    assert meta.status_code == 200
    meta = meta.json()
    assert meta["oidc_endpoint"] == f"{oauth_host}/oidc"
    assert meta["account_id"] == ACCOUNT_ID
    assert meta["token_federation_default_oidc_audiences"] == [ACCOUNT_ID]
    assert meta["workspace_id"].isdigit()
    discovery = requests.get(f"{meta['oidc_endpoint']}/.well-known/oauth-authorization-server", timeout=10)
    assert discovery.status_code == 200
    assert discovery.json()["token_endpoint"] == f"{oauth_host}/oidc/v1/token"
    assert requests.get(f"{oauth_host}/.well-known/other", timeout=10).status_code == 404


def test_m2m_caller_is_the_service_principal(m2m):
    me = m2m.current_user.me()
    # Databricks reports an OAuth M2M caller with its application id as the user name.
    assert me.user_name == CLIENT_ID
    assert me.active is True
    assert CLIENT_ID in {sp.application_id for sp in m2m.service_principals.list()}


def test_m2m_token_lists_and_creates(m2m):
    job_id = create_job(m2m, name="created over oauth m2m")
    assert job_id in {j.job_id for j in m2m.jobs.list()}
    assert m2m.jobs.get(job_id).creator_user_name == CLIENT_ID


def test_m2m_client_fetches_one_token_for_many_calls(oauth_host):
    control = Emulator(oauth_host, "dev")
    control.reset_stats()
    w = m2m_client(oauth_host, CLIENT_SECRET)
    for _ in range(3):
        assert w.current_user.me().user_name == CLIENT_ID
    list(w.jobs.list())
    assert control.count("POST", "/oidc/v1/token") == 1


def test_m2m_sdk_reports_the_oauth_token(m2m):
    token = m2m.config.oauth_token()
    assert token.token_type == "Bearer"
    assert token.access_token and token.access_token != CLIENT_SECRET
    assert token.expiry is not None


def test_m2m_with_a_wrong_secret_fails(oauth_host):
    intruder = m2m_client(oauth_host, "not-the-secret")
    with pytest.raises(Exception) as info:
        intruder.current_user.me()
    assert "invalid_client" in str(info.value)


def test_token_endpoint_wire_errors(oauth_host):
    token_url = f"{oauth_host}/oidc/v1/token"
    wrong = requests.post(
        token_url, data={"grant_type": "client_credentials", "scope": "all-apis"}, auth=(CLIENT_ID, "nope"), timeout=10
    )
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "invalid_client", "error_description": "Client authentication failed"}
    grant = requests.post(token_url, data={"grant_type": "password"}, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    scope = requests.post(
        token_url, data={"grant_type": "client_credentials", "scope": "sql"}, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10
    )
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"


def test_github_oidc_token_exchange(oauth_host, idp, monkeypatch):
    for name in PAT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{idp.issuer}/token?api-version=2.0")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", IDP_REQUEST_TOKEN)
    config = Config(
        host=oauth_host,
        client_id=FEDERATED_ID,
        auth_type="github-oidc",
        retry_timeout_seconds=20,
        http_timeout_seconds=20,
    )
    w = WorkspaceClient(config=config)
    assert w.current_user.me().user_name == FEDERATED_ID
    # The SDK asked GitHub for the workspace's default federation audience (its account id).
    assert idp.audiences and set(idp.audiences) == {ACCOUNT_ID}


def test_token_exchange_refuses_a_subject_no_policy_admits(oauth_host, idp):
    claims = {"iss": idp.issuer, "aud": ACCOUNT_ID, "sub": "repo:acme/dr:ref:refs/heads/feature", "exp": int(time.time()) + 300}
    answer = requests.post(
        f"{oauth_host}/oidc/v1/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": sign_hs256(claims, IDP_KEY),
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "client_id": FEDERATED_ID,
            "scope": "all-apis",
        },
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert "subject" in answer.json()["error_description"]
