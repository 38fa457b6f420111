"""The gce column's box: the GCE fake, its network in the router, lbctl's gce flags."""

from __future__ import annotations

from contextlib import ExitStack

from localcluster import outside
from tests.cloudbox.base import Box, running_cluster, set_provider_ids
from tests.fakes.gce import GCEFake
from tests.fakes.gce.network import GceNetwork

CLASS = "lbctl.io/gce"
PROJECT = "lbctl-box"
REGION = "us-central1"
ZONE = f"{REGION}-a"
TAG = "lbctl-node"
#: forwarding-rule addresses: off every other range of the local cluster
ADDRESSES = ("198.18.2.1", "198.18.2.254")
#: an address LB-2 may ask for (--conformance-lb-ip): free in the fake's range
STATIC_IP = "198.18.2.250"


def open_box(stack: ExitStack) -> Box:
    """Set the cloud up (undone by `stack`)."""
    kubeconfig, nodes = running_cluster()
    fake = GCEFake(project=PROJECT, region=REGION, address_range=ADDRESSES).start()
    stack.callback(fake.stop)
    for node in nodes:
        fake.seed_instance(node.name, zone=ZONE, ip=node.address, tags=[TAG])
    set_provider_ids(kubeconfig, {n.name: f"gce://{PROJECT}/{ZONE}/{n.name}" for n in nodes})
    network = GceNetwork(fake, namespace=outside.ROUTER_NETNS, ingress="eth1", egress="eth0")
    network.start()
    stack.callback(network.stop)
    return Box(
        cloud="gce",
        kubeconfig=kubeconfig,
        lb_class=CLASS,
        lbctl_flags=(
            "--provider=gce",
            f"--gce-project={PROJECT}",
            f"--gce-region={REGION}",
            f"--gce-endpoint={fake.endpoint}",
            f"--load-balancer-class={CLASS}",
            "--cluster-id=box",
        ),
        suite_options=(f"--conformance-lb-ip={STATIC_IP}",),
    )
