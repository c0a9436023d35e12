"""Rules that relate several settings of an environment file.

Each rule returns (key path, bad value, what is allowed); specdec/config.py turns them into the
one-line errors a user sees. Field-level rules (types, ranges, patterns) live on the fields.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any

from specdec.catalog import MODELS
from specdec.planner import Placement, plan_errors
from specdec.variant_rules import variant_errors

if TYPE_CHECKING:
    from specdec.config import Environment

Problem = tuple[str, Any, str]

# S3 general purpose bucket names (S3 User Guide, "Bucket naming rules").
BUCKET_NAME = re.compile(r"^(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Characters Secrets Manager allows in a secret name (an ARN, with its ':', is not a name).
SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]+$")
IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
# Node capacity kept out of the servers' reach: kubelet and system reserves plus the daemonsets
# (VPC CNI, kube-proxy, Neuron device plugin and monitor, CSI node plugins, CloudWatch agent).
NODE_SYSTEM_VCPUS = 8
NODE_SYSTEM_MEMORY_GIB = 64
# The suites' prompts are about 64 tokens with the chat template; this leaves twice that.
PROMPT_ROOM_TOKENS = 128
# Every resource carries these (tests/test_tags.py): cost reports and the teardown sweep of
# orphans group by them, and an untagged owner leaves nobody to ask about a leftover resource.
REQUIRED_TAGS = ("project", "environment", "owner")


def cross_field_errors(env: Environment) -> list[Problem]:
    """(key path, value, what is allowed) for every rule that relates several fields."""
    errors: list[Problem] = []
    missing_tags = [key for key in REQUIRED_TAGS if not env.tags.get(key)]
    if missing_tags:
        errors.append(("tags", env.tags, f"tags with a value for each of {', '.join(REQUIRED_TAGS)} "
                                         f"(missing: {', '.join(missing_tags)})"))
    zone = re.compile(rf"^{re.escape(env.region)}[a-z]$")
    for i, az in enumerate(env.availability_zones):
        if not zone.match(az):
            errors.append((f"availability_zones.{i}", az, f"a zone of {env.region}, like {env.region}a"))
    if len(set(env.availability_zones)) != len(env.availability_zones):
        errors.append(("availability_zones", env.availability_zones, "each zone once"))

    net = env.network
    try:
        cidr = ipaddress.IPv4Network(net.vpc_cidr)
    except ValueError:
        errors.append(("network.vpc_cidr", net.vpc_cidr, "an IPv4 CIDR like 10.64.0.0/16"))
    else:
        # Each zone gets a /20 private (node) subnet and a /24 public one (cdk_constructs/network.py).
        needed = len(env.availability_zones) * (2**12 + 2**8)
        if cidr.prefixlen < 16:
            errors.append(("network.vpc_cidr", net.vpc_cidr, "a prefix of /16 or longer (the VPC maximum)"))
        elif cidr.num_addresses < needed:
            errors.append(("network.vpc_cidr", net.vpc_cidr,
                           f"a CIDR with room for {len(env.availability_zones)} zones x (/20 nodes + "
                           f"/24 public) = {needed} addresses, like 10.64.0.0/16"))
    if net.nat_gateways > len(env.availability_zones):
        errors.append(("network.nat_gateways", net.nat_gateways,
                       f"at most one per zone ({len(env.availability_zones)})"))

    cluster = env.cluster
    for i, cidr_text in enumerate(cluster.public_access_cidrs):
        try:
            ipaddress.IPv4Network(cidr_text)
        except ValueError:
            errors.append((f"cluster.public_access_cidrs.{i}", cidr_text, "an IPv4 CIDR like 203.0.113.0/24"))
    if cluster.endpoint_access != "private" and not cluster.public_access_cidrs:
        errors.append(("cluster.public_access_cidrs", [],
                       f"at least one CIDR when endpoint_access is {cluster.endpoint_access!r}"))
    if cluster.endpoint_access == "private" and cluster.public_access_cidrs:
        errors.append(("cluster.public_access_cidrs", cluster.public_access_cidrs,
                       "no CIDRs when endpoint_access is 'private'"))
    for i, arn in enumerate(cluster.admin_role_arns):
        if not IAM_ROLE_ARN.match(arn):
            errors.append((f"cluster.admin_role_arns.{i}", arn, "an IAM role ARN"))
    system = cluster.system_nodes
    if not system.min_size <= system.desired_size <= system.max_size:
        errors.append(("cluster.system_nodes.desired_size", system.desired_size,
                       f"between min_size ({system.min_size}) and max_size ({system.max_size})"))

    acc = env.accelerators
    if acc.availability_zone not in env.availability_zones:
        errors.append(("accelerators.availability_zone", acc.availability_zone,
                       f"one of availability_zones {env.availability_zones}"))
    if acc.capacity_type != "on_demand" and not acc.reservation_id:
        errors.append(("accelerators.reservation_id", None,
                       f"the reservation id (cr-...) when capacity_type is {acc.capacity_type!r}"))
    if acc.capacity_type == "on_demand" and acc.reservation_id:
        errors.append(("accelerators.reservation_id", acc.reservation_id,
                       "no reservation when capacity_type is 'on_demand'"))
    if not acc.min_size <= acc.desired_size <= acc.max_size:
        errors.append(("accelerators.desired_size", acc.desired_size,
                       f"between min_size ({acc.min_size}) and max_size ({acc.max_size})"))

    cache = env.model_cache
    if cache.storage_capacity_gib != 1200 and cache.storage_capacity_gib % 2400:
        errors.append(("model_cache.storage_capacity_gib", cache.storage_capacity_gib,
                       "1200 or a multiple of 2400 (FSx for Lustre PERSISTENT_2 SSD)"))
    bucket = cache.existing_bucket_name
    if bucket is not None and not BUCKET_NAME.match(bucket):
        errors.append(("model_cache.existing_bucket_name", bucket,
                       "an S3 bucket name: 3-63 lower-case letters, digits, '.' and '-', not an ARN or URL"))
    secret = cache.hf_token_secret_name
    if secret is not None and not SECRET_NAME.match(secret):
        errors.append(("model_cache.hf_token_secret_name", secret,
                       "a Secrets Manager secret name (letters, digits and /_+=.@-), not an ARN"))

    errors += _serving_errors(env)
    errors += _benchmark_errors(env)
    errors += _monitoring_errors(env)
    return errors


def _monitoring_errors(env: Environment) -> list[Problem]:
    errors: list[Problem] = []
    for suite, bound in env.monitoring.min_speed_up.items():
        # The alarm reads the benchmark's SpeedUp metric: a suite it never runs never reports one.
        if suite not in env.benchmark.suites:
            errors.append((f"monitoring.min_speed_up.{suite}", bound,
                           f"a suite that benchmark.suites runs: {', '.join(env.benchmark.suites)}"))
        elif bound <= 0:
            errors.append((f"monitoring.min_speed_up.{suite}", bound, "a speed-up above 0, like 1.5"))
    return errors


def _benchmark_errors(env: Environment) -> list[Problem]:
    bench, serving = env.benchmark, env.serving
    errors: list[Problem] = []
    if len(set(bench.suites)) != len(bench.suites):
        errors.append(("benchmark.suites", bench.suites, "each suite once"))
    # vLLM refuses a request whose prompt plus max_tokens exceeds max_model_len.
    room = serving.max_model_len - PROMPT_ROOM_TOKENS
    if bench.output_tokens > room:
        errors.append(("benchmark.output_tokens", bench.output_tokens,
                       f"at most {room}: serving.max_model_len ({serving.max_model_len}) less "
                       f"{PROMPT_ROOM_TOKENS} tokens for the suites' prompts"))
    return errors


def _serving_errors(env: Environment) -> list[Problem]:
    serving, instance = env.serving, env.instance
    lnc = env.accelerators.logical_neuron_cores
    errors: list[Problem] = []
    if serving.target_model not in MODELS:
        errors.append(("serving.target_model", serving.target_model, f"a catalog model: {', '.join(MODELS)}"))
    variant_problems = variant_errors(serving)
    errors += variant_problems
    models_agree = serving.target_model in MODELS and not variant_problems
    if serving.draft_max_model_len and serving.draft_max_model_len > serving.max_model_len:
        # vLLM's SpeculativeConfig raises "speculative_max_model_len=... cannot be larger than
        # target_max_model_len=..." at startup.
        errors.append(("serving.draft_max_model_len", serving.draft_max_model_len,
                       f"at most max_model_len ({serving.max_model_len}); vLLM refuses a larger one"))
    if serving.shm_size_gib >= serving.memory_gib:
        errors.append(("serving.shm_size_gib", serving.shm_size_gib,
                       f"less than memory_gib ({serving.memory_gib}): /dev/shm counts against it"))

    tp, cores = serving.tensor_parallel_size, instance.logical_cores(lnc)
    cores_per_chip = instance.logical_cores_per_chip(lnc)
    if tp > cores or tp & (tp - 1):
        errors.append(("serving.tensor_parallel_size", tp,
                       f"a power of two up to the {cores} logical NeuronCores of "
                       f"{instance.instance_type} at LNC={lnc}"))
        return errors
    if tp % cores_per_chip:
        errors.append(("serving.tensor_parallel_size", tp,
                       f"a multiple of {cores_per_chip} (whole Trainium2 chips at LNC={lnc})"))
        return errors

    deployments = len(serving.resolved_variants())
    placement = Placement(serving.replicas * deployments, tp // cores_per_chip, instance.chips)
    pods, pods_per_node = placement.pods, placement.per_node
    capacity = pods_per_node * env.accelerators.max_size
    if pods > capacity and capacity < deployments:
        # Not even one pod per variant fits: the node group, not replicas, is what must grow.
        needed = Placement(deployments, tp // cores_per_chip, instance.chips).nodes
        errors.append(("accelerators.max_size", env.accelerators.max_size,
                       f"at least {needed}: {deployments} serving variants of {tp // cores_per_chip} chips "
                       f"need {needed} x {instance.instance_type} (and desired_size as many)"))
    elif pods > capacity:
        errors.append(("serving.replicas", serving.replicas,
                       f"at most {capacity // deployments} per deployment: {pods} serving pods of "
                       f"{tp // cores_per_chip} chips do not fit on {env.accelerators.max_size} "
                       f"x {instance.instance_type}"))
    nodes_needed = placement.nodes
    if 0 < env.accelerators.desired_size < nodes_needed <= env.accelerators.max_size:
        # Managed node groups do not grow by themselves (no autoscaler runs), so the servers that
        # do not fit would wait for chips forever.
        errors.append(("accelerators.desired_size", env.accelerators.desired_size,
                       f"at least {nodes_needed}: {pods} serving pods of {tp // cores_per_chip} chips "
                       f"need {nodes_needed} x {instance.instance_type}"))
    # A node full of servers must still hold kubelet, system reserve and the daemonsets.
    sharing = min(pods, pods_per_node)
    if serving.cpu * sharing > instance.vcpus - NODE_SYSTEM_VCPUS:
        errors.append(("serving.cpu", serving.cpu,
                       f"at most {(instance.vcpus - NODE_SYSTEM_VCPUS) // sharing}: {sharing} servers share "
                       f"a {instance.instance_type} ({instance.vcpus} vCPUs, {NODE_SYSTEM_VCPUS} kept "
                       "for the system)"))
    if serving.memory_gib * sharing > instance.memory_gib - NODE_SYSTEM_MEMORY_GIB:
        errors.append(("serving.memory_gib", serving.memory_gib,
                       f"at most {(instance.memory_gib - NODE_SYSTEM_MEMORY_GIB) // sharing}: {sharing} "
                       f"servers share a {instance.instance_type} ({instance.memory_gib} GiB, "
                       f"{NODE_SYSTEM_MEMORY_GIB} kept for the system)"))
    if models_agree:
        errors += plan_errors(serving, instance, lnc)
    return errors
