"""DataplaneConfig -> nftables: pure rendering and update planning, no I/O.

The fast path is one `netdev` table hooked at the ingress of the announcing
interface (it sees packets before the IP stack, without conntrack). For a
packet to a listener (LB IP, protocol, port) it guarantees, in this order:

1. a source outside `loadBalancerSourceRanges` is dropped (counted as denied);
2. a packet of a known flow goes to the flow's backend (dynamic map
   `flow_<listener>`, keyed by client address and port, idle timeout), so
   connections drain on a backend that left the set and UDP flows stay put;
3. with ClientIP affinity, a new flow of a known client goes to the client's
   backend (`aff_<listener>`, refreshed by each new flow, affinity timeout);
4. otherwise the backend is `jhash(flow) mod SLOTS` looked up in the slot
   table of config.Listener.slot_table (the same on every instance);
5. the packet leaves unchanged but for its Ethernet addresses (destination:
   the backend node's MAC, source: ours), straight back out of the same
   interface; to ourselves it is accepted into the local stack instead.

Only a TCP SYN (or any UDP packet) creates flow state, and a listener's flow
map is bounded (`max_flows`): when it is full, new connections are dropped
while established ones continue. That bound is the per-listener connection
limit. A client FIN or RST shortens the entry to `closing_timeout` (the
closing set stops later packets from refreshing it), so closed connections
do not hold slots. TCP packets without state (after a takeover) follow the
slot table without creating any.

`transaction` turns a desired `Ruleset` plus what the kernel has into one
`nft -f` script: it is applied atomically, recreates chains and static
sets, and keeps the dynamic flow and affinity maps (and named counters)
whose definition did not change, so an update never breaks a flow.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import Any

from lbcommon.model import Protocol
from nodeproxy.config import SLOTS, DataplaneConfig, Listener

TABLE = "lbctl_nodeproxy"
#: fixed so every instance hashes a flow to the same slot
HASH_SEED = 0x6C62
INGRESS_PRIORITY = -500


@dataclass(frozen=True)
class RenderSettings:
    #: where listener packets arrive (the ingress hook's device)
    interface: str
    #: our MAC on the egress interface: the source of forwarded frames
    mac: str
    table: str = TABLE
    tcp_idle_timeout: int = 3600
    udp_idle_timeout: int = 120
    closing_timeout: int = 10
    #: open flows per listener; more new flows are dropped
    max_flows: int = 65536
    #: where forwarded frames leave, when not back out of `interface` (a
    #: router-shaped data plane: the GCE fake's network, tests/fakes/gce)
    egress: str | None = None

    @property
    def out_interface(self) -> str:
        return self.egress or self.interface


@dataclass(frozen=True)
class DynamicSet:
    """A set or map filled from the packet path; kept across updates."""

    kind: str  # "set" or "map"
    name: str
    declaration: str
    timeout: int
    size: int


@dataclass(frozen=True)
class StaticSet:
    """A set or map written by nodeproxy; rewritten on every update."""

    kind: str  # "set" or "map"
    name: str
    declaration: str
    elements: tuple[str, ...]


@dataclass(frozen=True)
class Chain:
    name: str
    rules: tuple[str, ...]
    #: the base-chain header, None for a regular chain
    hook: str | None = None


@dataclass(frozen=True)
class Ruleset:
    table: str
    dynamic: tuple[DynamicSet, ...] = ()
    static: tuple[StaticSet, ...] = ()
    counters: tuple[str, ...] = ()
    chains: tuple[Chain, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.chains


@dataclass(frozen=True)
class TableState:
    """What the kernel has in our table (parsed from `nft -j list table`)."""

    chains: frozenset[str] = frozenset()
    #: dynamic and static sets and maps: name -> (kind, timeout, size)
    sets: Mapping[str, tuple[str, int | None, int | None]] = field(default_factory=dict)
    counters: frozenset[str] = frozenset()


COUNTER_KINDS = ("rx", "deny", "new", "drop", "full")


def counter_name(kind: str, listener: Listener) -> str:
    return f"{kind}_{listener.name}"


def _flow_key(listener: Listener) -> str:
    return f"ip saddr . {listener.protocol.value.lower()} sport"


def _collapse(ranges: tuple[IPv4Network, ...]) -> list[IPv4Network]:
    return list(ipaddress.collapse_addresses(ranges))


def _listener_objects(
    listener: Listener, settings: RenderSettings
) -> tuple[list[DynamicSet], list[StaticSet], list[Chain]]:
    n = listener.name
    tcp = listener.protocol is Protocol.TCP
    key = _flow_key(listener)
    idle = settings.tcp_idle_timeout if tcp else settings.udp_idle_timeout
    dynamic = [
        DynamicSet(
            "map",
            f"flow_{n}",
            f"typeof {key} : ether daddr; flags dynamic,timeout; "
            f"timeout {idle}s; size {settings.max_flows};",
            idle,
            settings.max_flows,
        )
    ]
    if tcp:
        dynamic.append(
            DynamicSet(
                "set",
                f"fin_{n}",
                f"typeof {key}; flags dynamic,timeout; "
                f"timeout {settings.closing_timeout}s; size {settings.max_flows};",
                settings.closing_timeout,
                settings.max_flows,
            )
        )
    if listener.affinity_timeout is not None:
        dynamic.append(
            DynamicSet(
                "map",
                f"aff_{n}",
                f"typeof ip saddr : ether daddr; flags dynamic,timeout; "
                f"timeout {listener.affinity_timeout}s; size {settings.max_flows};",
                listener.affinity_timeout,
                settings.max_flows,
            )
        )
    static: list[StaticSet] = []
    table = listener.slot_table()
    if table:
        static.append(
            StaticSet(
                "map",
                f"sel_{n}",
                "type mark : ether_addr;",
                tuple(f"{slot} : {mac}" for slot, mac in enumerate(table)),
            )
        )
    ranges = _collapse(listener.source_ranges)
    if ranges:
        static.append(
            StaticSet("set", f"src_{n}", "type ipv4_addr; flags interval;", tuple(map(str, ranges)))
        )
    return dynamic, static, _listener_chains(listener, settings, bool(table), bool(ranges))


def _listener_chains(
    listener: Listener, settings: RenderSettings, has_backends: bool, has_ranges: bool
) -> list[Chain]:
    n = listener.name
    tcp = listener.protocol is Protocol.TCP
    key = _flow_key(listener)
    syn = "tcp flags & (syn | ack) == syn "
    hash_key = "ip saddr" if listener.affinity_timeout is not None else key
    pick = (
        f"meta mark set jhash {hash_key} mod {SLOTS} seed {HASH_SEED:#x} "
        f"ether daddr set meta mark map @sel_{n}"
    )
    rules = [f'counter name "{counter_name("rx", listener)}"']
    if has_ranges:
        rules.append(f'ip saddr != @src_{n} counter name "{counter_name("deny", listener)}" drop')
    if tcp:
        rules.append(f"{syn}delete @fin_{n} {{ {key} }}")
    rules.append(f"ether daddr set {key} map @flow_{n} goto est_{n}")
    if listener.affinity_timeout is not None:
        if tcp:
            rules.append(f"{syn}ether daddr set ip saddr map @aff_{n} goto new_{n}")
            rules.append(f"ether daddr set ip saddr map @aff_{n} goto out")
        else:
            rules.append(f"ether daddr set ip saddr map @aff_{n} goto new_{n}")
    if has_backends:
        if tcp:
            rules.append(f"{syn}{pick} goto new_{n}")
            rules.append(f"{pick} goto out")
        else:
            rules.append(f"{pick} goto new_{n}")
    rules.append(f'counter name "{counter_name("drop", listener)}" drop')
    est: tuple[str, ...]
    if tcp:
        est = (
            f"tcp flags & (fin | rst) != 0 update @flow_{n} "
            f"{{ {key} timeout {settings.closing_timeout}s : ether daddr }} "
            f"add @fin_{n} {{ {key} }} goto out",
            f"{key} @fin_{n} goto out",
            f"update @flow_{n} {{ {key} : ether daddr }} goto out",
            "goto out",
        )
    else:
        est = (f"update @flow_{n} {{ {key} : ether daddr }} goto out", "goto out")
    remember = f"update @flow_{n} {{ {key} : ether daddr }}"
    if listener.affinity_timeout is not None:
        remember += f" update @aff_{n} {{ ip saddr : ether daddr }}"
    new = (
        f'{remember} counter name "{counter_name("new", listener)}" goto out',
        f'counter name "{counter_name("full", listener)}" drop',
    )
    return [
        Chain(f"l_{n}", tuple(rules)),
        Chain(f"est_{n}", est),
        Chain(f"new_{n}", new),
    ]


def _proto(listener: Listener) -> str:
    return listener.protocol.value.lower()


def render(config: DataplaneConfig, settings: RenderSettings) -> Ruleset:
    """The complete desired table; empty when there is nothing to serve."""
    if not config.listeners:
        return Ruleset(table=settings.table)
    dynamic: list[DynamicSet] = []
    static: list[StaticSet] = []
    chains: list[Chain] = [
        Chain(
            "out",
            (
                f"ether daddr {settings.mac} meta mark set 0 accept",
                f'meta mark set 0 ether saddr set {settings.mac} fwd to "{settings.out_interface}"',
            ),
        )
    ]
    counters: list[str] = []
    for listener in config.listeners:
        d, s, c = _listener_objects(listener, settings)
        dynamic += d
        static += s
        chains += c
        counters += [counter_name(kind, listener) for kind in COUNTER_KINDS]
    static.append(
        StaticSet(
            "map",
            "listeners",
            "type ipv4_addr . inet_proto . inet_service : verdict;",
            tuple(
                f"{lst.ip} . {_proto(lst)} . {lst.port} : jump l_{lst.name}"
                for lst in config.listeners
            ),
        )
    )
    chains.append(
        Chain(
            "ingress",
            ("ip frag-off & 0x1fff == 0 ip daddr . meta l4proto . th dport vmap @listeners",),
            hook=(
                f'type filter hook ingress device "{settings.interface}" '
                f"priority {INGRESS_PRIORITY}; policy accept;"
            ),
        )
    )
    return Ruleset(
        table=settings.table,
        dynamic=tuple(dynamic),
        static=tuple(static),
        counters=tuple(counters),
        chains=tuple(chains),
    )


def transaction(desired: Ruleset, current: TableState | None) -> str:
    """One `nft -f` script taking the kernel from `current` to `desired` atomically."""
    t = f"netdev {desired.table}"
    if desired.empty:
        return f"delete table {t}\n" if current is not None else ""
    lines = [f"add table {t}"]
    current = current or TableState()
    keep = {
        d.name for d in desired.dynamic if current.sets.get(d.name) == (d.kind, d.timeout, d.size)
    }
    # Unhook and empty everything first, so nothing references what goes.
    lines += [f"flush chain {t} {name}" for name in sorted(current.chains)]
    lines += [
        f"delete {kind} {t} {name}"
        for name, (kind, _, _) in sorted(current.sets.items())
        if name not in keep
    ]
    lines += [f"delete chain {t} {name}" for name in sorted(current.chains)]
    wanted_counters = set(desired.counters)
    lines += [f"delete counter {t} {c}" for c in sorted(current.counters - wanted_counters)]
    lines += [f"add counter {t} {c}" for c in desired.counters if c not in current.counters]
    for d in desired.dynamic:
        if d.name not in keep:
            lines.append(f"add {d.kind} {t} {d.name} {{ {d.declaration} }}")
    for chain in desired.chains:
        hook = f" {{ {chain.hook} }}" if chain.hook else ""
        lines.append(f"add chain {t} {chain.name}{hook}")
    for s in desired.static:
        lines.append(f"add {s.kind} {t} {s.name} {{ {s.declaration} }}")
        if s.elements:
            lines.append(f"add element {t} {s.name} {{ {', '.join(s.elements)} }}")
    for chain in desired.chains:
        lines += [f"add rule {t} {chain.name} {rule}" for rule in chain.rules]
    return "\n".join(lines) + "\n"


def parse_state(listing: str) -> TableState:
    """Parse `nft -j list table netdev <table>`."""
    chains: set[str] = set()
    sets: dict[str, tuple[str, int | None, int | None]] = {}
    counters: set[str] = set()
    for item in json.loads(listing).get("nftables", []):
        if "chain" in item:
            chains.add(item["chain"]["name"])
        elif "set" in item or "map" in item:
            kind = "set" if "set" in item else "map"
            body = item[kind]
            sets[body["name"]] = (kind, body.get("timeout"), body.get("size"))
        elif "counter" in item:
            counters.add(item["counter"]["name"])
    return TableState(chains=frozenset(chains), sets=sets, counters=frozenset(counters))


def parse_counters(listing: str) -> dict[str, tuple[int, int]]:
    """`nft -j list counters table ...` -> name -> (packets, bytes)."""
    result: dict[str, tuple[int, int]] = {}
    for item in json.loads(listing).get("nftables", []):
        body = item.get("counter")
        if body:
            result[body["name"]] = (int(body.get("packets", 0)), int(body.get("bytes", 0)))
    return result


def parse_elements(listing: str) -> list[tuple[str, str]]:
    """`nft -j list map ...` -> (key as nft syntax, value) pairs."""
    pairs: list[tuple[str, str]] = []
    for item in json.loads(listing).get("nftables", []):
        body = item.get("map")
        if not body:
            continue
        for key, value in body.get("elem", []):
            pairs.append((_key_text(key), str(value)))
    return pairs


def _key_text(key: Any) -> str:
    if isinstance(key, dict) and "elem" in key:
        return _key_text(key["elem"]["val"])
    if isinstance(key, dict) and "concat" in key:
        return " . ".join(_key_text(k) for k in key["concat"])
    return str(key)
