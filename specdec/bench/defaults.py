"""Benchmark defaults: the published run's (aws-neuron-eks-samples, speculative_decoding_trn2_vllm,
its LLMPerf pod): concurrency 4, 600 output tokens, temperature 0."""

REQUESTS = 32
CONCURRENCY = 4
OUTPUT_TOKENS = 600
TEMPERATURE = 0.0

