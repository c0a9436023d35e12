"""Rules about serving variants and their engines (docs/engines.md): one line per problem, naming
the variant and the key. Part of specdec/rules.py's cross-field rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specdec.catalog import EAGLE3_HEADS, MODELS
from specdec.variants import ENGINES, NXDI, Variant
from specdec.vllm_metrics import FIRST_V1_VERSION, vllm_version

if TYPE_CHECKING:
    from specdec.config import ServingSettings

Problem = tuple[str, Any, str]


def key_path(serving: ServingSettings, variant: Variant, key: str) -> str:
    """Where a variant's key is written: on the variant, or at the top level for the recipe's two."""
    if serving.variants is None:
        return f"serving.{key}"
    return f"serving.variants[name={variant.name}].{key}"


def variant_errors(serving: ServingSettings) -> list[Problem]:
    from specdec.config import PER_VARIANT_KEYS

    errors: list[Problem] = []
    if serving.variants is not None:
        for key in PER_VARIANT_KEYS:
            if key in serving.model_fields_set:
                instead = ("list a variant without draft_model for a baseline, or none" if
                           key == "baseline_enabled" else f"set {key} on each variant instead")
                errors.append((f"serving.{key}", getattr(serving, key),
                               f"not set together with serving.variants: {instead}"))
        seen: dict[str, int] = {}
        for i, settings in enumerate(serving.variants):
            if settings.name in seen:
                errors.append((f"serving.variants.{i}.name", settings.name,
                               f"a name no other variant has (serving.variants.{seen[settings.name]} "
                               "has it)"))
            seen.setdefault(settings.name, i)
            if settings.name.endswith("-nlb") and settings.name.removesuffix("-nlb") in seen:
                errors.append((f"serving.variants.{i}.name", settings.name,
                               f"a name other than {settings.name.removesuffix('-nlb')}'s load balancer "
                               "Service suffix (-nlb)"))
            if settings.draft_model is None:
                for key in ("num_speculative_tokens", "speculative_method"):
                    if getattr(settings, key) is not None:
                        errors.append((f"serving.variants[name={settings.name}].{key}",
                                       getattr(settings, key),
                                       "no value without draft_model: a baseline does not speculate"))
        if all(v.draft_model is None for v in serving.variants):
            errors.append(("serving.variants", [v.name for v in serving.variants],
                           "at least one variant with a draft_model: there is nothing to compare"))
        baselines = [v.name for v in serving.variants if v.draft_model is None]
        if len(baselines) > 1:
            errors.append((f"serving.variants[name={baselines[1]}].draft_model", None,
                           f"a draft: only one variant may be the baseline, and {baselines[0]} is"))
    for variant in serving.resolved_variants():
        errors += _image_errors(serving, variant)
        if variant.speculative:
            errors += _engine_errors(serving, variant)
    # The recipe's two variants share the top-level keys: one problem, said once.
    return [e for i, e in enumerate(errors) if e not in errors[:i]]


def _image_errors(serving: ServingSettings, variant: Variant) -> list[Problem]:
    """An image of the other engine generation would get flags it does not know."""
    version = vllm_version(variant.image)
    if version is None:
        return []
    v1 = version >= FIRST_V1_VERSION
    if variant.engine == NXDI and v1:
        return [(key_path(serving, variant, "image"), variant.image,
                 "an image of vLLM before 0.11 on engine nxdi (the V0 engine's NxD Inference path); "
                 "vLLM V1 images run on engine vllm-neuron")]
    if variant.engine != NXDI and not v1:
        return [(key_path(serving, variant, "image"), variant.image,
                 "a vLLM Neuron plugin image (vLLM 0.11 or later) on engine vllm-neuron")]
    return []


def _engine_errors(serving: ServingSettings, variant: Variant) -> list[Problem]:
    spec, errors = ENGINES[variant.engine], []
    if variant.speculative_method not in spec.methods:
        errors.append((key_path(serving, variant, "speculative_method"), variant.speculative_method,
                       f"{' or '.join(spec.methods)} on engine {variant.engine}"))
    low, high = spec.k_range
    if not low <= variant.num_speculative_tokens <= high:
        errors.append((key_path(serving, variant, "num_speculative_tokens"), variant.num_speculative_tokens,
                       f"{low} to {high} on engine {variant.engine}"))
    draft_key = key_path(serving, variant, "draft_model")
    draft = variant.draft_model
    if variant.engine == NXDI:
        if draft in EAGLE3_HEADS:
            errors.append((draft_key, draft, "a draft model from the catalog: nxdi runs a plain draft "
                           "fused into the target; EAGLE3 heads run on engine vllm-neuron"))
        elif draft not in MODELS:
            errors.append((draft_key, draft, f"a catalog model: {', '.join(MODELS)}"))
        else:
            errors += _plain_draft_errors(serving, draft_key, draft)
        return errors
    head = EAGLE3_HEADS.get(draft)
    if head is None:
        why = (f"the vLLM Neuron plugin runs no plain draft model ({spec.reference})" if draft in MODELS
               else "the heads SpecDec knows the plugin loads (docs/engines.md)")
        errors.append((draft_key, draft, f"an EAGLE3 head ({', '.join(EAGLE3_HEADS)}): {why}"))
    elif head.target_model_id != serving.target_model:
        errors.append((draft_key, draft, f"an EAGLE3 head trained for the target {serving.target_model} "
                       f"(this one is {head.target_model_id}'s)"))
    return errors


def _plain_draft_errors(serving: ServingSettings, key: str, draft_id: str) -> list[Problem]:
    target, draft = MODELS.get(serving.target_model), MODELS[draft_id]
    if target is None:
        return []
    if target.tokenizer_family != draft.tokenizer_family:
        return [(key, draft_id, f"a draft with the target's tokenizer ({target.tokenizer_family}), "
                                f"not {draft.tokenizer_family}")]
    if draft.parameters >= target.parameters:
        return [(key, draft_id, f"a draft smaller than the target {serving.target_model}")]
    return []
