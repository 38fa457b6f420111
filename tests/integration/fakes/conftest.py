"""Fixtures for the GCE fake tests: one fake per test, real REST clients pointed at it.

`_loopback_only` (autouse) makes any name lookup other than the loopback
address fail, so a client that tries to reach compute.googleapis.com (as the
library's operation polling does unless `GCEFake.client` rewires it) fails the
test instead of leaving the machine.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.gce import GCEFake
from tests.integration.fakes.gce_clients import PROJECT, REGION, Clients

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in LOOPBACK:
            raise OSError(f"network guard: tests of the fakes may only reach 127.0.0.1, not {host}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture
def fake() -> Iterator[GCEFake]:
    with GCEFake(project=PROJECT, region=REGION) as gce:
        yield gce
    assert gce.internal_errors == []


@pytest.fixture
def gce(fake: GCEFake) -> Iterator[Clients]:
    clients = Clients(fake)
    yield clients
    clients.close()
