"""Table-driven tests for nodeproxy.nft: rendering and update planning."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network

import pytest

from lbcommon.model import Protocol, ServiceKey
from nodeproxy.config import DataplaneConfig, HealthTarget, Listener, NodeBackend
from nodeproxy.nft import (
    RenderSettings,
    TableState,
    parse_counters,
    parse_elements,
    parse_state,
    render,
    transaction,
)

pytestmark = pytest.mark.unit

SETTINGS = RenderSettings(interface="eth0", mac="02:00:00:00:00:01", max_flows=100)
B1 = NodeBackend(
    "n1",
    IPv4Address("198.18.0.11"),
    "02:00:00:00:00:11",
    HealthTarget(IPv4Address("198.18.0.11"), 10256),
)


def listener(
    protocol: Protocol = Protocol.TCP,
    *,
    ranges: tuple[str, ...] = (),
    affinity: int | None = None,
    backends: tuple[NodeBackend, ...] = (B1,),
) -> Listener:
    return Listener(
        service=ServiceKey("default/web"),
        ip=IPv4Address("198.18.0.200"),
        protocol=protocol,
        port=80,
        source_ranges=tuple(IPv4Network(r) for r in ranges),
        affinity_timeout=affinity,
        backends=backends,
    )


def script(*listeners: Listener) -> str:
    return transaction(render(DataplaneConfig(listeners=listeners), SETTINGS), None)


N = "198_18_0_200_tcp_80"
U = "198_18_0_200_udp_80"


@pytest.mark.parametrize(
    ("lst", "present", "absent"),
    [
        pytest.param(
            listener(),
            [
                f"ether daddr set ip saddr . tcp sport map @flow_{N} goto est_{N}",
                "tcp flags & (syn | ack) == syn meta mark set jhash ip saddr . tcp sport mod 256",
                f"add set netdev lbctl_nodeproxy fin_{N}",
                "size 100;",
                "timeout 3600s;",
                'fwd to "eth0"',
                "ether daddr 02:00:00:00:00:01 meta mark set 0 accept",
                "198.18.0.200 . tcp . 80 : jump l_" + N,
            ],
            ["@src_", "@aff_"],
            id="tcp-plain",
        ),
        pytest.param(
            listener(ranges=("10.0.0.0/8", "10.1.0.0/16", "192.168.0.1/32")),
            [
                f'ip saddr != @src_{N} counter name "deny_{N}" drop',
                f"add element netdev lbctl_nodeproxy src_{N} {{ 10.0.0.0/8, 192.168.0.1/32 }}",
            ],
            [],
            id="tcp-ranges-collapsed",
        ),
        pytest.param(
            listener(affinity=30),
            [
                f"add map netdev lbctl_nodeproxy aff_{N} {{ typeof ip saddr : ether daddr; "
                "flags dynamic,timeout; timeout 30s;",
                f"tcp flags & (syn | ack) == syn ether daddr set ip saddr map @aff_{N} "
                f"goto new_{N}",
                "jhash ip saddr mod 256",
                f"update @aff_{N} {{ ip saddr : ether daddr }}",
            ],
            ["jhash ip saddr . tcp sport"],
            id="tcp-affinity",
        ),
        pytest.param(
            listener(Protocol.UDP),
            [
                f"ether daddr set ip saddr . udp sport map @flow_{U} goto est_{U}",
                f"meta mark set jhash ip saddr . udp sport mod 256 seed 0x6c62 "
                f"ether daddr set meta mark map @sel_{U} goto new_{U}",
                "timeout 120s;",
            ],
            ["fin_", "tcp flags"],
            id="udp",
        ),
        pytest.param(
            listener(backends=()),
            [f'counter name "drop_{N}" drop'],
            ["sel_", "jhash"],
            id="no-backends-drops",
        ),
    ],
)
def test_render(lst: Listener, present: list[str], absent: list[str]) -> None:
    text = script(lst)
    for fragment in present:
        assert fragment in text, fragment
    for fragment in absent:
        assert fragment not in text, fragment


def test_source_ranges_come_before_any_forwarding() -> None:
    rules = [
        line
        for line in script(listener(ranges=("10.0.0.0/8",))).splitlines()
        if line.startswith(f"add rule netdev lbctl_nodeproxy l_{N} ")
    ]
    assert "counter name" in rules[0] and "@src_" in rules[1]
    assert all("goto" not in r for r in rules[:2])


def test_every_destination_mac_is_a_backend_or_ourselves() -> None:
    b2 = NodeBackend("n2", IPv4Address("198.18.0.12"), "02:00:00:00:00:12", B1.health)
    text = script(listener(backends=(B1, b2)), listener(Protocol.UDP, backends=(b2,)))
    macs = {tok.rstrip(",") for tok in text.split() if tok.count(":") == 5}
    assert macs == {SETTINGS.mac, B1.mac, b2.mac}


def test_empty_config_deletes_the_table() -> None:
    empty = render(DataplaneConfig(), SETTINGS)
    assert transaction(empty, None) == ""
    assert transaction(empty, TableState()) == "delete table netdev lbctl_nodeproxy\n"


@pytest.mark.parametrize(
    ("current", "kept", "deleted"),
    [
        pytest.param(
            TableState(
                chains=frozenset({"ingress", f"l_{N}"}),
                sets={f"flow_{N}": ("map", 3600, 100), f"sel_{N}": ("map", None, None)},
                counters=frozenset({f"rx_{N}", "rx_gone"}),
            ),
            [f"flow_{N}"],
            [
                f"delete map netdev lbctl_nodeproxy sel_{N}",
                "delete counter netdev lbctl_nodeproxy rx_gone",
            ],
            id="flows-survive",
        ),
        pytest.param(
            TableState(sets={f"flow_{N}": ("map", 60, 100)}),
            [],
            [f"delete map netdev lbctl_nodeproxy flow_{N}"],
            id="changed-timeout-recreates",
        ),
        pytest.param(
            TableState(sets={"flow_198_18_0_9_tcp_1": ("map", 3600, 100)}),
            [],
            ["delete map netdev lbctl_nodeproxy flow_198_18_0_9_tcp_1"],
            id="stale-listener-removed",
        ),
    ],
)
def test_transaction_keeps_live_state(
    current: TableState, kept: list[str], deleted: list[str]
) -> None:
    text = transaction(render(DataplaneConfig(listeners=(listener(),)), SETTINGS), current)
    for name in kept:
        assert f"add map netdev lbctl_nodeproxy {name} " not in text
        assert f"delete map netdev lbctl_nodeproxy {name}\n" not in text
    for line in deleted:
        assert line + "\n" in text
    lines = text.splitlines()
    # References go before what they reference is deleted.
    flushes = [i for i, line in enumerate(lines) if line.startswith("flush chain")]
    deletes = [i for i, line in enumerate(lines) if line.startswith("delete ")]
    if flushes and deletes:
        assert max(flushes) < min(deletes)


def test_parse_state_counters_and_elements() -> None:
    listing = json.dumps(
        {
            "nftables": [
                {"metainfo": {"version": "1.0.6"}},
                {"table": {"family": "netdev", "name": "lbctl_nodeproxy"}},
                {"chain": {"name": "ingress"}},
                {
                    "map": {
                        "name": "flow_x",
                        "timeout": 3600,
                        "size": 100,
                        "elem": [
                            [{"elem": {"val": {"concat": ["10.0.0.1", 4000]}}}, "02:00:00:00:00:11"]
                        ],
                    }
                },
                {"set": {"name": "fin_x", "timeout": 10, "size": 100}},
                {"counter": {"name": "rx_x", "packets": 3, "bytes": 180}},
            ]
        }
    )
    state = parse_state(listing)
    assert state.chains == {"ingress"}
    assert state.sets == {"flow_x": ("map", 3600, 100), "fin_x": ("set", 10, 100)}
    assert state.counters == {"rx_x"}
    assert parse_counters(listing) == {"rx_x": (3, 180)}
    assert parse_elements(listing) == [("10.0.0.1 . 4000", "02:00:00:00:00:11")]
