"""The GCE fake through the real clients: operations, fault injection, quotas, the call log.

Each fault shows up as the api_core exception (and GCE reason) a provider
would get from the real API, which is what the provider's error mapping
(temporary / throttled / permanent) will be tested against.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1 as c

from tests.fakes.gce import GCEFake
from tests.integration.fakes.gce_clients import FAST_POLL, PROJECT, REGION, ZONE, Clients

pytestmark = pytest.mark.integration

R = {"project": PROJECT, "region": REGION}


def _reason(error: exceptions.GoogleAPICallError) -> str:
    return str(error.errors[0]["reason"])


def _insert_pool(gce: Clients, name: str) -> c.TargetPool:
    return gce.pools.insert(**R, target_pool_resource=c.TargetPool(name=name))


def _add(gce: Clients, fake: GCEFake, pool: str, node: str) -> None:
    body = c.TargetPoolsAddInstanceRequest(
        instances=[c.InstanceReference(instance=fake.instance_link(node, ZONE))]
    )
    gce.pools.add_instance(
        **R, target_pool=pool, target_pools_add_instance_request_resource=body
    ).result()


# -- operations ---------------------------------------------------------------------


def test_operation_completes_after_n_polls(fake: GCEFake, gce: Clients) -> None:
    fake.set_operation_polls(3)
    op = _insert_pool(gce, "tp")
    assert op.status == c.Operation.Status.RUNNING
    assert fake.pending_operations() == [op.name]
    op.result(polling=FAST_POLL)
    assert op.done()
    assert fake.count("regionOperations.get") == 3
    assert fake.pending_operations() == []


def test_global_operations_and_wait(fake: GCEFake, gce: Clients) -> None:
    fake.set_operation_polls(2, method="firewalls.insert")
    firewall = c.Firewall(name="f", allowed=[c.Allowed(I_p_protocol="tcp")])
    op = gce.firewalls.insert(project=PROJECT, firewall_resource=firewall)
    assert op.status == c.Operation.Status.RUNNING
    ops = fake.client(c.GlobalOperationsClient)
    assert ops.wait(project=PROJECT, operation=op.name).status == c.Operation.Status.RUNNING
    assert ops.wait(project=PROJECT, operation=op.name).status == c.Operation.Status.DONE
    assert fake.count("globalOperations.wait") == 2


def test_busy_resource_is_not_ready(fake: GCEFake, gce: Clients) -> None:
    fake.seed_instance("n1", ZONE, "198.18.0.10")
    fake.set_operation_polls(2)
    op = _insert_pool(gce, "tp")
    with pytest.raises(exceptions.BadRequest) as caught:
        _add(gce, fake, "tp", "n1")
    assert _reason(caught.value) == "resourceNotReady"
    op.result(polling=FAST_POLL)
    fake.set_operation_polls(0)
    _add(gce, fake, "tp", "n1")


def test_request_id_makes_a_retry_idempotent(fake: GCEFake, gce: Clients) -> None:
    request_id = str(uuid.uuid4())
    request = c.InsertTargetPoolRequest(
        **R, target_pool_resource=c.TargetPool(name="tp"), request_id=request_id
    )
    first = gce.pools.insert(request=request)
    again = gce.pools.insert(request=request)  # no Conflict: GCE replays the operation
    assert again.name == first.name
    assert fake.names() == {"targetPools": ["tp"]}
    bad = c.InsertTargetPoolRequest(
        **R, target_pool_resource=c.TargetPool(name="x"), request_id="1"
    )
    with pytest.raises(exceptions.BadRequest):
        gce.pools.insert(request=bad)


# -- fault injection ----------------------------------------------------------------


def test_fail_nth_call(fake: GCEFake, gce: Clients) -> None:
    for name in ("n1", "n2", "n3"):
        fake.seed_instance(name, ZONE, "198.18.0.10")
    _insert_pool(gce, "tp").result()
    rule = fake.faults.fail("targetPools.addInstance", nth=2, status=503)
    _add(gce, fake, "tp", "n1")
    with pytest.raises(exceptions.ServiceUnavailable) as caught:
        _add(gce, fake, "tp", "n2")
    assert _reason(caught.value) == "backendError"
    _add(gce, fake, "tp", "n3")  # only the 2nd call failed
    assert rule.fired == 1
    faulted = [call for call in fake.calls if call.fault]
    assert [(call.method, call.status) for call in faulted] == [("targetPools.addInstance", 503)]
    assert [u.rsplit("/", 1)[1] for u in gce.pools.get(**R, target_pool="tp").instances] == [
        "n1",
        "n3",
    ]


def test_client_retries_reads_on_503_but_not_mutations(fake: GCEFake, gce: Clients) -> None:
    _insert_pool(gce, "tp").result()
    fake.faults.fail("targetPools.get", status=503)
    assert gce.pools.get(**R, target_pool="tp").name == "tp"  # the client's own retry
    assert fake.count("targetPools.get") == 2
    fake.faults.fail("targetPools.delete", status=503)
    with pytest.raises(exceptions.ServiceUnavailable):
        gce.pools.delete(**R, target_pool="tp")


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, exceptions.TooManyRequests), (403, exceptions.Forbidden)],
    ids=["429", "403"],
)
def test_throttle(
    fake: GCEFake, gce: Clients, status: int, error: type[exceptions.GoogleAPICallError]
) -> None:
    fake.faults.throttle(2, method="addresses.*", status=status)
    for _ in range(2):
        with pytest.raises(error) as caught:
            gce.addresses.insert(**R, address_resource=c.Address(name="a"))
        assert _reason(caught.value) == "rateLimitExceeded"
    gce.addresses.insert(**R, address_resource=c.Address(name="a")).result()
    assert fake.names() == {"addresses": ["a"]}


def test_throttle_with_retry_after_reaches_the_client(fake: GCEFake, gce: Clients) -> None:
    """The header is on the response google-api-core keeps, where the provider reads it."""
    fake.faults.throttle(1, method="addresses.insert", retry_after=7)
    with pytest.raises(exceptions.TooManyRequests) as caught:
        gce.addresses.insert(**R, address_resource=c.Address(name="a"))
    assert caught.value.response.headers["Retry-After"] == "7"


def test_fail_when_predicate(fake: GCEFake, gce: Clients) -> None:
    fake.faults.fail_when(
        lambda call: call.method == "addresses.insert" and call.body["name"].startswith("bad"),
        status=500,
    )
    with pytest.raises(exceptions.InternalServerError):
        gce.addresses.insert(**R, address_resource=c.Address(name="bad-1"))
    gce.addresses.insert(**R, address_resource=c.Address(name="good")).result()
    with pytest.raises(exceptions.InternalServerError):
        gce.addresses.insert(**R, address_resource=c.Address(name="bad-2"))


def test_delay(fake: GCEFake, gce: Clients) -> None:
    fake.faults.delay("addresses.list", 0.3, times=1)
    started = time.monotonic()
    list(gce.addresses.list(**R))
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    list(gce.addresses.list(**R))
    assert time.monotonic() - started < 0.3


def test_operation_ends_in_error_and_changes_nothing(fake: GCEFake, gce: Clients) -> None:
    fake.faults.fail_operation("targetPools.insert", code="RESOURCE_NOT_READY", http_status=400)
    op = _insert_pool(gce, "tp")
    with pytest.raises(exceptions.BadRequest, match="Injected operation failure"):
        op.result(polling=FAST_POLL)
    assert op.error.errors[0].code == "RESOURCE_NOT_READY"
    assert fake.names() == {}


def test_faults_are_thread_safe(fake: GCEFake) -> None:
    fake.faults.fail("addresses.insert", nth=5, status=503, times=3)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        client = fake.client(c.AddressesClient)
        try:
            client.insert(**R, address_resource=c.Address(name=f"a{index}")).result()
            outcome = "ok"
        except exceptions.ServiceUnavailable:
            outcome = "503"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["503"] * 3 + ["ok"] * 9
    assert len(fake.names()["addresses"]) == 9


# -- quotas -------------------------------------------------------------------------


def test_quota_exceeded_synchronously(fake: GCEFake, gce: Clients) -> None:
    fake.set_quota("TARGET_POOLS", 1)
    _insert_pool(gce, "one").result()
    with pytest.raises(exceptions.Forbidden) as caught:
        _insert_pool(gce, "two")
    assert _reason(caught.value) == "quotaExceeded"
    assert "Quota 'TARGET_POOLS' exceeded" in str(caught.value)
    fake.set_quota("TARGET_POOLS", None)
    _insert_pool(gce, "two").result()


def test_quota_exceeded_in_the_operation() -> None:
    with GCEFake(quota_errors_in_operation=True) as fake:
        fake.set_quota("FIREWALLS", 0)
        client = fake.client(c.FirewallsClient)
        firewall = c.Firewall(name="f", allowed=[c.Allowed(I_p_protocol="tcp")])
        op = client.insert(project=PROJECT, firewall_resource=firewall)
        with pytest.raises(exceptions.Forbidden):
            op.result(polling=FAST_POLL)
        assert op.error.errors[0].code == "QUOTA_EXCEEDED"
        assert fake.names() == {}


# -- the call log ---------------------------------------------------------------------


def test_call_log_counts_mutating_and_read_calls(fake: GCEFake, gce: Clients) -> None:
    fake.seed_instance("n1", ZONE, "198.18.0.10")
    _insert_pool(gce, "tp").result()
    gce.pools.get(**R, target_pool="tp")
    _add(gce, fake, "tp", "n1")
    list(gce.pools.list(**R))
    assert fake.count(mutating=True) == 2
    assert fake.count(mutating=False) == 2
    assert fake.call_log.counts() == {
        "targetPools.insert": 1,
        "targetPools.get": 1,
        "targetPools.addInstance": 1,
        "targetPools.list": 1,
    }
    insert = fake.calls[0]
    assert (insert.verb, insert.path, insert.body) == (
        "POST",
        f"/compute/v1/projects/{PROJECT}/regions/{REGION}/targetPools",
        {"name": "tp"},
    )
    fake.reset_calls()
    assert fake.calls == []


def test_library_polls_production_unless_rewired(fake: GCEFake) -> None:
    """Why `GCEFake.client` rewires operation polling: a plainly built client's
    `ExtendedOperation` polls compute.googleapis.com whatever `api_endpoint` says.
    (The autouse network guard stops it here; a provider must do the same rewiring
    or poll with its own operations client.)"""
    fake.set_operation_polls(1)
    with c.TargetPoolsClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint},
    ) as plain:
        op = plain.insert(**R, target_pool_resource=c.TargetPool(name="tp"))
        with pytest.raises(requests.exceptions.ConnectionError, match=r"compute\.googleapis\.com"):
            op.result(polling=FAST_POLL)
