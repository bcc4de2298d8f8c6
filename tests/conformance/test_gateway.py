"""What a workspace answers for an API it does not have: 404 ENDPOINT_NOT_FOUND, never a 501."""

import pytest
import requests
from databricks.sdk.errors import NotFound


def test_an_unknown_route_is_endpoint_not_found(w):
    # Observed on real workspaces: {"error_code":"ENDPOINT_NOT_FOUND","message":"No API found for
    # 'GET /repos'"} for GET /api/2.0/repos (databricks/databricks-cli issue #383); the message
    # names the method and the path without its /api/<version> prefix. The SDK maps the 404 to
    # NotFound (databricks/sdk/errors/platform.py).
    with pytest.raises(NotFound) as info:
        w.api_client.do("GET", "/api/2.0/no-such-api/things")
    assert info.value.error_code == "ENDPOINT_NOT_FOUND"
    assert str(info.value) == "No API found for 'GET /no-such-api/things'"


def test_a_method_a_path_lacks_is_endpoint_not_found(w):
    # A POST to a GET-only path answers the same way (observed: "No API found for 'POST
    # /lineage-tracking/table-lineage'" for an endpoint that takes GET), not a bare 405.
    response = requests.post(
        f"{w.config.host}/api/2.0/preview/scim/v2/Me",
        headers=w.config.authenticate(),
        json={},
        timeout=10,
    )
    assert response.status_code == 404
    assert response.json() == {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": "No API found for 'POST /preview/scim/v2/Me'",
    }
