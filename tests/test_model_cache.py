"""The shared model cache: FSx for Lustre + S3, the CSI driver, the claim and the prefetch Job."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from k8s.model_cache import PREFETCH_IMAGE, SCRIPTS_DIR
from specdec import names
from specdec.config import ConfigError, load_environment, parse_environment
from specdec.manifests import render_intrinsic
from tests.conftest import deep_merge

FSX = "AWS::FSx::FileSystem"
LUSTRE_PORTS = [(988, 988), (1018, 1023)]
SECRET = "specdec/hf-token"
KEPT_BUCKET = "specdec-prod-models-kept"
CUSTOM = {
    "serving": {"namespace": "llm"},
    "model_cache": {"storage_capacity_gib": 4800, "throughput_mib_per_tib": 1000,
                    "retain_file_system": True, "hf_token_secret_name": SECRET},
}


def dev_data() -> dict:
    return json.loads(open("environments/dev.json").read())


@pytest.fixture(scope="module")
def custom(synth_custom):
    """A namespace, size, token secret and retention no shipped environment uses."""
    return synth_custom("cachecustom", CUSTOM)


@pytest.fixture(params=["dev", "ci", "prod", "cachecustom"])
def each(request, shipped, custom):
    """(environment settings, synthesized stack) for every shipped environment and the custom one."""
    if request.param == "cachecustom":
        return parse_environment("cachecustom", deep_merge(dev_data(), CUSTOM), "x"), custom
    return load_environment(request.param), shipped[request.param]


def logical_id(synth, type_: str) -> str:
    (found,) = synth.resources(type_)
    return found


def model_bucket_id(synth) -> str:
    """The model cache's bucket (the benchmark has a results bucket of its own)."""
    (found,) = [i for i in synth.resources("AWS::S3::Bucket") if i.startswith("ModelCache")]
    return found


def model_bucket_auto_delete(synth) -> list[dict]:
    return [r for r in synth.resources("Custom::S3AutoDeleteObjects").values()
            if r["Properties"]["BucketName"] == {"Ref": model_bucket_id(synth)}]


def one_object(synth, kind: str) -> dict:
    (found,) = synth.objects_of(kind)
    return found


def prefetch_job(synth) -> dict:
    (job,) = [j for j in synth.objects_of("Job") if j["metadata"]["name"].startswith("model-prefetch-")]
    return job


def test_the_file_system_is_persistent_2_encrypted_and_sized_by_the_environment(each):
    env, synth = each
    props = synth.only(FSX)
    lustre = props["LustreConfiguration"]
    assert props["FileSystemType"] == "LUSTRE" and lustre["DeploymentType"] == "PERSISTENT_2"
    assert props["StorageCapacity"] == env.model_cache.storage_capacity_gib
    assert lustre["PerUnitStorageThroughput"] == env.model_cache.throughput_mib_per_tib
    assert lustre["MetadataConfiguration"] == {"Mode": "AUTOMATIC"}
    assert props["FileSystemTypeVersion"] == "2.15"
    assert "EfaEnabled" not in lustre
    key = synth.template["Resources"][props["KmsKeyId"]["Ref"]]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True


def test_the_file_system_sits_in_the_trn2_zone_private_subnet(each):
    env, synth = each
    (subnet_ref,) = synth.only(FSX)["SubnetIds"]
    subnet = synth.template["Resources"][subnet_ref["Ref"]]["Properties"]
    assert subnet["AvailabilityZone"] == env.accelerators.availability_zone
    assert subnet["MapPublicIpOnLaunch"] is False


def test_the_trn2_nodes_share_the_file_systems_subnet(dev):
    trn2 = [g["Properties"] for g in dev.resources("AWS::EKS::Nodegroup").values()
            if g["Properties"].get("Labels", {}).get(names.POOL_LABEL) == names.NEURON_POOL]
    if not trn2:
        pytest.skip("no Trn2 node group in the template yet (cluster helper's area)")
    assert all(group["Subnets"] == dev.only(FSX)["SubnetIds"] for group in trn2)


def test_the_bucket_is_linked_with_auto_import_and_export(each):
    _, synth = each
    dra = synth.only("AWS::FSx::DataRepositoryAssociation")
    assert dra["FileSystemId"] == {"Ref": logical_id(synth, FSX)}
    assert dra["FileSystemPath"] == "/"
    bucket = {"Ref": model_bucket_id(synth)}
    assert dra["DataRepositoryPath"] == {"Fn::Join": ["", ["s3://", bucket]]}
    assert {"NEW", "CHANGED"} <= set(dra["S3"]["AutoImportPolicy"]["Events"])
    assert {"NEW", "CHANGED"} <= set(dra["S3"]["AutoExportPolicy"]["Events"])
    assert dra["BatchImportMetaDataOnCreate"] is True


def test_the_bucket_is_private_encrypted_and_ssl_only(each):
    _, synth = each
    bucket = synth.template["Resources"][model_bucket_id(synth)]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (policy,) = [p for p in synth.resources("AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": model_bucket_id(synth)}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in statements)


def _rules(synth, type_: str, group_key: str, peer_key: str) -> set[tuple]:
    return {(r["Properties"][group_key]["Fn::GetAtt"][0], r["Properties"][peer_key]["Fn::GetAtt"][0],
             r["Properties"]["FromPort"], r["Properties"]["ToPort"])
            for r in synth.resources(type_).values()
            if isinstance(r["Properties"].get(peer_key), dict)}


def test_lustre_ports_are_open_from_the_nodes_and_between_the_file_systems_interfaces(dev):
    fs_group = dev.only(FSX)["SecurityGroupIds"][0]["Fn::GetAtt"][0]
    (cluster,) = dev.resources("AWS::EKS::Cluster")
    ingress = _rules(dev, "AWS::EC2::SecurityGroupIngress", "GroupId", "SourceSecurityGroupId")
    egress = _rules(dev, "AWS::EC2::SecurityGroupEgress", "GroupId", "DestinationSecurityGroupId")
    for low, high in LUSTRE_PORTS:
        assert (fs_group, cluster, low, high) in ingress  # nodes carry the EKS cluster security group
        assert (fs_group, fs_group, low, high) in ingress
        assert (fs_group, fs_group, low, high) in egress
        assert (cluster, fs_group, low, high) in ingress  # Lustre clients accept server connections


def test_nothing_outside_the_cluster_reaches_the_file_system(dev):
    fs_group = dev.only(FSX)["SecurityGroupIds"][0]["Fn::GetAtt"][0]
    group = dev.template["Resources"][fs_group]["Properties"]
    # No inline rules: neither CIDR ingress nor CDK's default allow-all egress.
    assert not group.get("SecurityGroupIngress") and not group.get("SecurityGroupEgress")
    own = {"Fn::GetAtt": [fs_group, "GroupId"]}
    rules = [r["Properties"] for t in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
             for r in dev.resources(t).values() if r["Properties"]["GroupId"] == own]
    assert len(rules) >= 6
    assert all("SourceSecurityGroupId" in r or "DestinationSecurityGroupId" in r for r in rules)


def test_the_csi_driver_add_on_uses_pod_identity_after_the_agent(dev):
    addons = {a["Properties"]["AddonName"]: (i, a) for i, a in dev.resources("AWS::EKS::Addon").items()}
    agent_id, _ = addons["eks-pod-identity-agent"]
    _, csi = addons["aws-fsx-csi-driver"]
    (association,) = csi["Properties"]["PodIdentityAssociations"]
    assert association["ServiceAccount"] == "fsx-csi-controller-sa"
    assert agent_id in csi["DependsOn"]
    role = dev.template["Resources"][association["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]


def test_the_cluster_has_exactly_one_pod_identity_agent(each):
    _, synth = each
    agents = [a for a in synth.resources("AWS::EKS::Addon").values()
              if a["Properties"]["AddonName"] == "eks-pod-identity-agent"]
    assert len(agents) == 1


def test_a_static_volume_binds_the_file_system_to_the_claim(each):
    env, synth = each
    namespace = env.serving.namespace
    pv, pvc = one_object(synth, "PersistentVolume"), one_object(synth, "PersistentVolumeClaim")
    fs_id = logical_id(synth, FSX)
    assert "namespace" not in pv["metadata"]
    csi = pv["spec"]["csi"]
    assert csi["driver"] == "fsx.csi.aws.com"
    assert csi["volumeHandle"] == f"${{{fs_id}}}"
    assert csi["volumeAttributes"] == {"dnsname": f"${{{fs_id}}}.fsx.us-east-2.${{AWS::URLSuffix}}",
                                       "mountname": f"${{{fs_id}.LustreMountName}}"}
    assert pv["spec"]["claimRef"] == {"name": names.MODEL_CACHE_CLAIM, "namespace": namespace}
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pvc["metadata"] == {**pvc["metadata"], "name": names.MODEL_CACHE_CLAIM, "namespace": namespace}
    assert pvc["spec"]["accessModes"] == pv["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["storageClassName"] == pv["spec"]["storageClassName"] == ""
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    size = f"{env.model_cache.storage_capacity_gib}Gi"
    assert pvc["spec"]["resources"]["requests"]["storage"] == pv["spec"]["capacity"]["storage"] == size


def test_the_cache_manifest_waits_for_the_namespace_the_bucket_link_and_the_driver(dev):
    manifests = dev.resources("Custom::AWSCDK-EKS-KubernetesResource")
    (cache_id,) = [i for i, m in manifests.items() if '"kind\\":\\"PersistentVolume\\"' in json.dumps(m)]
    (namespace_id,) = [i for i in manifests if "ServingNamespace" in i]
    depends = manifests[cache_id]["DependsOn"]
    assert namespace_id in depends
    assert logical_id(dev, "AWS::FSx::DataRepositoryAssociation") in depends
    assert any(dev.template["Resources"][d]["Type"] == "AWS::EKS::Addon" for d in depends)


def test_the_prefetch_job_downloads_both_models_on_cpu_nodes(each):
    env, synth = each
    job = prefetch_job(synth)
    assert job["metadata"]["namespace"] == env.serving.namespace
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {names.POOL_LABEL: names.SYSTEM_POOL}
    assert not pod.get("tolerations")
    assert pod["serviceAccountName"] == names.MODEL_PREFETCH_SERVICE_ACCOUNT
    (container,) = pod["containers"]
    assert not any("neuron" in r for r in container["resources"].get("limits", {}))
    command = container["command"][-1]
    for expected in (env.serving.target_model, env.serving.draft_model, f"--models-dir {names.MODELS_DIR}",
                     f"--marker {names.COMPLETE_MARKER}", f"--compile-cache-dir {names.COMPILE_CACHE_DIR}"):
        assert expected in command
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == [names.MODEL_CACHE_CLAIM]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["model-cache"] == names.MODEL_CACHE_MOUNT


def test_the_prefetch_job_prefers_a_node_in_the_file_systems_zone(each):
    env, synth = each
    (preference,) = prefetch_job(synth)["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"]
    zone = env.accelerators.availability_zone
    assert preference["preference"]["matchExpressions"] == [
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}]


def test_the_prefetch_job_runs_the_repositorys_script_with_pinned_packages(dev):
    job = prefetch_job(dev)
    (config_map,) = [c for c in dev.objects_of("ConfigMap")
                     if c["metadata"]["name"] == job["metadata"]["name"]]
    assert config_map["data"]["prefetch_models.py"] == (SCRIPTS_DIR / "prefetch_models.py").read_text()
    requirements = [line for line in config_map["data"]["prefetch-requirements.txt"].splitlines()
                    if line and not line.startswith("#")]
    assert requirements and all("==" in line for line in requirements)
    assert any(line.startswith("huggingface_hub==") for line in requirements)
    images = {c["image"] for c in job["spec"]["template"]["spec"]["containers"]
              + job["spec"]["template"]["spec"]["initContainers"]}
    assert images == {PREFETCH_IMAGE}
    assert not PREFETCH_IMAGE.endswith(":latest") and ":3.12." in PREFETCH_IMAGE


def test_the_prefetch_job_runs_unprivileged_and_only_its_init_step_as_root(dev):
    pod = prefetch_job(dev)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    (init,) = pod["initContainers"]
    assert init["securityContext"]["capabilities"] == {"add": ["CHOWN"], "drop": ["ALL"]}
    assert names.COMPILE_CACHE_DIR in init["command"][-1] and names.MODELS_DIR in init["command"][-1]


def test_every_cache_object_is_valid_kubernetes(each):
    _, synth = each
    objects = [one_object(synth, "PersistentVolume"), one_object(synth, "PersistentVolumeClaim"),
               prefetch_job(synth)]
    objects += [o for o in synth.objects_of("ServiceAccount")
                if o["metadata"]["name"] == names.MODEL_PREFETCH_SERVICE_ACCOUNT]
    for obj in objects:
        kubernetes_validate.validate(obj, "1.36.0", strict=True)


def test_without_a_token_secret_the_job_gets_no_aws_permissions(dev):
    associations = dev.resources("AWS::EKS::PodIdentityAssociation").values()
    accounts = [a["Properties"]["ServiceAccount"] for a in associations]
    assert names.MODEL_PREFETCH_SERVICE_ACCOUNT not in accounts
    assert not [i for i in dev.resources("AWS::IAM::Role") if i.startswith("ModelCachePrefetch")]
    (container,) = prefetch_job(dev)["spec"]["template"]["spec"]["containers"]
    assert "--hf-token-secret" not in container["command"][-1]


def test_a_token_secret_is_readable_by_the_job_and_nothing_else(custom):
    (association,) = [a["Properties"] for a in custom.resources("AWS::EKS::PodIdentityAssociation").values()
                      if a["Properties"]["ServiceAccount"] == names.MODEL_PREFETCH_SERVICE_ACCOUNT]
    assert association["Namespace"] == "llm"
    assert association["ServiceAccount"] == names.MODEL_PREFETCH_SERVICE_ACCOUNT
    role_id = association["RoleArn"]["Fn::GetAtt"][0]
    statements = [s for p in custom.resources("AWS::IAM::Policy").values()
                  if {"Ref": role_id} in p["Properties"]["Roles"]
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    (statement,) = statements
    assert statement["Action"] == "secretsmanager:GetSecretValue" and statement["Effect"] == "Allow"
    assert render_intrinsic(statement["Resource"]) == (
        f"arn:aws:secretsmanager:us-east-2:123456789012:secret:{SECRET}-??????")
    (container,) = prefetch_job(custom)["spec"]["template"]["spec"]["containers"]
    assert f"--hf-token-secret {SECRET}" in container["command"][-1]


def _policies(synth) -> dict[str, str]:
    link = "AWS::FSx::DataRepositoryAssociation"
    resources = {FSX: logical_id(synth, FSX), "AWS::S3::Bucket": model_bucket_id(synth),
                 link: logical_id(synth, link)}
    return {t: synth.template["Resources"][i].get("DeletionPolicy", "Delete") for t, i in resources.items()}


@pytest.mark.parametrize("name", ["dev", "ci"])
def test_dev_and_ci_destroy_everything_and_empty_the_bucket(shipped, name):
    synth = shipped[name]
    assert set(_policies(synth).values()) == {"Delete"}
    assert model_bucket_auto_delete(synth)


def test_prod_keeps_the_bucket_but_not_the_file_system(shipped):
    prod = shipped["prod"]
    assert _policies(prod) == {FSX: "Delete", "AWS::S3::Bucket": "Retain",
                               "AWS::FSx::DataRepositoryAssociation": "Delete"}
    assert not model_bucket_auto_delete(prod)


@pytest.fixture(scope="module")
def reused(synth_custom):
    """A deploy that links the cache to a bucket kept by an earlier one."""
    return synth_custom("cachereuse", {"model_cache": {"existing_bucket_name": KEPT_BUCKET}})


def test_an_existing_bucket_is_linked_and_never_created_nor_emptied(reused):
    assert not [i for i in reused.resources("AWS::S3::Bucket") if i.startswith("ModelCache")]
    assert not [r for r in reused.resources("Custom::S3AutoDeleteObjects").values()
                if "ModelCache" in json.dumps(r["Properties"]["BucketName"])]
    link = reused.only("AWS::FSx::DataRepositoryAssociation")
    assert link["DataRepositoryPath"] == f"s3://{KEPT_BUCKET}"
    # What the kept bucket holds (weights, compiled graphs) is listed into the file system at once.
    assert link["BatchImportMetaDataOnCreate"] is True


def test_the_stack_outputs_the_bucket_to_reuse_next_time(shipped, reused):
    outputs = shipped["prod"].template["Outputs"]
    assert outputs["ModelBucketName"]["Value"] == {"Ref": model_bucket_id(shipped["prod"])}
    assert reused.template["Outputs"]["ModelBucketName"]["Value"] == KEPT_BUCKET


@pytest.mark.parametrize("value", ["s3://models", "My_Bucket", "ab", "arn:aws:s3:::models"])
def test_a_bad_existing_bucket_name_is_rejected(value):
    data = {**dev_data(), "model_cache": {"existing_bucket_name": value}}
    with pytest.raises(ConfigError) as error:
        parse_environment("dev", data, "dev.json")
    (problem,) = error.value.problems
    assert problem.startswith(f"dev.json: model_cache.existing_bucket_name = {value!r} is not allowed: "
                              "an S3 bucket name")


def test_retain_file_system_keeps_the_file_system_its_key_and_its_security_group(custom):
    resources = custom.template["Resources"]
    fs = custom.only(FSX)
    kept = [logical_id(custom, FSX), fs["KmsKeyId"]["Ref"], fs["SecurityGroupIds"][0]["Fn::GetAtt"][0]]
    assert all(resources[i]["DeletionPolicy"] == "Retain" for i in kept)


@pytest.mark.parametrize("value, allowed", [
    ("arn:aws:secretsmanager:us-east-2:123456789012:secret:hf-AbCdEf", "not an ARN"),
    ("hf token", "not an ARN"),
])
def test_a_bad_token_secret_name_is_rejected(value, allowed):
    data = {**dev_data(), "model_cache": {"hf_token_secret_name": value}}
    with pytest.raises(ConfigError) as error:
        parse_environment("dev", data, "dev.json")
    (problem,) = error.value.problems
    assert problem.startswith(f"dev.json: model_cache.hf_token_secret_name = {value!r} is not allowed")
    assert allowed in problem


def test_a_capacity_fsx_cannot_create_is_rejected():
    data = {**dev_data(), "model_cache": {"storage_capacity_gib": 3600}}
    expected = r"model_cache.storage_capacity_gib = 3600 is not allowed: 1200 or a multiple of 2400"
    with pytest.raises(ConfigError, match=expected):
        parse_environment("dev", data, "dev.json")
