"""Server-assigned values: numeric ids, timestamps and fingerprints.

Ids are decimal strings of 64-bit numbers, as GCE returns them, unique per fake
and deterministic (a counter from a fixed base) so failures are reproducible.
Fingerprints are base64 of a hash of the fingerprinted content, so they change
exactly when the content changes; an empty label set has GCE's well-known
fingerprint `42WmSpB8rSM=`.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import json
import threading
from typing import Any

EMPTY_LABELS_FINGERPRINT = "42WmSpB8rSM="


class IdSource:
    """Thread-safe source of unique numeric ids."""

    def __init__(self, base: int = 4_100_000_000_000_000_000) -> None:
        self._counter = itertools.count(base, 7_919)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return str(next(self._counter))


def timestamp() -> str:
    """RFC 3339 with milliseconds, e.g. `2024-05-01T10:20:30.123-07:00` in GCE (UTC here)."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def fingerprint(content: Any) -> str:
    if content in ({}, None):
        return EMPTY_LABELS_FINGERPRINT
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).digest()
    return base64.b64encode(digest[:8]).decode()
