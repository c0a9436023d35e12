"""`python -m specdec preflight -e NAME`: read-only checks of the AWS account before a deploy.

Synth proves the template is well formed; it cannot see the account. A deploy that fails on a
missing bootstrap, a zone without Trn2 or a reservation in another zone fails half an hour in,
after the VPC and the cluster exist. These checks ask the account first, with read-only calls
(STS, EC2 Describe*, SSM GetParameter, Secrets Manager DescribeSecret, S3 HeadBucket).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from specdec.config import Environment

# `cdk bootstrap` records its version here (default qualifier).
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
# What EC2 calls each kind of reservation (DescribeCapacityReservations, ReservationType).
RESERVATION_TYPES = {"capacity_block": "capacity-block", "capacity_reservation": "default"}
# A capacity block is bought ahead: before its start it is `scheduled`, and nodes join once active.
USABLE_STATES = {"capacity_block": {"active", "scheduled"}, "capacity_reservation": {"active"}}


@dataclass(frozen=True)
class Result:
    check: str
    status: str  # "ok", "FAIL", "warn" (deploys, but you will miss it) or "skip"
    detail: str


def _ok(check: str, detail: str) -> Result:
    return Result(check, "ok", detail)


def _fail(check: str, detail: str) -> Result:
    return Result(check, "FAIL", detail)


def _warn(check: str, detail: str) -> Result:
    return Result(check, "warn", detail)


def _skip(check: str, detail: str) -> Result:
    return Result(check, "skip", detail)


def check_account(env: Environment, sts) -> Result:
    account = sts.get_caller_identity()["Account"]
    if account != env.account:
        return _fail("account", f"credentials are for {account}, but account = '{env.account}'")
    return _ok("account", f"credentials are for {account}")


def check_cluster_access(env: Environment, sts) -> Result:
    """Will the person deploying be able to use kubectl afterwards?"""
    arn = sts.get_caller_identity()["Arn"]
    # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION is how a role's caller shows up.
    parts = arn.split(":", 5)[-1].split("/")
    if parts[0] != "assumed-role":
        return _warn("kubectl", f"you deploy as {arn}; only roles get cluster access: list a role you can "
                                "assume in cluster.admin_role_arns")
    role = parts[1]
    if any(admin.rsplit("/", 1)[-1] == role for admin in env.cluster.admin_role_arns):
        return _ok("kubectl", f"role {role} is in cluster.admin_role_arns")
    return _warn("kubectl", f"role {role} is not in cluster.admin_role_arns: the cluster will deploy, "
                            "but your kubectl will be refused; add arn:aws:iam::"
                            f"{env.account}:role/{role} (with its path, if it has one)")


def check_zones(env: Environment, ec2) -> Result:
    zones = ec2.describe_availability_zones(
        Filters=[{"Name": "region-name", "Values": [env.region]}])["AvailabilityZones"]
    usable = {z["ZoneName"] for z in zones if z["State"] == "available"}
    missing = [z for z in env.availability_zones if z not in usable]
    if missing:
        return _fail("zones", f"availability_zones {missing} are not available to this account in "
                              f"{env.region}; available: {sorted(usable)}")
    return _ok("zones", f"{', '.join(env.availability_zones)} are available")


def check_offering(env: Environment, ec2) -> Result:
    instance_type, zone = env.accelerators.instance_type, env.accelerators.availability_zone
    offerings = ec2.describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": [instance_type]}],
    )["InstanceTypeOfferings"]
    offered = sorted(o["Location"] for o in offerings)
    if zone not in offered:
        return _fail("trn2 zone", f"accelerators.availability_zone = '{zone}' does not offer "
                                  f"{instance_type}; zones that do: {offered or 'none in ' + env.region}")
    return _ok("trn2 zone", f"{zone} offers {instance_type}")


def check_reservation(env: Environment, ec2) -> Result:
    acc = env.accelerators
    if acc.capacity_type == "on_demand":
        return _skip("reservation", "capacity_type is on_demand (needs the On-Demand Trn vCPU quota)")
    try:
        (reservation,) = ec2.describe_capacity_reservations(
            CapacityReservationIds=[acc.reservation_id])["CapacityReservations"]
    except ClientError as error:
        return _fail("reservation", f"accelerators.reservation_id = '{acc.reservation_id}': "
                                    f"{error.response['Error']['Message']}")
    # Reservations from before capacity blocks carry no ReservationType: they are plain ODCRs.
    actual = {"ReservationType": "default", **reservation}
    expected = {
        "ReservationType": RESERVATION_TYPES[acc.capacity_type],
        "InstanceType": acc.instance_type,
        "AvailabilityZone": acc.availability_zone,
    }
    for field, want in expected.items():
        if actual.get(field) != want:
            return _fail("reservation", f"accelerators.reservation_id = '{acc.reservation_id}' has "
                                        f"{field} {actual.get(field)!r}; this environment needs {want!r}")
    if reservation["State"] not in USABLE_STATES[acc.capacity_type]:
        return _fail("reservation", f"accelerators.reservation_id = '{acc.reservation_id}' is "
                                    f"{reservation['State']}")
    if reservation["TotalInstanceCount"] < acc.desired_size:
        return _fail("reservation", f"accelerators.desired_size = {acc.desired_size} exceeds the "
                                    f"{reservation['TotalInstanceCount']} instances reserved")
    detail = (f"{acc.reservation_id}: {reservation['TotalInstanceCount']} x {acc.instance_type} in "
              f"{acc.availability_zone}, {reservation['State']}")
    if reservation["State"] == "scheduled":
        detail += f" (starts {reservation.get('StartDate')}; nodes join once it is active)"
    return _ok("reservation", detail)


def check_bootstrap(env: Environment, ssm) -> Result:
    try:
        version = ssm.get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ParameterNotFound":
            raise
        return _fail("bootstrap", f"not bootstrapped: run npx cdk bootstrap aws://{env.account}/{env.region}")
    return _ok("bootstrap", f"CDK bootstrap version {version}")


def check_token_secret(env: Environment, secrets) -> Result:
    name = env.model_cache.hf_token_secret_name
    if not name:
        return _skip("hf token", "model_cache.hf_token_secret_name not set (public models)")
    try:
        secrets.describe_secret(SecretId=name)
    except ClientError as error:
        return _fail("hf token", f"model_cache.hf_token_secret_name = '{name}': "
                                 f"{error.response['Error']['Message']}")
    return _ok("hf token", f"secret {name} exists")


def check_existing_bucket(env: Environment, s3) -> Result:
    name = env.model_cache.existing_bucket_name
    if not name:
        return _skip("model bucket", "the stack creates its own")
    try:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner=env.account)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        return _fail("model bucket", f"model_cache.existing_bucket_name = '{name}': HeadBucket {code} "
                                     f"(missing, in another account, or not readable)")
    return _ok("model bucket", f"{name} exists in {env.account}")


CHECKS: list[tuple[Callable[[Environment, object], Result], str]] = [
    (check_account, "sts"),
    (check_cluster_access, "sts"),
    (check_zones, "ec2"),
    (check_offering, "ec2"),
    (check_reservation, "ec2"),
    (check_bootstrap, "ssm"),
    (check_token_secret, "secretsmanager"),
    (check_existing_bucket, "s3"),
]


def run(env: Environment, session) -> list[Result]:
    """Every check, in order; an API error becomes that check's failure, not a traceback."""
    clients: dict[str, object] = {}
    results = []
    for check, service in CHECKS:
        client = clients.setdefault(service, session.client(service, region_name=env.region))
        try:
            results.append(check(env, client))
        except (ClientError, BotoCoreError) as error:
            results.append(_fail(check.__name__.removeprefix("check_").replace("_", " "), str(error)))
    return results


def report(source: str, env: Environment, results: list[Result]) -> str:
    width = max(len(r.check) for r in results)
    lines = [f"preflight {source} (account {env.account}, {env.region})"]
    lines += [f"  {r.status:<4}  {r.check:<{width}}  {r.detail}" for r in results]
    failed = sum(r.status == "FAIL" for r in results)
    lines.append(f"{failed} check(s) failed: fix them before `cdk deploy`" if failed
                 else f"ready: npx cdk deploy SpecDecStack -c env={env.name}")
    return "\n".join(lines)
