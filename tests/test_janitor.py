"""`python -m specdec janitor`: what it claims for an environment, what it deletes, and in what order.

moto stands in for EC2, ELBv2, CloudWatch (Logs), STS and the Tagging API. moto's CloudFormation
needs a package the project does not install, so DescribeStacks is answered by a botocore hook.
"""

from __future__ import annotations

import json

import botocore.handlers
import pytest
from botocore.exceptions import ClientError

from specdec.__main__ import main
from specdec.config import available_environments, load_environment
from specdec.janitor import sweep
from specdec.janitor.inventory import LOAD_BALANCER, Finding, kind_and_id
from specdec.janitor.ownership import AmbiguousTags, Scope, by_name, by_tags
from tests.conftest import deep_merge

REGION = "us-east-2"
CI_TAGS = dict(load_environment("ci").tags)
TAGGED_CI = "tagged " + ", ".join(f"{k}={v}" for k, v in sorted(CI_TAGS.items()))


def scope(name: str = "ci", **overrides) -> Scope:
    environment = load_environment(name)
    if overrides:
        environment = environment.model_validate(deep_merge(environment.model_dump(), overrides))
    return Scope.of(environment, available_environments())


# --- ownership: pure rules ---------------------------------------------------------------------

@pytest.mark.parametrize("tags,reason", [
    (CI_TAGS | {"Name": "x"}, TAGGED_CI),
    ({"elbv2.k8s.aws/cluster": "specdec-ci"}, "elbv2.k8s.aws/cluster=specdec-ci"),
    ({"kubernetes.io/cluster/specdec-ci": "owned"}, "kubernetes.io/cluster/specdec-ci=owned"),
    ({"aws:eks:cluster-name": "specdec-ci"}, "aws:eks:cluster-name=specdec-ci"),
    ({"KubernetesCluster": "specdec-ci", "ebs.csi.aws.com/cluster": "true"}, "KubernetesCluster=specdec-ci"),
    ({"aws:cloudformation:stack-name": "specdec-ci"}, "aws:cloudformation:stack-name=specdec-ci"),
    (CI_TAGS | {"environment": "ci2"}, None),
    ({"project": "specdec"}, None),
    ({"elbv2.k8s.aws/cluster": "specdec-ci2"}, None),
    ({"kubernetes.io/cluster/specdec-ci2": "owned"}, None),
    # `shared` marks what a cluster uses but does not own (subnets).
    ({"kubernetes.io/cluster/specdec-ci": "shared"}, None),
    # Says which Service, never which environment: every environment uses namespace specdec.
    ({"service.k8s.aws/stack": "specdec/vllm-speculative-nlb", "ebs.csi.aws.com/cluster": "true"}, None),
    ({}, None),
])
def test_tags_claim_a_resource_only_for_this_environment_or_its_cluster(tags, reason):
    assert by_tags(scope(), tags) == reason


@pytest.mark.parametrize("name,prefix,claimed", [
    ("specdec-ci-Dashboard", "", True),
    ("specdec-ci", "", True),
    ("specdec-ci/latency", "", True),
    ("specdec-ci2-Dashboard", "", False),
    ("specdec-cix", "", False),
    ("xspecdec-ci-Dashboard", "", False),
    ("specdec-dev-Dashboard", "", False),
    ("/aws/lambda/specdec-ci-ClusterEksKubectlProviderHa-AbC123", "/aws/lambda/", True),
    ("/aws/lambda/specdec-ci2-ClusterEksKubectlProviderHa-AbC123", "/aws/lambda/", False),
    ("/aws/eks/specdec-ci/cluster", "/aws/eks/", True),
    ("/aws/eks/specdec-ci2/cluster", "/aws/eks/", False),
    ("/aws/lambda/specdec-ci-x", "/aws/eks/", False),
])
def test_names_claim_a_resource_only_after_the_stack_name_and_a_separator(name, prefix, claimed):
    assert (by_name(scope(), name, prefix) is not None) is claimed


def test_a_longer_environment_name_keeps_its_own_resources():
    ci = Scope("ci", "specdec-ci", CI_TAGS, siblings=("specdec-ci-eu", "specdec-dev"))
    assert by_name(ci, "specdec-ci-eu-Alarm") is None
    assert by_name(ci, "/aws/lambda/specdec-ci-eu-Handler", "/aws/lambda/") is None
    assert by_name(ci, "specdec-ci-euro-Alarm") == "name starts with specdec-ci-"


def test_tags_that_name_no_environment_are_refused_in_one_line():
    with pytest.raises(AmbiguousTags) as refused:
        Scope.of(load_environment("ci").model_copy(update={"tags": {"project": "specdec"}}), [])
    assert "\n" not in str(refused.value) and "add one whose value is 'ci'" in str(refused.value)


def test_what_an_environment_keeps_on_destroy_is_kept_not_swept():
    assert scope("prod").keeps == {"log group": "retain_logs", "bucket": "benchmark.retain_results"}
    assert scope("ci").keeps == {}


def test_tagging_api_arns_map_to_the_janitors_kinds():
    account = f"{REGION}:123456789012"
    assert kind_and_id(f"arn:aws:logs:{account}:log-group:/aws/eks/specdec-ci/cluster:*") == (
        "log group", "/aws/eks/specdec-ci/cluster")
    assert kind_and_id(f"arn:aws:ec2:{account}:network-interface/eni-1") == ("network interface", "eni-1")
    nlb = f"arn:aws:elasticloadbalancing:{account}:loadbalancer/net/k8s-x/1"
    assert kind_and_id(nlb) == ("load balancer", nlb)
    classic = f"arn:aws:elasticloadbalancing:{account}:loadbalancer/a1b2"
    assert kind_and_id(classic) == ("other", classic)
    assert kind_and_id("arn:aws:s3:::specdec-ci-bucket") == ("bucket", "specdec-ci-bucket")


# --- sweep: retries with a fake clock ----------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.t, self.slept = 0.0, []

    def clock(self) -> sweep.Clock:
        return sweep.Clock(sleep=self._sleep, now=lambda: self.t)

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def refusal(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "not yet"}}, "Delete")


def failing(*codes: str):
    pending = list(codes)

    def call():
        if pending:
            raise refusal(pending.pop(0))
        return "done"
    return call


def test_eventual_consistency_is_retried_with_doubling_waits():
    fake = FakeClock()
    call = failing("DependencyViolation", "InvalidNetworkInterface.InUse", "Throttling", "ResourceInUse")
    assert sweep.retry(call, fake.clock(), deadline=600) == "done"
    assert fake.slept == [2, 4, 8, 16]


def test_other_refusals_are_not_retried():
    fake = FakeClock()
    with pytest.raises(ClientError):
        sweep.retry(failing("UnauthorizedOperation"), fake.clock(), deadline=600)
    assert fake.slept == []


def test_retries_stop_within_the_time_budget():
    fake = FakeClock()
    with pytest.raises(ClientError):
        sweep.retry(failing(*["DependencyViolation"] * 100), fake.clock(), deadline=100)
    assert fake.slept == [2, 4, 8, 16, 30, 30] and fake.t <= 100


class FakeAws:
    """Load balancer interfaces that AWS releases two polls after the deletion."""

    def __init__(self):
        self.calls, self.polls = [], 0

    def __call__(self, service):
        return self

    def delete_load_balancer(self, LoadBalancerArn):
        self.calls.append(("delete_load_balancer", LoadBalancerArn))

    def describe_network_interfaces(self, Filters):
        self.calls.append(("describe_network_interfaces", Filters[0]["Values"]))
        self.polls += 1
        return {"NetworkInterfaces": [{"NetworkInterfaceId": "eni-1"}] if self.polls <= 2 else []}


def test_after_deleting_load_balancers_the_sweep_waits_for_their_interfaces():
    fake, aws, lines = FakeClock(), FakeAws(), []
    arn = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/net/k8s-specdec-x/abc"
    failed = sweep.sweep([Finding(LOAD_BALANCER, arn, REGION, "tagged")], aws, lines.append, fake.clock())
    assert failed == 0
    assert aws.calls[:2] == [("delete_load_balancer", arn),
                             ("describe_network_interfaces", ["ELB net/k8s-specdec-x/abc"])]
    assert fake.slept == [2, 4]
    assert lines == [f"deleted  load balancer {arn}",
                     "waiting  1 network interface(s) of deleted load balancers, 2 s",
                     "waiting  1 network interface(s) of deleted load balancers, 4 s",
                     "released the network interfaces of 1 load balancer(s)"]


# --- the command against moto ------------------------------------------------------------------

@pytest.fixture
def stack(monkeypatch):
    """The CloudFormation stack's status as DescribeStacks reports it; None: no such stack."""
    state = {"status": None}

    class Response:
        def __init__(self, status_code):
            self.status_code, self.headers, self.content = status_code, {}, b""

    def describe_stacks(params, **kwargs):
        name = params["body"]["StackName"]
        if state["status"] is None:
            error = {"Code": "ValidationError", "Message": f"Stack with id {name} does not exist"}
            return Response(400), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return Response(200), {"Stacks": [{"StackName": name, "StackStatus": state["status"],
                                           "CreationTime": "2026-11-01T00:00:00Z"}]}

    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [
        *botocore.handlers.BUILTIN_HANDLERS, ("before-call.cloudformation.DescribeStacks", describe_stacks)])
    return state


@pytest.fixture
def aws(stack, moto_session):
    return moto_session


def tagged(resource_type: str, tags: dict[str, str]) -> list[dict]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


# After DELETE_FAILED the VPC is still there, tagged by CloudFormation and by the environment file.
CI_VPC_TAGS = {**CI_TAGS, "aws:cloudformation:stack-name": "specdec-ci"}


def vpc_with_subnets(ec2, tags: dict[str, str], cidr: str) -> tuple[str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16", TagSpecifications=tagged("vpc", tags))["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr}.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")
               ["Subnet"]["SubnetId"] for i, zone in enumerate("ab")]
    return vpc, subnets


def load_balancer(session, name: str, subnets: list[str], vpc: str, tags: dict[str, str]) -> tuple[str, str]:
    elbv2 = session.client("elbv2")
    pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
    lb = elbv2.create_load_balancer(Name=name, Type="network", Scheme="internal", Subnets=subnets,
                                    Tags=pairs)["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(Name=name, Protocol="TCP", Port=8000, VpcId=vpc, TargetType="ip",
                                   Tags=pairs)["TargetGroups"][0]["TargetGroupArn"]
    return lb, tg


def plant(session) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """ci's orphans and look-alikes that are not ci's, by kind."""
    ec2, logs, cloudwatch = (session.client(s) for s in ("ec2", "logs", "cloudwatch"))
    vpc, subnets = vpc_with_subnets(ec2, CI_VPC_TAGS, "10.64")
    other_vpc, other_subnets = vpc_with_subnets(ec2, {"project": "specdec", "environment": "ci2"}, "10.65")
    service = {"elbv2.k8s.aws/cluster": "specdec-ci", "service.k8s.aws/stack": "specdec/vllm-speculative-nlb"}
    lb, tg = load_balancer(session, "k8s-specdec-vllmspec", subnets, vpc, service)
    other_lb, other_tg = load_balancer(session, "k8s-specdec-ci2", other_subnets, other_vpc,
                                       {**service, "elbv2.k8s.aws/cluster": "specdec-ci2"})
    eni = ec2.create_network_interface(SubnetId=subnets[0], Description="aws-K8S-i-0abc")
    other_eni = ec2.create_network_interface(SubnetId=other_subnets[0])
    # The controller's group (tagged) and an untagged one in the VPC, each admitting the other.
    lb_group = ec2.create_security_group(
        GroupName="k8s-traffic-specdecci", Description="k8s-traffic", VpcId=vpc,
        TagSpecifications=tagged("security-group", {"elbv2.k8s.aws/cluster": "specdec-ci"}))["GroupId"]
    node_group = ec2.create_security_group(GroupName="leftover", Description="leftover", VpcId=vpc)["GroupId"]
    for group, peer in ((lb_group, node_group), (node_group, lb_group)):
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8000, "UserIdGroupPairs": [{"GroupId": peer}]}])
    other_group = ec2.create_security_group(GroupName="x", Description="x", VpcId=other_vpc)["GroupId"]
    claim = {"kubernetes.io/cluster/specdec-ci": "owned", "ebs.csi.aws.com/cluster": "true"}
    volume, other_volume, untagged_volume = (ec2.create_volume(
        AvailabilityZone=f"{REGION}a", Size=4,
        **({"TagSpecifications": tagged("volume", tags)} if tags else {}))["VolumeId"]
        for tags in (claim, {"kubernetes.io/cluster/specdec-ci2": "owned"}, {}))
    groups = ["/aws/lambda/specdec-ci-ClusterEksKubectlProviderHa-AbC123",
              "/aws/lambda/specdec-ci-CustomVpcRestrictDefaultSGCust-XyZ789", "/aws/eks/specdec-ci/cluster",
              "/aws/containerinsights/specdec-ci/performance"]
    other_groups = ["/aws/lambda/specdec-ci2-ClusterEksKubectlProviderHa-AbC123",
                    "/aws/lambda/specdec-dev-ClusterEksKubectlProviderHa-AbC123", "/aws/lambda/unrelated"]
    for name in groups + other_groups:
        logs.create_log_group(logGroupName=name)
    for name in ("specdec-ci-ItlHigh", "specdec-ci2-ItlHigh"):
        cloudwatch.put_metric_alarm(AlarmName=name, MetricName="ItlP50", Namespace="SpecDec",
                                    Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=0.05,
                                    ComparisonOperator="GreaterThanThreshold")
    for name in ("specdec-ci-Benchmark", "specdec-dev-Benchmark"):
        cloudwatch.put_dashboard(DashboardName=name, DashboardBody=json.dumps({"widgets": []}))
    orphans = {"load balancer": [lb], "target group": [tg], "volume": [volume],
               "network interface": [eni["NetworkInterface"]["NetworkInterfaceId"]],
               "security group": sorted([lb_group, node_group]), "log group": sorted(groups),
               "alarm": ["specdec-ci-ItlHigh"], "dashboard": ["specdec-ci-Benchmark"]}
    others = {"load balancer": [other_lb], "target group": [other_tg],
              "volume": [other_volume, untagged_volume],
              "network interface": [other_eni["NetworkInterface"]["NetworkInterfaceId"]],
              "security group": [other_group], "log group": other_groups,
              "alarm": ["specdec-ci2-ItlHigh"], "dashboard": ["specdec-dev-Benchmark"]}
    return orphans, others


def listed(output: str) -> dict[str, list[str]]:
    """kind -> ids, from the report's `  delete  ID  reason` lines under `kind (n)` headings."""
    found: dict[str, list[str]] = {}
    kind = None
    for line in output.splitlines():
        if line.endswith(")") and line[0] != " " and " (" in line and not line.startswith("janitor"):
            kind = line.rsplit(" (", 1)[0]
        elif line.startswith("  ") and kind and line.split()[0] in ("delete", "leave", "keep"):
            found.setdefault(kind, []).append(line.split()[1])
    return {k: sorted(v) for k, v in found.items()}


def existing(session) -> dict[str, set[str]]:
    ec2, elbv2 = session.client("ec2"), session.client("elbv2")
    cloudwatch = session.client("cloudwatch")
    return {
        "load balancer": {lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]},
        "target group": {tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]},
        "volume": {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]},
        "network interface": {n["NetworkInterfaceId"]
                              for n in ec2.describe_network_interfaces()["NetworkInterfaces"]},
        "security group": {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]},
        "log group": {g["logGroupName"] for g in session.client("logs").describe_log_groups()["logGroups"]},
        "alarm": {a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]},
        "dashboard": {d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]},
    }


def destroy_again(session, stack) -> None:
    """What the next `cdk destroy` does once the janitor has unblocked it: the VPC goes, then the stack."""
    ec2 = session.client("ec2")
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "tag:environment", "Values": ["ci"]}])["Vpcs"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    stack["status"] = None


def test_dry_run_lists_exactly_the_orphans_and_delete_removes_only_them(aws, stack, capsys):
    stack["status"] = "DELETE_FAILED"
    orphans, others = plant(aws)
    assert main(["janitor", "-e", "ci"]) == 1
    out = capsys.readouterr().out
    assert listed(out) == {"stack": ["specdec-ci"], **orphans}
    assert "elbv2.k8s.aws/cluster=specdec-ci (Service specdec/vllm-speculative-nlb)" in out
    assert out.splitlines()[-1] == (
        "13 remain of specdec-ci in 123456789012/us-east-2: once what blocks it is gone, run npx cdk destroy "
        "SpecDecStack -c env=ci again; `python -m specdec janitor -e ci --delete` deletes 12")
    assert all(orphan in existing(aws)[kind] for kind, ids in orphans.items() for orphan in ids)

    assert main(["janitor", "-e", "ci", "--delete"]) == 1
    out = capsys.readouterr().out
    actions = [line.split()[0] for line in out.splitlines() if line.startswith(("deleted", "revoked"))]
    assert actions == ["deleted"] * 4 + ["revoked"] * 2 + ["deleted"] * 8
    assert listed(out.split("after deletion")[1]) == {"stack": ["specdec-ci"]}
    left = existing(aws)
    assert not any(orphan in left[kind] for kind, ids in orphans.items() for orphan in ids)
    assert all(other in left[kind] for kind, ids in others.items() for other in ids)

    destroy_again(aws, stack)
    assert main(["janitor", "-e", "ci"]) == 0
    out = capsys.readouterr().out
    assert "  nothing found" in out
    assert out.splitlines()[-1] == "nothing of specdec-ci remains in 123456789012/us-east-2"


def test_an_interface_in_use_is_reported_not_deleted(aws, stack, capsys):
    ec2 = aws.client("ec2")
    stack["status"] = "DELETE_FAILED"
    _, subnets = vpc_with_subnets(ec2, CI_VPC_TAGS, "10.64")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 SubnetId=subnets[0])["Instances"][0]["InstanceId"]
    assert main(["janitor", "-e", "ci", "--delete"]) == 1
    out = capsys.readouterr().out
    assert f"in-use, used by {instance}: goes when that is deleted" in out
    assert "deleted  network interface" not in out
    assert out.splitlines()[-1].endswith("1 to wait for or delete by hand (marked leave above)")


def test_other_tagged_types_are_left_to_delete_by_hand(aws, capsys):
    s3, bucket = aws.client("s3"), "specdec-ci-modelcachebucket"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagged("bucket", CI_TAGS)[0]["Tags"]})
    assert main(["janitor", "-e", "ci", "--delete"]) == 1
    out = capsys.readouterr().out
    assert f"  leave   {bucket}  {TAGGED_CI}: remains, delete by hand" in out
    assert s3.list_buckets()["Buckets"]


def test_a_deployed_stack_is_reported_and_nothing_is_swept(aws, stack, capsys):
    stack["status"] = "UPDATE_COMPLETE"
    plant(aws)
    assert main(["janitor", "-e", "ci", "--delete"]) == 1
    out = capsys.readouterr().out
    assert listed(out) == {"stack": ["specdec-ci"]}
    assert "deleted" not in out
    assert out.splitlines()[-1] == (
        "1 remain of specdec-ci in 123456789012/us-east-2: npx cdk destroy SpecDecStack -c env=ci first "
        "(or wait for it); the janitor sweeps what that leaves")


def test_a_failed_deletion_is_unblocked_but_the_stacks_own_resources_are_left_to_it(aws, stack, capsys):
    stack["status"] = "DELETE_FAILED"
    logs = aws.client("logs")
    logs.create_log_group(logGroupName="specdec-ci-NetworkFlowLogs-AbC",
                          tags={"aws:cloudformation:stack-name": "specdec-ci"})
    logs.create_log_group(logGroupName="/aws/lambda/specdec-ci-Handler-AbC")
    assert main(["janitor", "-e", "ci", "--delete"]) == 1
    out = capsys.readouterr().out
    assert "deleted  log group /aws/lambda/specdec-ci-Handler-AbC" in out
    assert listed(out.split("after deletion")[1]) == {"stack": ["specdec-ci"]}
    assert "once what blocks it is gone, run npx cdk destroy SpecDecStack -c env=ci again" in out


def test_prod_keeps_its_log_groups(aws, capsys):
    aws.client("logs").create_log_group(logGroupName="/aws/lambda/specdec-prod-Handler-AbC")
    assert main(["janitor", "-e", "prod", "--delete"]) == 0
    out = capsys.readouterr().out
    assert "  keep    /aws/lambda/specdec-prod-Handler-AbC" in out and "kept (retain_logs)" in out
    assert "deleted" not in out


def test_credentials_for_another_account_are_refused_in_one_line(aws, capsys, monkeypatch):
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "210987654321")
    assert main(["janitor", "-e", "ci"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("janitor: the credentials are for account 210987654321") and "\n" not in error


def test_missing_credentials_are_one_line(monkeypatch, capsys, tmp_path):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["janitor", "-e", "ci"]) == 1
    assert capsys.readouterr().err == ("janitor: no AWS credentials found: set AWS_PROFILE (or pass "
                                       "--profile) or run `aws configure`\n")
    assert main(["janitor", "-e", "ci", "--profile", "nope"]) == 1
    error = capsys.readouterr().err.strip()
    assert "nope" in error and "\n" not in error
