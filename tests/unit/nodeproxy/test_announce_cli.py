"""Ownership hashing, ARP frames and the command line, without processes."""

from __future__ import annotations

from collections import Counter
from ipaddress import IPv4Address

import pytest

from nodeproxy.addresses import arp_frames
from nodeproxy.announce import owners
from nodeproxy.cli import main, settings_from_args

pytestmark = pytest.mark.unit

IPS = [IPv4Address("198.18.0.200") + i for i in range(51)]


def test_every_ip_has_one_live_owner_and_spread_is_fair() -> None:
    result = owners(IPS, {"a", "b", "c"})
    assert set(result) == set(IPS)
    assert min(Counter(result.values()).values()) >= 8
    assert owners(IPS, set()) == {}


def test_an_instance_leaving_moves_only_its_ips() -> None:
    before = owners(IPS, {"a", "b", "c"})
    after = owners(IPS, {"a", "c"})
    assert all(after[ip] == who for ip, who in before.items() if who != "b")
    assert "b" not in after.values()


def test_gratuitous_arp_frames() -> None:
    request, reply = arp_frames(IPv4Address("198.18.0.200"), "02:00:00:00:00:01")
    assert len(request) == len(reply) == 42
    assert request[:6] == b"\xff" * 6 and request[12:14] == b"\x08\x06"
    assert request[20:22] == b"\x00\x01" and reply[20:22] == b"\x00\x02"
    assert request[28:32] == request[38:42] == bytes([198, 18, 0, 200])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--node-name=n"], "--interface is required", id="no-interface"),
        pytest.param(["--interface=eth0"], "--node-name is required", id="no-node"),
        pytest.param(
            ["--interface=eth0", "--node-name=n", "--pool=10.0.0.5/24"], "--pool", id="bad-pool"
        ),
        pytest.param(
            ["--interface=eth0", "--node-name=n", "--max-connections=0"],
            "--max-connections must be at least 1",
            id="zero-limit",
        ),
        pytest.param(
            ["--interface=eth0", "--node-name=n", "--netns=lbnp-does-not-exist"],
            "no network namespace",
            id="missing-netns",
        ),
        pytest.param(["--bogus"], "unrecognized arguments", id="unknown-flag"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NODE_NAME", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODEPROXY_INTERFACE", "eth1")
    monkeypatch.setenv("NODEPROXY_NODE_NAME", "node-7")
    monkeypatch.setenv("NODEPROXY_POOL", "198.18.0.200/30, 198.18.1.0/30")
    monkeypatch.setenv("NODEPROXY_MAX_CONNECTIONS", "10")
    settings, _ = settings_from_args([])
    assert (settings.interface, settings.node_name, settings.max_connections) == (
        "eth1",
        "node-7",
        10,
    )
    assert [str(p) for p in settings.pools] == ["198.18.0.200/30", "198.18.1.0/30"]
