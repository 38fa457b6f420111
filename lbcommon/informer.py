"""List+watch one resource kind into a local cache, calling handlers on changes.

Guarantees (the client-go informer contract, reduced to what lbctl needs):
- the cache is eventually consistent with the apiserver and sees each
  object's states in order; handlers run on the informer's own thread, in
  event order, and must only enqueue work;
- a watch that expires (410 Gone, or an ERROR event carrying it) relists,
  and the relist reports objects deleted while we were away;
- a dropped connection or an apiserver restart resumes the watch from the
  last resourceVersion, with jittered backoff between attempts;
- every `resync_period` each cached object is handed to `on_update` again,
  so a missed or failed reconcile is retried even without a change;
- `stop()` interrupts a blocked watch at once (the HTTP response is shut down);
- each object is translated into a domain value (`translate`, e.g.
  lbcommon.kube.convert.service_from_api) once per resourceVersion, here at
  the boundary: handlers and cache readers only ever see those frozen values,
  never API dicts or client models. A resync, or a relist that finds an
  unchanged resourceVersion, reuses the value it has. An object that cannot
  be translated is logged and keeps its last good value;
- time (resync, backoff) runs on the injected Clock.

The list function is injected (a `list_*` of the kubernetes client, called
with `_preload_content=False`), so this module never imports the client:
code that reads the cache reaches no Kubernetes dependency. Reading raw JSON
also spares the client's slow model deserialisation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from lbcommon.clock import Clock, RealClock, StopSignal

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ListFunc = Callable[..., Any]
T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)

GONE = 410


class EventHandler(Protocol[T_contra]):
    """Called on the informer's thread, in event order; must only enqueue work."""

    def on_add(self, obj: T_contra) -> None: ...
    def on_update(self, old: T_contra, new: T_contra) -> None: ...
    def on_delete(self, obj: T_contra) -> None: ...


def object_key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


class _ExpiredError(Exception):
    """The watch's resourceVersion is too old: relist."""


class _Entry(Generic[T]):
    __slots__ = ("value", "version")

    def __init__(self, version: str, value: T) -> None:
        self.version = version
        self.value = value


class Informer(Generic[T]):
    """One resource kind's cache of domain values, filled by list+watch on a thread."""

    def __init__(
        self,
        name: str,
        list_func: ListFunc,
        translate: Callable[[Obj], T],
        handler: EventHandler[T],
        *,
        clock: Clock | None = None,
        resync_period: float = 300.0,
        watch_timeout: int = 300,
        page_size: int = 500,
    ) -> None:
        self.name = name
        self._list = list_func
        self._translate = translate
        self._handler = handler
        self._clock = clock or RealClock()
        self._resync_period = resync_period
        self._watch_timeout = watch_timeout
        self._page_size = page_size
        self._store: dict[str, _Entry[T]] = {}
        self._lock = threading.Lock()
        self._stopping = StopSignal(self._clock)
        self._synced = threading.Event()
        self._response: Any = None
        self._thread: threading.Thread | None = None
        self._resource_version = ""

    # -- cache access -------------------------------------------------------

    def get(self, key: str) -> T | None:
        with self._lock:
            entry = self._store.get(key)
        return None if entry is None else entry.value

    def items(self) -> list[T]:
        with self._lock:
            return [entry.value for entry in self._store.values()]

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._store)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> Informer[T]:
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._interrupt_watch()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _interrupt_watch(self) -> None:
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()
            with contextlib.suppress(Exception):
                response.close()

    # -- the loop -----------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        next_resync = self._clock.now() + self._resync_period
        need_list = True
        while not self._stopping.is_set():
            try:
                if need_list:
                    self._relist()
                    need_list = False
                self._watch(until=next_resync)
                failures = 0
            except _ExpiredError:
                log.info("watch expired; relisting", extra={"informer": self.name})
                need_list = True
            except Exception as err:  # connection drops, apiserver restarts, bad gateways
                if self._stopping.is_set():
                    break
                failures += 1
                delay = min(0.2 * 2**failures, 5.0) * random.uniform(0.5, 1.0)
                log.warning(
                    "list/watch %s failed (%s: %s); retrying in %.1fs",
                    self.name,
                    type(err).__name__,
                    err,
                    delay,
                )
                if getattr(err, "status", None) == GONE:
                    need_list = True
                self._stopping.wait(delay)
            if self._clock.now() >= next_resync and self.has_synced:
                self._resync()
                next_resync = self._clock.now() + self._resync_period

    def _entry(self, obj: Obj, previous: _Entry[T] | None) -> _Entry[T] | None:
        """The cache entry for `obj`: translated once per resourceVersion."""
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if previous is not None and version and previous.version == version:
            return previous
        try:
            return _Entry(version, self._translate(obj))
        except (KeyError, ValueError, TypeError) as err:
            log.error(
                "cannot translate %s %s: %s",
                self.name,
                object_key(obj),
                err,
                extra={"informer": self.name},
            )
            return previous

    def _relist(self) -> None:
        items: dict[str, Obj] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": self._page_size, "_preload_content": False}
            if token:
                kwargs["_continue"] = token
            response = self._list(**kwargs)
            try:
                body = json.loads(response.data)
            finally:
                response.release_conn()
            for item in body.get("items") or []:
                items[object_key(item)] = item
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                break
        self._resource_version = body["metadata"]["resourceVersion"]
        with self._lock:
            old = dict(self._store)
        fresh: dict[str, _Entry[T]] = {}
        for key, obj in items.items():
            entry = self._entry(obj, old.get(key))
            if entry is not None:
                fresh[key] = entry
        with self._lock:
            self._store = fresh
        for key, entry in fresh.items():
            if key in old:
                self._handler.on_update(old[key].value, entry.value)
            else:
                self._handler.on_add(entry.value)
        for key, entry in old.items():
            if key not in fresh:
                self._handler.on_delete(entry.value)
        self._synced.set()

    def _watch(self, *, until: float) -> None:
        timeout = max(1, min(self._watch_timeout, int(until - self._clock.now()) + 1))
        response = self._list(
            watch=True,
            resource_version=self._resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout,
            _preload_content=False,
            _request_timeout=(10, timeout + 30),
        )
        self._response = response
        try:
            if self._stopping.is_set():
                return
            for event in _events(response):
                self._apply(event)
                if self._stopping.is_set():
                    return
        finally:
            self._response = None
            with contextlib.suppress(Exception):
                response.release_conn()

    def _apply(self, event: Obj) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == GONE:
                raise _ExpiredError()
            raise RuntimeError(f"watch error: {obj.get('message', obj)}")
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self._resource_version = version
        if kind == "BOOKMARK":
            return
        key = object_key(obj)
        with self._lock:
            old = self._store.get(key)
        if kind == "DELETED":
            with self._lock:
                self._store.pop(key, None)
            if old is not None:
                self._handler.on_delete(old.value)
            return
        entry = self._entry(obj, old)
        if entry is None:
            return
        with self._lock:
            self._store[key] = entry
        if old is None:
            self._handler.on_add(entry.value)
        else:
            self._handler.on_update(old.value, entry.value)

    def _resync(self) -> None:
        for value in self.items():
            self._handler.on_update(value, value)


def _events(response: Any) -> Iterator[Obj]:
    """Yield the JSON watch events of a streaming response, one per line."""
    buffer = b""
    for chunk in response.stream(amt=65536, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)
