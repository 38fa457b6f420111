"""Operations: what every mutation returns, and how long it takes to finish.

Guarantees:
- a mutation's response is a `compute#operation` in the right scope (the
  `region` or `zone` field set, neither for global) with `operationType`,
  `targetLink`, `targetId` and a selfLink that the clients' `ExtendedOperation`
  can poll through `{region,zone,global}Operations.get` or `.wait`;
- timing is counted in polls, not seconds, so tests are deterministic: with
  `polls == 0` (the default) the operation is already DONE in the mutation's
  own response; with `polls == n` it is RUNNING there and reports DONE on the
  n-th poll (a `get` or `wait` of that operation);
- while an operation is not DONE its target is busy: the fake answers further
  mutations of that target with 400 `resourceNotReady`, as GCE does;
- a failed operation carries `error.errors[]` plus `httpErrorStatusCode` and
  `httpErrorMessage`, the fields `ExtendedOperation.result()` turns into an
  api_core exception; the fake never applies the mutation of a failed operation;
- a repeated `requestId` returns the operation of the first request and does
  nothing else (GCE's idempotency contract).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus

from tests.fakes.gce import errors
from tests.fakes.gce.links import Links
from tests.fakes.gce.stamps import IdSource, timestamp

JSON = errors.JSON


@dataclass(frozen=True)
class OperationError:
    """How an operation fails: GCE error code (e.g. QUOTA_EXCEEDED) and HTTP status."""

    code: str
    message: str
    http_status: int = 400


@dataclass
class _Record:
    name: str
    id: str
    project: str
    scope: str
    method: str
    operation_type: str
    target_link: str
    target_id: str
    polls_left: int
    error: OperationError | None
    request_id: str | None = None
    insert_time: str = field(default_factory=timestamp)
    end_time: str | None = None

    @property
    def done(self) -> bool:
        return self.polls_left <= 0


class Operations:
    """All operations of one fake, keyed by (project, scope, name)."""

    def __init__(self, links: Links, ids: IdSource) -> None:
        self._links = links
        self._ids = ids
        self._lock = threading.Lock()
        self._ops: dict[tuple[str, str, str], _Record] = {}
        self._by_request_id: dict[str, tuple[str, str, str]] = {}
        self._polls_default = 0
        self._polls_by_method: dict[str, int] = {}

    def set_polls(self, polls: int, *, method: str | None = None) -> None:
        """Operations (of `method`, or all) report DONE on the `polls`-th poll; 0 = at once."""
        if polls < 0:
            raise ValueError("polls must be >= 0")
        with self._lock:
            if method is None:
                self._polls_default = polls
                self._polls_by_method.clear()
            else:
                self._polls_by_method[method] = polls

    def start(
        self,
        *,
        project: str,
        scope: str,
        method: str,
        target_link: str,
        target_id: str = "",
        error: OperationError | None = None,
        polls: int | None = None,
        request_id: str | None = None,
    ) -> JSON:
        """Record a new operation for a mutation that was just applied (or failed)."""
        with self._lock:
            if polls is None:
                polls = self._polls_by_method.get(method, self._polls_default)
            record = _Record(
                name=f"operation-{uuid.uuid4().hex[:13]}-{uuid.uuid4().hex[:8]}",
                id=self._ids.next(),
                project=project,
                scope=scope,
                method=method,
                operation_type=method.rsplit(".", 1)[-1],
                target_link=target_link,
                target_id=target_id,
                polls_left=polls,
                error=error,
                request_id=request_id,
            )
            if record.done:
                record.end_time = timestamp()
            self._ops[(project, scope, record.name)] = record
            if request_id:
                self._by_request_id[request_id] = (project, scope, record.name)
            return self._render(record)

    def poll(self, project: str, scope: str, name: str) -> JSON:
        """A `get` or `wait`: advances the operation by one poll."""
        with self._lock:
            record = self._ops.get((project, scope, name))
            if record is None:
                raise errors.not_found(f"projects/{project}/{scope}/operations/{name}")
            if not record.done:
                record.polls_left -= 1
                if record.done:
                    record.end_time = timestamp()
            return self._render(record)

    def busy(self, target_link: str) -> bool:
        with self._lock:
            return any(r.target_link == target_link and not r.done for r in self._ops.values())

    def replay(self, request_id: str) -> JSON | None:
        """The operation already started for `request_id`, if any."""
        with self._lock:
            key = self._by_request_id.get(request_id)
            return self._render(self._ops[key]) if key else None

    def pending(self) -> list[str]:
        """Names of operations that are not DONE yet."""
        with self._lock:
            return [r.name for r in self._ops.values() if not r.done]

    def _render(self, record: _Record) -> JSON:
        scope_url = self._links.scope_url(record.project, record.scope)
        body: JSON = {
            "kind": "compute#operation",
            "id": record.id,
            "name": record.name,
            "operationType": record.operation_type,
            "targetLink": record.target_link,
            "status": "DONE" if record.done else "RUNNING",
            "progress": 100 if record.done else 0,
            "user": "lbctl-test@gce-fake.invalid",
            "insertTime": record.insert_time,
            "startTime": record.insert_time,
            "selfLink": f"{scope_url}/operations/{record.name}",
        }
        if record.target_id:
            body["targetId"] = record.target_id
        if record.request_id:
            body["clientOperationId"] = record.request_id
        if record.scope.startswith("regions/"):
            body["region"] = scope_url
        elif record.scope.startswith("zones/"):
            body["zone"] = scope_url
        if record.done:
            body["endTime"] = record.end_time
            if record.error is not None:
                body["error"] = {
                    "errors": [{"code": record.error.code, "message": record.error.message}]
                }
                body["httpErrorStatusCode"] = record.error.http_status
                body["httpErrorMessage"] = HTTPStatus(record.error.http_status).phrase.upper()
        return body
