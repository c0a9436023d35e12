"""Versioned catalog of the model architectures SpecDec knows how to plan for.

Numbers come from each model's `config.json` on its Hugging Face model card (the source is
recorded per entry). The planner sizes weights and KV cache from these; the schema uses the
tokenizer family to refuse a draft that cannot speculate for its target.
"""

from __future__ import annotations

from dataclasses import dataclass

CATALOG_VERSION = "2026.11.1"


@dataclass(frozen=True)
class ModelArchitecture:
    model_id: str
    parameters: int
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    tokenizer_family: str
    source: str

    @property
    def kv_bytes_per_token(self) -> int:
        """Key and value vectors of every layer for one token, at 2 bytes (bf16) per value."""
        return 2 * self.layers * self.kv_heads * self.head_dim * 2


def _qwen3(size: str, parameters: float, layers: int, hidden: int, heads: int) -> ModelArchitecture:
    model_id = f"Qwen/Qwen3-{size}"
    return ModelArchitecture(
        model_id=model_id,
        parameters=int(parameters * 1e9),
        layers=layers,
        hidden_size=hidden,
        attention_heads=heads,
        kv_heads=8,
        head_dim=128,
        vocab_size=151936,
        tokenizer_family="qwen3",
        source=f"https://huggingface.co/{model_id}/blob/main/config.json",
    )


def _llama3(model_id: str, parameters: float, layers: int, hidden: int, heads: int,
            head_dim: int) -> ModelArchitecture:
    return ModelArchitecture(
        model_id=model_id,
        parameters=int(parameters * 1e9),
        layers=layers,
        hidden_size=hidden,
        attention_heads=heads,
        kv_heads=8,
        head_dim=head_dim,
        vocab_size=128256,
        tokenizer_family="llama3",
        source=f"https://huggingface.co/{model_id}/blob/main/config.json",
    )


MODELS: dict[str, ModelArchitecture] = {
    m.model_id: m
    for m in (
        _qwen3("0.6B", 0.6, layers=28, hidden=1024, heads=16),
        _qwen3("1.7B", 1.7, layers=28, hidden=2048, heads=16),
        _qwen3("4B", 4.0, layers=36, hidden=2560, heads=32),
        _qwen3("8B", 8.2, layers=36, hidden=4096, heads=32),
        _qwen3("14B", 14.8, layers=40, hidden=5120, heads=40),
        _qwen3("32B", 32.8, layers=64, hidden=5120, heads=64),
        _llama3("meta-llama/Llama-3.2-1B-Instruct", 1.24, layers=16, hidden=2048, heads=32,
                head_dim=64),
        _llama3("meta-llama/Llama-3.2-3B-Instruct", 3.21, layers=28, hidden=3072, heads=24,
                head_dim=128),
        _llama3("meta-llama/Llama-3.1-8B-Instruct", 8.03, layers=32, hidden=4096, heads=32,
                head_dim=128),
        _llama3("meta-llama/Llama-3.3-70B-Instruct", 70.6, layers=80, hidden=8192, heads=64,
                head_dim=128),
    )
}
