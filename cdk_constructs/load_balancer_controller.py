"""The AWS Load Balancer Controller: turns the servers' LoadBalancer Services into internal NLBs.

Installed only with `serving.internal_load_balancer`. Its AWS permissions come from EKS Pod
Identity: the controller builds its AWS clients with the SDK's default credential chain
(aws-sdk-go-v2 `config.LoadDefaultConfig` in pkg/aws/cloud.go), whose container credential
provider serves Pod Identity credentials (EKS User Guide, "Use pod identity with the AWS SDK":
Go v2 release-2023-11-14 or later; v3.2.2 ships aws-sdk-go-v2 config v1.32).

Teardown: the controller deletes an NLB, its target groups and its security groups only while it
runs, when the Service that owns them is deleted (it holds the Service with a finalizer until
then). The serving manifest therefore depends on `chart` (so CloudFormation deletes the Services
first), and the chart depends on what the controller needs to run: its nodes, its service account,
its Pod Identity association and policy.
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.cluster import Cluster
from cdk_constructs.nag import acknowledge
from cdk_constructs.pod_identity import associate, pod_identity_role
from specdec import names

# aws-cdk-lib 2.275 `AlbControllerVersion.V3_2_2` pairs controller v3.2.2 with eks-charts chart
# 3.2.2 (aws-eks-v2/lib/alb-controller.js; from v3.0.0 on the chart and controller versions are
# the same, aws/aws-cdk#37752). Newer releases exist (v3.3.0, v3.4.x): upgrade chart, image tag and
# policy file together.
CHART_REPOSITORY = "https://aws.github.io/eks-charts"
CHART = "aws-load-balancer-controller"
CHART_VERSION = "3.2.2"
CONTROLLER_VERSION = "v3.2.2"
NAMESPACE = "kube-system"
POLICY_FILE = Path(__file__).parent / "policies" / f"aws-load-balancer-controller-{CONTROLLER_VERSION}.json"
# Fail the deploy instead of leaving a half-installed controller; the chart has two replicas
# and webhook certificates to create, which takes a few minutes on fresh nodes. Well under the
# kubectl provider Lambda's own 15-minute limit, which also covers pulling the chart.
INSTALL_TIMEOUT = Duration.minutes(10)


def controller_policy_document() -> dict:
    """The controller's official IAM policy, with `arn:aws:` made partition-neutral (as aws-cdk-lib
    does for its bundled copy), so GovCloud regions work too."""
    document = json.loads(POLICY_FILE.read_text())
    for statement in document["Statement"]:
        resources = statement["Resource"]
        statement["Resource"] = ([r.replace("arn:aws:", f"arn:{Aws.PARTITION}:") for r in resources]
                                 if isinstance(resources, list)
                                 else resources.replace("arn:aws:", f"arn:{Aws.PARTITION}:"))
    return document


def chart_values(*, cluster_name: str, region: str, vpc_id: str, tags: dict[str, str]) -> dict:
    return {
        "clusterName": cluster_name,
        # Given, so the controller never needs instance metadata to find them.
        "region": region,
        "vpcId": vpc_id,
        "image": {"tag": CONTROLLER_VERSION},
        # The service account is ours (see LoadBalancerController); Pod Identity needs no annotation.
        "serviceAccount": {"create": False, "name": names.LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT},
        "nodeSelector": {names.POOL_LABEL: names.SYSTEM_POOL},
        # Two replicas by default (leader election); a drain takes at most one.
        "podDisruptionBudget": {"maxUnavailable": 1},
        # The mutating webhook would make the controller the default for every new LoadBalancer
        # Service and would be called for every Service created in the cluster, failing those
        # creations while no controller pod is ready. SpecDec's Services name their class
        # (service.k8s.aws/nlb) themselves, so the webhook adds nothing (LBC installation guide,
        # "When using AWS Load Balancer Controller v2.5+").
        "enableServiceMutatorWebhook": False,
        # The NLBs, target groups and security groups the controller creates are not CloudFormation's,
        # so the stack's tags never reach them; the chart passes these as --default-tags (eks-charts
        # values.yaml, 3.2.2: "tags to apply to all AWS resources managed by this controller").
        "defaultTags": dict(tags),
    }


class LoadBalancerController(Construct):
    """`chart` is what the LoadBalancer Services must depend on."""

    def __init__(self, scope: Construct, id: str, *, cluster: Cluster, tags: dict[str, str]) -> None:
        super().__init__(scope, id)
        eks_cluster = cluster.cluster
        role = pod_identity_role(self, "Role", "AWS Load Balancer Controller: manages the serving NLBs")
        policy = iam.Policy(self, "Policy", roles=[role],
                            document=iam.PolicyDocument.from_json(controller_policy_document()))
        self._acknowledge_upstream_policy(policy)
        # Skipped on this one resource, not project-wide in .checkov.yaml.
        policy.node.default_child.add_metadata("checkov", {"skip": [{
            "id": "CKV_AWS_111",
            "comment": "The AWS Load Balancer Controller's official policy, unchanged: some writes "
                       "(security group rules, listeners, WAF and Shield associations) act on "
                       "resources that exist only at run time.",
        }]})
        association = associate(self, "Identity", cluster=cluster, namespace=NAMESPACE,
                                service_account=names.LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT, role=role)
        service_account = eks.KubernetesManifest(self, "ServiceAccount", cluster=eks_cluster, manifest=[{
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": names.LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT, "namespace": NAMESPACE,
                         "labels": {"app.kubernetes.io/name": CHART}},
        }])
        self.chart = eks.HelmChart(
            self, "Chart",
            cluster=eks_cluster,
            repository=CHART_REPOSITORY,
            chart=CHART,
            version=CHART_VERSION,
            release=CHART,
            namespace=NAMESPACE,
            wait=True,
            timeout=INSTALL_TIMEOUT,
            values=chart_values(cluster_name=eks_cluster.cluster_name, region=Stack.of(self).region,
                                vpc_id=eks_cluster.vpc.vpc_id, tags=tags),
        )
        # Created after, so deleted before, everything the running controller needs: on destroy it
        # still has nodes, credentials and permissions while it deletes the NLBs.
        self.chart.node.add_dependency(service_account, association, policy, cluster.system_nodegroup)

    @staticmethod
    def _acknowledge_upstream_policy(policy: iam.Policy) -> None:
        reason = (f"The AWS Load Balancer Controller's official IAM policy ({CONTROLLER_VERSION}), "
                  "unchanged: it discovers subnets, security groups and certificates account-wide "
                  "and can name the load balancers, target groups, listeners and security groups it "
                  "creates only at run time; its deletes and modifications are conditioned on the "
                  "elbv2.k8s.aws/cluster tag it puts on what it creates.")
        for resource in upstream_wildcard_resources():
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::{resource}]", reason)


def upstream_wildcard_resources() -> list[str]:
    """Every wildcard resource of the upstream policy, as cdk-nag spells it (one finding each)."""
    resources: set[str] = set()
    for statement in json.loads(POLICY_FILE.read_text())["Statement"]:
        listed = statement["Resource"]
        resources.update(listed if isinstance(listed, list) else [listed])
    return sorted(r.replace("arn:aws:", "arn:<AWS::Partition>:") for r in resources if "*" in r)
