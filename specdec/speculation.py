"""The speculative-decoding model of Leviathan et al. 2023, "Fast Inference from Transformers via
Speculative Decoding" (arXiv:2211.17192), section 3 (pure).

With per-token acceptance rate a and k draft tokens, one target step yields on average
E(a, k) = (1 - a^(k+1)) / (1 - a) tokens (their equation 1). If a draft pass costs c target
steps, a speculative step costs 1 + k*c, and the speed-up over decoding with the target alone is
E(a, k) / (1 + k*c) (their theorem 3.8 with the walltime improvement factor).
"""

from __future__ import annotations

from specdec.validation import UserError

K_RANGE = range(1, 16)  # num_speculative_tokens the environment file accepts (specdec/config.py)


class ModelError(UserError):
    """An input outside what the model is defined for; `str()` says which and what is allowed."""


def expected_tokens(a: float, k: int) -> float:
    """Mean tokens per target step; k + 1 when every draft token is accepted."""
    _check_acceptance(a)
    return float(k + 1) if a == 1 else (1 - a ** (k + 1)) / (1 - a)


def speed_up(a: float, k: int, c: float) -> float:
    return expected_tokens(a, k) / (1 + k * c)


def acceptance_from_tokens_per_step(tokens: float, k: int) -> float:
    """The a for which E(a, k) equals the measured tokens per step (E is increasing in a)."""
    if not 1 <= tokens <= k + 1:
        raise ModelError(f"tokens per step = {tokens:.3f} is not allowed: between 1 and k + 1 = {k + 1}")
    low, high = 0.0, 1.0
    for _ in range(60):  # bisection to well below float precision of the inputs
        middle = (low + high) / 2
        if expected_tokens(middle, k) < tokens:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def draft_cost_from_step_times(speculative_step_s: float, target_step_s: float, k: int) -> float:
    """c from measured step times: a speculative step takes target_step * (1 + k*c)."""
    if target_step_s <= 0 or speculative_step_s <= 0:
        raise ModelError("step times must be positive")
    return max(0.0, (speculative_step_s / target_step_s - 1) / k)


def best_k(a: float, c: float, ks: range = K_RANGE) -> int:
    return max(ks, key=lambda k: (speed_up(a, k, c), -k))


def _check_acceptance(a: float) -> None:
    if not 0 <= a <= 1:
        raise ModelError(f"acceptance = {a:g} is not allowed: between 0 and 1")
