"""Answering questions with a masked diffusion LM: LLaDA-style block-wise sampling (any rank, any device).

LLaDA's reference `generate` with `low_confidence` remasking at temperature 0: the answer region
starts as `gen_length` mask tokens after the prompt and is filled one block at a time; each step
runs the model on the whole sequence and commits the argmax prediction at the still-masked positions
whose prediction is most confident. As in the reference, the argmax may be the mask token itself:
committing it leaves the position masked, and every masked position up to the current block's end
(earlier blocks included) competes again at the next step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from transformers import PreTrainedTokenizerBase

from evaluation.greedy_decoding import batches, decode_answer, left_pad, model_device
from evaluation.prompting import pad_id, prompt_ids, stop_token_ids


def commit_schedule(gen_length: int, block_length: int, steps: int | None = None) -> list[int]:
    """How many positions each step of one block commits; every block uses the same list.

    A block's `block_length` positions are split evenly over its `steps / blocks` steps, the
    remainder going to the first steps (4 positions over 3 steps: [2, 1, 1]). Steps beyond
    `block_length` per block commit nothing.
    """
    if gen_length < 1 or block_length < 1:
        raise ValueError(f"gen_length ({gen_length}) and block_length ({block_length}) must be positive")
    if gen_length % block_length:
        raise ValueError(f"gen_length ({gen_length}) must be a multiple of block_length ({block_length})")
    blocks = gen_length // block_length
    steps = gen_length if steps is None else steps
    if steps < 1 or steps % blocks:
        raise ValueError(f"steps ({steps}) must be a positive multiple of the number of blocks ({blocks})")
    per_block = steps // blocks
    base, remainder = divmod(block_length, per_block)
    return [base + (step < remainder) for step in range(per_block)]


def _commit_step(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    attention_mask: torch.Tensor,
    start: int,
    end: int,
    mask_id: int,
    k: int,
) -> None:
    """Commit the argmax at the k most confident masked positions in [start, end), per row, in place."""
    # Candidates: every masked answer position before `end`. Logits are taken from the first
    # column any row still has masked (the current block's start unless a mask is left over from
    # an earlier block), which keeps the softmax's memory small.
    first = start + int((tokens[:, start:end] == mask_id).any(dim=0).nonzero()[0])
    logits = model(input_ids=tokens, attention_mask=attention_mask).logits[:, first:end].float()
    window = tokens[:, first:end]  # a view: writing to it fills `tokens`
    predicted = logits.argmax(dim=-1)  # the mask token included, as in the reference
    confidence = torch.softmax(logits, dim=-1).gather(-1, predicted.unsqueeze(-1)).squeeze(-1)
    confidence = confidence.masked_fill(window != mask_id, float("-inf"))
    chosen = confidence.topk(k, dim=-1).indices
    rows = torch.arange(tokens.shape[0], device=tokens.device).unsqueeze(-1)
    window[rows, chosen] = predicted[rows, chosen]


def sample_answer_regions(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    *,
    pad: int,
    mask_id: int,
    gen_length: int,
    block_length: int = 4,
    steps: int | None = None,
) -> list[list[int]]:
    """The `gen_length` answer-region ids sampled after each prompt, as one left-padded batch."""
    schedule = commit_schedule(gen_length, block_length, steps)
    device = model_device(model)
    tokens, attention_mask = left_pad([[*prompt, *[mask_id] * gen_length] for prompt in prompts], pad, device)
    start = tokens.shape[1] - gen_length
    with torch.no_grad():  # not inference_mode: see answer_greedy (training may resume afterwards)
        for block_start in range(start, tokens.shape[1], block_length):
            for k in schedule:
                if k:
                    _commit_step(model, tokens, attention_mask, start, block_start + block_length, mask_id, k)
    return tokens[:, start:].tolist()


def answer_llada(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    *,
    mask_id: int,
    gen_length: int = 128,
    block_length: int = 4,
    steps: int | None = None,
    batch_size: int = 100,
    prompt_style: str = "chat",
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Answers to `questions` in order (temperature 0); `on_batch(n)` after each batch of n questions.

    `steps` (default `gen_length`, one position per step) must be a multiple of the number of blocks.
    """
    commit_schedule(gen_length, block_length, steps)  # fail on bad settings before any work
    stops = stop_token_ids(tokenizer)
    pad = pad_id(tokenizer)
    answers: list[str] = []
    for batch in batches(questions, batch_size):
        prompts = [prompt_ids(tokenizer, q, prompt_style) for q in batch]
        regions = sample_answer_regions(
            model,
            prompts,
            pad=pad,
            mask_id=mask_id,
            gen_length=gen_length,
            block_length=block_length,
            steps=steps,
        )
        answers.extend(decode_answer(tokenizer, region, stops) for region in regions)
        if on_batch is not None:
            on_batch(len(batch))
    return answers
