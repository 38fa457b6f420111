"""HTTP front of the fake: routes Compute v1 REST paths to handlers, speaks JSON.

Guarantees:
- binds 127.0.0.1 on an ephemeral port, nothing else;
- serves exactly the paths google-cloud-compute's REST transport generates
  (`/compute/v1/projects/{project}/...`), plus the legacy httpHealthChecks
  paths that no client library covers; any other path or verb is 501 with a
  JSON error naming it, so a missing feature is loud;
- one request is one atomic step: faults are decided, the delay slept outside
  the lock, then routing-level checks (scope, path names, requestId replay,
  resourceNotReady) and the handler run under `Store.lock`;
- every request is recorded in the call log with its final status;
- responses close the connection (HTTP/1.0), so no handler thread outlives
  its request and `stop()` can join every thread it started.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from tests.fakes.gce import (
    addresses,
    errors,
    firewalls,
    forwardingrules,
    healthchecks,
    instances,
    targetpools,
    validate,
)
from tests.fakes.gce.calls import Call, CallLog
from tests.fakes.gce.crud import Handler
from tests.fakes.gce.faults import Decision, Faults
from tests.fakes.gce.links import Ref
from tests.fakes.gce.operations import OperationError
from tests.fakes.gce.state import JSON, Request, Store

log = logging.getLogger(__name__)

#: response headers beyond the ones every reply has (Retry-After on a fault)
Headers = dict[str, str]

PREFIX = "/compute/v1/projects/"
QUERY_PARAMS = frozenset(
    {"requestId", "filter", "maxResults", "orderBy", "pageToken", "returnPartialSuccess",
     "includeAllScopes", "serviceProjectNumber", "alt", "$alt", "prettyPrint"}
)  # fmt: skip
PARAM_NAMES = {
    "addresses": "address",
    "firewalls": "firewall",
    "httpHealthChecks": "httpHealthCheck",
    "targetPools": "targetPool",
    "forwardingRules": "forwardingRule",
    "instances": "instance",
    "operations": "operation",
}


@dataclass(frozen=True)
class Route:
    verb: str
    pattern: re.Pattern[str]
    method: str
    handler: Handler
    collection: str
    scope_kind: str  # "regions", "zones", "global" or "aggregated"


def _route(verb: str, template: str, method: str, handler: Handler) -> Route:
    """`template` like `regions/{scope}/targetPools/{name}/addInstance`."""
    regex = re.escape(template).replace(r"\{scope\}", "(?P<scope>[^/]+)")
    regex = regex.replace(r"\{name\}", "(?P<name>[^/]+)")
    parts = template.split("/")
    scope_kind = parts[0]
    collection = parts[2] if scope_kind in ("regions", "zones") else parts[1]
    pattern = re.compile(f"(?P<project>[^/]+)/{regex}")
    return Route(verb, pattern, method, handler, collection, scope_kind)


def _build_routes() -> list[Route]:
    handlers: dict[str, Handler] = {}
    for module in (addresses, firewalls, healthchecks, targetpools, forwardingrules, instances):
        handlers.update(module.HANDLERS)
    scopes = {
        "addresses": "regions/{scope}",
        "firewalls": "global",
        "httpHealthChecks": "global",
        "targetPools": "regions/{scope}",
        "forwardingRules": "regions/{scope}",
        "instances": "zones/{scope}",
    }
    plain = {
        "list": ("GET", ""),
        "insert": ("POST", ""),
        "get": ("GET", "/{name}"),
        "delete": ("DELETE", "/{name}"),
        "patch": ("PATCH", "/{name}"),
        "update": ("PUT", "/{name}"),
    }
    routes: list[Route] = []
    for method, handler in handlers.items():
        collection, verb = method.split(".")
        if verb == "aggregatedList":
            routes.append(_route("GET", f"aggregated/{collection}", method, handler))
            continue
        http_verb, suffix = plain.get(verb, ("POST", "/{name}/" + verb))
        routes.append(
            _route(http_verb, f"{scopes[collection]}/{collection}{suffix}", method, handler)
        )
    for prefix, scope in (
        ("region", "regions/{scope}"),
        ("zone", "zones/{scope}"),
        ("global", "global"),
    ):
        routes.append(
            _route("GET", f"{scope}/operations/{{name}}", f"{prefix}Operations.get", _poll)
        )
        routes.append(
            _route("POST", f"{scope}/operations/{{name}}/wait", f"{prefix}Operations.wait", _poll)
        )
    return routes


def _poll(store: Store, req: Request) -> JSON:
    return store.ops.poll(req.project, req.scope, req.name or "")


class App:
    """Everything a request needs: routes, store, faults, call log."""

    def __init__(self, store: Store, faults: Faults, calls: CallLog) -> None:
        self.store = store
        self.faults = faults
        self.calls = calls
        self.stopping = threading.Event()
        self.internal_errors: list[str] = []
        self.routes = _build_routes()

    def serve(self, verb: str, raw_path: str, raw_body: bytes) -> tuple[int, JSON, Headers]:
        split = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        body: Any = None
        route, match = self._match(verb, split.path)
        call = Call(route.method if route else "unknown", verb, split.path, query, None)
        try:
            body = json.loads(raw_body) if raw_body.strip() else {}
            call = replace(call, body=body)
        except ValueError:
            call = replace(call, body=raw_body.decode(errors="replace"))
        decision = self.faults.decide(call)
        if decision.delay:
            self.stopping.wait(decision.delay)
        status, payload, headers = self._outcome(call, route, match, decision)
        fault = ", ".join(decision.labels) or None
        self.calls.record(replace(call, status=status, fault=fault))
        return status, payload, headers

    def _match(self, verb: str, path: str) -> tuple[Route | None, re.Match[str] | None]:
        if not path.startswith(PREFIX):
            return None, None
        rest = path[len(PREFIX) :]
        for route in self.routes:
            match = route.pattern.fullmatch(rest)
            if match and route.verb == verb:
                return route, match
        return None, None

    def _outcome(
        self, call: Call, route: Route | None, match: re.Match[str] | None, decision: Decision
    ) -> tuple[int, JSON, Headers]:
        try:
            if decision.error is not None:
                raise decision.error
            if route is None or match is None:
                raise errors.not_implemented(call.verb, call.path)
            if not isinstance(call.body, dict):
                raise errors.bad_request("Invalid JSON payload received.")
            with self.store.lock:
                return 200, self._dispatch(call, route, match, decision), {}
        except errors.ApiError as error:
            return error.status, error.body(), error.headers()
        except Exception as exc:  # a bug in the fake: report it as GCE would a 500
            log.exception("GCE fake failed on %s %s", call.verb, call.path)
            self.internal_errors.append(f"{call.verb} {call.path}: {exc!r}")
            return 500, errors.ApiError(500, "backendError", f"GCE fake bug: {exc!r}").body(), {}

    def _dispatch(self, call: Call, route: Route, match: re.Match[str], decision: Decision) -> JSON:
        groups = match.groupdict()
        scope = "global"
        if route.scope_kind in ("regions", "zones"):
            scope = f"{route.scope_kind}/{groups['scope']}"
        req = Request(
            route.method, groups["project"], scope, groups.get("name"), call.body, call.query
        )
        self.store.check_scope(req.project, scope)
        for key in call.query:
            if key not in QUERY_PARAMS:
                raise errors.unsupported(f"query parameter '{key}'")
        if req.name is not None:
            validate.path_name(req.name, PARAM_NAMES.get(route.collection, "resource"))
        if not call.mutating:
            return route.handler(self.store, req)
        request_id = call.query.get("requestId")
        if request_id:
            _check_request_id(request_id)
            replayed = self.store.ops.replay(request_id)
            if replayed is not None:
                return replayed
        target = self._target_link(req, route)
        if target and self.store.ops.busy(target):
            raise errors.not_ready(
                Ref(req.project, scope, route.collection, _target_name(req)).path
            )
        if decision.operation_error is not None:
            return self._failed_operation(req, target, decision)
        try:
            return route.handler(self.store, req)
        except errors.ApiError as error:
            if error.operation_code and self.store.quota_errors_in_operation:
                decision = Decision(operation_error=_as_operation_error(error))
                return self._failed_operation(req, target, decision)
            raise

    def _target_link(self, req: Request, route: Route) -> str | None:
        name = _target_name(req)
        if not name:
            return None
        return self.store.links.url(Ref(req.project, req.scope, route.collection, name))

    def _failed_operation(self, req: Request, target: str | None, decision: Decision) -> JSON:
        return self.store.ops.start(
            project=req.project,
            scope=req.scope,
            method=req.method,
            target_link=target or "",
            error=decision.operation_error,
            polls=decision.operation_polls,
            request_id=req.query.get("requestId") or None,
        )


def _target_name(req: Request) -> str:
    if req.name:
        return req.name
    name = req.body.get("name") if isinstance(req.body, dict) else None
    return name if isinstance(name, str) else ""


def _check_request_id(request_id: str) -> None:
    try:
        parsed = uuid.UUID(request_id)
    except ValueError:
        parsed = None
    if parsed is None or parsed.int == 0:
        raise errors.invalid("requestId", request_id, "Must be a valid, non-zero UUID.")


def _as_operation_error(error: errors.ApiError) -> OperationError:
    return OperationError(error.operation_code or "ERROR", error.message, error.status)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    timeout = 10
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, payload, headers = self.server.app.serve(self.command, self.path, raw)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins every request thread
    block_on_close = True
    request_queue_size = 128

    def __init__(self, app: App) -> None:
        self.app = app
        super().__init__(("127.0.0.1", 0), _Handler)


class HttpServer:
    """The listening server and its thread; `start` binds, `stop` joins everything."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        self._server = _Server(self._app)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="gce-fake-server",
        )
        self._thread.start()
        host, port = cast(tuple[str, int], self._server.server_address[:2])
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._app.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None
