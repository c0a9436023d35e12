"""Delete what the inventory found, in the order AWS allows, retrying what is only not yet possible.

A load balancer holds network interfaces and security groups in the VPC, and its target groups
are in use until it is gone; AWS releases its interfaces minutes after the deletion returns.
Groups that reference each other cannot be deleted in any order until those rules are revoked.
Every refusal of that kind (DependencyViolation, InUse, throttling) is retried with doubling
waits, within one time budget for the whole sweep, so a CI job ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from specdec.janitor.inventory import (
    ALARM,
    DASHBOARD,
    INTERFACE,
    LOAD_BALANCER,
    LOG_GROUP,
    SECURITY_GROUP,
    TARGET_GROUP,
    VOLUME,
    Client,
    Finding,
)

RETRYABLE = frozenset({
    "DependencyViolation", "InvalidNetworkInterface.InUse", "ResourceInUse", "ResourceInUseException",
    "VolumeInUse", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "OperationAbortedException",
})
# Deleted meanwhile (by its controller, or by an earlier run): the goal is reached.
GONE = frozenset({
    "LoadBalancerNotFound", "TargetGroupNotFound", "InvalidVolume.NotFound",
    "InvalidNetworkInterfaceID.NotFound", "InvalidGroup.NotFound", "ResourceNotFoundException",
    "ResourceNotFound",
})
BUDGET_S = 900.0  # for the whole sweep: load balancer interfaces usually go within a few minutes
FIRST_WAIT_S, LONGEST_WAIT_S = 2.0, 30.0

DELETE: dict[str, Callable[[Client, str], Any]] = {  # in dependency order
    LOAD_BALANCER: lambda client, arn: client("elbv2").delete_load_balancer(LoadBalancerArn=arn),
    TARGET_GROUP: lambda client, arn: client("elbv2").delete_target_group(TargetGroupArn=arn),
    VOLUME: lambda client, id: client("ec2").delete_volume(VolumeId=id),
    INTERFACE: lambda client, id: client("ec2").delete_network_interface(NetworkInterfaceId=id),
    SECURITY_GROUP: lambda client, id: client("ec2").delete_security_group(GroupId=id),
    LOG_GROUP: lambda client, name: client("logs").delete_log_group(logGroupName=name),
    ALARM: lambda client, name: client("cloudwatch").delete_alarms(AlarmNames=[name]),
    DASHBOARD: lambda client, name: client("cloudwatch").delete_dashboards(DashboardNames=[name]),
}


@dataclass(frozen=True)
class Clock:
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.monotonic


def waits(clock: Clock, deadline: float) -> Iterator[float]:
    """Doubling waits, as long as the next one ends before the deadline."""
    wait = FIRST_WAIT_S
    while clock.now() + wait <= deadline:
        yield wait
        wait = min(2 * wait, LONGEST_WAIT_S)


def retry(call: Callable[[], Any], clock: Clock, deadline: float) -> Any:
    """call(), again after each retryable refusal; the last refusal once time is up."""
    pending = waits(clock, deadline)
    while True:
        try:
            return call()
        except ClientError as error:
            wait = next(pending, None) if error.response["Error"]["Code"] in RETRYABLE else None
            if wait is None:
                raise
        clock.sleep(wait)


def sweep(findings: list[Finding], client: Client, say: Callable[[str], None], clock: Clock = Clock(),
          budget_s: float = BUDGET_S) -> int:
    """Delete every deletable finding; one line per action; the number that could not be deleted."""
    deadline = clock.now() + budget_s
    failed = 0
    for kind in DELETE:
        todo = [f for f in findings if f.kind == kind and f.deletable]
        if kind == SECURITY_GROUP and todo:
            _revoke_references(client("ec2"), [f.id for f in todo], say)
        failed += sum(not _delete(client, f, say, clock, deadline) for f in todo)
        if kind == TARGET_GROUP:
            _wait_for_interfaces(client("ec2"), [f.id for f in findings if f.kind == LOAD_BALANCER
                                                 and f.deletable], say, clock, deadline)
    return failed


def _delete(client: Client, finding: Finding, say, clock: Clock, deadline: float) -> bool:
    try:
        retry(lambda: DELETE[finding.kind](client, finding.id), clock, deadline)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code not in GONE:
            say(f"failed   {finding.kind} {finding.id}: {code}: {error.response['Error'].get('Message', '')}")
            return False
    say(f"deleted  {finding.kind} {finding.id}")
    return True


def _wait_for_interfaces(ec2, load_balancers: list[str], say, clock: Clock, deadline: float) -> None:
    # ELB names its interfaces "ELB net/<name>/<id>" (or app/...), the tail of its ARN.
    descriptions = [f"ELB {arn.split(':loadbalancer/', 1)[1]}" for arn in load_balancers]
    if not descriptions:
        return
    pending = waits(clock, deadline)
    while left := ec2.describe_network_interfaces(
            Filters=[{"Name": "description", "Values": descriptions}])["NetworkInterfaces"]:
        wait = next(pending, None)
        if wait is None:
            say(f"waited   {len(left)} network interface(s) of deleted load balancers are still there")
            return
        say(f"waiting  {len(left)} network interface(s) of deleted load balancers, {wait:g} s")
        clock.sleep(wait)
    say(f"released the network interfaces of {len(descriptions)} load balancer(s)")


def _revoke_references(ec2, group_ids: list[str], say) -> None:
    """Drop the rules by which the groups to delete reference each other."""
    ours = set(group_ids)
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": group_ids}])
    for group in groups["SecurityGroups"]:
        for field, revoke in (("IpPermissions", ec2.revoke_security_group_ingress),
                              ("IpPermissionsEgress", ec2.revoke_security_group_egress)):
            rules = []
            for rule in group.get(field, []):
                pairs = [{"GroupId": p["GroupId"]} for p in rule.get("UserIdGroupPairs", [])
                         if p.get("GroupId") in ours]
                if pairs:
                    rules.append({**{k: rule[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in rule},
                                  "UserIdGroupPairs": pairs})
            if rules:
                revoke(GroupId=group["GroupId"], IpPermissions=rules)
                say(f"revoked  {len(rules)} {field} rule(s) of {group['GroupId']} naming groups to delete")
