"""Kubernetes Events about Services: what a user must see, folded like upstream's recorder.

Guarantees:
- recording never raises: an event is a courtesy to the user, and failing to
  write one must not fail a reconcile (failures are logged);
- a repeat of the same event (same object UID, type, reason and message)
  bumps the first one's count instead of creating another;
- every event is also a log line carrying the Service key.
"""

from __future__ import annotations

import logging
import threading

from lbctl.controller.ports import EventWriter, ObjectRef

log = logging.getLogger(__name__)

#: how many distinct events are remembered for folding before starting afresh
_MEMORY = 10000


class EventRecorder:
    """Records Normal and Warning events through an EventWriter."""

    def __init__(self, writer: EventWriter) -> None:
        self._writer = writer
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, str, str], tuple[str, int]] = {}

    def normal(self, ref: ObjectRef, reason: str, message: str) -> None:
        self._record(ref, "Normal", reason, message)

    def warning(self, ref: ObjectRef, reason: str, message: str) -> None:
        self._record(ref, "Warning", reason, message)

    def _record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        identity = (ref.uid, type_, reason, message)
        with self._lock:
            seen = self._seen.get(identity)
        log.log(
            logging.WARNING if type_ == "Warning" else logging.INFO,
            "%s: %s",
            reason,
            message,
            extra={"service": f"{ref.namespace}/{ref.name}", "event": type_},
        )
        try:
            if seen is None:
                name = self._writer.create_event(ref, type_=type_, reason=reason, message=message)
                count = 1
            else:
                name, count = seen[0], seen[1] + 1
                self._writer.bump_event(ref.namespace, name, count)
        except Exception as err:
            log.warning(
                "could not record event %s for %s/%s: %s", reason, ref.namespace, ref.name, err
            )
            if seen is not None:
                with self._lock:
                    self._seen.pop(identity, None)
            return
        with self._lock:
            if len(self._seen) > _MEMORY:
                self._seen.clear()
            self._seen[identity] = (name, count)
