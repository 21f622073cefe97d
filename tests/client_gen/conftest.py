"""Fixtures for the generated-client checks: the live schema, dumped to a file."""

import json

import pytest
import requests

from tests.payments.sandbox_fixtures import psp  # noqa: F401


@pytest.fixture
def schema_file(live_server, tmp_path):
    """The schema as the running server serves it at /api/v1/schema/, written to schema.json."""
    response = requests.get(live_server.url + "/api/v1/schema/", params={"format": "json"}, timeout=30)
    assert response.status_code == 200, response.text[:500]
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(response.json(), indent=1))
    return path
