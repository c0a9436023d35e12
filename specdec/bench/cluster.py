"""`python -m specdec bench -e NAME`: run the deployed benchmark on demand, through kubectl.

It copies the suspended CronJob the stack applies into a new Job (`kubectl create job --from`),
follows its log (the benchmark's own progress lines) and says where the results went.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime

from specdec import names
from specdec.config import load_environment

RESULTS_LINE = re.compile(r"^results: (s3://\S+)")
# The pod pulls an image and installs packages before it logs anything.
POD_START_TIMEOUT = "15m"
POD_CREATE_SECONDS = 120


def _pod_created(base: list[str], job: str, sleep=time.sleep) -> bool:
    """The Job controller creates the pod a moment after the Job; `kubectl logs` needs it."""
    for _ in range(POD_CREATE_SECONDS // 2):
        pods = subprocess.run([*base, "get", "pods", "--selector", f"job-name={job}", "-o", "name"],
                              capture_output=True, text=True, check=False).stdout.split()
        if pods:
            return True
        sleep(2)
    return False


def run_on_cluster(env_name: str, context: str | None) -> int:
    environment = load_environment(env_name)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        print("bench -e: kubectl is not installed (https://kubernetes.io/docs/tasks/tools/)", file=sys.stderr)
        return 2
    update = (f"aws eks update-kubeconfig --region {environment.region} --name {environment.stack_name}")
    context = context or (f"arn:aws:eks:{environment.region}:{environment.account}:cluster/"
                          f"{environment.stack_name}")
    contexts = subprocess.run([kubectl, "config", "get-contexts", "-o", "name"], capture_output=True,
                              text=True, check=False).stdout.split()
    if context not in contexts:
        print(f"bench -e {env_name}: no kubectl context {context!r}: run `{update}` (or pass --context)",
              file=sys.stderr)
        return 2
    base = [kubectl, "--context", context, "--namespace", environment.serving.namespace]
    job = f"{names.BENCHMARK_NAME}-manual-{datetime.now(UTC):%Y%m%d%H%M%S}"
    created = subprocess.run([*base, "create", "job", job, f"--from=cronjob/{names.BENCHMARK_NAME}"],
                             capture_output=True, text=True, check=False)
    if created.returncode != 0:
        print(f"bench -e {env_name}: cannot start the benchmark: {created.stderr.strip()} (is the stack "
              "deployed? `npx cdk deploy SpecDecStack -c env=" + env_name + "`)", file=sys.stderr)
        return 1
    print(f"started job/{job} in namespace {environment.serving.namespace}; following its log "
          "(Ctrl-C stops following, not the benchmark)", flush=True)
    if not _pod_created(base, job):
        print(f"bench -e {env_name}: job/{job} made no pod in {POD_CREATE_SECONDS} s; see `kubectl "
              f"--namespace {environment.serving.namespace} describe job {job}`", file=sys.stderr)
        return 1
    results = None
    with subprocess.Popen([*base, "logs", "--follow", f"--pod-running-timeout={POD_START_TIMEOUT}",
                           f"job/{job}"], stdout=subprocess.PIPE, text=True) as logs:
        for line in logs.stdout:
            print(line, end="", flush=True)
            match = RESULTS_LINE.match(line)
            results = match.group(1) if match else results
    succeeded = subprocess.run([*base, "get", "job", job, "-o", "jsonpath={.status.succeeded}"],
                               capture_output=True, text=True, check=False).stdout.strip()
    if succeeded != "1" or results is None:
        print(f"bench -e {env_name}: job/{job} did not finish with results; see `kubectl "
              f"--namespace {environment.serving.namespace} describe job {job}`", file=sys.stderr)
        return 1
    print(f"results: {results}")
    print(f"next: python -m specdec report {results} --out report/")
    return 0
