"""Leviathan et al.'s model of speculative decoding, against values computed by hand."""

from __future__ import annotations

import pytest

from specdec.speculation import (
    ModelError,
    acceptance_from_tokens_per_step,
    best_k,
    draft_cost_from_step_times,
    expected_tokens,
    speed_up,
)


@pytest.mark.parametrize("a,k,tokens", [
    (0.0, 7, 1.0),                       # nothing accepted: the target's own token
    (1.0, 7, 8.0),                       # everything accepted: k + 1
    (0.5, 1, 1.5),                       # 1 + 0.5
    (0.5, 3, 1.875),                     # 1 + 0.5 + 0.25 + 0.125
    (0.8, 7, (1 - 0.8 ** 8) / 0.2),      # 4.161...
])
def test_expected_tokens_per_step(a, k, tokens):
    assert expected_tokens(a, k) == pytest.approx(tokens)


def test_speed_up_divides_by_the_cost_of_k_draft_passes():
    assert speed_up(0.5, 3, 0.1) == pytest.approx(1.875 / 1.3)
    assert speed_up(0.8, 7, 0.0) == pytest.approx(expected_tokens(0.8, 7))


@pytest.mark.parametrize("a,k", [(0.3, 1), (0.6, 5), (0.9, 7), (0.99, 15)])
def test_acceptance_is_recovered_from_tokens_per_step(a, k):
    assert acceptance_from_tokens_per_step(expected_tokens(a, k), k) == pytest.approx(a, abs=1e-9)


def test_the_draft_cost_comes_from_step_times():
    # A 45 ms target step and a 60 ms speculative step at k = 5: 5 draft passes cost 15 ms, c = 0.0667.
    assert draft_cost_from_step_times(0.060, 0.045, 5) == pytest.approx(0.015 / 0.045 / 5)


def test_best_k_grows_with_acceptance_and_shrinks_with_draft_cost():
    assert best_k(0.9, 0.02) > best_k(0.6, 0.02) >= best_k(0.6, 0.2)
    assert best_k(0.0, 0.05) == 1  # nothing accepted: the least drafting wastes least


@pytest.mark.parametrize("call,message", [
    (lambda: expected_tokens(1.2, 3), "acceptance = 1.2 is not allowed: between 0 and 1"),
    (lambda: expected_tokens(-0.1, 3), "acceptance = -0.1 is not allowed"),
    (lambda: acceptance_from_tokens_per_step(9.5, 7), "tokens per step = 9.500 is not allowed"),
])
def test_inputs_outside_the_model_are_refused_in_one_line(call, message):
    with pytest.raises(ModelError, match=message):
        call()
