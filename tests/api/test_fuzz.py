"""Schemathesis fuzzes every API operation from the live OpenAPI schema, as a signed-in shopper.

Every answer must be a documented status code with a body matching the
schema, and never a 5xx.
"""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from shop.wsgi import application

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

# The schema as the running app serves it (drf-spectacular at /api/v1/schema/), the shop's
# own operations: the merged `auth` ones are allauth's (which refuses a WSGI call without a
# client address); tests/client_gen runs them through a generated client against a live server.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application).include(path_regex=r"^/api/v1/")

# Path parameters that name the shopper's real objects (filled by the fixture), so
# that the fuzzer reaches real wallets, orders, payments and addresses, not only 404s.
KNOWN: dict[str, object] = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    real = {name: KNOWN[name] for name in path_parameters or {} if name in KNOWN}
    if not real:
        return st.just(path_parameters)
    return st.sampled_from([{**path_parameters, **real}, path_parameters])


@pytest.fixture(autouse=True)
def _keep_test_connection(shopper_world):
    """The WSGI handler would close the test's connection (inside its transaction) around each request.

    After shopper_world: Django's test client, used there, connects the handler again when it is done.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _known_objects(shopper_world):
    KNOWN.update(shopper_world["path_parameters"])
    yield
    KNOWN.clear()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_answers_match_the_schema_and_never_5xx(case, shopper_world):
    response = case.call(headers={"X-Session-Token": shopper_world["token"]})
    case.validate_response(response, checks=CHECKS)
