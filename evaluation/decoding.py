"""How a model's questions are answered: the paper's decoder for its kind (any process; no torch).

AR and masked-fine-tuned models are decoded greedily, LLaDA (and any bidirectional model) with
LLaDA's sampler. Commands read the choice here before they import torch; the decoders themselves
are in `evaluation.answering`.
"""

from __future__ import annotations

from dataclasses import dataclass

SAMPLERS = ("auto", "ar", "llada")
"""ar: greedy; llada: LLaDA's sampler; auto: llada for bidirectional models, else ar."""


@dataclass(frozen=True)
class Decoding:
    """How to answer: `mask_id` set = LLaDA's sampler with that mask token, None = greedy AR."""

    max_new_tokens: int = 128
    batch_size: int = 100
    mask_id: int | None = None
    block_length: int = 4
    """LLaDA's block length (the paper's: 4)."""
    steps: int | None = None
    """LLaDA sampler steps; None = one committed position per step."""
    prompt_style: str = "chat"
    """How a question is put to the model: chat (the paper's) or completion (cloze sets)."""

    @property
    def sampler(self) -> str:
        return "ar" if self.mask_id is None else "llada"


def is_bidirectional(model_config: object) -> bool:
    """LLaDA, or a Llama whose config turns causal attention off (mft's tiny dLLM)."""
    causal = getattr(model_config, "is_causal", True)
    return causal is False or getattr(model_config, "model_type", "") == "llada"


def uses_llada(sampler: str, model_config: object) -> bool:
    """`auto` picks LLaDA's sampler for bidirectional models and greedy decoding otherwise."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    return sampler == "llada" or (sampler == "auto" and is_bidirectional(model_config))
