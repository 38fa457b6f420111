"""boto3 set-up: clients with botocore's own retries off (ours are counted).

Credentials come from the boto3 session the caller passes: `lbctl` passes a
plain one (boto3's usual chain); tests and benchmarks pass one made with
dummy keys, so they never read ~/.aws.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from lbcommon.errors import ProviderError
from lbctl.metrics import Metrics
from lbctl.providers.aws.provider import AwsProvider
from lbctl.settings import Settings

#: HTTP connections per client: enough for the provider's concurrent workers
POOL_CONNECTIONS = 32


def make_clients(
    session: boto3.session.Session, *, region: str, endpoint: str | None = None
) -> tuple[Any, Any]:
    """(elbv2, ec2) clients for one region, optionally at a custom endpoint.

    The `session` holds the credentials; a caller that makes many clients
    reuses one (its loader cache), holding a lock: clients are thread-safe,
    sessions are not.
    """
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=POOL_CONNECTIONS,
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra="lbctl",
    )
    return (
        session.client("elbv2", region_name=region, endpoint_url=endpoint, config=config),
        session.client("ec2", region_name=region, endpoint_url=endpoint, config=config),
    )


def build_aws_provider(settings: Settings, metrics: Metrics) -> AwsProvider:
    """The provider `lbctl --provider aws` runs with."""
    if not settings.aws_region:
        raise ProviderError("--provider aws needs --aws-region")
    elbv2, ec2 = make_clients(
        boto3.session.Session(), region=settings.aws_region, endpoint=settings.aws_endpoint
    )
    return AwsProvider(
        elbv2=elbv2,
        ec2=ec2,
        metrics=metrics,
        cluster_id=settings.cluster_id,
        vpc_id=settings.aws_vpc_id,
    )
