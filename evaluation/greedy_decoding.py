"""Answering questions with an autoregressive model: batched greedy decoding (any rank, any device).

The paper's protocol for AR and masked-AR models: each question as one user turn, the assistant's
generation prompt, left padding, greedy decoding of at most 128 new tokens; the answer is the text
up to the first end-of-answer token. The batch helpers here are shared with the LLaDA sampler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from evaluation.prompting import pad_id, prompt_ids, stop_token_ids


def model_device(model: torch.nn.Module) -> torch.device:
    """Where the model's weights live, so inputs go there (the model itself is never moved)."""
    return next(model.parameters()).device


def left_pad(
    rows: Sequence[Sequence[int]], pad: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), right-aligned so every row's next position is the last column."""
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, width - len(row) :] = 1
    return input_ids.to(device), attention_mask.to(device)


def decode_answer(tokenizer: PreTrainedTokenizerBase, ids: Sequence[int], stops: set[int]) -> str:
    """Text of the answer tokens up to (not including) the first stop token, special tokens dropped."""
    ids = list(ids)
    end = next((i for i, token in enumerate(ids) if token in stops), len(ids))
    return tokenizer.decode(ids[:end], skip_special_tokens=True).strip()


def batches(questions: Sequence[str], batch_size: int) -> Iterator[Sequence[str]]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for start in range(0, len(questions), batch_size):
        yield questions[start : start + batch_size]


def answer_greedy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    *,
    batch_size: int = 100,
    max_new_tokens: int = 128,
    prompt_style: str = "chat",
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy answers to `questions`, in order; `on_batch(n)` after each batch of n questions.

    Left padding plus the attention mask keep a batched answer equal to the one-question answer.
    """
    stops = stop_token_ids(tokenizer)
    pad = pad_id(tokenizer)
    # Greedy whatever the checkpoint's sampling defaults (Llama-3.1-Instruct: temperature 0.6, top_p 0.9).
    config = GenerationConfig(
        do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=sorted(stops), pad_token_id=pad
    )
    device = model_device(model)
    answers: list[str] = []
    for batch in batches(questions, batch_size):
        input_ids, attention_mask = left_pad(
            [prompt_ids(tokenizer, q, prompt_style) for q in batch], pad, device
        )
        # no_grad, not inference_mode: tensors made in inference mode (e.g. FSDP2's gathered weights, lazily
        # built rotary caches) cannot be used by autograd when training resumes after evaluation.
        # synced_gpus=False: transformers turns it on for FSDP modules (an all_reduce per token, so
        # every rank decodes as long as the slowest); each rank holds gathered weights and answers
        # its own shard alone (training.evaluating), and a rank that fails must not leave one waiting.
        with torch.no_grad():
            output = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                generation_config=config,
                synced_gpus=False,
            )
        new_tokens = output[:, input_ids.shape[1] :].tolist()
        answers.extend(decode_answer(tokenizer, row, stops) for row in new_tokens)
        if on_batch is not None:
            on_batch(len(batch))
    return answers
