"""Reusable fixtures for tests that talk to the payment provider sandbox over real HTTP.

Import them in a conftest.py or a test module:

    from tests.payments.sandbox_fixtures import psp, webhook_sink  # noqa: F401

`psp` serves the project on pytest-django's `live_server`, points the gateway
client at its /psp-sandbox/ and shortens the timeouts (read timeout 1 s, so
tok_timeout answers after 2 s and tok_slow after 0.5 s). It needs a
transactional database (it requests one).
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

READ_TIMEOUT = 1.0


@pytest.fixture
def psp(live_server, settings, transactional_db):
    """Base URL of the sandbox on the live server; the gateway client points at it."""
    settings.PAYMENT_GATEWAY_URL = live_server.url + "/psp-sandbox/"
    settings.PAYMENT_CONNECT_TIMEOUT = 1.0
    settings.PAYMENT_READ_TIMEOUT = READ_TIMEOUT
    return settings.PAYMENT_GATEWAY_URL


class StubServer:
    """A tiny HTTP server on 127.0.0.1 that records requests and answers from a script.

    `responses` is a list of (status, json body) used in order; the last one repeats.
    """

    def __init__(self, responses=None):
        self.responses = list(responses or [(200, {"received": True})])
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with stub._lock:
                    stub.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                        }
                    )
                    index = min(len(stub.requests), len(stub.responses)) - 1
                    status, payload = stub.responses[index]
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} request(s), got {len(self.requests)}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub_server():
    """Factory: `stub_server(responses)` starts a StubServer, closed after the test."""
    servers = []

    def start(responses=None) -> StubServer:
        server = StubServer(responses)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def webhook_sink(stub_server, settings):
    """A StubServer that receives the sandbox's webhooks (they are switched on and sent there)."""
    sink = stub_server([(200, {"received": True})])
    settings.PSP_SANDBOX_WEBHOOK_URL = sink.url + "webhooks/psp/"
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = True
    return sink
