"""The operations HTTP endpoint every node serves: `/healthz` and `/metrics`.

Like Fabric's operations service:

* `GET /healthz` runs every registered health check. All pass: 200 with
  `{"status": "OK", "time": ...}`. Any fails: 503 with
  `{"status": "Service Unavailable", "time": ..., "failed_checks":
  [{"component": name, "reason": ...}, ...]}` (components in registration order).
* `GET /metrics`: the Prometheus text exposition of the `CollectorRegistry` the node
  passes in — a registry per node, not the process-global default, so several nodes
  can run in one test process.

Nodes may add read-only routes of their own (`register_route(path, route)`: exact
path, GET only; the route gets the parsed query string and returns status, content
type and body) — the peer's `/ledger/state` is one.

The server is bounded (`common.grpclimits.HttpLimits`): at most `max_connections`
connections are served at once (more get 503 and are closed), a request's line and
headers may hold at most `max_request_bytes` (more: 431), and a connection idle or
trickling for `timeout_s` is closed — a flood of connections cannot exhaust the node.

A health check is a callable returning None when healthy or a reason string when
not; an exception it raises counts as a failure with the exception as the reason.
Checks run on the HTTP server's request threads and should be quick.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from common.grpclimits import DEFAULT_HTTP_LIMITS, HttpLimits

__all__ = ["HealthCheck", "OperationsServer", "Route"]

log = logging.getLogger("common.operations")

HealthCheck = Callable[[], str | None]
Route = Callable[[dict[str, list[str]]], tuple[int, str, bytes]]
"""query parameters → (HTTP status, content type, body)."""


class OperationsServer:
    """`/healthz` and `/metrics` over plain HTTP on `host:port` (port 0: any free port).

    `start()` binds and serves on a background thread; `stop()` closes the socket and
    joins the thread. Checks may be registered before or after `start()`.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: HttpLimits = DEFAULT_HTTP_LIMITS,
    ) -> None:
        self._limits = limits
        self._registry = registry
        self._host = host
        self._port = port
        self._checks: dict[str, HealthCheck] = {}
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def register_check(self, component: str, check: HealthCheck) -> None:
        """Add (or replace) the health check named `component`."""
        with self._lock:
            self._checks[component] = check

    def unregister_check(self, component: str) -> None:
        with self._lock:
            self._checks.pop(component, None)

    def register_route(self, path: str, route: Route) -> None:
        """Serve `GET path` (exact match, not /healthz or /metrics) with `route`.
        An exception it raises answers 500 with the exception's text."""
        if path in ("/healthz", "/metrics") or not path.startswith("/"):
            raise ValueError(f"cannot register route {path!r}")
        with self._lock:
            self._routes[path] = route

    def route(self, path: str) -> Route | None:
        with self._lock:
            return self._routes.get(path)

    @property
    def port(self) -> int:
        """The bound port (after `start()`)."""
        if self._httpd is None:
            return self._port
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def health(self) -> tuple[int, dict[str, Any]]:
        """Run the checks: (HTTP status, JSON body) as `/healthz` answers."""
        with self._lock:
            checks = list(self._checks.items())
        failed: list[dict[str, str]] = []
        for component, check in checks:
            try:
                reason = check()
            except Exception as exc:
                reason = f"check raised {type(exc).__name__}: {exc}"
            if reason is not None:
                failed.append({"component": component, "reason": reason})
        now = datetime.now(UTC).isoformat()
        if failed:
            return 503, {"status": "Service Unavailable", "time": now, "failed_checks": failed}
        return 200, {"status": "OK", "time": now}

    def metrics(self) -> bytes:
        return generate_latest(self._registry)

    def start(self) -> None:
        if self._httpd is not None:
            raise RuntimeError("operations server already started")
        self._httpd = _BoundedHTTPServer(
            (self._host, self._port), _handler_class(self, self._limits), self._limits
        )
        self._httpd.daemon_threads = True
        # A short poll interval makes stop() prompt (shutdown waits for one poll).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="operations-http", daemon=True
        )
        self._thread.start()
        log.info("operations endpoint listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> OperationsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_class(server: OperationsServer, limits: HttpLimits) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = limits.timeout_s

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            size = len(self.requestline) + sum(len(k) + len(v) + 4 for k, v in self.headers.items())
            if size > limits.max_request_bytes:
                self.close_connection = True
                self.send_error(
                    431, f"request headers larger than {limits.max_request_bytes} bytes"
                )
                return False
            return True

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            route = server.route(path)
            if route is not None:
                try:
                    status, content_type, payload = route(parse_qs(query))
                except Exception as exc:
                    log.exception("operations route %s failed", path)
                    status, content_type = 500, "text/plain; charset=utf-8"
                    payload = f"{type(exc).__name__}: {exc}\n".encode()
                self._reply(status, content_type, payload)
            elif path == "/healthz":
                status, body = server.health()
                self._reply(status, "application/json", json.dumps(body).encode())
            elif path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, server.metrics())
            else:
                self._reply(404, "text/plain; charset=utf-8", b"not found\n")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("operations %s: %s", self.address_string(), format % args)

    return Handler


class _BoundedHTTPServer(ThreadingHTTPServer):
    """`ThreadingHTTPServer` serving at most `limits.max_connections` connections at
    once; a connection beyond that is answered 503 and closed on the accepting thread."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        limits: HttpLimits,
    ) -> None:
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"
                )
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
