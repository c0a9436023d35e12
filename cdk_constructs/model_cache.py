"""The shared model cache: FSx for Lustre linked to an S3 bucket, mounted by every serving pod.

Weights are downloaded and Neuron artifacts compiled once, onto the file system; the data
repository association exports them to the bucket and imports them back lazily, so a new file
system (or a new stack that keeps the bucket) starts warm.
"""

from __future__ import annotations

from dataclasses import dataclass

import cdk8s
from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks as eks_l1
from aws_cdk import aws_fsx as fsx
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct, IDependable

from cdk_constructs.cluster import Cluster
from cdk_constructs.nag import acknowledge
from cdk_constructs.pod_identity import associate, pod_identity_role
from k8s.model_cache import LustreVolume, ModelCacheChart
from specdec import names
from specdec.config import ModelCacheSettings

# Lustre LNET traffic: TCP 988 plus 1018-1023, between clients and the file system's network
# interfaces and among those interfaces themselves (FSx for Lustre User Guide, "File system access
# control with Amazon VPC"; creation fails with "...do not permit Lustre LNET network traffic on
# port 988" otherwise).
LUSTRE_PORTS = [ec2.Port.tcp(988), ec2.Port.tcp_range(1018, 1023)]
# The FSx CSI driver as an EKS add-on; its controller runs as this service account in kube-system
# (EKS User Guide "Deploy the FSx for Lustre driver"; chart values controller.serviceAccount.name).
CSI_ADDON = "aws-fsx-csi-driver"
CSI_CONTROLLER_SERVICE_ACCOUNT = "fsx-csi-controller-sa"
# Import and export every kind of change, so the bucket mirrors the file system both ways.
SYNC_EVENTS = ["NEW", "CHANGED", "DELETED"]


@dataclass(frozen=True)
class CacheConsumers:
    """Who uses the cache: the serving namespace and the models the prefetch Job downloads."""

    namespace: str
    model_ids: list[str]


class ModelCache(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: ModelCacheSettings, vpc: ec2.IVpc,
                 availability_zone: str, cluster: Cluster, consumers: CacheConsumers,
                 charts: cdk8s.App, namespace_manifest: IDependable,
                 csi_driver_version: str | None = None) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        destroy, retain = RemovalPolicy.DESTROY, RemovalPolicy.RETAIN
        file_system_policy = retain if settings.retain_file_system else destroy

        self.bucket = (
            s3.Bucket.from_bucket_name(self, "Bucket", settings.existing_bucket_name)
            if settings.existing_bucket_name
            else self._bucket(destroy if not settings.retain_bucket else retain)
        )
        self.security_group = self._security_group(vpc, cluster, file_system_policy)
        # Lustre is single-zone: the file system sits in the Trn2 nodes' subnet.
        subnet = vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                                    availability_zones=[availability_zone]).subnets[0]
        self.file_system = self._file_system(settings, vpc, subnet, file_system_policy)
        self.association = fsx.CfnDataRepositoryAssociation(
            self, "BucketLink",
            file_system_id=self.file_system.file_system_id,
            file_system_path="/",
            data_repository_path=f"s3://{self.bucket.bucket_name}",
            # Lists what the bucket already holds (a kept bucket of an earlier stack) at creation.
            batch_import_meta_data_on_create=True,
            s3=fsx.CfnDataRepositoryAssociation.S3Property(
                auto_import_policy=fsx.CfnDataRepositoryAssociation.AutoImportPolicyProperty(
                    events=SYNC_EVENTS),
                auto_export_policy=fsx.CfnDataRepositoryAssociation.AutoExportPolicyProperty(
                    events=SYNC_EVENTS),
            ),
        )
        self.association.apply_removal_policy(file_system_policy)

        self.csi_driver = self._csi_driver(cluster, csi_driver_version)
        self.prefetch_role = self._prefetch_identity(cluster, consumers.namespace,
                                                     settings.hf_token_secret_name, stack)

        chart = ModelCacheChart(
            charts, "model-cache",
            namespace=consumers.namespace,
            volume=LustreVolume(
                file_system_id=self.file_system.file_system_id,
                dns_name=self.file_system.dns_name,
                mount_name=self.file_system.mount_name,
                capacity_gib=settings.storage_capacity_gib,
                availability_zone=availability_zone,
            ),
            model_ids=consumers.model_ids,
            region=stack.region,
            hf_token_secret_name=settings.hf_token_secret_name,
        )
        self.manifest = cluster.cluster.add_cdk8s_chart("ModelCache", chart)
        # The namespace must exist, and the Job must write only once the bucket link exports it.
        self.manifest.node.add_dependency(namespace_manifest)
        self.manifest.node.add_dependency(self.association)
        self.manifest.node.add_dependency(self.csi_driver)

    def _bucket(self, removal_policy: RemovalPolicy) -> s3.Bucket:
        bucket = s3.Bucket(
            self, "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # SSE-S3: FSx reads and writes SSE-S3 buckets with no extra key policy for its
            # service-linked role (FSx for Lustre User Guide, "Working with server-side encrypted
            # Amazon S3 buckets").
            encryption=s3.BucketEncryption.S3_MANAGED,
            # No versioning: everything here is rebuilt from Hugging Face or by a compile, and
            # every re-export of 65 GB of weights would otherwise keep an old copy.
            versioned=False,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal_policy,
            auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        )
        acknowledge(bucket, "AwsSolutions-S1",
                    "The bucket holds only public model weights and Neuron compile artifacts, written by "
                    "FSx itself; CloudTrail covers its management events, and access logs would need "
                    "a second bucket per environment.")
        return bucket

    def _security_group(self, vpc: ec2.IVpc, cluster: Cluster,
                        removal_policy: RemovalPolicy) -> ec2.SecurityGroup:
        group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="FSx for Lustre model cache: Lustre traffic from the EKS nodes only",
        )
        nodes = cluster.cluster.cluster_security_group
        for port in LUSTRE_PORTS:
            group.add_ingress_rule(nodes, port, "Lustre from the EKS nodes")
            group.add_ingress_rule(group, port, "Lustre between the file system's interfaces")
            group.add_egress_rule(group, port, "Lustre between the file system's interfaces")
            group.add_egress_rule(nodes, port, "Lustre to the EKS nodes (clients listen too)")
            # Lustre clients also accept connections from the servers on these ports.
            nodes.add_ingress_rule(group, port, "Lustre from the model cache file system")
        group.apply_removal_policy(removal_policy)
        return group

    def _file_system(self, settings: ModelCacheSettings, vpc: ec2.IVpc, subnet: ec2.ISubnet,
                     removal_policy: RemovalPolicy) -> fsx.LustreFileSystem:
        key = kms.Key(
            self, "Key",
            description="Encryption at rest of the FSx for Lustre model cache",
            enable_key_rotation=True,
            # A kept file system is unreadable without its key: they share one fate.
            removal_policy=removal_policy,
            pending_window=Duration.days(7),
        )
        file_system = fsx.LustreFileSystem(
            self, "FileSystem",
            vpc=vpc,
            vpc_subnet=subnet,
            security_group=self.security_group,
            storage_capacity_gib=settings.storage_capacity_gib,
            kms_key=key,
            # 2.15 is the version FSx recommends for new file systems and the default for
            # PERSISTENT_2 with a metadata configuration (FSx API, CreateFileSystem).
            file_system_type_version=fsx.FileSystemTypeVersion.V_2_15,
            lustre_configuration=fsx.LustreConfiguration(
                deployment_type=fsx.LustreDeploymentType.PERSISTENT_2,
                per_unit_storage_throughput=settings.throughput_mib_per_tib,
                # Safetensors of bf16 weights barely compress; LZ4 would cost CPU for nothing.
                data_compression_type=fsx.LustreDataCompressionType.NONE,
            ),
            removal_policy=removal_policy,
        )
        cfn = file_system.node.default_child
        # Not exposed by the L2 construct: FSx sizes metadata IOPS with the storage (SSD only).
        # No EFA: an EFA-enabled file system needs EFA-capable clients and an all-traffic security
        # group, and this cache is read once per pod start, far below what TCP delivers.
        cfn.add_property_override("LustreConfiguration.MetadataConfiguration", {"Mode": "AUTOMATIC"})
        return file_system

    def _csi_driver(self, cluster: Cluster, version: str | None) -> eks_l1.CfnAddon:
        """The FSx CSI driver add-on; its controller gets a Pod Identity role.

        Only static provisioning is used (the PV names this file system), so the controller never
        creates or deletes file systems: its role may only describe this one.
        """
        role = pod_identity_role(self, "CsiControllerRole",
                                 "FSx CSI driver controller (static provisioning only)")
        role.add_to_policy(iam.PolicyStatement(
            actions=["fsx:DescribeFileSystems"],
            resources=[self._file_system_arn()],
        ))
        addon = eks_l1.CfnAddon(
            self, "CsiDriver",
            cluster_name=cluster.cluster.cluster_name,
            addon_name=CSI_ADDON,
            # None: EKS installs its default build for the cluster's Kubernetes version.
            addon_version=version,
            resolve_conflicts="OVERWRITE",
            pod_identity_associations=[eks_l1.CfnAddon.PodIdentityAssociationProperty(
                service_account=CSI_CONTROLLER_SERVICE_ACCOUNT, role_arn=role.role_arn)],
        )
        addon.node.add_dependency(cluster.pod_identity_agent)
        # The add-on only turns ACTIVE once its pods run, which needs nodes.
        addon.node.add_dependency(cluster.system_nodegroup)
        return addon

    def _file_system_arn(self) -> str:
        return Stack.of(self).format_arn(service="fsx", resource="file-system",
                                         resource_name=self.file_system.file_system_id)

    def _prefetch_identity(self, cluster: Cluster, namespace: str, secret_name: str | None,
                           stack: Stack) -> iam.Role | None:
        """The prefetch Job's role: read the Hugging Face token secret, nothing else."""
        if not secret_name:
            return None
        role = pod_identity_role(self, "PrefetchRole", "Model prefetch Job: reads the Hugging Face token")
        # Secrets Manager appends six random characters to a secret's name in its ARN.
        secret_arn = stack.format_arn(service="secretsmanager", resource="secret",
                                      resource_name=f"{secret_name}-??????",
                                      arn_format=ArnFormat.COLON_RESOURCE_NAME)
        role.add_to_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"],
                                               resources=[secret_arn]))
        associate(self, "PrefetchIdentity", cluster=cluster, namespace=namespace,
                  service_account=names.MODEL_PREFETCH_SERVICE_ACCOUNT, role=role)
        return role

