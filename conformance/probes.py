"""Probes from inside the cluster: commands exec'd in a client pod.

The client pod runs agnhost `netexec` on port 8080 (its `/dial` endpoint
sends UDP requests for us) and has the image's shell tools: `wget` and
`timeout` (busybox in both the local and the upstream agnhost image),
`nslookup` (busybox or BIND: see dnsparse) and `/agnhost connect`.

Guarantees: every probe is bounded by its own timeout; a failed request is
`None` in a list of answers, never an exception; many requests go in one
exec (one round trip to the apiserver, not one per request).
"""

from __future__ import annotations

import json
import shlex
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from conformance import podexec
from conformance.dnsparse import Lookup, parse
from conformance.kube import Kube
from conformance.waiting import WaitTimeoutError, wait_until

FAILED = "#ERR"
CLIENT_DIAL_PORT = 8080


def hostport(host: str, port: int) -> str:
    """`host:port`, with brackets around an IPv6 literal."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Connect:
    """How a connection attempt ended: `ok`, or agnhost's REFUSED/TIMEOUT/DNS/OTHER."""

    result: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.result == "ok"


def connect_result(code: int | None, stderr: str) -> str:
    """agnhost connect's outcome from its exit code and error prefix."""
    if code == 0:
        return "ok"
    for kind in ("REFUSED", "TIMEOUT", "DNS", "OTHER", "UNKNOWN"):
        if kind in stderr:
            return kind
    return "TIMEOUT" if code is None else "OTHER"


def answers(stdout: str, count: int) -> list[str | None]:
    """One answer per line of a request loop's output (FAILED lines are None)."""
    lines = stdout.splitlines()[:count]
    out: list[str | None] = [
        None if line.strip() in ("", FAILED) else line.strip() for line in lines
    ]
    return out + [None] * (count - len(out))


def dial_answer(line: str | None) -> str | None:
    """The first response in a netexec /dial JSON reply."""
    if not line:
        return None
    try:
        responses = json.loads(line).get("responses") or []
    except (ValueError, AttributeError):
        return None
    return str(responses[0]) if responses else None


def ip_of(clientip: str | None) -> str | None:
    """The address part of netexec's `/clientip` answer (`ip:port`)."""
    if not clientip:
        return None
    return clientip.rsplit(":", 1)[0].strip("[]")


class PodProbe:
    """Probes sent from one pod."""

    def __init__(self, kube: Kube, namespace: str, pod: str, *, ip: str | None = None) -> None:
        self.kube = kube
        self.namespace = namespace
        self.pod = pod
        self.ip = ip

    def _loop(self, command: str, count: int, per_try: float) -> list[str | None]:
        script = (
            f"i=0; while [ $i -lt {count} ]; do "
            f"r=$(timeout {max(1, round(per_try))} {command} 2>/dev/null) || r='{FAILED}'; "
            f'echo "$r"; i=$((i+1)); done'
        )
        result = podexec.shell(
            self.kube, self.namespace, self.pod, script, timeout=count * (per_try + 1) + 15
        )
        return answers(result.stdout, count)

    def http_many(
        self, host: str, port: int, path: str = "/hostname", *, count: int = 1, per_try: float = 3
    ) -> list[str | None]:
        """`count` HTTP GETs (each a new connection), answers in order."""
        url = shlex.quote(f"http://{hostport(host, port)}{path}")
        return self._loop(f"wget -q -O - {url}", count, per_try)

    def http(
        self, host: str, port: int, path: str = "/hostname", *, per_try: float = 3
    ) -> str | None:
        return self.http_many(host, port, path, count=1, per_try=per_try)[0]

    def udp_many(
        self, host: str, port: int, request: str = "hostname", *, count: int = 1, per_try: float = 3
    ) -> list[str | None]:
        """`count` UDP requests through the pod's netexec /dial (a new socket each)."""
        query = urlencode(
            {"request": request, "protocol": "udp", "host": host, "port": port, "tries": 1}
        )
        url = shlex.quote(f"http://127.0.0.1:{CLIENT_DIAL_PORT}/dial?{query}")
        return [dial_answer(a) for a in self._loop(f"wget -q -O - {url}", count, per_try)]

    def udp(self, host: str, port: int, request: str = "hostname") -> str | None:
        return self.udp_many(host, port, request, count=1)[0]

    def connect(
        self, host: str, port: int, *, protocol: str = "tcp", timeout: float = 3
    ) -> Connect:
        """One connection attempt with agnhost connect; how it ended and how long it took."""
        argv = [
            "/agnhost",
            "connect",
            f"--protocol={protocol}",
            f"--timeout={timeout}s",
            hostport(host, port),
        ]
        started = time.monotonic()
        result = podexec.run(self.kube, self.namespace, self.pod, argv, timeout=timeout + 15)
        return Connect(connect_result(result.code, result.stderr), time.monotonic() - started)

    def nslookup(self, name: str, *, timeout: float = 10) -> Lookup:
        result = podexec.shell(
            self.kube,
            self.namespace,
            self.pod,
            f"timeout {round(timeout)} nslookup {shlex.quote(name)}",
            timeout=timeout + 10,
        )
        return parse(result.stdout + "\n" + result.stderr)

    def env(self) -> dict[str, str]:
        result = podexec.run(self.kube, self.namespace, self.pod, ["env"], timeout=20)
        pairs = (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        return {k: v for k, v in pairs}


def spread(answers_: Sequence[str | None]) -> Counter[str]:
    """How many answers each backend gave (failures left out)."""
    return Counter(a for a in answers_ if a)


def reach_all(
    send: Callable[[int], Sequence[str | None]],
    want: set[str],
    *,
    tries: int = 60,
    batch: int = 15,
    within: float = 30.0,
) -> Counter[str]:
    """Send batches of requests until every answer in `want` was seen, or both
    `tries` requests went out and `within` seconds passed.

    The time bound is for propagation: kube-proxy programs a new endpoint
    (a second EndpointSlice, say) a moment after the API has it, and 60
    requests can all go out before that. Returns the answers counted; the
    caller asserts on them (so a failure shows which backend never answered).
    """
    seen: Counter[str] = Counter()
    sent = 0
    deadline = time.monotonic() + within
    while not want <= set(seen) and (sent < tries or time.monotonic() < deadline):
        if sent >= tries:
            time.sleep(0.5)
        count = min(batch, tries - sent) if sent < tries else batch
        seen.update(spread(send(count)))
        sent += count
    return seen


def answers_exactly(
    send: Callable[[int], Sequence[str | None]],
    want: set[str],
    *,
    timeout: float = 60,
    tries: int = 45,
) -> Counter[str]:
    """Wait until a round of requests is answered by exactly `want` (no stale backend).

    For checks right after endpoints changed: proxies apply endpoint changes a
    moment after the EndpointSlice shows them, so one round may still reach a
    terminating pod.
    """
    last: Counter[str] = Counter()

    def exact() -> bool:
        nonlocal last
        last = reach_all(send, want, tries=tries)
        return set(last) == want

    try:
        wait_until(f"answers from exactly {sorted(want)}", exact, timeout=timeout, interval=1)
    except WaitTimeoutError as err:
        raise AssertionError(f"{err}; last round: {dict(last)}") from None
    return last
