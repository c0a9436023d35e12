"""Ask AWS what an environment left behind: one Finding per resource, with the reason it is the
environment's (ownership.py) and, when the janitor must leave it, why.

Each kind the janitor can delete is listed with its own Describe call, which is current; the
Resource Groups Tagging API adds what those miss (tagged log groups and alarms with other names,
and every other type, to delete by hand), but it may still list a resource for a while after
its deletion, so what it adds is checked first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from specdec.janitor.ownership import (
    BUCKET,
    CLUSTER_NAME_TAGS,
    FILE_SYSTEM,
    LOG_GROUP,
    STACK_TAG,
    Scope,
    by_name,
    by_tags,
    cluster_tag,
)

LOAD_BALANCER, TARGET_GROUP, VOLUME = "load balancer", "target group", "volume"
INTERFACE, SECURITY_GROUP = "network interface", "security group"
ALARM, DASHBOARD, STACK, OTHER = "alarm", "dashboard", "stack", "other"
# Display order; sweep.py deletes in its own order.
KINDS = (STACK, LOAD_BALANCER, TARGET_GROUP, VOLUME, INTERFACE, SECURITY_GROUP, LOG_GROUP, ALARM,
         DASHBOARD, BUCKET, FILE_SYSTEM, OTHER)
# Where Lambda (its functions are named after the stack), EKS (control-plane logs), flow logs and
# Container Insights (the CloudWatch agent, per cluster) put their groups; CloudFormation names a
# group without a name `<stack>-<logical id>-<suffix>`.
LOG_GROUP_PREFIXES = ("/aws/lambda/", "/aws/eks/", "/aws/vpc/", "/aws/containerinsights/", "")
# While CloudFormation is deleting the stack, it alone deletes; after DELETE_FAILED the janitor
# removes what blocked it (and leaves the stack's own resources for the next `cdk destroy`).
SWEEPABLE_STACK_STATUS = "DELETE_FAILED"

Client = Callable[[str], Any]  # service name -> boto3 client


@dataclass(frozen=True)
class Finding:
    kind: str
    id: str  # ARN for load balancers and target groups, else the id or name AWS uses
    region: str
    reason: str  # why it is this environment's
    blocker: str = ""  # why the janitor leaves it; empty when it deletes it
    kept: str = ""  # the setting with which the environment keeps it: then not a leftover

    @property
    def deletable(self) -> bool:
        return not self.blocker and not self.kept


def tags_of(pairs: Iterable[dict]) -> dict[str, str]:
    return {pair["Key"]: pair["Value"] for pair in pairs}


def kind_and_id(arn: str) -> tuple[str, str]:
    """The janitor's kind and id for an ARN from the Tagging API."""
    service, resource = arn.split(":")[2], arn.split(":", 5)[5]
    prefixes = {
        "ec2": {"volume/": VOLUME, "network-interface/": INTERFACE, "security-group/": SECURITY_GROUP},
        "logs": {"log-group:": LOG_GROUP}, "cloudwatch": {"alarm:": ALARM, "dashboard/": DASHBOARD},
        "fsx": {"file-system/": FILE_SYSTEM}, "s3": {"": BUCKET},
    }.get(service, {})
    for prefix, kind in prefixes.items():
        if resource.startswith(prefix):
            return kind, resource[len(prefix):].removesuffix(":*")
    # Classic load balancers (loadbalancer/NAME) are not the controller's: delete them by hand.
    if service == "elasticloadbalancing" and resource.startswith(("loadbalancer/net/", "loadbalancer/app/")):
        return LOAD_BALANCER, arn
    if service == "elasticloadbalancing" and resource.startswith("targetgroup/"):
        return TARGET_GROUP, arn
    return OTHER, arn


def _pages(client, operation: str, key: str, **kwargs) -> Iterator[dict]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _missing(error: ClientError, *codes: str) -> bool:
    return error.response["Error"]["Code"] in codes


class Inventory:
    def __init__(self, scope: Scope, client: Client, region: str):
        self.scope, self.client, self.region = scope, client, region
        self.stack_status: str | None = None

    def collect(self) -> list[Finding]:
        stack = self._stack()
        if stack and self.stack_status != SWEEPABLE_STACK_STATUS:
            return [stack]
        listings = (self._load_balancers(), self._target_groups(), self._volumes(), self._interfaces(),
                    self._security_groups(), self._log_groups(), self._alarms(), self._dashboards())
        found = [finding for listing in listings for finding in listing if finding]
        found += self._tagged_elsewhere({(f.kind, f.id) for f in found})
        return ([stack] if stack else []) + sorted(found, key=lambda f: (KINDS.index(f.kind), f.id))

    def _finding(self, kind: str, id: str, tags: dict[str, str], name_reason: str | None = None,
                 blocker: str = "") -> Finding | None:
        reason = by_tags(self.scope, tags) or name_reason
        # A failed stack deletes its own resources on the next `cdk destroy`.
        if reason is None or (self.stack_status and tags.get(STACK_TAG) == self.scope.stack_name):
            return None
        return Finding(kind, id, self.region, reason, blocker, self.scope.keeps.get(kind, ""))

    def _stack(self) -> Finding | None:
        name = self.scope.stack_name
        try:
            (stack,) = self.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            if _missing(error, "ValidationError") and "does not exist" in str(error):
                return None
            raise
        self.stack_status = stack["StackStatus"]
        destroy = f"npx cdk destroy SpecDecStack -c env={self.scope.name}"
        todo = (f"once what blocks it is gone, run {destroy} again"
                if self.stack_status == SWEEPABLE_STACK_STATUS else
                f"{destroy} first (or wait for it); the janitor sweeps what that leaves")
        return Finding(STACK, name, self.region, f"the CloudFormation stack, {self.stack_status}", todo)

    def _ec2(self, operation: str, key: str, filters: list[dict]) -> Iterator[dict]:
        return _pages(self.client("ec2"), operation, key, Filters=filters)

    def _tagged_ec2(self, operation: str, key: str, id_key: str) -> Iterator[dict]:
        """Items with any tag by_tags accepts, once each: one query per rule, as filters AND."""
        cluster = self.scope.stack_name
        named = (*CLUSTER_NAME_TAGS, STACK_TAG)
        queries = [[{"Name": f"tag:{cluster_tag(cluster)}", "Values": ["owned"]}],
                   *([{"Name": f"tag:{name}", "Values": [cluster]}] for name in named),
                   [{"Name": f"tag:{key}", "Values": [value]} for key, value in self.scope.tags.items()]]
        seen = set()
        for filters in filter(None, queries):
            for item in self._ec2(operation, key, filters):
                if item[id_key] not in seen:
                    seen.add(item[id_key])
                    yield item

    def _elbv2(self, operation: str, key: str, arn_key: str, kind: str) -> Iterator[Finding | None]:
        elbv2 = self.client("elbv2")
        arns = [item[arn_key] for item in _pages(elbv2, operation, key)]
        for start in range(0, len(arns), 20):  # DescribeTags takes at most 20 ARNs
            for described in elbv2.describe_tags(ResourceArns=arns[start:start + 20])["TagDescriptions"]:
                tags = tags_of(described["Tags"])
                finding = self._finding(kind, described["ResourceArn"], tags)
                # The controller's namespace/name of the Service: the same in every environment, so
                # it tells a reader which Service, never which environment.
                service = tags.get("service.k8s.aws/stack")
                if finding and service:
                    finding = replace(finding, reason=f"{finding.reason} (Service {service})")
                yield finding

    def _load_balancers(self) -> Iterator[Finding | None]:
        return self._elbv2("describe_load_balancers", "LoadBalancers", "LoadBalancerArn", LOAD_BALANCER)

    def _target_groups(self) -> Iterator[Finding | None]:
        return self._elbv2("describe_target_groups", "TargetGroups", "TargetGroupArn", TARGET_GROUP)

    def _volumes(self) -> Iterator[Finding | None]:
        for volume in self._tagged_ec2("describe_volumes", "Volumes", "VolumeId"):
            blocker = ""
            if volume["State"] != "available":
                attached = ", ".join(a["InstanceId"] for a in volume.get("Attachments", [])) or "nothing"
                blocker = f"{volume['State']}, attached to {attached}"
            yield self._finding(VOLUME, volume["VolumeId"], tags_of(volume.get("Tags", [])), blocker=blocker)

    def _vpcs(self) -> dict[str, str]:
        """The environment's VPCs -> why each is the environment's."""
        found = {}
        for vpc in self._tagged_ec2("describe_vpcs", "Vpcs", "VpcId"):
            reason = by_tags(self.scope, tags_of(vpc.get("Tags", [])))
            if reason:
                found[vpc["VpcId"]] = reason
        return found

    def _in_vpcs(self, operation: str, key: str, id_key: str) -> Iterator[tuple[dict, str | None]]:
        """Tagged items anywhere and every item in the environment's VPCs, once each, with the
        reason their VPC gives."""
        vpcs = self._vpcs()
        seen = set()
        tagged = self._tagged_ec2(operation, key, id_key)
        inside = self._ec2(operation, key, [{"Name": "vpc-id", "Values": list(vpcs)}]) if vpcs else []
        for item in [*tagged, *inside]:
            if item[id_key] not in seen:
                seen.add(item[id_key])
                vpc = item.get("VpcId")
                yield item, f"in {vpc} ({vpcs[vpc]})" if vpc in vpcs else None

    def _interfaces(self) -> Iterator[Finding | None]:
        for eni, vpc_reason in self._in_vpcs("describe_network_interfaces", "NetworkInterfaces",
                                             "NetworkInterfaceId"):
            blocker = ""
            if eni["Status"] != "available":
                user = eni.get("Attachment", {}).get("InstanceId") or eni.get("Description") or "?"
                blocker = f"{eni['Status']}, used by {user}: goes when that is deleted"
            yield self._finding(INTERFACE, eni["NetworkInterfaceId"], tags_of(eni.get("TagSet", [])),
                                vpc_reason, blocker)

    def _security_groups(self) -> Iterator[Finding | None]:
        for group, vpc_reason in self._in_vpcs("describe_security_groups", "SecurityGroups", "GroupId"):
            # A VPC's default group cannot be deleted: it goes with its VPC.
            if group["GroupName"] != "default":
                tags = tags_of(group.get("Tags", []))
                yield self._finding(SECURITY_GROUP, group["GroupId"], tags, vpc_reason)

    def _log_groups(self) -> Iterator[Finding | None]:
        logs = self.client("logs")
        for prefix in LOG_GROUP_PREFIXES:
            for group in _pages(logs, "describe_log_groups", "logGroups",
                                logGroupNamePrefix=prefix + self.scope.stack_name):
                name = group["logGroupName"]
                yield self._finding(LOG_GROUP, name, {}, by_name(self.scope, name, prefix))

    def _alarms(self) -> Iterator[Finding | None]:
        pages = self.client("cloudwatch").get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=self.scope.stack_name, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        for page in pages:
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                yield self._finding(ALARM, alarm["AlarmName"], {}, by_name(self.scope, alarm["AlarmName"]))

    def _dashboards(self) -> Iterator[Finding | None]:
        for entry in _pages(self.client("cloudwatch"), "list_dashboards", "DashboardEntries",
                            DashboardNamePrefix=self.scope.stack_name):
            name = entry["DashboardName"]
            yield self._finding(DASHBOARD, name, {}, by_name(self.scope, name))

    def _tagged_elsewhere(self, known: set[tuple[str, str]]) -> list[Finding]:
        """What the Tagging API knows that the listings above do not: a tagged log group, alarm or
        dashboard named otherwise (deleted like the rest), what the environment keeps, and other
        types, to delete by hand."""
        cluster = self.scope.stack_name
        queries = [[{"Key": key, "Values": [value]} for key, value in self.scope.tags.items()],
                   [{"Key": cluster_tag(cluster), "Values": ["owned"]}],
                   *([{"Key": key, "Values": [cluster]}] for key in CLUSTER_NAME_TAGS)]
        tagging = self.client("resourcegroupstaggingapi")
        found: dict[str, Finding] = {}
        for filters in filter(None, queries):
            for mapping in _pages(tagging, "get_resources", "ResourceTagMappingList", TagFilters=filters):
                arn = mapping["ResourceARN"]
                kind, id = kind_and_id(arn)
                # Listed above when it exists: the Tagging API can lag behind a deletion.
                if (kind, id) in known or kind in (LOAD_BALANCER, TARGET_GROUP, VOLUME, INTERFACE,
                                                   SECURITY_GROUP) or not self._exists(kind, id):
                    continue
                blocker = "" if kind in (LOG_GROUP, ALARM, DASHBOARD) else "remains, delete by hand"
                finding = self._finding(kind, id, tags_of(mapping.get("Tags", [])), blocker=blocker)
                if finding:
                    found[arn] = finding
        return list(found.values())

    def _exists(self, kind: str, id: str) -> bool:
        try:
            if kind == LOG_GROUP:
                groups = self.client("logs").describe_log_groups(logGroupNamePrefix=id)["logGroups"]
                return any(g["logGroupName"] == id for g in groups)
            if kind == ALARM:
                alarms = self.client("cloudwatch").describe_alarms(
                    AlarmNames=[id], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
                return bool(alarms["MetricAlarms"] or alarms["CompositeAlarms"])
            if kind == DASHBOARD:
                self.client("cloudwatch").get_dashboard(DashboardName=id)
            elif id.split(":")[2:3] == ["kms"]:
                # CloudFormation schedules a stack's keys for deletion: they keep their tags for days.
                state = self.client("kms").describe_key(KeyId=id)["KeyMetadata"]["KeyState"]
                return state not in ("PendingDeletion", "PendingReplicaDeletion")
        except ClientError as error:
            if _missing(error, "ResourceNotFound", "ResourceNotFoundException", "NotFoundException"):
                return False
            raise
        return True


def collect(scope: Scope, client: Client, region: str) -> list[Finding]:
    return Inventory(scope, client, region).collect()
