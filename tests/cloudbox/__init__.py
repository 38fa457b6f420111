"""Cloud in a box: the gce or aws provider with real traffic on the local cluster.

`python -m tests.cloudbox gce|aws` sets up, on the running local cluster
(`localcluster up`), everything a conformance column for that provider
needs, prints `ready <loadBalancerClass>` and runs until SIGTERM or SIGINT,
then undoes it:
- the cloud's API: the GCE fake, or moto's server, on 127.0.0.1;
- the nodes as the cloud's instances: registered with the nodes' names,
  zone, tags and IPs, and each Node given the matching providerID (set once:
  providerID is immutable, so a cluster serves one cloud; boot a fresh one
  for the other);
- the cloud's network: the cluster's router namespace (localcluster.outside)
  forwards as the cloud's load balancer does, from the fake's state
  (tests/fakes/gce/network.py, tests/fakes/aws_network.py);
- lbctl with that provider, as a host process serving its own class
  (lbctl.io/gce, lbctl.io/aws), beside the in-cluster lbctl of lbctl.io/lbctl;
- for aws, a hosts entry per NLB DNS name (marked, removed at the end), so the
  suite resolves the hostnames the provider writes as ingress.

Run the suite from the client network against the class printed (and the
options printed after it): `nsenter --net=/run/netns/lbctl-client pytest
conformance --conformance-kubeconfig KCFG --conformance-lb-class lbctl.io/gce`.
`--fault NAME` breaks lbctl's provider on purpose (tests.cloudbox.faults).

tests/cloudbox/test_columns.py does all of this for hack/test.sh: for the
cloud `--cloudbox` names, one box, the suite's LoadBalancer ids with lbctl as
built, then each fault of that cloud with the conformance id it must fail.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from tests.cloudbox import aws, gce
from tests.cloudbox.base import Box

#: cloud -> how to set it up on the running local cluster
BOXES: dict[str, Callable[[ExitStack], Box]] = {"gce": gce.open_box, "aws": aws.open_box}
