"""The `gce` provider: target-pool network load balancers, as upstream builds them.

Modules, from pure to I/O: names (names, ownership marks, references), spec
(LoadBalancer -> LbSpec, all validation), resources (frozen values per kind),
steps (one mutation each), diff (the pure read-diff: steps for ensure, plan and
delete), observe (gather what exists), errors (API failures -> lbctl errors),
calls (counted, retried calls; operation waits), legacy (REST for the legacy
httpHealthChecks), convert (API objects <-> values), api (typed Compute
calls), clients (client construction), inventory (the round cache and its
readers), locks, executor (apply steps), owned (orphan collection), provider
(the Provider protocol) and factory (wiring).
"""

from lbctl.providers.gce.calls import RetryPolicy
from lbctl.providers.gce.factory import build_gce_provider, connect
from lbctl.providers.gce.names import Scope
from lbctl.providers.gce.provider import GceProvider

__all__ = ["GceProvider", "RetryPolicy", "Scope", "build_gce_provider", "connect"]
