"""The `aws` provider (Network Load Balancers through boto3's elbv2 and ec2).

It plans and applies as every cloud provider here does (lbctl.providers.common):
read what exists, diff it purely into ordered steps, apply them through the
shared executor, with the shared retry policy and locks.

Modules, from pure to I/O: names (names, tags, ids), spec (LoadBalancer ->
NlbSpec, all validation), state (observed values), steps (aws's steps: one
mutation each), diff (the pure ordered diff, shared by ensure, plan and
delete), placement (subnets and the Elastic IP, checked), api (counted,
retried, translated calls), inventory (batched reads, write-through
snapshot), apply (one AWS call per step, keeping the working
copy), provider (the Provider protocol) and clients (boto3 set-up).
"""

from lbctl.providers.aws.clients import build_aws_provider, make_clients
from lbctl.providers.aws.provider import AwsProvider

__all__ = ["AwsProvider", "build_aws_provider", "make_clients"]
