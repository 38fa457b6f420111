"""Command-line flags with environment-variable fallbacks, for both programs.

`Flags("LBCTL")` makes `--some-flag` default to `$LBCTL_SOME_FLAG`. Bad input
is a `UsageError` whose message is one line; the entry points print it and
exit with code 2. argparse's own errors become UsageErrors too (`Parser`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from lbcommon.pools import DEFAULT_POOL, Pool, PoolSpecError, parse_pools


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises UsageError instead of printing and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


class Flags:
    """Environment fallbacks under one prefix (`LBCTL`, `NODEPROXY`)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def env_name(self, flag: str) -> str:
        """`--some-flag` -> `PREFIX_SOME_FLAG`."""
        return f"{self.prefix}_" + flag.lstrip("-").upper().replace("-", "_")

    def env(self, flag: str, default: str | None = None) -> str | None:
        """$PREFIX_<FLAG> for `--flag`, else `default`."""
        return os.environ.get(self.env_name(flag), default)

    def env_bool(self, flag: str) -> bool:
        return (self.env(flag) or "").lower() in ("1", "true", "yes", "on")

    def pools(self, given: Sequence[str] | None) -> tuple[Pool, ...]:
        """`--pool` values (repeatable), else `$PREFIX_POOL` (comma-separated), else the default."""
        specs = list(given or []) or [
            p.strip() for p in (self.env("--pool", DEFAULT_POOL) or "").split(",") if p.strip()
        ]
        try:
            return parse_pools([s.strip() for s in specs])
        except PoolSpecError as err:
            raise UsageError(f"--pool: {err}") from None


def positive_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise UsageError(f"{name} must be at least 1, not {number}")
    return number


def positive_float(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds, not {value!r}") from None
    if number <= 0:
        raise UsageError(f"{name} must be positive, not {value}")
    return number


def host_port(name: str, value: str) -> str:
    _host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"{name} must be HOST:PORT, not {value!r}")
    return value
