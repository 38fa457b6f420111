"""Field validation shared by the resource handlers, with GCE's error shapes.

Every check raises `errors.ApiError` (400) naming the field as GCE does
(`resource.name`, `resource.allowed[0].ports[1]`, ...). The fake is at least
as strict as GCE: where the real API's behaviour was uncertain the stricter
choice was taken and is noted here, so a provider that passes against the fake
does not depend on GCE being lenient.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

from tests.fakes.gce import errors

NAME_PATTERN = "[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"
_NAME = re.compile(NAME_PATTERN)
# Path parameters may also be a numeric resource id.
PATH_PATTERN = f"(?:{NAME_PATTERN}|[1-9][0-9]{{0,19}})"
_PATH = re.compile(PATH_PATTERN)
# GCE also allows international lowercase letters in labels; the fake keeps to ASCII.
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


def name(value: object, field: str = "resource.name") -> str:
    """A resource name: RFC 1035, 1-63 characters."""
    if value is None or value == "":
        raise errors.required(field)
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise errors.invalid(field, value, f"Must be a match of regex '{NAME_PATTERN}'")
    return value


def path_name(value: str, field: str) -> str:
    if not _PATH.fullmatch(value):
        raise errors.invalid(field, value, f"Must be a match of regex '{PATH_PATTERN}'")
    return value


def fields(body: Mapping[str, Any], *, known: Iterable[str], modelled: Iterable[str]) -> None:
    """Reject names the API does not know (as GCE does) and known inputs the fake ignores.

    `known` is every JSON field of the resource (output-only ones included, since
    callers often send back what they read); `modelled` are the inputs the fake
    implements. A known, unmodelled field with a non-empty value is refused, so a
    test never passes because the fake silently dropped something.
    """
    known_set, modelled_set = set(known), set(modelled)
    for key, value in body.items():
        if key not in known_set:
            raise errors.unknown_field(key)
        if key not in modelled_set and value not in (None, "", [], {}, False, 0):
            raise errors.unsupported(f"field '{key}'")


def enum(value: object, allowed: Iterable[str], field: str, default: str | None = None) -> str:
    if value in (None, "") and default is not None:
        return default
    choices = tuple(allowed)
    if not isinstance(value, str) or value not in choices:
        raise errors.invalid(field, value, f"Must be one of [{', '.join(choices)}].")
    return value


def integer(value: object, field: str, *, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise errors.invalid(field, value, f"Must be between {low} and {high}.")
    return value


def string_list(value: object, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.invalid(field, value, "Must be a list of strings.")
    return list(value)


def cidr(value: str, field: str) -> str:
    """An IPv4/IPv6 address or network; host bits set are refused (stricter than GCE may be)."""
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=True)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        raise errors.invalid(
            field, value, "Must be a valid IP address or CIDR range with no host bits set."
        ) from None
    return value


def ipv4(value: object, field: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(value))
    except ValueError:
        raise errors.invalid(field, value, "Must be a valid IPv4 address.") from None


def port_spec(value: object, field: str, *, low: int = 0) -> tuple[int, int]:
    """`"80"` or `"8000-8080"` as an inclusive (first, last) pair."""
    text = str(value)
    match = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", text)
    if not match:
        raise errors.invalid(field, value, "Must be a port number or a range 'first-last'.")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if not (low <= first <= last <= 65535):
        raise errors.invalid(field, value, f"Ports must be within {low}-65535, first <= last.")
    return first, last


def labels(value: object, field: str = "resource.labels") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.invalid(field, value, "Must be a map of strings.")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _LABEL_KEY.fullmatch(key):
            raise errors.invalid(
                f"{field}.key", key, "Label keys must match [a-z][a-z0-9_-]{0,62}."
            )
        if not isinstance(item, str) or not _LABEL_VALUE.fullmatch(item):
            raise errors.invalid(
                f"{field}.value", item, "Label values must match [a-z0-9_-]{0,63}."
            )
        result[key] = item
    return result
