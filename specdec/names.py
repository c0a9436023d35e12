"""Names shared by the CDK constructs and the cdk8s charts, so both sides agree by construction."""

# Trn2 nodes carry this taint; only pods that request Neuron devices tolerate it.
NEURON_TAINT_KEY = "aws.amazon.com/neuron"
NEURON_TAINT_VALUE = "true"
NEURON_TAINT_EFFECT = "NoSchedule"  # Kubernetes spelling; CloudFormation spells it NO_SCHEDULE

# Node-group labels that workloads select on.
POOL_LABEL = "specdec.io/pool"
NEURON_POOL = "neuron"
SYSTEM_POOL = "system"

# The shared model cache (FSx for Lustre) as serving pods see it.
MODEL_CACHE_CLAIM = "model-cache"
MODEL_CACHE_MOUNT = "/model-cache"
MODELS_DIR = f"{MODEL_CACHE_MOUNT}/models"  # one folder per Hugging Face id, e.g. models/Qwen/Qwen3-32B
COMPILE_CACHE_DIR = f"{MODEL_CACHE_MOUNT}/neuron-compile-cache"
COMPLETE_MARKER = ".specdec-complete"  # written in a model folder once every file is verified
# The prefetch Job's service account; EKS Pod Identity maps it to a role that may read the
# Hugging Face token secret.
MODEL_PREFETCH_SERVICE_ACCOUNT = "model-prefetch"

# OpenAI-compatible HTTP port of the vLLM servers (vLLM's default).
SERVING_PORT = 8000

# The Neuron scheduler extension's scheduler (neuron-helm-chart `scheduler.enabled`); pods that
# take several Neuron devices name it so they get topology-adjacent devices.
NEURON_SCHEDULER_NAME = "my-scheduler"

# Pod labels the serving NetworkPolicy admits traffic from.
COMPONENT_LABEL = "app.kubernetes.io/component"
BENCHMARK_COMPONENT = "benchmark"
GATEWAY_COMPONENT = "gateway"

# The vLLM servers: one Deployment and ClusterIP Service per variant, named vllm-<variant>
# (e.g. http://vllm-speculative.<namespace>.svc:8000/v1), labelled with the variant.
SERVER_COMPONENT = "server"
VARIANT_LABEL = "specdec.io/variant"
SPECULATIVE_VARIANT = "speculative"
BASELINE_VARIANT = "baseline"


def server_name(variant: str) -> str:
    return f"vllm-{variant}"


# With serving.internal_load_balancer: a second Service per variant, of type LoadBalancer, that the
# AWS Load Balancer Controller (service account below, in kube-system) turns into an internal NLB.
LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT = "aws-load-balancer-controller"


def load_balancer_service_name(variant: str) -> str:
    return f"{server_name(variant)}-nlb"


# neuron-monitor (Neuron docs, "Neuron Monitor DaemonSet"): a Prometheus endpoint on every Trn2 node.
NEURON_MONITOR_NAMESPACE = "neuron-monitor"
NEURON_MONITOR_PORT = 8000

# The benchmark: a Job after deploys and a suspended CronJob that `python -m specdec bench -e` copies.
BENCHMARK_NAME = "specdec-benchmark"
BENCHMARK_SERVICE_ACCOUNT = "benchmark"
# Its results in CloudWatch (metric names in specdec/bench/metrics.py) and in S3, one folder per run.
BENCHMARK_METRICS_NAMESPACE = "SpecDec"
BENCHMARK_RESULTS_PREFIX = "benchmarks"


def service_url(variant: str, namespace: str) -> str:
    return f"http://{server_name(variant)}.{namespace}.svc:{SERVING_PORT}"

# The metrics forwarder (specdec/forwarder): scrapes every server's /metrics and puts what it read
# in CloudWatch under the benchmark's namespace, with dimensions Environment and Variant.
FORWARDER_NAME = "specdec-metrics-forwarder"
FORWARDER_SERVICE_ACCOUNT = "metrics-forwarder"
FORWARDER_COMPONENT = "metrics"
# The CloudWatch Observability add-on's Container Insights metrics (Neuron included).
CONTAINER_INSIGHTS_NAMESPACE = "ContainerInsights"

