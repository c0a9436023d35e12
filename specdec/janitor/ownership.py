"""Does a resource belong to this environment? Pure rules over tags and names, nothing else.

A resource belongs when its tags say so: every tag of the environment file, a tag that the
Kubernetes controllers put on what they create for the cluster (the cluster is named after the
stack), or CloudFormation's own stack tag. Untagged resources belong only by name: the stack name
followed by '-' or '/', so `specdec-dev` never claims `specdec-dev2-...`, nor `specdec-dev-eu-...`
when an environment `dev-eu` exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from specdec.config import Environment
from specdec.validation import UserError

# Tags whose value is the cluster name: AWS Load Balancer Controller (load balancers, target groups,
# security groups), EKS (its cluster security group and network interfaces), the VPC CNI (the
# interfaces it attaches to nodes) and the legacy tag the in-tree provider and the EBS CSI driver
# (with --k8s-tag-cluster-id) also write.
CLUSTER_NAME_TAGS = ("elbv2.k8s.aws/cluster", "aws:eks:cluster-name", "eks:cluster-name",
                     "cluster.k8s.amazonaws.com/name", "KubernetesCluster")
# Set by CloudFormation on everything a stack creates.
STACK_TAG = "aws:cloudformation:stack-name"
# Kinds an environment may keep on `cdk destroy` on purpose (inventory's kind names).
LOG_GROUP, BUCKET, FILE_SYSTEM = "log group", "bucket", "file system"


class AmbiguousTags(UserError):
    """The environment's tags would also match other environments' resources."""


def cluster_tag(cluster: str) -> str:
    """The in-tree cloud provider's and EBS CSI driver's ownership tag; its value is `owned` (or
    `shared` for what the cluster merely uses, such as subnets, which is never the cluster's)."""
    return f"kubernetes.io/cluster/{cluster}"


@dataclass(frozen=True)
class Scope:
    name: str
    stack_name: str  # the EKS cluster has the same name
    tags: Mapping[str, str]
    siblings: tuple[str, ...] = ()  # other environments' stack names
    keeps: Mapping[str, str] = field(default_factory=dict)  # kind -> the setting that keeps it

    @classmethod
    def of(cls, environment: Environment, others: Iterable[str]) -> Scope:
        """`others`: the names of the other environment files."""
        if environment.tags and environment.name not in environment.tags.values():
            raise AmbiguousTags(
                f"environments/{environment.name}.json: tags = {dict(environment.tags)} name no "
                f"environment: add one whose value is {environment.name!r} (e.g. \"environment\": "
                f"{environment.name!r}) so the janitor cannot take another environment's resources")
        settings = {
            LOG_GROUP: ("retain_logs", environment.retain_logs),
            BUCKET: ("model_cache.retain_bucket", environment.model_cache.retain_bucket),
            FILE_SYSTEM: ("model_cache.retain_file_system", environment.model_cache.retain_file_system),
        }
        keeps = {kind: setting for kind, (setting, on) in settings.items() if on}
        # Which of the stack's buckets a tag does not say: any kept one keeps both.
        if environment.benchmark.retain_results:
            keeps[BUCKET] = "benchmark.retain_results"
        # Stack names follow from file names alone: the other files need not be valid.
        siblings = tuple(Environment.model_construct(name=other).stack_name for other in others
                         if other != environment.name)
        return cls(environment.name, environment.stack_name, dict(environment.tags), siblings,
                   keeps)


def by_tags(scope: Scope, tags: Mapping[str, str]) -> str | None:
    """Why these tags make a resource this environment's, or None."""
    cluster = scope.stack_name
    if tags.get(cluster_tag(cluster)) == "owned":
        return f"{cluster_tag(cluster)}=owned"
    for key in (*CLUSTER_NAME_TAGS, STACK_TAG):
        if tags.get(key) == cluster:
            return f"{key}={cluster}"
    if scope.tags and all(tags.get(key) == value for key, value in scope.tags.items()):
        return "tagged " + ", ".join(f"{key}={value}" for key, value in sorted(scope.tags.items()))
    return None


def _under(name: str, stack_name: str) -> bool:
    return name == stack_name or name.startswith((f"{stack_name}-", f"{stack_name}/"))


def by_name(scope: Scope, name: str, prefix: str = "") -> str | None:
    """Why `name` (after `prefix`, such as /aws/lambda/) makes a resource this environment's, or None."""
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix):]
    if not _under(rest, scope.stack_name):
        return None
    # specdec-dev-eu-... starts with specdec-dev- too: it is dev-eu's if that environment exists.
    if any(_under(rest, other) for other in scope.siblings if _under(other, scope.stack_name)):
        return None
    if rest == scope.stack_name:
        return f"named {name}"
    return f"name starts with {prefix}{scope.stack_name}{rest[len(scope.stack_name)]}"
