"""The `gce` provider: target-pool network load balancers, as upstream builds them.

It plans and applies as every cloud provider here does (lbctl.providers.common):
read what exists, diff it purely into ordered steps, apply them through the
shared executor, with the shared retry policy and locks.

Modules, from pure to I/O: names (names, ownership marks, references), spec
(LoadBalancer -> LbSpec, all validation), resources (frozen values per kind),
steps (gce's steps: one mutation each), diff (the pure read-diff: steps for
ensure, plan and delete), observe (gather what exists), errors (API failures
-> lbctl errors, what to retry), calls (counted, retried calls; operation
waits), legacy (REST for the legacy httpHealthChecks), convert (API objects
<-> values), api (typed Compute calls), clients (client construction),
inventory (the round cache and its readers), apply (one Compute call per
step), owned (orphan collection), provider (the Provider protocol) and
factory (wiring).
"""

from lbctl.providers.gce.calls import Timeouts
from lbctl.providers.gce.factory import build_gce_provider, connect
from lbctl.providers.gce.names import Scope
from lbctl.providers.gce.provider import GceProvider

__all__ = ["GceProvider", "Scope", "Timeouts", "build_gce_provider", "connect"]
