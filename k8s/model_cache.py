"""The model cache as Kubernetes sees it: a static PV/PVC for the FSx for Lustre file system and
the Job that fills it with the target and draft weights (k8s/scripts/prefetch_models.py)."""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

import cdk8s
from cdk8s_plus_36 import k8s
from constructs import Construct

from specdec import names

SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
PREFETCH_SCRIPT = "prefetch_models.py"
PREFETCH_REQUIREMENTS = "prefetch-requirements.txt"
# Docker's official Python image through its ECR Public mirror (no Docker Hub pull limits),
# pinned to a patch release; huggingface_hub 2.4.0 needs Python >= 3.10. The Job installs the
# pinned packages of prefetch-requirements.txt at start, so no custom image has to be built.
PREFETCH_IMAGE = "public.ecr.aws/docker/library/python:3.12.11-slim-bookworm"
# The fsx.csi.aws.com driver mounts with Lustre's `flock` so file locks work across nodes
# (huggingface_hub and the Neuron compile cache take locks); FSx's own mount example uses it.
MOUNT_OPTIONS = ["flock"]
SCRIPT_MOUNT = "/opt/prefetch"
SCRATCH_MOUNT = "/tmp"
UNPRIVILEGED_USER = 1000


@dataclass(frozen=True)
class LustreVolume:
    """What the CSI driver needs to mount an existing file system (CloudFormation tokens)."""

    file_system_id: str
    dns_name: str
    mount_name: str
    capacity_gib: int
    availability_zone: str  # Lustre is single-zone


class ModelCacheChart(cdk8s.Chart):
    def __init__(self, scope: Construct, id: str, *, namespace: str, volume: LustreVolume,
                 model_ids: list[str], region: str, hf_token_secret_name: str | None) -> None:
        # No chart-wide namespace: the PersistentVolume is cluster-scoped.
        super().__init__(scope, id)
        self._namespace = namespace
        self._claim(volume)
        self._prefetch_job(model_ids, region, hf_token_secret_name, volume.availability_zone)

    def _claim(self, volume: LustreVolume) -> None:
        capacity = {"storage": k8s.Quantity.from_string(f"{volume.capacity_gib}Gi")}
        pv_name = f"{self._namespace}-{names.MODEL_CACHE_CLAIM}"
        k8s.KubePersistentVolume(
            self, "Volume",
            metadata=k8s.ObjectMeta(name=pv_name),
            spec=k8s.PersistentVolumeSpec(
                capacity=capacity,
                access_modes=["ReadWriteMany"],
                volume_mode="Filesystem",
                # Deleting the claim must never touch the file system; CloudFormation owns it.
                persistent_volume_reclaim_policy="Retain",
                storage_class_name="",
                mount_options=MOUNT_OPTIONS,
                # Only our claim may bind this volume.
                claim_ref=k8s.ObjectReference(namespace=self._namespace, name=names.MODEL_CACHE_CLAIM),
                csi=k8s.CsiPersistentVolumeSource(
                    driver="fsx.csi.aws.com",
                    volume_handle=volume.file_system_id,
                    volume_attributes={"dnsname": volume.dns_name, "mountname": volume.mount_name},
                ),
            ),
        )
        k8s.KubePersistentVolumeClaim(
            self, "Claim",
            metadata=k8s.ObjectMeta(name=names.MODEL_CACHE_CLAIM, namespace=self._namespace),
            spec=k8s.PersistentVolumeClaimSpec(
                access_modes=["ReadWriteMany"],
                storage_class_name="",  # static binding: no provisioner may create a volume
                volume_name=pv_name,
                resources=k8s.VolumeResourceRequirements(requests=capacity),
            ),
        )

    def _prefetch_job(self, model_ids: list[str], region: str, secret: str | None, zone: str) -> None:
        files = {name: (SCRIPTS_DIR / name).read_text() for name in (PREFETCH_SCRIPT, PREFETCH_REQUIREMENTS)}
        args = [*model_ids, "--models-dir", names.MODELS_DIR, "--marker", names.COMPLETE_MARKER,
                "--compile-cache-dir", names.COMPILE_CACHE_DIR]
        if secret:
            args += ["--hf-token-secret", secret]
        command = (
            "python -m pip install --no-cache-dir --disable-pip-version-check --quiet "
            f"--target {SCRATCH_MOUNT}/pylib -r {SCRIPT_MOUNT}/{PREFETCH_REQUIREMENTS}\n"
            f"exec python {SCRIPT_MOUNT}/{PREFETCH_SCRIPT} {shlex.join(args)}"
        )
        # A new name whenever what the Job does changes: a Job's pod template is immutable, and
        # the old Job is pruned from the cluster by the manifest's prune labels.
        digest = hashlib.sha256("\n".join([PREFETCH_IMAGE, command, *files.values()]).encode())
        job_name = f"model-prefetch-{digest.hexdigest()[:8]}"
        labels = {names.COMPONENT_LABEL: "model-prefetch"}

        config_map = k8s.KubeConfigMap(self, "PrefetchScript", data=files,
                                       metadata=k8s.ObjectMeta(name=job_name, namespace=self._namespace))
        k8s.KubeServiceAccount(
            self, "PrefetchServiceAccount",
            metadata=k8s.ObjectMeta(name=names.MODEL_PREFETCH_SERVICE_ACCOUNT, namespace=self._namespace),
            # The Job never calls the Kubernetes API. EKS Pod Identity injects its own token.
            automount_service_account_token=False,
        )
        k8s.KubeJob(
            self, "Prefetch",
            metadata=k8s.ObjectMeta(name=job_name, namespace=self._namespace, labels=labels),
            spec=k8s.JobSpec(
                backoff_limit=4,
                active_deadline_seconds=6 * 3600,
                ttl_seconds_after_finished=7 * 24 * 3600,
                template=k8s.PodTemplateSpec(
                    metadata=k8s.ObjectMeta(labels=labels),
                    spec=k8s.PodSpec(
                        service_account_name=names.MODEL_PREFETCH_SERVICE_ACCOUNT,
                        restart_policy="Never",  # one pod per attempt keeps each attempt's logs
                        node_selector={names.POOL_LABEL: names.SYSTEM_POOL},
                        # Tens of GB go to the file system: from its own zone if a system node is
                        # there (faster, no cross-zone transfer), from another zone otherwise.
                        affinity=k8s.Affinity(node_affinity=k8s.NodeAffinity(
                            preferred_during_scheduling_ignored_during_execution=[
                                k8s.PreferredSchedulingTerm(weight=100, preference=k8s.NodeSelectorTerm(
                                    match_expressions=[k8s.NodeSelectorRequirement(
                                        key="topology.kubernetes.io/zone", operator="In", values=[zone])]))],
                        )),
                        security_context=k8s.PodSecurityContext(
                            run_as_non_root=True, run_as_user=UNPRIVILEGED_USER,
                            run_as_group=UNPRIVILEGED_USER,
                            seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
                        ),
                        init_containers=[self._prepare_directories()],
                        containers=[k8s.Container(
                            name="prefetch",
                            image=PREFETCH_IMAGE,
                            command=["/bin/sh", "-ec", command],
                            env=self._env(region),
                            resources=k8s.ResourceRequirements(
                                requests={"cpu": k8s.Quantity.from_string("1"),
                                          "memory": k8s.Quantity.from_string("2Gi")},
                                limits={"memory": k8s.Quantity.from_string("4Gi")},
                            ),
                            security_context=k8s.SecurityContext(
                                allow_privilege_escalation=False,
                                read_only_root_filesystem=True,
                                capabilities=k8s.Capabilities(drop=["ALL"]),
                            ),
                            volume_mounts=[
                                k8s.VolumeMount(name="model-cache", mount_path=names.MODEL_CACHE_MOUNT),
                                k8s.VolumeMount(name="script", mount_path=SCRIPT_MOUNT, read_only=True),
                                k8s.VolumeMount(name="scratch", mount_path=SCRATCH_MOUNT),
                            ],
                        )],
                        volumes=[
                            k8s.Volume(name="model-cache", persistent_volume_claim=(
                                k8s.PersistentVolumeClaimVolumeSource(claim_name=names.MODEL_CACHE_CLAIM))),
                            k8s.Volume(name="script",
                                       config_map=k8s.ConfigMapVolumeSource(name=config_map.name)),
                            k8s.Volume(name="scratch", empty_dir=k8s.EmptyDirVolumeSource(
                                size_limit=k8s.Quantity.from_string("4Gi"))),
                        ],
                    ),
                ),
            ),
        )

    @staticmethod
    def _prepare_directories() -> k8s.Container:
        """A new file system's root belongs to root: create the cache folders for the Job's user.

        Runs as root with only CAP_CHOWN (allowed by the namespace's `baseline` Pod Security level).
        """
        folders = shlex.join([names.MODELS_DIR, names.COMPILE_CACHE_DIR])
        return k8s.Container(
            name="prepare-directories",
            image=PREFETCH_IMAGE,
            command=["/bin/sh", "-ec", f"mkdir -p {folders}\n"
                     f"chown {UNPRIVILEGED_USER}:{UNPRIVILEGED_USER} {folders}"],
            security_context=k8s.SecurityContext(
                run_as_user=0, run_as_non_root=False, allow_privilege_escalation=False,
                read_only_root_filesystem=True,
                capabilities=k8s.Capabilities(drop=["ALL"], add=["CHOWN"]),
            ),
            resources=k8s.ResourceRequirements(
                requests={"cpu": k8s.Quantity.from_string("50m"),
                          "memory": k8s.Quantity.from_string("32Mi")},
                limits={"memory": k8s.Quantity.from_string("64Mi")},
            ),
            volume_mounts=[k8s.VolumeMount(name="model-cache", mount_path=names.MODEL_CACHE_MOUNT)],
        )

    @staticmethod
    def _env(region: str) -> list[k8s.EnvVar]:
        values = {
            "HOME": SCRATCH_MOUNT,
            "PYTHONPATH": f"{SCRATCH_MOUNT}/pylib",
            "PYTHONUNBUFFERED": "1",
            "AWS_REGION": region,
            # Hub state (tokens, Xet caches) stays on scratch; weights go straight to local_dir.
            "HF_HOME": f"{SCRATCH_MOUNT}/hf",
            # hf-xet keeps a 10 GB chunk cache by default; a one-time download gains nothing from it.
            "HF_XET_CHUNK_CACHE_SIZE_BYTES": "0",
            # The script logs progress itself; tqdm bars make unreadable container logs.
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }
        return [k8s.EnvVar(name=k, value=v) for k, v in values.items()]
