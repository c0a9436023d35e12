"""The EKS control plane, its kubectl provider, access entries, add-ons and the CPU system node group."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from aws_cdk.lambda_layer_kubectl_v36 import KubectlV36Layer
from constructs import Construct

from cdk_constructs.addons import ClusterAddons
from cdk_constructs.nag import acknowledge, managed_policy
from cdk_constructs.nodes import launch_template_data, node_role
from specdec import names
from specdec.config import ClusterSettings

ENDPOINT_ACCESS = {
    "private": lambda cidrs: eks.EndpointAccess.PRIVATE,
    "public_and_private": lambda cidrs: eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*cidrs),
}
ALL_CONTROL_PLANE_LOGS = [
    eks.ClusterLoggingTypes.API,
    eks.ClusterLoggingTypes.AUDIT,
    eks.ClusterLoggingTypes.AUTHENTICATOR,
    eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
    eks.ClusterLoggingTypes.SCHEDULER,
]
SYSTEM_ROOT_VOLUME_GIB = 50
NODE_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)


class Cluster(Construct):
    """Attributes other constructs build on: `cluster`, `node_role`, `addons`,
    `pod_identity_agent` (the one eks-pod-identity-agent add-on) and `system_nodegroup`."""

    def __init__(self, scope: Construct, id: str, *, settings: ClusterSettings, vpc: ec2.IVpc,
                 cluster_name: str, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.secrets_key = kms.Key(
            self, "SecretsKey",
            description=f"Envelope encryption of Kubernetes secrets in {cluster_name}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=Duration.days(7),
        )
        self.cluster = eks.Cluster(
            self, "Eks",
            cluster_name=cluster_name,
            version=eks.KubernetesVersion.of(settings.kubernetes_version),
            vpc=vpc,
            vpc_subnets=[NODE_SUBNETS],
            endpoint_access=ENDPOINT_ACCESS[settings.endpoint_access](settings.public_access_cidrs),
            secrets_encryption_key=self.secrets_key,
            cluster_logging=ALL_CONTROL_PLANE_LOGS,
            default_capacity_type=eks.DefaultCapacityType.NODEGROUP,
            default_capacity=0,
            # No self-managed vpc-cni/kube-proxy/coredns: ClusterAddons installs each once, as an EKS add-on.
            bootstrap_self_managed_addons=False,
            kubectl_provider_options=eks.KubectlProviderOptions(
                # Helm v4 / kubectl 1.36; the kubectl client supports clusters one minor either side.
                kubectl_layer=KubectlV36Layer(self, "KubectlLayer"),
            ),
        )
        for i, role_arn in enumerate(settings.admin_role_arns):
            self.cluster.grant_access(
                f"Admin{i}", role_arn,
                [eks.AccessPolicy.from_access_policy_name(
                    "AmazonEKSClusterAdminPolicy", access_scope_type=eks.AccessScopeType.CLUSTER)],
            )
        self.addons = ClusterAddons(self, "Addons", cluster=self.cluster, versions=settings.addon_versions)
        self.pod_identity_agent = self.addons.pod_identity_agent
        self.node_role = node_role(self, "NodeRole")

        system = settings.system_nodes
        template = ec2.CfnLaunchTemplate(
            self, "SystemNodeTemplate",
            launch_template_data=launch_template_data(root_volume_gib=SYSTEM_ROOT_VOLUME_GIB),
        )
        self.system_nodegroup = eks.Nodegroup(
            self, "SystemNodes",
            cluster=self.cluster,
            nodegroup_name=f"{cluster_name}-system",
            node_role=self.node_role,
            ami_type=eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
            instance_types=[ec2.InstanceType(system.instance_type)],
            launch_template_spec=eks.LaunchTemplateSpec(
                id=template.ref, version=template.attr_latest_version_number),
            min_size=system.min_size,
            desired_size=system.desired_size,
            max_size=system.max_size,
            subnets=NODE_SUBNETS,
            labels={names.POOL_LABEL: names.SYSTEM_POOL},
        )
        self.require_node_addons(self.system_nodegroup)
        # CoreDNS runs as a Deployment: its add-on turns ACTIVE only once pods have nodes.
        self.addons.coredns.node.add_dependency(self.system_nodegroup)
        self._acknowledge_cdk_managed_resources()

    def require_node_addons(self, nodegroup: eks.Nodegroup) -> None:
        """Create `nodegroup` only after the add-ons that make its nodes Ready."""
        for addon in self.addons.node_prerequisites:
            nodegroup.node.add_dependency(addon)

    def _acknowledge_cdk_managed_resources(self) -> None:
        """Findings on resources aws_eks_v2 creates and owns; their shape is not ours to change."""
        eks_scope = self.cluster
        acknowledge(eks_scope, managed_policy("AmazonEKSClusterPolicy"),
                    "EKS requires this managed policy on the cluster role.")
        acknowledge(eks_scope, managed_policy("AmazonEC2ContainerRegistryReadOnly"),
                    "aws_eks_v2 gives the kubectl handler ECR read access (the kubectl layer and "
                    "private OCI charts); CDK attaches it as a managed policy.")
        for policy in ("service-role/AWSLambdaBasicExecutionRole",
                       "service-role/AWSLambdaVPCAccessExecutionRole"):
            acknowledge(eks_scope, managed_policy(policy),
                        "The CDK kubectl provider Lambdas need logs and VPC ENI permissions; CDK "
                        "attaches them as managed policies.")
        acknowledge(eks_scope,
                    'AwsSolutions-IAM4[Policy::{"Fn::If":["ClusterEksKubectlProviderHandlerHasEcrPublic454A6214",'
                    '{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::aws:policy/'
                    'AmazonElasticContainerRegistryPublicReadOnly"]]},{"Ref":"AWS::NoValue"}]}]',
                    "The kubectl provider pulls Helm charts from ECR Public (the Neuron chart lives there).")
        acknowledge(eks_scope,
                    "AwsSolutions-IAM5[Resource::<ClusterEksKubectlProviderHandler59BB3552.Arn>:*]",
                    "The custom-resource framework invokes any version of its own handler; scoped to "
                    "that one function.")
        acknowledge(eks_scope, "AwsSolutions-L1",
                    "The kubectl provider handler runtime is chosen and pinned by aws-cdk-lib.")
