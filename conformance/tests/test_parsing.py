"""Parsing what probes print: nslookup (busybox and BIND), request loops, agnhost connect."""

from __future__ import annotations

import pytest

from conformance.dnsparse import parse
from conformance.probes import FAILED, answers, connect_result, dial_answer, ip_of

pytestmark = pytest.mark.unit

BUSYBOX_A = """Server:\t\t198.18.16.10
Address:\t198.18.16.10:53

Name:\tweb.cf-cip-7-abc.svc.cluster.local
Address: 198.18.16.77

"""

BIND_A = """Server:\t\t10.96.0.10
Address:\t10.96.0.10#53

Name:\tweb.ns.svc.cluster.local
Address: 10.96.4.2
Name:\tweb.ns.svc.cluster.local
Address: 10.96.4.3
"""

BUSYBOX_CNAME = """Server:\t\t198.18.16.10
Address:\t198.18.16.10:53

ext.ns.svc.cluster.local\tcanonical name = example.invalid

"""

BIND_PTR = """77.16.18.198.in-addr.arpa\tname = web.ns.svc.cluster.local.
"""

NXDOMAIN = """Server:\t\t198.18.16.10
Address:\t198.18.16.10:53

** server can't find nope.ns.svc.cluster.local: NXDOMAIN
"""


@pytest.mark.parametrize(
    ("output", "addresses", "cnames", "names", "not_found"),
    [
        pytest.param(BUSYBOX_A, ("198.18.16.77",), (), (), False, id="busybox-a"),
        pytest.param(BIND_A, ("10.96.4.2", "10.96.4.3"), (), (), False, id="bind-two-a"),
        pytest.param(BUSYBOX_CNAME, (), ("example.invalid",), (), False, id="busybox-cname"),
        pytest.param(BIND_PTR, (), (), ("web.ns.svc.cluster.local",), False, id="bind-ptr"),
        pytest.param(NXDOMAIN, (), (), (), True, id="nxdomain"),
    ],
)
def test_nslookup(
    output: str,
    addresses: tuple[str, ...],
    cnames: tuple[str, ...],
    names: tuple[str, ...],
    not_found: bool,
) -> None:
    lookup = parse(output)
    assert lookup.addresses == addresses
    assert lookup.cnames == cnames
    assert lookup.names == names
    assert lookup.not_found is not_found


def test_answers_pad_and_mark_failures() -> None:
    assert answers(f"pod-a\n{FAILED}\npod-b\n", 4) == ["pod-a", None, "pod-b", None]


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        pytest.param('{"responses":["pod-a"],"errors":null}', "pod-a", id="answer"),
        pytest.param('{"responses":[],"errors":["timeout"]}', None, id="error"),
        pytest.param("not json", None, id="garbage"),
        pytest.param(None, None, id="failed"),
    ],
)
def test_dial_answer(line: str | None, answer: str | None) -> None:
    assert dial_answer(line) == answer


@pytest.mark.parametrize(
    ("code", "stderr", "result"),
    [
        pytest.param(0, "", "ok", id="ok"),
        pytest.param(1, "REFUSED: dial tcp: connection refused", "REFUSED", id="refused"),
        pytest.param(1, "TIMEOUT: i/o timeout", "TIMEOUT", id="timeout"),
        pytest.param(None, "", "TIMEOUT", id="exec-timed-out"),
        pytest.param(1, "something else", "OTHER", id="other"),
    ],
)
def test_connect_result(code: int | None, stderr: str, result: str) -> None:
    assert connect_result(code, stderr) == result


@pytest.mark.parametrize(
    ("clientip", "ip"),
    [("198.19.1.5:40000", "198.19.1.5"), ("[fd00::1]:80", "fd00::1"), (None, None)],
)
def test_ip_of(clientip: str | None, ip: str | None) -> None:
    assert ip_of(clientip) == ip
