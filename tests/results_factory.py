"""Results documents built by hand, so tests know every number in them."""

from __future__ import annotations

from datetime import UTC, datetime

from specdec.bench.results import Deployment, Method, Request, Results, Run, Variant, summarize

STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DEPLOYMENT = dict(environment="dev", region="us-east-2", instance_type="trn2.48xlarge",
                  capacity_type="on_demand", chips_per_server=8, tensor_parallel_size=32, max_num_seqs=4,
                  image="img", target_model="Qwen/Qwen3-32B", draft_model="Qwen/Qwen3-1.7B",
                  num_speculative_tokens=7)


def requests(itl_ms: float, tokens_per_step: int, count: int = 4, output_tokens: int = 601) -> list[Request]:
    """`count` identical requests: 1 prefill token, then steps of `tokens_per_step` tokens."""
    chunks = 1 + (output_tokens - 1) // tokens_per_step
    e2e = 0.05 + (output_tokens - 1) * itl_ms / 1000
    return [Request(ttft_ms=50.0, itl_ms=itl_ms, e2e_s=e2e, prompt_tokens=64, output_tokens=output_tokens,
                    chunks=chunks) for _ in range(count)]


def run(suite: str, variant: str, itl_ms: float, tokens_per_step: int, duration_s: float = 100.0) -> Run:
    measured = requests(itl_ms, tokens_per_step)
    return Run(suite=suite, variant=variant, started_at=STARTED, finished_at=STARTED,
               duration_s=duration_s, token_counts="server usage", summary=summarize(measured, 0, duration_s),
               requests=measured)


def results(runs: list[Run], k: int = 7, facts: dict[str, dict] | None = None, **deployment) -> Results:
    """Variants in the order their runs come, the one named baseline as the baseline; `facts`: what
    served each variant by name (engine, image, draft_model, num_speculative_tokens, ...)."""
    names = list(dict.fromkeys(r.variant for r in runs))
    facts = facts or {}
    return Results(
        started_at=STARTED, finished_at=STARTED,
        deployment=Deployment(**{**DEPLOYMENT, "num_speculative_tokens": k, **deployment}),
        method=Method(load_generator="guidellm", load_generator_version="0.8.1",
                      endpoint="/v1/chat/completions", requests=4, concurrency=4, max_output_tokens=601,
                      temperature=0.0, order="test"),
        variants=[Variant(name=n, role="baseline" if n == "baseline" else "speculative",
                          url=f"http://{n}:8000", **facts.get(n, {})) for n in names],
        runs=runs,
    )


def recipe(k: int = 7) -> Results:
    """The published figures: 45 ms per token without speculation, 15 ms with it on structured
    prompts; no gain on open-ended ones."""
    return results([run("structured", "speculative", 15.0, 3), run("structured", "baseline", 45.0, 1),
                    run("open-ended", "speculative", 45.0, 1), run("open-ended", "baseline", 45.0, 1)], k=k)


EAGLE3_HEAD = "RedHatAI/Qwen3-32B-speculator.eagle3"
THREE_VARIANTS = {
    "speculative": dict(engine="nxdi", image="recipe-image", draft_model="Qwen/Qwen3-1.7B",
                        num_speculative_tokens=5, speculative_method="eagle"),
    "eagle3": dict(engine="vllm-neuron", image="plugin-image", draft_model=EAGLE3_HEAD,
                   num_speculative_tokens=3, speculative_method="eagle3"),
    "baseline": dict(engine="nxdi", image="recipe-image"),
}


def three_variants() -> Results:
    """The recipe (nxdi, k=5), an EAGLE3 head on vllm-neuron (k=3) and the baseline, each variant
    describing itself; the deployment's draft and k are the recipe variant's. On structured
    prompts the EAGLE3 variant accepts every draft token (4 per step at k=3) in a step barely
    longer than the baseline's; on open-ended ones it still gains, the recipe does not."""
    return results([run("structured", "speculative", 15.0, 3), run("structured", "eagle3", 11.5, 4),
                    run("structured", "baseline", 45.0, 1),
                    run("open-ended", "speculative", 45.0, 1), run("open-ended", "eagle3", 30.0, 2),
                    run("open-ended", "baseline", 45.0, 1)],
                   k=5, facts=THREE_VARIANTS, image=None)
