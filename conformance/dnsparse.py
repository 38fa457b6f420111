"""Parse `nslookup` output, from busybox or from BIND's nslookup.

The local cluster's images carry busybox; upstream's agnhost carries BIND's
nslookup. Both print a server block, then `Name:`/`Address:` pairs, CNAMEs
as `<name> canonical name = <target>` and reverse answers as
`<arpa name> name = <target>`. Guarantees: pure; trailing dots and `#53` /
`:53` server ports never leak into results; the server's own address (the
lines before the first answer) is never taken for an answer.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_ADDRESS = re.compile(r"^Address(?:\s*\d+)?:\s*(\S+)")
_CNAME = re.compile(r"canonical name\s*=\s*(\S+)")
_PTR = re.compile(r"\sname\s*=\s*(\S+)")
_NOT_FOUND = ("can't find", "NXDOMAIN", "No answer", "SERVFAIL")


@dataclass(frozen=True)
class Lookup:
    """The answers of one lookup."""

    addresses: tuple[str, ...]
    cnames: tuple[str, ...]
    names: tuple[str, ...]
    not_found: bool


def _strip(name: str) -> str:
    return name.rstrip(".")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse(output: str) -> Lookup:
    """The answers in one nslookup's output."""
    addresses: list[str] = []
    cnames: list[str] = []
    names: list[str] = []
    in_answers = False
    for raw in output.splitlines():
        line = raw.strip()
        if line.startswith("Name:") or "canonical name" in line or " name = " in raw:
            in_answers = True
        if cname := _CNAME.search(line):
            cnames.append(_strip(cname.group(1)))
            continue
        if (ptr := _PTR.search(" " + line)) and "canonical" not in line:
            names.append(_strip(ptr.group(1)))
            continue
        if in_answers and (address := _ADDRESS.match(line)):
            value = address.group(1)
            if _is_address(value):
                addresses.append(value)
    not_found = not (addresses or cnames or names) and any(m in output for m in _NOT_FOUND)
    return Lookup(
        addresses=tuple(dict.fromkeys(addresses)),
        cnames=tuple(dict.fromkeys(cnames)),
        names=tuple(dict.fromkeys(names)),
        not_found=not_found,
    )
