"""Which decoder answers a model's questions, decided in one place (any process, any rank).

The paper decodes AR and masked-fine-tuned models greedily and LLaDA with its own sampler;
training evaluation, `mft eval` and `mft bench answering` all go through `answer_questions`, so
a model is always answered the way its kind is answered in the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from evaluation.greedy_decoding import answer_greedy
from evaluation.llada_sampling import answer_llada

SAMPLERS = ("auto", "ar", "llada")


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


def answer_questions(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    decoding: Decoding,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Answers to `questions`, in order, decoded as `decoding` says."""
    if decoding.mask_id is not None:
        return answer_llada(
            model,
            tokenizer,
            questions,
            mask_id=decoding.mask_id,
            gen_length=decoding.max_new_tokens,
            block_length=decoding.block_length,
            steps=decoding.steps,
            batch_size=decoding.batch_size,
            prompt_style=decoding.prompt_style,
            on_batch=on_batch,
        )
    return answer_greedy(
        model,
        tokenizer,
        questions,
        batch_size=decoding.batch_size,
        max_new_tokens=decoding.max_new_tokens,
        prompt_style=decoding.prompt_style,
        on_batch=on_batch,
    )
