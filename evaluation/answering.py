"""Which decoder answers a model's questions, decided in one place (any process, any rank).

The paper decodes AR and masked-fine-tuned models greedily and LLaDA with its own sampler;
training evaluation, `mft eval` and `mft bench answering` all go through `answer_questions`, so
a model is always answered the way its kind is answered in the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from transformers import PreTrainedTokenizerBase

from evaluation.decoding import Decoding
from evaluation.greedy_decoding import answer_greedy
from evaluation.llada_sampling import answer_llada


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
