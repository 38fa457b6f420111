"""Logging setup: the standard logging module, with structured fields shown.

Code logs with `extra={"service": key, "provider": name, ...}`; the formatter
appends those fields as `key=value`, so every reconcile line carries the
Service key and provider without string formatting at each call site.
"""

from __future__ import annotations

import logging

#: attributes every LogRecord has; anything else came in through `extra`
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class StructuredFormatter(logging.Formatter):
    """`time level logger: message key=value ...`"""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if not fields:
            return base
        return base + " " + " ".join(f"{k}={v}" for k, v in sorted(fields.items()))


def configure(*, verbose: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(StructuredFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # The Kubernetes client logs every request at debug; keep it quiet.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
