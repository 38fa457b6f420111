"""The aws column's box: moto, its network in the router, hosts entries, lbctl's aws flags."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from ipaddress import IPv4Address
from pathlib import Path

from localcluster import outside
from tests.cloudbox.base import Box, running_cluster, set_provider_ids
from tests.fakes.aws import CLUSTER_ID, REGION, MotoServer, vpc_with_nodes
from tests.fakes.aws_network import AwsNetwork

CLASS = "lbctl.io/aws"
HOSTS = Path("/etc/hosts")
MARK = "# lbctl-cloudbox"
#: addresses for NLB DNS names: off every other range of the local cluster
DNS_POOL = [IPv4Address("198.18.3.0") + n for n in range(1, 250)]
#: an Elastic IP the account holds, for LB-2 (--conformance-lb-ip)
ELASTIC_IP = "198.18.3.250"
#: dummy credentials; IMDS (169.254.169.254) is never asked
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _write_hosts(entries: dict[str, IPv4Address]) -> None:
    kept = [line for line in HOSTS.read_text().splitlines() if not line.endswith(MARK)]
    ours = [f"{ip} {name} {MARK}" for name, ip in sorted(entries.items())]
    HOSTS.write_text("\n".join([*kept, *ours]) + "\n")


def open_box(stack: ExitStack) -> Box:
    """Set the cloud up (undone by `stack`)."""
    kubeconfig, nodes = running_cluster()
    moto = MotoServer().start()
    stack.callback(moto.stop)
    elbv2, ec2 = moto.clients()
    vpc, ids = vpc_with_nodes(
        ec2,
        [(n.name, n.address) for n in nodes],
        vpc_cidr="198.18.0.0/16",
        subnets=("198.18.0.0/24", "198.18.8.0/24", "198.18.9.0/24"),
    )
    set_provider_ids(kubeconfig, ids)
    ec2.allocate_address(Domain="vpc", Address=ELASTIC_IP)
    network = AwsNetwork(elbv2, ec2, namespace=outside.ROUTER_NETNS, dns_pool=DNS_POOL)
    network.start()
    stack.callback(network.stop)
    stopping = threading.Event()

    def publish() -> None:
        written: dict[str, IPv4Address] = {}
        while not stopping.wait(0.5):
            names = dict(network.dns_names())
            if names != written:
                _write_hosts(names)
                written = names

    publisher = threading.Thread(target=publish, name="hosts")
    stack.callback(_write_hosts, {})
    stack.callback(publisher.join)
    stack.callback(stopping.set)
    publisher.start()
    return Box(
        cloud="aws",
        kubeconfig=kubeconfig,
        lb_class=CLASS,
        lbctl_flags=(
            "--provider=aws",
            f"--aws-region={REGION}",
            f"--aws-endpoint={moto.url}",
            f"--aws-vpc-id={vpc}",
            f"--load-balancer-class={CLASS}",
            f"--cluster-id={CLUSTER_ID}",
        ),
        lbctl_env=ENV,
        suite_options=(f"--conformance-lb-ip={ELASTIC_IP}",),
    )
