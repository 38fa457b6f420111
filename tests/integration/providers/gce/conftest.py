"""Fixtures for the gce provider against the GCE fake (127.0.0.1 only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lbcommon.clock import FakeClock
from lbctl.metrics import Metrics
from lbctl.providers.common.retry import RetryPolicy
from lbctl.providers.gce import GceProvider, Timeouts, connect
from tests.fakes.gce import GCEFake
from tests.integration.providers.gce.helpers import PROJECT, REGION, SCOPE, Node, seed_nodes

#: short backoff, and no pause between operation polls
FAST_RETRY = RetryPolicy(attempts=4, initial=0.001, maximum=0.01, jitter=0.001)
TIMEOUTS = Timeouts(request=10.0, operation=10.0, poll=0.0)

ProviderFactory = Callable[..., GceProvider]


@pytest.fixture
def fake() -> Iterator[GCEFake]:
    with GCEFake(
        project=PROJECT, region=REGION, address_range=("198.18.1.0", "198.18.3.255")
    ) as gce:
        yield gce
    assert gce.internal_errors == []


@pytest.fixture
def nodes(fake: GCEFake) -> list[Node]:
    return seed_nodes(fake, 3)


@pytest.fixture
def make_provider(fake: GCEFake) -> Iterator[ProviderFactory]:
    """A provider on fresh clients (a 'new process'); all closed after the test."""
    made: list[GceProvider] = []

    def make(**overrides: Any) -> GceProvider:
        # A FakeClock: retry waits step it instead of sleeping.
        options: dict[str, Any] = {
            "metrics": Metrics(),
            "retry": FAST_RETRY,
            "timeouts": TIMEOUTS,
            "clock": FakeClock(),
        }
        options.update(overrides)
        provider = connect(SCOPE, endpoint=fake.endpoint, **options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider: ProviderFactory) -> GceProvider:
    return make_provider()


# The controller harness (real apiserver) for test_gce_controller.py.
from tests.integration.controller.conftest import harness  # noqa: E402, F401
