"""How each aws Step is applied: one AWS call per step, through the shared Executor.

Guarantees:
- before a step's call the Service is marked dirty in the inventory (the
  executor's `before` hook), so the snapshot is not trusted for it until
  the reconcile commits what it did;
- every resource is created with its ownership tags in the same call (no
  window in which it exists untagged); a name collision with a resource of
  ours (a create repeated after a crash the snapshot missed) is adoption:
  the existing resource enters the working copy as it is, and the next
  round of the diff fixes whatever differs; one that is not ours is a
  ProviderError, never touched;
- after each call the working copy (`Working`) holds what now exists, so
  later steps find the ids they need (a group or target group created a
  step earlier) and the next diff of it is empty once all is done;
- deleting what is already gone is success.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from lbcommon.errors import ProviderError
from lbctl.providers.aws import names, state
from lbctl.providers.aws.api import AwsApi
from lbctl.providers.aws.state import Nlb, Resources, SecurityGroup, TargetGroup
from lbctl.providers.aws.steps import (
    CreateGroup,
    CreateListener,
    CreateLoadBalancer,
    CreateTargetGroup,
    DeleteGroup,
    DeleteListener,
    DeleteLoadBalancer,
    DeleteTargetGroup,
    GroupRole,
    ModifyListener,
    SetCidrs,
    SetCrossZone,
    SetHealth,
    SetNodeRules,
    SetSecurityGroups,
    SetSticky,
    SetTargets,
    Step,
)
from lbctl.providers.common.executor import Executor

NOT_FOUND_LB = frozenset({"LoadBalancerNotFound"})
NOT_FOUND_TG = frozenset({"TargetGroupNotFound"})
NOT_FOUND_LISTENER = frozenset({"ListenerNotFound"})
NOT_FOUND_SG = frozenset({"InvalidGroup.NotFound", "InvalidGroupId.NotFound"})
NOT_FOUND_RULE = NOT_FOUND_SG | {"InvalidPermission.NotFound"}
DUPLICATE_RULE = frozenset({"InvalidPermission.Duplicate"})

T = TypeVar("T")


@dataclass
class Working:
    """What exists while steps run: one Service's resources and the cluster's groups."""

    res: Resources
    backend: SecurityGroup | None = None
    node_groups: list[SecurityGroup] = field(default_factory=list)


class Applier:
    """Applies aws steps against AWS, keeping a `Working` copy up to date."""

    def __init__(
        self,
        api: AwsApi,
        *,
        cluster_id: str,
        begin: Callable[[str], None],
        read_tg_details: Callable[[TargetGroup], TargetGroup],
    ) -> None:
        """`begin(uid)` marks a Service dirty before its first mutation."""
        self._api = api
        self._cluster_id = cluster_id
        self._begin = begin
        self._read_tg_details = read_tg_details

    def run(self, steps: Sequence[Step], working: Working, *, service: str) -> None:
        uid = working.res.uid
        executor: Executor[Step] = Executor(
            provider="aws",
            apply=lambda step, _service: self._apply(step, working),
            before=lambda step: self._begin(uid),
        )
        executor.run(steps, service=service)

    def _call(self, service: Any, operation: str, **params: Any) -> dict[str, Any]:
        return self._api.call(service, operation, **params)

    def _apply(self, step: Step, w: Working) -> None:
        match step:
            case CreateGroup() | SetCidrs() | SetNodeRules() | DeleteGroup():
                self._group_step(step, w)
            case CreateLoadBalancer() | SetSecurityGroups() | SetCrossZone() | DeleteLoadBalancer():
                self._lb_step(step, w)
            case CreateListener() | ModifyListener() | DeleteListener():
                w.res.lb = self._listener(step, w.res)
            case _:
                self._tg_step(step, w)

    def _group_step(
        self, step: CreateGroup | SetCidrs | SetNodeRules | DeleteGroup, w: Working
    ) -> None:
        res = w.res
        match step:
            case CreateGroup():
                group = self._create_group(step)
                if step.role is GroupRole.BACKEND:
                    w.backend = group
                else:
                    res.sg = group
            case SetCidrs():
                sg = _need(res.sg, step)
                operation = "Authorize" if step.allow else "Revoke"
                self._call(
                    "ec2",
                    f"{operation}SecurityGroupIngress",
                    ok_codes=DUPLICATE_RULE if step.allow else NOT_FOUND_RULE,
                    GroupId=sg.id,
                    IpPermissions=state.cidr_permissions(step.rules),
                )
                rules = sg.cidr_rules | step.rules if step.allow else sg.cidr_rules - step.rules
                res.sg = replace(sg, cidr_rules=rules)
            case SetNodeRules():
                self._node_rules(step, w)
            case DeleteGroup():
                self._call("ec2", "DeleteSecurityGroup", ok_codes=NOT_FOUND_SG, GroupId=step.id)
                res.sg = None

    def _lb_step(
        self,
        step: CreateLoadBalancer | SetSecurityGroups | SetCrossZone | DeleteLoadBalancer,
        w: Working,
    ) -> None:
        res = w.res
        if isinstance(step, CreateLoadBalancer):
            res.lb = self._create_lb(step, w)
            return
        lb = _need(res.lb, step)
        match step:
            case SetSecurityGroups():
                groups = (_need(res.sg, step).id, _need(w.backend, step).id)
                self._call(
                    "elbv2",
                    "SetSecurityGroups",
                    LoadBalancerArn=lb.arn,
                    SecurityGroups=list(groups),
                )
                res.lb = replace(lb, security_groups=groups)
            case SetCrossZone():
                self._call(
                    "elbv2",
                    "ModifyLoadBalancerAttributes",
                    LoadBalancerArn=lb.arn,
                    Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}],
                )
                res.lb = replace(lb, cross_zone=True)
            case DeleteLoadBalancer():
                self._call(
                    "elbv2", "DeleteLoadBalancer", ok_codes=NOT_FOUND_LB, LoadBalancerArn=lb.arn
                )
                res.lb = None

    def _tg_step(
        self,
        step: CreateTargetGroup | SetHealth | SetSticky | SetTargets | DeleteTargetGroup,
        w: Working,
    ) -> None:
        groups = w.res.target_groups
        if isinstance(step, CreateTargetGroup):
            groups[step.name] = self._create_tg(step, w)
            return
        tg = _need(groups.get(step.name), step)
        match step:
            case SetHealth():
                self._call(
                    "elbv2",
                    "ModifyTargetGroup",
                    TargetGroupArn=tg.arn,
                    HealthCheckProtocol=step.health.protocol,
                    HealthCheckPort=step.health.port,
                    HealthCheckPath=step.health.path or "/",
                )
                groups[step.name] = replace(tg, health=step.health)
            case SetSticky():
                attributes = [
                    {"Key": "stickiness.enabled", "Value": "true" if step.sticky else "false"}
                ]
                if step.sticky:
                    attributes.append({"Key": "stickiness.type", "Value": "source_ip"})
                self._call(
                    "elbv2",
                    "ModifyTargetGroupAttributes",
                    TargetGroupArn=tg.arn,
                    Attributes=attributes,
                )
                groups[step.name] = replace(tg, sticky=step.sticky)
            case SetTargets():
                groups[step.name] = self._targets(step, tg)
            case DeleteTargetGroup():
                self._call(
                    "elbv2", "DeleteTargetGroup", ok_codes=NOT_FOUND_TG, TargetGroupArn=tg.arn
                )
                del groups[step.name]

    # -- security groups ----------------------------------------------------

    def _create_group(self, step: CreateGroup) -> SecurityGroup:
        reply = self._call(
            "ec2",
            "CreateSecurityGroup",
            ok_codes=frozenset({"InvalidGroup.Duplicate"}),
            GroupName=step.name,
            Description=step.description,
            VpcId=step.vpc_id,
            TagSpecifications=[
                {"ResourceType": "security-group", "Tags": names.tag_list(step.tags)}
            ],
        )
        if reply:
            return SecurityGroup(
                reply["GroupId"], step.name, step.vpc_id, dict(step.tags), frozenset(), {}
            )
        # An earlier create whose answer was lost: adopt it if its tags say it is this one.
        found = self._call(
            "ec2",
            "DescribeSecurityGroups",
            Filters=[
                {"Name": "group-name", "Values": [step.name]},
                {"Name": "vpc-id", "Values": [step.vpc_id]},
            ],
        )
        for data in found.get("SecurityGroups", []):
            group = state.security_group_from_api(data)
            if step.tags.items() <= group.tags.items():
                return group
        raise ProviderError(f"security group {step.name} exists in {step.vpc_id} but is not ours")

    def _node_rules(self, step: SetNodeRules, w: Working) -> None:
        source = _need(w.backend, step).id
        operation = "Authorize" if step.allow else "Revoke"
        self._call(
            "ec2",
            f"{operation}SecurityGroupIngress",
            ok_codes=DUPLICATE_RULE if step.allow else NOT_FOUND_RULE,
            GroupId=step.name,
            IpPermissions=state.group_permissions(step.rules, source),
        )
        for index, group in enumerate(w.node_groups):
            if group.id == step.name:
                have = group.admitting(source)
                rules = have | step.rules if step.allow else have - step.rules
                w.node_groups[index] = replace(
                    group, group_rules={**group.group_rules, source: rules}
                )

    # -- the load balancer --------------------------------------------------

    def _create_lb(self, step: CreateLoadBalancer, w: Working) -> Nlb:
        groups = (_need(w.res.sg, step).id, _need(w.backend, step).id)
        where: dict[str, Any]
        if step.allocation:
            where = {
                "SubnetMappings": [
                    {"SubnetId": s, "AllocationId": step.allocation} for s in step.subnets
                ]
            }
        else:
            where = {"Subnets": list(step.subnets)}
        reply = self._call(
            "elbv2",
            "CreateLoadBalancer",
            Name=step.name,
            Type="network",
            Scheme="internet-facing",
            IpAddressType="ipv4",
            SecurityGroups=list(groups),
            Tags=names.tag_list(step.tags),
            **where,
        )
        created = state.nlb_from_api(reply["LoadBalancers"][0], step.tags)
        return replace(created, security_groups=groups, listeners=(), cross_zone=False)

    # -- target groups --------------------------------------------------------

    def _create_tg(self, step: CreateTargetGroup, w: Working) -> TargetGroup:
        lb = _need(w.res.lb, step)
        reply = self._call(
            "elbv2",
            "CreateTargetGroup",
            ok_codes=frozenset({"DuplicateTargetGroupName"}),
            Name=step.name,
            Protocol=step.port.protocol.value,
            Port=step.port.node_port,
            VpcId=lb.vpc_id,
            TargetType="instance",
            HealthCheckProtocol=step.health.protocol,
            HealthCheckPort=step.health.port,
            HealthCheckPath=step.health.path,
            Tags=names.tag_list(step.tags),
        )
        if reply:
            created = state.target_group_from_api(reply["TargetGroups"][0], step.tags)
            return replace(created, sticky=False, targets=frozenset())
        # An earlier create whose answer was lost: adopt it if its tags say it is this one.
        found = self._call("elbv2", "DescribeTargetGroups", Names=[step.name])
        data = found["TargetGroups"][0]
        tags = self._call("elbv2", "DescribeTags", ResourceArns=[data["TargetGroupArn"]])
        tag_map = names.tag_dict(tags["TagDescriptions"][0].get("Tags"))
        owner = names.owner_from_tags(tag_map, self._cluster_id)
        if owner is None or owner.uid != w.res.uid:
            raise ProviderError(f"target group {step.name} exists but is not ours")
        return self._read_tg_details(state.target_group_from_api(data, tag_map))

    def _targets(self, step: SetTargets, tg: TargetGroup) -> TargetGroup:
        targets = [{"Id": t.instance_id, "Port": t.port} for t in sorted(step.targets)]
        if step.add:
            self._call("elbv2", "RegisterTargets", TargetGroupArn=tg.arn, Targets=targets)
        else:
            self._call(
                "elbv2",
                "DeregisterTargets",
                ok_codes=frozenset({"InvalidTarget"}),
                TargetGroupArn=tg.arn,
                Targets=targets,
            )
        have = tg.targets or frozenset()
        return replace(tg, targets=have | step.targets if step.add else have - step.targets)

    # -- listeners ----------------------------------------------------------

    def _listener(
        self, step: CreateListener | ModifyListener | DeleteListener, res: Resources
    ) -> Nlb:
        lb = _need(res.lb, step)
        listeners = list(lb.listeners or ())
        match step:
            case CreateListener():
                tg = _need(res.target_groups.get(step.port.tg_name), step)
                reply = self._call(
                    "elbv2",
                    "CreateListener",
                    LoadBalancerArn=lb.arn,
                    Protocol=step.port.protocol.value,
                    Port=step.port.port,
                    DefaultActions=[{"Type": "forward", "TargetGroupArn": tg.arn}],
                )
                listeners.append(state.listener_from_api(reply["Listeners"][0]))
            case ModifyListener():
                tg = _need(res.target_groups.get(step.target_group), step)
                self._call(
                    "elbv2",
                    "ModifyListener",
                    ListenerArn=step.arn,
                    DefaultActions=[{"Type": "forward", "TargetGroupArn": tg.arn}],
                )
                listeners = [
                    replace(x, target_group_arn=tg.arn) if x.arn == step.arn else x
                    for x in listeners
                ]
            case DeleteListener():
                self._call(
                    "elbv2", "DeleteListener", ok_codes=NOT_FOUND_LISTENER, ListenerArn=step.arn
                )
                listeners = [x for x in listeners if x.arn != step.arn]
        return replace(lb, listeners=tuple(listeners))


def _need(value: T | None, step: Step) -> T:
    """What a step needs must exist by the time it runs (an earlier step made it)."""
    if value is None:
        raise ProviderError(f"{step.change()}: what it refers to does not exist (a bug)")
    return value
