"""Fixtures for the aws provider against moto in server mode (127.0.0.1 only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lbcommon.clock import FakeClock
from lbctl.metrics import Metrics
from lbctl.providers.aws import AwsProvider
from lbctl.providers.common.retry import RetryPolicy
from tests.fakes.aws import CLUSTER_ID, FaultInjector, MotoServer, World, moto_server

#: short backoff so retry tests take milliseconds
FAST_RETRY = RetryPolicy(attempts=3, initial=0.001, maximum=0.01, jitter=0.001)


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def aws(moto: MotoServer) -> Iterator[tuple[Any, Any]]:
    """Fresh (elbv2, ec2) clients on an emptied moto."""
    moto.reset()
    yield moto.clients()


@pytest.fixture
def world(aws: tuple[Any, Any]) -> World:
    return World(aws[1]).build()


@pytest.fixture
def faults(aws: tuple[Any, Any]) -> FaultInjector:
    return FaultInjector().attach(*aws)


ProviderFactory = Callable[..., AwsProvider]


@pytest.fixture
def make_provider(moto: MotoServer, world: World, faults: FaultInjector) -> ProviderFactory:
    """A provider on fresh clients (a 'new process'), watched by `faults`."""

    def make(**overrides: Any) -> AwsProvider:
        elbv2, ec2 = moto.clients()
        faults.attach(elbv2, ec2)
        options: dict[str, Any] = {
            "metrics": Metrics(),
            "cluster_id": CLUSTER_ID,
            "vpc_id": world.vpc_id,
            "retry": FAST_RETRY,
            # A FakeClock: retry waits step it instead of sleeping.
            "clock": FakeClock(),
        }
        options.update(overrides)
        return AwsProvider(elbv2=elbv2, ec2=ec2, **options)

    return make


@pytest.fixture
def provider(make_provider: ProviderFactory) -> AwsProvider:
    return make_provider()


# The controller harness (real apiserver) for test_aws_controller.py.
from tests.integration.controller.conftest import harness  # noqa: E402, F401
