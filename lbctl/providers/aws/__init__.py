"""The `aws` provider (Network Load Balancers through boto3's elbv2 and ec2).

Modules, from pure to I/O: names (names, tags, ids), spec (LoadBalancer ->
NlbSpec, all validation), state (observed values), converge (the ordered
diff, shared by ensure and plan), api (counted, retried, translated calls),
inventory (batched reads, write-through snapshot), sinks (perform or record
mutations), provider (the Provider protocol) and clients (boto3 set-up).
"""

from lbctl.providers.aws.api import RetryPolicy
from lbctl.providers.aws.clients import build_aws_provider, make_clients
from lbctl.providers.aws.provider import AwsProvider

__all__ = ["AwsProvider", "RetryPolicy", "build_aws_provider", "make_clients"]
