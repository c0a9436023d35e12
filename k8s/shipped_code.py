"""SpecDec's own Python code, shipped to a pod in a ConfigMap: no image to build or push.

The benchmark Job and the metrics forwarder run the same way: the pinned Python image, the
code mounted read-only from a ConfigMap, their requirements pip-installed into a scratch folder at
start, as an unprivileged user with a read-only root file system.
"""

from __future__ import annotations

from pathlib import Path

from cdk8s_plus_36 import k8s

from k8s.model_cache import PREFETCH_IMAGE, UNPRIVILEGED_USER
from specdec import names

REPO = Path(__file__).resolve().parent.parent
CODE_MOUNT = "/opt/specdec"
SCRATCH_MOUNT = "/tmp"


def package_files(package: str) -> list[str]:
    """Every file of a package folder, e.g. specdec/bench, relative to the repository."""
    return sorted(str(p.relative_to(REPO)) for p in (REPO / package).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def read(paths: list[str]) -> dict[str, str]:
    return {path: (REPO / path).read_text() for path in paths}


def config_map_key(path: str) -> str:
    """ConfigMap keys cannot hold '/'."""
    return path.replace("/", "--")


def pip_install(requirements: str, extra_index_url: str | None = None) -> str:
    """The shell line that installs a shipped requirements file into the scratch folder."""
    extra = f"--extra-index-url {extra_index_url} " if extra_index_url else ""
    return ("python -m pip install --no-cache-dir --disable-pip-version-check --quiet "
            f"--target {SCRATCH_MOUNT}/pylib {extra}-r {CODE_MOUNT}/{requirements}")


def python_pod_spec(*, service_account: str, container: str, command: str, region: str,
                    config_map: str, files: list[str], cpu: str, memory: str, memory_limit: str,
                    scratch: str, env: dict[str, str] | None = None,
                    restart_policy: str | None = None) -> k8s.PodSpec:
    """A pod on the system nodes that runs `command` (a shell script) over the shipped `files`."""
    variables = {
        "HOME": SCRATCH_MOUNT,
        "PYTHONPATH": f"{SCRATCH_MOUNT}/pylib",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # the code's ConfigMap volume is read-only
        # botocore reads AWS_DEFAULT_REGION only; EKS's Pod Identity webhook adds neither
        # variable to a container that sets one (aws/amazon-eks-pod-identity-webhook).
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        **(env or {}),
    }
    return k8s.PodSpec(
        service_account_name=service_account,
        restart_policy=restart_policy,
        node_selector={names.POOL_LABEL: names.SYSTEM_POOL},
        security_context=k8s.PodSecurityContext(
            run_as_non_root=True, run_as_user=UNPRIVILEGED_USER, run_as_group=UNPRIVILEGED_USER,
            seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
        ),
        containers=[k8s.Container(
            name=container,
            image=PREFETCH_IMAGE,
            command=["/bin/sh", "-ec", command],
            env=[k8s.EnvVar(name=k, value=v) for k, v in variables.items()],
            resources=k8s.ResourceRequirements(
                requests={"cpu": k8s.Quantity.from_string(cpu), "memory": k8s.Quantity.from_string(memory)},
                limits={"memory": k8s.Quantity.from_string(memory_limit)},
            ),
            security_context=k8s.SecurityContext(
                allow_privilege_escalation=False, read_only_root_filesystem=True,
                capabilities=k8s.Capabilities(drop=["ALL"]),
            ),
            volume_mounts=[
                k8s.VolumeMount(name="code", mount_path=CODE_MOUNT, read_only=True),
                k8s.VolumeMount(name="scratch", mount_path=SCRATCH_MOUNT),
            ],
        )],
        volumes=[
            k8s.Volume(name="code", config_map=k8s.ConfigMapVolumeSource(
                name=config_map, items=[k8s.KeyToPath(key=config_map_key(p), path=p) for p in files])),
            # pip's packages, logs and results.
            k8s.Volume(name="scratch", empty_dir=k8s.EmptyDirVolumeSource(
                size_limit=k8s.Quantity.from_string(scratch))),
        ],
    )
