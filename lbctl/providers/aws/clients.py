"""boto3 set-up: clients with botocore's own retries off (ours are counted).

Credentials come from boto3's usual chain unless given explicitly; tests and
benchmarks always pass dummy ones, so they never read ~/.aws.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from lbcommon.errors import ProviderError
from lbctl.metrics import Metrics
from lbctl.providers.aws.provider import AwsProvider
from lbctl.settings import Settings


def make_clients(
    *,
    region: str,
    endpoint: str | None = None,
    credentials: tuple[str, str] | None = None,
    pool: int = 32,
    session: Any = None,
) -> tuple[Any, Any]:
    """(elbv2, ec2) clients for one region, optionally at a custom endpoint.

    `session` (a boto3 Session) lets a caller that makes many clients reuse
    one loader cache; clients are thread-safe, sessions are not.
    """
    session = session or boto3.session.Session()
    keys: dict[str, Any] = {"region_name": region}
    if credentials:
        keys |= {"aws_access_key_id": credentials[0], "aws_secret_access_key": credentials[1]}
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=pool,
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra="lbctl",
    )
    return (
        session.client("elbv2", endpoint_url=endpoint, config=config, **keys),
        session.client("ec2", endpoint_url=endpoint, config=config, **keys),
    )


def build_aws_provider(settings: Settings, metrics: Metrics) -> AwsProvider:
    """The provider `lbctl --provider aws` runs with."""
    if not settings.aws_region:
        raise ProviderError("--provider aws needs --aws-region")
    elbv2, ec2 = make_clients(region=settings.aws_region, endpoint=settings.aws_endpoint)
    return AwsProvider(
        elbv2=elbv2,
        ec2=ec2,
        metrics=metrics,
        cluster_id=settings.cluster_id,
        vpc_id=settings.aws_vpc_id,
    )
