"""The forwarder's CloudWatch metrics: names, units and the vLLM series each comes from.

Namespace SpecDec (specdec/names.py); server metrics have dimensions Environment and Variant, node
counts Environment and NodeGroup. The dashboard and the alarms read these names.
"""

from __future__ import annotations

from dataclasses import dataclass

from specdec import vllm_metrics as vllm

SERVER_DIMENSIONS = ("Environment", "Variant")
NODE_DIMENSIONS = ("Environment", "NodeGroup")

TIME_TO_FIRST_TOKEN = "TimeToFirstToken"
INTER_TOKEN_LATENCY = "InterTokenLatency"
DECODE_STEP_TIME = "DecodeStepTime"
END_TO_END_LATENCY = "EndToEndLatency"
GENERATED_TOKENS = "GeneratedTokens"
REQUESTS_RUNNING = "RequestsRunning"
REQUESTS_WAITING = "RequestsWaiting"
DRAFTS = "SpeculativeDrafts"
DRAFT_TOKENS = "SpeculativeDraftTokens"
ACCEPTED_TOKENS = "SpeculativeAcceptedTokens"
READY_SERVERS = "ReadyServers"
READY_NODES = "ReadyNodes"


@dataclass(frozen=True)
class Histogram:
    metric: str
    unit: str
    scale: float  # from vLLM's seconds


def histograms(engine: vllm.Engine, speculative: bool) -> dict[str, Histogram]:
    """vLLM histogram -> CloudWatch metric for one server. On a speculative server the token
    latency histogram is published as what it is, a step time, never as a per-token latency."""
    token = DECODE_STEP_TIME if engine.token_latency_is_per_step(speculative) else INTER_TOKEN_LATENCY
    return {
        vllm.TTFT: Histogram(TIME_TO_FIRST_TOKEN, "Milliseconds", 1000.0),
        engine.token_latency: Histogram(token, "Milliseconds", 1000.0),
        vllm.E2E: Histogram(END_TO_END_LATENCY, "Seconds", 1.0),
    }


# Counters, published as their increase per interval (Sum over a period / period = a rate).
COUNTERS = {
    vllm.GENERATION_TOKENS: GENERATED_TOKENS,
    vllm.SPEC_DRAFTS: DRAFTS,
    vllm.SPEC_DRAFT_TOKENS: DRAFT_TOKENS,
    vllm.SPEC_ACCEPTED_TOKENS: ACCEPTED_TOKENS,
}
# Gauges, summed over a variant's pods.
GAUGES = {
    vllm.REQUESTS_RUNNING: REQUESTS_RUNNING,
    vllm.REQUESTS_WAITING: REQUESTS_WAITING,
}
