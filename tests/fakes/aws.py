"""moto in server mode, on 127.0.0.1 only, plus what tests need around it.

- `MotoServer`: a ThreadedMotoServer on an ephemeral loopback port; `reset()`
  empties it between tests (moto's own reset endpoint).
- `clients()`: elbv2 and ec2 clients for it with dummy credentials, so no
  test ever reads ~/.aws or talks to anything but the local server.
- `World`: a VPC with tagged subnets in three zones (plus decoys), a node
  security group and EC2 instances standing in for nodes.
- `everything()`: every resource moto holds, for "exactly these exist"
  assertions; `FaultInjector`: fail, or kill after, the Nth mutating call.
- one gap of moto mended (`_report_nlb_elastic_ips`): an NLB created with
  SubnetMappings lists each mapping's Elastic IP under
  AvailabilityZones[].LoadBalancerAddresses, as AWS does (moto 5.2.5 accepts
  the AllocationId and drops it), so a data plane can find the NLB's address.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from botocore.exceptions import ClientError
from moto.elbv2 import models as elbv2_models
from moto.server import ThreadedMotoServer

from lbctl.providers.aws import make_clients

REGION = "us-east-1"
CLUSTER_ID = "lbctl-test"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")

#: dummy credentials, so nothing ever reads ~/.aws; one loader cache for all clients
_SESSION = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
_SESSION_LOCK = threading.Lock()

#: operations that change nothing; everything else counts as mutating
READ_PREFIXES = ("Describe", "Get", "List")


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


def _report_nlb_elastic_ips() -> None:
    """Make moto keep and report the Elastic IPs of an NLB's SubnetMappings."""
    backend, balancer = elbv2_models.ELBv2Backend, elbv2_models.FakeLoadBalancer
    if getattr(backend.create_load_balancer, "reports_elastic_ips", False):
        return
    create = backend.create_load_balancer

    def create_keeping_addresses(self: Any, *args: Any, **kwargs: Any) -> Any:
        lb = create(self, *args, **kwargs)
        lb.addresses_by_subnet = {}
        for mapping in kwargs.get("subnet_mappings") or []:
            if mapping.get("AllocationId"):
                [eip] = self.ec2_backend.describe_addresses(
                    allocation_ids=[mapping["AllocationId"]]
                )
                lb.addresses_by_subnet[mapping["SubnetId"]] = [
                    {"IpAddress": eip.public_ip, "AllocationId": mapping["AllocationId"]}
                ]
        return lb

    def zones_with_addresses(self: Any) -> list[Any]:
        zones = []
        for subnet in self.subnets:
            zone = elbv2_models.AvailabilityZone(subnet)
            zone.load_balancer_addresses = getattr(self, "addresses_by_subnet", {}).get(
                subnet.id, []
            )
            zones.append(zone)
        return zones

    create_keeping_addresses.reports_elastic_ips = True  # type: ignore[attr-defined]
    backend.create_load_balancer = create_keeping_addresses  # type: ignore[method-assign]
    balancer.availability_zones = property(zones_with_addresses)  # type: ignore[assignment,method-assign]


class MotoServer:
    """moto on 127.0.0.1:<ephemeral>."""

    def __init__(self) -> None:
        _report_nlb_elastic_ips()
        # werkzeug logs every request at INFO: thousands of lines per test run.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self) -> MotoServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        host, port = self._server.get_host_and_port()
        assert host == "127.0.0.1"
        return f"http://{host}:{port}"

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def clients(self) -> tuple[Any, Any]:
        """(elbv2, ec2) for this server, dummy credentials, one shared loader cache."""
        with _SESSION_LOCK:
            return make_clients(_SESSION, region=REGION, endpoint=self.url)


@dataclass
class World:
    """A VPC ready for load balancers, with instances standing in for nodes."""

    ec2: Any
    cluster_id: str = CLUSTER_ID
    vpc_id: str = ""
    subnets: dict[str, str] = field(default_factory=dict)  # zone -> eligible subnet
    decoy_subnets: list[str] = field(default_factory=list)
    node_sg: str = ""
    instances: list[tuple[str, str]] = field(default_factory=list)  # (zone, id)

    def build(self, *, nodes: int = 3) -> World:
        cluster_tag = {"Key": f"kubernetes.io/cluster/{self.cluster_id}", "Value": "owned"}
        self.vpc_id = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        for index, zone in enumerate(ZONES):
            self.subnets[zone] = self._subnet(f"10.0.{index}.0/24", zone, [cluster_tag])
        # Not eligible: untagged, or tagged for another cluster.
        self.decoy_subnets.append(self._subnet("10.0.10.0/24", ZONES[0], []))
        other = {"Key": "kubernetes.io/cluster/other", "Value": "owned"}
        self.decoy_subnets.append(
            self._subnet(
                "10.0.11.0/24", ZONES[1], [other, {"Key": "kubernetes.io/role/elb", "Value": "1"}]
            )
        )
        self.node_sg = self.ec2.create_security_group(
            GroupName="nodes",
            Description="cluster nodes",
            VpcId=self.vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": [cluster_tag]}],
        )["GroupId"]
        for _ in range(nodes):
            self.add_instance()
        return self

    def _subnet(self, cidr: str, zone: str, tags: list[dict[str, str]]) -> str:
        params: dict[str, Any] = {"VpcId": self.vpc_id, "CidrBlock": cidr, "AvailabilityZone": zone}
        if tags:
            params["TagSpecifications"] = [{"ResourceType": "subnet", "Tags": tags}]
        return str(self.ec2.create_subnet(**params)["Subnet"]["SubnetId"])

    def add_instance(self) -> tuple[str, str]:
        zone = ZONES[len(self.instances) % len(ZONES)]
        reply = self.ec2.run_instances(
            ImageId="ami-12345678",
            MinCount=1,
            MaxCount=1,
            SubnetId=self.subnets[zone],
            SecurityGroupIds=[self.node_sg],
        )
        instance = (zone, str(reply["Instances"][0]["InstanceId"]))
        self.instances.append(instance)
        return instance

    def allocate_eip(self) -> tuple[str, str]:
        """(public IP, allocation id) of a new, unassociated Elastic IP."""
        reply = self.ec2.allocate_address(Domain="vpc")
        return str(reply["PublicIp"]), str(reply["AllocationId"])


def provider_id(zone: str, instance: str) -> str:
    return f"aws:///{zone}/{instance}"


def vpc_with_nodes(
    ec2: Any, nodes: Sequence[tuple[str, str]], *, vpc_cidr: str, subnets: Sequence[str]
) -> tuple[str, dict[str, str]]:
    """A VPC whose instances carry given nodes' addresses, for data-plane tests.

    One cluster-tagged subnet per zone (`subnets`, in ZONES order; the first
    holds every node), the cluster's node security group, and an instance per
    (name, IP) of `nodes`. Returns the VPC id and node name -> providerID.
    """
    tag = {"Key": f"kubernetes.io/cluster/{CLUSTER_ID}", "Value": "owned"}
    vpc = str(ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"])
    ids = {}
    for zone, cidr in zip(ZONES, subnets, strict=True):
        ids[zone] = ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=cidr,
            AvailabilityZone=zone,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": [tag]}],
        )["Subnet"]["SubnetId"]
    group = ec2.create_security_group(
        GroupName="nodes",
        Description="cluster nodes",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [tag]}],
    )["GroupId"]
    provider_ids = {}
    for name, address in nodes:
        reply = ec2.run_instances(
            ImageId="ami-12345678",
            MinCount=1,
            MaxCount=1,
            SubnetId=ids[ZONES[0]],
            PrivateIpAddress=address,
            SecurityGroupIds=[group],
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}
            ],
        )
        instance = reply["Instances"][0]
        assert instance["PrivateIpAddress"] == address, "moto ignored PrivateIpAddress"
        provider_ids[name] = provider_id(ZONES[0], instance["InstanceId"])
    return vpc, provider_ids


def everything(elbv2: Any, ec2: Any) -> dict[str, Any]:
    """A plain summary of every resource moto holds (reads only)."""
    lbs = elbv2.describe_load_balancers()["LoadBalancers"]
    arns = [lb["LoadBalancerArn"] for lb in lbs]
    tgs = elbv2.describe_target_groups()["TargetGroups"]
    tags = _tags(elbv2, arns + [t["TargetGroupArn"] for t in tgs])
    groups = ec2.describe_security_groups()["SecurityGroups"]
    return {
        "load_balancers": {
            lb["LoadBalancerName"]: {
                "arn": lb["LoadBalancerArn"],
                "dns": lb["DNSName"],
                "type": lb["Type"],
                "scheme": lb.get("Scheme"),
                "security_groups": sorted(lb.get("SecurityGroups") or []),
                "subnets": sorted(z["SubnetId"] for z in lb["AvailabilityZones"]),
                "tags": tags[lb["LoadBalancerArn"]],
                "listeners": {
                    (x["Port"], x["Protocol"]): x["DefaultActions"][0]["TargetGroupArn"]
                    for x in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])[
                        "Listeners"
                    ]
                },
                "cross_zone": {
                    a["Key"]: a["Value"]
                    for a in elbv2.describe_load_balancer_attributes(
                        LoadBalancerArn=lb["LoadBalancerArn"]
                    )["Attributes"]
                }.get("load_balancing.cross_zone.enabled"),
            }
            for lb in lbs
        },
        "target_groups": {t["TargetGroupName"]: _target_group(elbv2, t, tags) for t in tgs},
        "security_groups": {
            g["GroupName"]: {
                "id": g["GroupId"],
                "tags": {t["Key"]: t["Value"] for t in g.get("Tags") or []},
                "ingress": _ingress(g),
            }
            for g in groups
            if g["GroupName"] != "default"
        },
        "addresses": {
            a["PublicIp"]: a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]
        },
    }


def _tags(elbv2: Any, arns: list[str]) -> dict[str, dict[str, str]]:
    if not arns:
        return {}
    reply = elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"]
    return {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d["Tags"]} for d in reply}


def _target_group(
    elbv2: Any, tg: dict[str, Any], tags: dict[str, dict[str, str]]
) -> dict[str, Any]:
    arn = tg["TargetGroupArn"]
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {
        "arn": arn,
        "protocol": tg["Protocol"],
        "health": (tg["HealthCheckProtocol"], tg["HealthCheckPort"], tg.get("HealthCheckPath")),
        "sticky": attributes.get("stickiness.enabled") == "true"
        and attributes.get("stickiness.type") == "source_ip",
        "targets": sorted((d["Target"]["Id"], d["Target"]["Port"]) for d in health),
        "tags": tags[arn],
    }


def _ingress(group: dict[str, Any]) -> set[tuple[str, str, str]]:
    """Rules as (protocol, "port" or "low-high", source CIDR or group id)."""
    rules: set[tuple[str, str, str]] = set()
    for perm in group.get("IpPermissions") or []:
        low, high = perm["FromPort"], perm["ToPort"]
        ports = str(low) if low == high else f"{low}-{high}"
        for r in perm.get("IpRanges") or []:
            rules.add((perm["IpProtocol"], ports, r["CidrIp"]))
        for pair in perm.get("UserIdGroupPairs") or []:
            rules.add((perm["IpProtocol"], ports, pair["GroupId"]))
    return rules


class Killed(BaseException):
    """Stands in for the process dying right after a call succeeded."""


@dataclass
class FaultInjector:
    """Watches the mutating calls of some clients; fails or kills on the Nth.

    `fail_at=n` makes the n-th mutating call (0-based) fail with a 400
    ClientError before it reaches the server; `kill_after=n` lets it succeed
    and then raises Killed, as if the process died.
    """

    fail_at: int | None = None
    kill_after: int | None = None
    calls: list[str] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, *clients: Any) -> FaultInjector:
        for client in clients:
            client.meta.events.register("before-parameter-build", self._record)
            client.meta.events.register("before-call", self._before)
            client.meta.events.register("after-call", self._after)
        return self

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        with self.lock:
            self.requests.append((model.name, dict(params)))

    def _before(self, model: Any, **_: Any) -> None:
        if not is_mutating(model.name):
            return
        with self.lock:
            index = len(self.calls)
            self.calls.append(model.name)
        if index == self.fail_at:
            error: dict[str, Any] = {
                "Error": {"Code": "InjectedFailure", "Message": f"call {index} fails"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            raise ClientError(error, model.name)

    def _after(self, model: Any, http_response: Any, **_: Any) -> None:
        if not is_mutating(model.name) or http_response.status_code >= 300:
            return
        with self.lock:
            index = len(self.calls) - 1
        if index == self.kill_after:
            raise Killed(f"killed after call {index} ({model.name})")

    def mutating(self) -> list[str]:
        with self.lock:
            return list(self.calls)

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.requests.clear()
            self.fail_at = self.kill_after = None


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()
