"""`python -m specdec preflight`: what it tells a user about their account before a deploy.

moto stands in for STS, EC2, SSM, Secrets Manager and S3; botocore's Stubber answers
DescribeCapacityReservations and the offerings of a zone, which moto does not model.
"""

from __future__ import annotations

import datetime

import boto3
import pytest
from botocore.stub import Stubber

from specdec import preflight
from specdec.config import load_environment
from tests.conftest import deep_merge

ACCOUNT = "123456789012"  # moto's account, and the shipped files'
REGION = "us-east-2"


@pytest.fixture
def aws(moto_session):
    return moto_session


def bootstrap(session) -> None:
    session.client("ssm").put_parameter(Name=preflight.BOOTSTRAP_VERSION_PARAMETER, Value="30", Type="String")


def by_check(results) -> dict[str, preflight.Result]:
    return {r.check: r for r in results}


def environment(name: str = "dev", **overrides):
    env = load_environment(name)
    return env.model_validate(deep_merge(env.model_dump(), overrides)) if overrides else env


def test_a_bootstrapped_account_is_ready_for_dev(aws):
    bootstrap(aws)
    env = environment()
    results = by_check(preflight.run(env, aws))
    assert {k: r.status for k, r in results.items()} == {
        "account": "ok", "kubectl": "warn", "zones": "ok", "trn2 zone": "ok", "reservation": "skip",
        "bootstrap": "ok", "hf token": "skip", "model bucket": "skip"}
    assert preflight.report("environments/dev.json", env, list(results.values())).endswith(
        "ready: npx cdk deploy SpecDecStack -c env=dev")


def test_kubectl_access_is_checked_against_the_admin_roles():
    def sts(arn: str):
        client = boto3.client("sts", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
        stubber = Stubber(client)
        stubber.add_response("get_caller_identity", {"Arn": arn, "Account": ACCOUNT, "UserId": "AID"})
        stubber.activate()
        return client

    admins = environment(cluster={"admin_role_arns": [f"arn:aws:iam::{ACCOUNT}:role/teams/platform"]})
    deployer = f"arn:aws:sts::{ACCOUNT}:assumed-role/platform/alice"
    assert preflight.check_cluster_access(admins, sts(deployer)).status == "ok"
    missing = preflight.check_cluster_access(environment(), sts(deployer))
    assert missing.status == "warn"
    assert f"add arn:aws:iam::{ACCOUNT}:role/platform" in missing.detail
    user = preflight.check_cluster_access(admins, sts(f"arn:aws:iam::{ACCOUNT}:user/bob"))
    assert user.status == "warn" and "only roles get cluster access" in user.detail


def test_an_unbootstrapped_account_is_told_the_exact_command(aws):
    (result,) = [r for r in preflight.run(environment(), aws) if r.check == "bootstrap"]
    assert result.status == "FAIL"
    assert result.detail == f"not bootstrapped: run npx cdk bootstrap aws://{ACCOUNT}/{REGION}"


def test_credentials_for_another_account_fail_naming_both(aws):
    env = environment(account="210987654321")
    result = by_check(preflight.run(env, aws))["account"]
    assert result.status == "FAIL"
    assert result.detail == f"credentials are for {ACCOUNT}, but account = '210987654321'"


def test_a_missing_token_secret_and_bucket_are_named_by_their_keys(aws):
    bootstrap(aws)
    env = environment(model_cache={"hf_token_secret_name": "specdec/hf",
                                   "existing_bucket_name": "kept-models"})
    results = by_check(preflight.run(env, aws))
    assert results["hf token"].status == "FAIL"
    assert results["hf token"].detail.startswith("model_cache.hf_token_secret_name = 'specdec/hf': ")
    assert results["model bucket"].status == "FAIL"
    assert results["model bucket"].detail.startswith("model_cache.existing_bucket_name = 'kept-models': ")

    aws.client("secretsmanager").create_secret(Name="specdec/hf", SecretString="hf_x")
    aws.client("s3").create_bucket(Bucket="kept-models",
                                   CreateBucketConfiguration={"LocationConstraint": REGION})
    results = by_check(preflight.run(env, aws))
    assert results["hf token"].status == results["model bucket"].status == "ok"


def stubbed_ec2(method: str, response: dict, params: dict | None = None):
    client = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_response(method, response, params)
    stubber.activate()
    return client


def test_a_zone_without_trn2_fails_and_lists_the_zones_that_have_it():
    ec2 = stubbed_ec2("describe_instance_type_offerings", {"InstanceTypeOfferings": [
        {"InstanceType": "trn2.48xlarge", "LocationType": "availability-zone", "Location": "us-east-2c"}]})
    result = preflight.check_offering(environment(), ec2)
    assert result.status == "FAIL"
    assert result.detail == ("accelerators.availability_zone = 'us-east-2b' does not offer trn2.48xlarge; "
                             "zones that do: ['us-east-2c']")


def reservation(**fields) -> dict:
    return {"CapacityReservations": [{
        "CapacityReservationId": "cr-0123456789abcdef0", "InstanceType": "trn2.48xlarge",
        "AvailabilityZone": "us-east-2b", "TotalInstanceCount": 1, "State": "active",
        "ReservationType": "capacity-block", **fields}]}


@pytest.mark.parametrize(("fields", "status", "detail"), [
    ({}, "ok", "cr-0123456789abcdef0: 1 x trn2.48xlarge in us-east-2b, active"),
    ({"State": "scheduled", "StartDate": datetime.datetime(2026, 12, 1, 11, 30)}, "ok",
     "scheduled (starts 2026-12-01 11:30:00; nodes join once it is active)"),
    ({"AvailabilityZone": "us-east-2a"}, "FAIL",
     "has AvailabilityZone 'us-east-2a'; this environment needs 'us-east-2b'"),
    ({"ReservationType": "default"}, "FAIL",
     "has ReservationType 'default'; this environment needs 'capacity-block'"),
    ({"InstanceType": "trn1.32xlarge"}, "FAIL", "has InstanceType 'trn1.32xlarge'"),
    ({"State": "expired"}, "FAIL", "accelerators.reservation_id = 'cr-0123456789abcdef0' is expired"),
])
def test_the_capacity_block_must_match_the_environment(fields, status, detail):
    ec2 = stubbed_ec2("describe_capacity_reservations", reservation(**fields),
                      {"CapacityReservationIds": ["cr-0123456789abcdef0"]})
    result = preflight.check_reservation(load_environment("ci"), ec2)
    assert result.status == status
    assert result.detail.endswith(detail) if status == "ok" else detail in result.detail


def test_a_reservation_smaller_than_the_node_group_fails():
    env = load_environment("prod")  # desired_size 2
    ec2 = stubbed_ec2("describe_capacity_reservations", reservation(
        CapacityReservationId=env.accelerators.reservation_id, ReservationType="default"))
    result = preflight.check_reservation(env, ec2)
    assert result.status == "FAIL"
    assert result.detail == "accelerators.desired_size = 2 exceeds the 1 instances reserved"


def test_an_unknown_reservation_id_fails_with_the_ec2_message():
    client = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_client_error("describe_capacity_reservations", "InvalidCapacityReservationId.NotFound",
                             "The capacity reservation ID 'cr-0123456789abcdef0' does not exist")
    stubber.activate()
    result = preflight.check_reservation(load_environment("ci"), client)
    assert result.status == "FAIL"
    assert result.detail == ("accelerators.reservation_id = 'cr-0123456789abcdef0': "
                             "The capacity reservation ID 'cr-0123456789abcdef0' does not exist")


def test_the_command_line_explains_missing_credentials_and_profiles_in_one_line(monkeypatch, capsys):
    from specdec.__main__ import main

    for variable in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["preflight", "-e", "dev", "--profile", "nope"]) == 2
    assert capsys.readouterr().err == (
        "--profile nope: no such AWS profile (see `aws configure list-profiles`)\n")
    assert main(["preflight", "-e", "dev"]) == 2
    assert capsys.readouterr().err.startswith("no AWS credentials found")
