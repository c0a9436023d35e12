"""Versioned catalog of the model architectures SpecDec knows how to plan for.

Every number is a field of the model's `config.json` on its Hugging Face model card (the
`source` of each entry). Parameter counts are computed from those fields rather than copied,
and the tests check them against the totals the model cards state (Qwen3-32B: 32.8B, of which
31.2B non-embedding; Llama-3.3-70B: 70.6B), which cross-checks every shape at once.
Checked 2026-11 against the model cards and copies of their config.json.
"""

from __future__ import annotations

from dataclasses import dataclass

CATALOG_VERSION = "2026.11.2"
BF16_BYTES = 2


@dataclass(frozen=True)
class ModelArchitecture:
    model_id: str
    layers: int  # num_hidden_layers
    hidden_size: int
    intermediate_size: int
    attention_heads: int  # num_attention_heads
    kv_heads: int  # num_key_value_heads
    head_dim: int
    vocab_size: int
    tie_word_embeddings: bool
    qk_norm: bool  # Qwen3 normalises q and k per head (q_norm/k_norm weights of head_dim each)
    tokenizer_family: str
    card_parameters_billion: float  # the total the model card states, for cross-checking
    source: str

    @property
    def parameters(self) -> int:
        """Weights of a SwiGLU decoder with grouped-query attention and RMSNorm, no biases."""
        return self.parameters_sharded(self.attention_heads, self.kv_heads)

    def parameters_sharded(self, attention_heads: int, kv_heads: int) -> int:
        """Weights when attention heads are padded and K/V heads replicated for tensor parallelism."""
        h, d = self.hidden_size, self.head_dim
        attention = h * attention_heads * d * 2 + h * kv_heads * d * 2  # q and o, k and v
        mlp = 3 * h * self.intermediate_size  # gate, up, down
        norms = 2 * h + (2 * d if self.qk_norm else 0)
        embeddings = self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        return embeddings + self.layers * (attention + mlp + norms) + h  # + final norm

    @property
    def kv_bytes_per_token(self) -> int:
        """Key and value vectors of every layer for one token in bf16, as the model defines them."""
        return 2 * self.layers * self.kv_heads * self.head_dim * BF16_BYTES


def _qwen3(size: str, card_billion: float, *, layers: int, hidden: int, intermediate: int,
           heads: int, tied: bool) -> ModelArchitecture:
    model_id = f"Qwen/Qwen3-{size}"
    return ModelArchitecture(
        model_id=model_id, layers=layers, hidden_size=hidden, intermediate_size=intermediate,
        attention_heads=heads, kv_heads=8, head_dim=128, vocab_size=151936,
        tie_word_embeddings=tied, qk_norm=True, tokenizer_family="qwen3",
        card_parameters_billion=card_billion,
        source=f"https://huggingface.co/{model_id}/blob/main/config.json",
    )


def _llama3(model_id: str, card_billion: float, *, layers: int, hidden: int, intermediate: int,
            heads: int, head_dim: int, tied: bool) -> ModelArchitecture:
    return ModelArchitecture(
        model_id=model_id, layers=layers, hidden_size=hidden, intermediate_size=intermediate,
        attention_heads=heads, kv_heads=8, head_dim=head_dim, vocab_size=128256,
        tie_word_embeddings=tied, qk_norm=False, tokenizer_family="llama3",
        card_parameters_billion=card_billion,
        source=f"https://huggingface.co/{model_id}/blob/main/config.json",
    )


MODELS: dict[str, ModelArchitecture] = {
    m.model_id: m
    for m in (
        _qwen3("0.6B", 0.6, layers=28, hidden=1024, intermediate=3072, heads=16, tied=True),
        _qwen3("1.7B", 1.7, layers=28, hidden=2048, intermediate=6144, heads=16, tied=True),
        _qwen3("4B", 4.0, layers=36, hidden=2560, intermediate=9728, heads=32, tied=True),
        _qwen3("8B", 8.2, layers=36, hidden=4096, intermediate=12288, heads=32, tied=False),
        _qwen3("14B", 14.8, layers=40, hidden=5120, intermediate=17408, heads=40, tied=False),
        _qwen3("32B", 32.8, layers=64, hidden=5120, intermediate=25600, heads=64, tied=False),
        _llama3("meta-llama/Llama-3.2-1B-Instruct", 1.24, layers=16, hidden=2048, intermediate=8192,
                heads=32, head_dim=64, tied=True),
        _llama3("meta-llama/Llama-3.2-3B-Instruct", 3.21, layers=28, hidden=3072, intermediate=8192,
                heads=24, head_dim=128, tied=True),
        _llama3("meta-llama/Llama-3.1-8B-Instruct", 8.03, layers=32, hidden=4096, intermediate=14336,
                heads=32, head_dim=128, tied=False),
        _llama3("meta-llama/Llama-3.3-70B-Instruct", 70.6, layers=80, hidden=8192, intermediate=28672,
                heads=64, head_dim=128, tied=False),
    )
}


@dataclass(frozen=True)
class Eagle3Head:
    """An EAGLE3 draft head: one decoder layer over the target's hidden states, not a model of its
    own. Its attention reads the token embedding and a hidden state side by side (2 x hidden), an
    fc layer folds three of the target's hidden states into one, and its LM head predicts over a
    smaller draft vocabulary mapped back to the target's (the `d2t` table). Numbers from the head's
    config.json; the vLLM Neuron plugin registers this shape as `Eagle3LlamaForCausalLM`
    (vllm-project/vllm-neuron, vllm_neuron/model/registry.py)."""

    model_id: str
    target_model_id: str
    hidden_size: int
    intermediate_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int  # the target's: its own embedding table covers the whole vocabulary
    draft_vocab_size: int  # rows of its LM head
    file_bytes: int  # the published safetensors, for cross-checking the count below
    shares: str  # what it takes from the target rather than carrying itself
    source: str
    layers: int = 1
    tokenizer_family: str = "qwen3"

    @property
    def parameters(self) -> int:
        return self.parameters_sharded(self.attention_heads, self.kv_heads)

    def parameters_sharded(self, attention_heads: int, kv_heads: int) -> int:
        h, d = self.hidden_size, self.head_dim
        # q, k and v read the embedding and the hidden state side by side (2h); o writes h.
        attention = 2 * h * attention_heads * d + 2 * h * kv_heads * d * 2 + attention_heads * d * h
        mlp = 3 * h * self.intermediate_size
        norms = 5 * h  # embedding and hidden-state input norms, post-attention, final
        fc = 3 * h * h  # three of the target's hidden states folded into one
        return self.vocab_size * h + self.draft_vocab_size * h + fc + attention + mlp + norms

    @property
    def kv_bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * BF16_BYTES


EAGLE3_HEADS: dict[str, Eagle3Head] = {
    head.model_id: head
    for head in (
        Eagle3Head(
            model_id="RedHatAI/Qwen3-32B-speculator.eagle3", target_model_id="Qwen/Qwen3-32B",
            hidden_size=5120, intermediate_size=25600, attention_heads=64, kv_heads=8, head_dim=128,
            vocab_size=151936, draft_vocab_size=32000, file_bytes=3_121_274_856,
            shares="the tokenizer and vocabulary only: it carries its own embedding table and its own "
                   "32k-row LM head (speculators format, `Eagle3Speculator` with a Llama layer)",
            source="https://huggingface.co/RedHatAI/Qwen3-32B-speculator.eagle3/blob/main/config.json",
        ),
    )
}
