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

# OpenAI-compatible HTTP port of the vLLM servers (vLLM's default).
SERVING_PORT = 8000

# The Neuron scheduler extension's scheduler (neuron-helm-chart `scheduler.enabled`); pods that
# take several Neuron devices name it so they get topology-adjacent devices.
NEURON_SCHEDULER_NAME = "my-scheduler"

# Pod labels the serving NetworkPolicy admits traffic from.
COMPONENT_LABEL = "app.kubernetes.io/component"
BENCHMARK_COMPONENT = "benchmark"
GATEWAY_COMPONENT = "gateway"
