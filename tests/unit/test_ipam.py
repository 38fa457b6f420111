"""Table-driven tests for lbcommon.pools (pool parsing) and lbctl.ipam (the allocator)."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from lbcommon.pools import IPAddress, IPFamily, Pool, PoolSpecError, parse_pools
from lbctl.ipam import (
    AddressInUse,
    AllocationError,
    InvalidAddress,
    IPAllocator,
    NotInPool,
    PoolExhausted,
)

pytestmark = pytest.mark.unit

V4 = IPFamily.IPV4
V6 = IPFamily.IPV6


def alloc(*specs: str) -> IPAllocator:
    return IPAllocator(parse_pools(specs))


def free_count(ipam: IPAllocator, family: IPFamily | None = None) -> int:
    """Addresses of `family` (default: all) that no key holds, from the public view."""
    pools = [p for p in ipam.pools if family is None or p.family is family]
    held = [ip for ip in ipam.in_use().values() if any(ip in p for p in pools)]
    return sum(p.size for p in pools) - len(held)


# --- parsing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "first", "last", "size"),
    [
        pytest.param("198.18.0.192/27", "198.18.0.193", "198.18.0.222", 30, id="v4-cidr-27"),
        pytest.param("10.0.0.0/30", "10.0.0.1", "10.0.0.2", 2, id="v4-cidr-30-skips-net-bcast"),
        pytest.param("10.0.0.0/31", "10.0.0.0", "10.0.0.1", 2, id="v4-cidr-31-whole"),
        pytest.param("10.0.0.7/32", "10.0.0.7", "10.0.0.7", 1, id="v4-cidr-32"),
        pytest.param("10.1.0.0/16", "10.1.0.1", "10.1.255.254", 65534, id="v4-cidr-16"),
        pytest.param(
            "198.18.0.200-198.18.0.250", "198.18.0.200", "198.18.0.250", 51, id="v4-range"
        ),
        pytest.param(
            "10.0.0.0-10.0.0.255", "10.0.0.0", "10.0.0.255", 256, id="v4-range-taken-literally"
        ),
        pytest.param("10.0.0.9-10.0.0.9", "10.0.0.9", "10.0.0.9", 1, id="v4-range-single"),
        pytest.param(" 10.0.0.1 - 10.0.0.3 ", "10.0.0.1", "10.0.0.3", 3, id="v4-range-spaces"),
        pytest.param("2001:db8::/126", "2001:db8::", "2001:db8::3", 4, id="v6-cidr-whole"),
        pytest.param("2001:db8::5/128", "2001:db8::5", "2001:db8::5", 1, id="v6-cidr-128"),
        pytest.param(
            "2001:db8::/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", 2**64, id="v6-cidr-64"
        ),
        pytest.param(
            "2001:db8::10-2001:db8::1f", "2001:db8::10", "2001:db8::1f", 16, id="v6-range"
        ),
    ],
)
def test_pool_parse_valid(spec: str, first: str, last: str, size: int) -> None:
    pool = Pool.parse(spec)
    assert (pool.first, pool.last, pool.size) == (ip_address(first), ip_address(last), size)
    assert pool.spec == spec
    assert str(pool) == spec


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("banana", id="garbage"),
        pytest.param("10.0.0.1", id="bare-address"),
        pytest.param("10.0.0.0/33", id="prefix-too-long"),
        pytest.param("10.0.0.0/", id="prefix-missing"),
        pytest.param("10.0.0.0/24/8", id="two-slashes"),
        pytest.param("10.0.0.1/24", id="v4-host-bits-set"),
        pytest.param("2001:db8::1/64", id="v6-host-bits-set"),
        pytest.param("10.0.0.256/32", id="octet-out-of-range"),
        pytest.param("010.0.0.1-10.0.0.2", id="leading-zero"),
        pytest.param("10.0.0.5-10.0.0.1", id="first-after-last"),
        pytest.param("2001:db8::9-2001:db8::1", id="v6-first-after-last"),
        pytest.param("10.0.0.1-2001:db8::1", id="mixed-families"),
        pytest.param("10.0.0.1-", id="range-no-last"),
        pytest.param("-10.0.0.1", id="range-no-first"),
        pytest.param("10.0.0.1-10.0.0.2-10.0.0.3", id="range-three-parts"),
        pytest.param("fe80::1%eth0-fe80::5", id="range-zone-index"),
        pytest.param("fe80::%eth0/64", id="cidr-zone-index"),
        pytest.param("10.0.0.1-\nbad", id="newline-stays-one-line"),
    ],
)
def test_pool_parse_invalid(spec: str) -> None:
    with pytest.raises(PoolSpecError) as err:
        Pool.parse(spec)
    message = str(err.value)
    assert repr(spec) in message
    assert "\n" not in message


def test_pool_spec_error_is_value_error() -> None:
    assert issubclass(PoolSpecError, ValueError)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        pytest.param("10.0.0.2", "10.0.0.1", id="reversed"),
        pytest.param("10.0.0.1", "2001:db8::1", id="mixed"),
    ],
)
def test_pool_constructor_validates(first: str, last: str) -> None:
    with pytest.raises(PoolSpecError):
        Pool(ip_address(first), ip_address(last))


@pytest.mark.parametrize(
    ("specs", "names"),
    [
        pytest.param([], [], id="no-pools"),
        pytest.param(
            ["10.0.0.0/24", "10.0.0.128-10.0.0.200"], ["10.0.0.128-10.0.0.200"], id="overlap"
        ),
        pytest.param(["10.0.0.0/24", "10.0.0.0/24"], ["10.0.0.0/24"], id="duplicate"),
        pytest.param(
            ["10.0.0.1-10.0.0.5", "10.0.0.5-10.0.0.9"],
            ["10.0.0.5-10.0.0.9"],
            id="share-one-address",
        ),
        pytest.param(
            ["10.0.5.0/24", "10.0.0.0/16", "10.0.9.0/24"], ["10.0.0.0/16"], id="contains-two"
        ),
        pytest.param(
            ["2001:db8::/64", "2001:db8::8-2001:db8::9"],
            ["2001:db8::8-2001:db8::9"],
            id="v6-overlap",
        ),
        pytest.param(["10.0.0.0/24", "nope"], ["nope"], id="one-bad-spec"),
    ],
)
def test_parse_pools_invalid(specs: list[str], names: list[str]) -> None:
    with pytest.raises(PoolSpecError) as err:
        parse_pools(specs)
    message = str(err.value)
    assert "\n" not in message
    for name in names:
        assert repr(name) in message


@pytest.mark.parametrize(
    "specs",
    [
        pytest.param(["10.0.0.1-10.0.0.5", "10.0.0.6-10.0.0.9"], id="adjacent-ranges"),
        pytest.param(["10.0.0.0/25", "10.0.0.128/25"], id="adjacent-cidrs"),
        pytest.param(["0.0.0.1-0.0.0.5", "::1-::5"], id="same-integers-other-family"),
        pytest.param(["2001:db8::/126", "10.0.0.0/30"], id="v6-given-first"),
    ],
)
def test_parse_pools_valid_keeps_order(specs: list[str]) -> None:
    assert [p.spec for p in parse_pools(specs)] == specs


def test_parse_pools_rejects_a_single_string() -> None:
    with pytest.raises(TypeError):
        parse_pools("10.0.0.0/24")


def test_allocator_rejects_overlapping_pools() -> None:
    with pytest.raises(PoolSpecError):
        IPAllocator([Pool.parse("10.0.0.0/24"), Pool.parse("10.0.0.5-10.0.0.6")])


# --- allocation order ------------------------------------------------------


@pytest.mark.parametrize(
    ("specs", "family", "count", "expected"),
    [
        pytest.param(["10.0.0.0/30"], V4, 2, ["10.0.0.1", "10.0.0.2"], id="skips-network"),
        pytest.param(
            ["10.0.0.0/31", "10.0.1.8-10.0.1.9"],
            V4,
            4,
            ["10.0.0.0", "10.0.0.1", "10.0.1.8", "10.0.1.9"],
            id="spills-in-order",
        ),
        pytest.param(
            ["10.0.1.8-10.0.1.9", "10.0.0.0/31"],
            V4,
            3,
            ["10.0.1.8", "10.0.1.9", "10.0.0.0"],
            id="given-order-not-numeric",
        ),
        pytest.param(
            ["2001:db8::/127", "10.0.0.0/31"], V4, 1, ["10.0.0.0"], id="v4-default-skips-v6-pool"
        ),
        pytest.param(
            ["10.0.0.0/31", "2001:db8::/127"], V6, 2, ["2001:db8::", "2001:db8::1"], id="v6-family"
        ),
    ],
)
def test_allocation_order(
    specs: list[str], family: IPFamily, count: int, expected: list[str]
) -> None:
    ipam = alloc(*specs)
    got = [ipam.allocate(f"ns/svc{i}", family=family) for i in range(count)]
    assert got == [ip_address(e) for e in expected]


def test_allocated_type_matches_family() -> None:
    ipam = alloc("10.0.0.0/31", "2001:db8::/127")
    assert isinstance(ipam.allocate("ns/a"), IPv4Address)
    assert isinstance(ipam.allocate("ns/b", family=V6), IPv6Address)


@pytest.mark.parametrize(
    ("specs", "family", "reason"),
    [
        pytest.param(["10.0.0.0/24"], V6, "no IPv6 address pool", id="no-pool-of-family"),
        pytest.param(["2001:db8::/64"], V4, "no IPv4 address pool", id="v6-only"),
        pytest.param(["10.0.0.0/31"], V4, "all 2 IPv4", id="full"),
    ],
)
def test_exhausted(specs: list[str], family: IPFamily, reason: str) -> None:
    ipam = alloc(*specs)
    if family is V4 and free_count(ipam, V4):
        ipam.allocate("ns/a")
        ipam.allocate("ns/b")
    with pytest.raises(PoolExhausted) as err:
        ipam.allocate("ns/z", family=family)
    assert reason in err.value.reason
    assert err.value.field == "status.loadBalancer.ingress"
    assert ipam.address_of("ns/z") is None


def test_exhaust_release_allocate() -> None:
    ipam = alloc("10.0.0.0/30")
    assert free_count(ipam) == 2
    a, b = ipam.allocate("ns/a"), ipam.allocate("ns/b")
    assert free_count(ipam) == 0
    with pytest.raises(PoolExhausted):
        ipam.allocate("ns/c")
    assert ipam.release("ns/a") == a
    assert ipam.release("ns/a") is None
    assert ipam.release("ns/never") is None
    assert free_count(ipam) == 1
    assert ipam.allocate("ns/c") == a
    assert ipam.holder(a) == "ns/c"
    assert ipam.holder(b) == "ns/b"
    assert free_count(ipam) == 0


def test_lowest_free_after_releases() -> None:
    ipam = alloc("10.0.0.0/24")
    for i in range(10):
        ipam.allocate(f"ns/s{i}")
    ipam.release("ns/s7")
    ipam.release("ns/s2")
    got = [ipam.allocate(f"ns/n{i}") for i in range(3)]
    assert got == [ip_address(f"10.0.0.{n}") for n in (3, 8, 11)]


def test_fresh_allocation_skips_requested_and_finds_it_freed() -> None:
    ipam = alloc("10.0.0.0/29")
    ipam.allocate("ns/req", requested="10.0.0.3")
    got = [ipam.allocate(f"ns/s{i}") for i in range(3)]
    assert got == [ip_address(f"10.0.0.{n}") for n in (1, 2, 4)]
    ipam.release("ns/req")
    assert ipam.allocate("ns/next") == ip_address("10.0.0.3")


def test_idempotent_per_key() -> None:
    ipam = alloc("10.0.0.0/24")
    first = ipam.allocate("ns/a")
    assert ipam.allocate("ns/a") == first
    assert ipam.allocate("ns/a", requested=str(first)) == first
    assert dict(ipam.in_use()) == {"ns/a": first}
    assert free_count(ipam) == 253


# --- requested addresses ---------------------------------------------------


@pytest.mark.parametrize(
    ("key", "requested", "family", "outcome"),
    [
        pytest.param("ns/me", "10.0.0.5", V4, "10.0.0.5", id="free"),
        pytest.param("ns/me", "10.0.0.1", V4, "10.0.0.1", id="held-by-self"),
        pytest.param("ns/me", "10.0.0.2", V4, AddressInUse, id="held-by-other"),
        pytest.param("ns/me", "192.0.2.1", V4, NotInPool, id="outside-pools"),
        pytest.param("ns/me", "10.0.0.0", V4, NotInPool, id="network-address"),
        pytest.param("ns/me", "10.0.0.7", V4, NotInPool, id="broadcast-address"),
        pytest.param("ns/me", "10.0.0.256", V4, InvalidAddress, id="malformed-octet"),
        pytest.param("ns/me", "ten", V4, InvalidAddress, id="malformed-word"),
        pytest.param("ns/me", "", V4, InvalidAddress, id="empty-string"),
        pytest.param("ns/me", " 10.0.0.5", V4, InvalidAddress, id="leading-space"),
        pytest.param("ns/me", "10.0.0.0/29", V4, InvalidAddress, id="cidr-not-address"),
        pytest.param("ns/me", "2001:db8::1%eth0", V6, InvalidAddress, id="v6-zone-index"),
        pytest.param("ns/me", "2001:db9::1", V6, NotInPool, id="v6-outside-pools"),
        pytest.param("ns/me", "2001:db8::1", V4, InvalidAddress, id="v6-in-pool-family-v4"),
        pytest.param("ns/me", "2001:db8::1", V6, "2001:db8::1", id="v6-in-pool-family-v6"),
        pytest.param("ns/me", "10.0.0.5", V6, InvalidAddress, id="v4-in-pool-family-v6"),
    ],
)
def test_requested(
    key: str, requested: str, family: IPFamily, outcome: str | type[AllocationError]
) -> None:
    ipam = alloc("10.0.0.0/29", "2001:db8::/126")
    ipam.allocate("ns/me", requested="10.0.0.1")
    ipam.allocate("ns/other", requested="10.0.0.2")
    before = dict(ipam.in_use())
    if isinstance(outcome, str):
        assert ipam.allocate(key, requested=requested, family=family) == ip_address(outcome)
        assert ipam.holder(outcome) == key
        return
    with pytest.raises(outcome) as err:
        ipam.allocate(key, requested=requested, family=family)
    assert err.value.field == "spec.loadBalancerIP"
    assert str(err.value).startswith("spec.loadBalancerIP: ")
    assert dict(ipam.in_use()) == before


@pytest.mark.parametrize(
    "requested",
    [
        pytest.param("2001:db8::1", id="v6-valid-address"),
        pytest.param("::ffff:10.0.0.5", id="v4-mapped-v6"),
    ],
)
def test_v6_requested_in_v4_only_pools(requested: str) -> None:
    ipam = alloc("10.0.0.0/29")
    for family in IPFamily:
        with pytest.raises(NotInPool):
            ipam.allocate("ns/a", requested=requested, family=family)
    assert ipam.in_use() == {}


def test_address_in_use_names_holder() -> None:
    ipam = alloc("10.0.0.0/29")
    ipam.allocate("ns/owner", requested="10.0.0.4")
    with pytest.raises(AddressInUse) as err:
        ipam.allocate("ns/thief", requested="10.0.0.4")
    assert err.value.holder == "ns/owner"
    assert "ns/owner" in str(err.value)


def test_requesting_another_address_moves_and_frees_old() -> None:
    ipam = alloc("10.0.0.0/29")
    old = ipam.allocate("ns/a")
    new = ipam.allocate("ns/a", requested="10.0.0.5")
    assert new == ip_address("10.0.0.5")
    assert ipam.holder(old) is None
    assert ipam.address_of("ns/a") == new
    assert free_count(ipam) == 5
    assert ipam.allocate("ns/b") == old


@pytest.mark.parametrize(
    "requested",
    [
        pytest.param("10.0.0.2", id="held-by-other"),
        pytest.param("192.0.2.1", id="outside"),
        pytest.param("bogus", id="malformed"),
    ],
)
def test_failed_move_keeps_old_address(requested: str) -> None:
    ipam = alloc("10.0.0.0/29")
    old = ipam.allocate("ns/a")
    ipam.allocate("ns/b")
    with pytest.raises(AllocationError):
        ipam.allocate("ns/a", requested=requested)
    assert ipam.address_of("ns/a") == old
    assert ipam.holder(old) == "ns/a"


def test_family_change_replaces_address() -> None:
    ipam = alloc("10.0.0.0/29", "2001:db8::/126")
    v4 = ipam.allocate("ns/a")
    v6 = ipam.allocate("ns/a", family=V6)
    assert v6 == ip_address("2001:db8::")
    assert ipam.holder(v4) is None
    assert free_count(ipam, V4) == 6


def test_family_change_to_exhausted_keeps_address() -> None:
    ipam = alloc("10.0.0.0/29")
    v4 = ipam.allocate("ns/a")
    with pytest.raises(PoolExhausted):
        ipam.allocate("ns/a", family=V6)
    assert ipam.address_of("ns/a") == v4


# --- restore ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "ip", "ok", "holder"),
    [
        pytest.param("ns/new", "10.0.0.5", True, "ns/new", id="free-in-pool"),
        pytest.param("ns/new", ip_address("10.0.0.5"), True, "ns/new", id="address-object"),
        pytest.param("ns/new", "2001:db8::2", True, "ns/new", id="v6-in-pool"),
        pytest.param("ns/a", "10.0.0.3", True, "ns/a", id="same-key-same-ip"),
        pytest.param("ns/new", "10.0.0.3", False, "ns/a", id="ip-restored-for-other"),
        pytest.param("ns/a", "10.0.0.5", False, None, id="key-already-has-other-ip"),
        pytest.param("ns/new", "192.0.2.1", False, None, id="outside-pools"),
        pytest.param("ns/new", "10.0.0.7", False, None, id="broadcast-address"),
        pytest.param("ns/new", "not-an-ip", False, None, id="malformed"),
        pytest.param("ns/new", "", False, None, id="empty"),
    ],
)
def test_restore(key: str, ip: str | IPAddress, ok: bool, holder: str | None) -> None:
    ipam = alloc("10.0.0.0/29", "2001:db8::/126")
    assert ipam.restore("ns/a", "10.0.0.3")
    before = dict(ipam.in_use())
    assert ipam.restore(key, ip) is ok
    assert ipam.holder(ip) == holder
    if not ok:
        assert dict(ipam.in_use()) == before
    assert ipam.address_of("ns/a") == ip_address("10.0.0.3")


def test_restart_never_moves_an_ip() -> None:
    ipam = alloc("10.0.0.0/29")
    for key, ip in [("ns/c", "10.0.0.4"), ("ns/a", "10.0.0.1"), ("ns/b", "10.0.0.6")]:
        assert ipam.restore(key, ip)
    assert ipam.allocate("ns/c") == ip_address("10.0.0.4")
    assert ipam.allocate("ns/b", requested="10.0.0.6") == ip_address("10.0.0.6")
    fresh = [ipam.allocate(f"ns/n{i}") for i in range(3)]
    assert fresh == [ip_address(f"10.0.0.{n}") for n in (2, 3, 5)]
    with pytest.raises(PoolExhausted):
        ipam.allocate("ns/n3")


def test_restore_conflict_then_reallocate() -> None:
    ipam = alloc("10.0.0.0/29")
    assert ipam.restore("ns/first", "10.0.0.1")
    assert not ipam.restore("ns/second", "10.0.0.1")
    assert ipam.allocate("ns/second") == ip_address("10.0.0.2")


# --- views -----------------------------------------------------------------


def test_in_use_is_a_read_only_snapshot() -> None:
    ipam = alloc("10.0.0.0/29")
    ipam.allocate("ns/a")
    snapshot = ipam.in_use()
    with pytest.raises(TypeError):
        snapshot["ns/x"] = ip_address("10.0.0.6")  # type: ignore[index]
    ipam.allocate("ns/b")
    assert list(snapshot) == ["ns/a"]


@pytest.mark.parametrize(
    "ip",
    [
        pytest.param("10.0.0.6", id="free"),
        pytest.param("junk", id="malformed"),
        pytest.param("192.0.2.1", id="outside"),
    ],
)
def test_holder_of_unheld(ip: str) -> None:
    assert alloc("10.0.0.0/29").holder(ip) is None


def test_free_addresses_per_family() -> None:
    ipam = alloc("10.0.0.0/29", "2001:db8::/64")
    assert free_count(ipam, V4) == 6
    assert free_count(ipam, V6) == 2**64
    assert free_count(ipam) == 6 + 2**64
    assert ipam.pools == parse_pools(["10.0.0.0/29", "2001:db8::/64"])


# --- scale and model check -------------------------------------------------


def test_thousand_services_over_a_slash_16() -> None:
    ipam = alloc("10.1.0.0/16")
    got = [ipam.allocate(f"ns/s{i}") for i in range(1000)]
    assert got == [ip_address("10.1.0.1") + i for i in range(1000)]
    released = {got[i] for i in range(0, 1000, 3)}
    for i in range(0, 1000, 3):
        ipam.release(f"ns/s{i}")
    refill = [ipam.allocate(f"ns/r{i}") for i in range(len(released) + 1)]
    assert refill[:-1] == sorted(released)
    assert refill[-1] == ip_address("10.1.0.1") + 1000
    assert free_count(ipam) == 65534 - 1001
    assert len(set(ipam.in_use().values())) == len(ipam.in_use()) == 1001


def test_thousand_services_over_a_v6_slash_64() -> None:
    ipam = alloc("2001:db8::/64")
    got = {ipam.allocate(f"ns/s{i}", family=V6) for i in range(1000)}
    assert got == {ip_address("2001:db8::") + i for i in range(1000)}


@pytest.mark.parametrize("seed", range(5), ids=lambda s: f"seed-{s}")
def test_matches_naive_model(seed: int) -> None:
    """Random operations agree with a linear-scan reference over two small pools."""
    rng = random.Random(seed)
    ipam = alloc("10.0.0.0/28", "10.0.1.0-10.0.1.5")
    universe = [
        *(ip_address("10.0.0.0") + i for i in range(1, 15)),
        *(ip_address("10.0.1.0") + i for i in range(6)),
    ]
    model: dict[str, IPAddress] = {}
    keys = [f"ns/k{i}" for i in range(24)]
    for _ in range(3000):
        key, op = rng.choice(keys), rng.random()
        held = {ip: k for k, ip in model.items()}
        if op < 0.4:
            want = model.get(key) or next((ip for ip in universe if ip not in held), None)
            if want is None:
                with pytest.raises(PoolExhausted):
                    ipam.allocate(key)
            else:
                assert ipam.allocate(key) == want
                model[key] = want
        elif op < 0.6:
            ip = rng.choice(universe)
            if held.get(ip, key) != key:
                with pytest.raises(AddressInUse):
                    ipam.allocate(key, requested=str(ip))
            else:
                assert ipam.allocate(key, requested=str(ip)) == ip
                model[key] = ip
        elif op < 0.7:
            ip = rng.choice(universe)
            ok = held.get(ip, key) == key and model.get(key, ip) == ip
            assert ipam.restore(key, str(ip)) is ok
            if ok:
                model[key] = ip
        else:
            assert ipam.release(key) == model.pop(key, None)
        assert dict(ipam.in_use()) == model
        assert free_count(ipam) == len(universe) - len(model)
