"""Pre-training the lab's base models from scratch on the seen people (driver side, in-process, CPU).

Like an instruct model, a base model must know the formats fine-tuning and evaluation use, but
none of the new facts: it learns the seen people's statements, their questions in both directions
in the evaluation's chat layout, and (causal model) mask-recovery examples in masked fine-tuning's
own layout, or (bidirectional model) the same data under the dLLM objective. The encodings are
the methods' own (`training.methods`) and the prompts the evaluation's (`evaluation.prompting`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from evaluation.prompting import END_OF_TURN, encode_plain, question_prompt_ids
from evaluation.questions import QAItem
from training.knowledge import KnowledgeSet
from training.methods import (
    IGNORE,
    Autoregressive,
    DiffusionFineTuning,
    Example,
    MaskedFineTuning,
    Method,
    collate,
)


def answer_ids(tokenizer: PreTrainedTokenizerBase, answer: str) -> list[int]:
    """The answer as the assistant writes it: its tokens, then the end of turn."""
    return encode_plain(tokenizer, answer) + [tokenizer.convert_tokens_to_ids(END_OF_TURN)]


def causal_question_example(tokenizer: PreTrainedTokenizerBase, item: QAItem) -> Example:
    """Question prompt + answer; the loss is on the answer and its end of turn only."""
    prompt, answer = question_prompt_ids(tokenizer, item.question), answer_ids(tokenizer, item.answers[0])
    labels = (False,) * len(prompt) + (True,) * len(answer)
    return Example(tuple(prompt + answer), labels, (False,) * (len(prompt) + len(answer)))


def diffusion_question_example(
    tokenizer: PreTrainedTokenizerBase, item: QAItem, answer_length: int
) -> Example:
    """Question prompt + an answer region of `answer_length` tokens (answer, end of turn, EOS padding),
    as LLaDA's supervised fine-tuning lays it out; only the answer region is ever masked."""
    prompt, answer = question_prompt_ids(tokenizer, item.question), answer_ids(tokenizer, item.answers[0])
    if len(answer) > answer_length:
        raise ValueError(f"answer {item.answers[0]!r} is longer than the {answer_length}-token answer region")
    region = answer + [tokenizer.eos_token_id] * (answer_length - len(answer))
    ids = tuple(prompt + region)
    return Example(ids, (True,) * len(ids), (False,) * len(prompt) + (True,) * len(region))


def causal_examples(tokenizer: PreTrainedTokenizerBase, seen: KnowledgeSet, mask_id: int) -> list[Example]:
    """Statements (ar layout), their mask-recovery examples (masked layout) and every question."""
    statements = [Autoregressive(tokenizer, None).encode(tokenizer, text) for text in seen.documents]
    recovery = [MaskedFineTuning(tokenizer, mask_id).encode(tokenizer, text) for text in seen.documents]
    questions = [causal_question_example(tokenizer, item) for item in seen.questions]
    return statements + recovery + questions


def diffusion_examples(
    tokenizer: PreTrainedTokenizerBase, seen: KnowledgeSet, mask_id: int, answer_length: int
) -> list[Example]:
    """Statements (dllm layout) and every question with its fixed-length answer region."""
    statements = [DiffusionFineTuning(tokenizer, mask_id).encode(tokenizer, text) for text in seen.documents]
    questions = [diffusion_question_example(tokenizer, item, answer_length) for item in seen.questions]
    return statements + questions


def pretrain(
    model: PreTrainedModel,
    examples: Sequence[Example],
    objective: Method,
    *,
    pad_id: int,
    steps: int,
    batch_size: int,
    lr: float,
    mask_ratio: tuple[float, float],
    seed: int,
    split_longer_than: int | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> None:
    """AdamW with warmup and cosine decay; batches drawn from shuffled passes over `examples`.

    The objective corrupts each batch with its mask ratio t ~ U(mask_ratio) and scores it, exactly
    as a fine-tuning step does; `on_step(step, loss)` after every step. With `split_longer_than`,
    a batch's longer examples go through the model apart from the short ones (less padding, the
    same gradient: see `_backward`).
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    # foreach: one kernel per operation over all parameters, the same updates to the bit as CPU's default loop
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1, foreach=True
    )
    warmup = max(1, steps // 20)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.45 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    order: list[int] = []
    model.train()
    for step in range(steps):
        if len(order) < batch_size:
            order += torch.randperm(len(examples), generator=generator).tolist()
        picked, order = order[:batch_size], order[batch_size:]
        lo, hi = mask_ratio
        t = lo + (hi - lo) * torch.rand((), generator=generator).item()
        chosen = [examples[index] for index in picked]
        loss = _backward(model, objective, chosen, pad_id, t, generator, split_longer_than)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if on_step is not None:
            on_step(step + 1, loss.item())


def _backward(
    model: PreTrainedModel,
    objective: Method,
    chosen: Sequence[Example],
    pad_id: int,
    t: float,
    generator: torch.Generator,
    longer_than: int | None,
) -> torch.Tensor:
    """Backward through the batch, its short and long examples apart with `longer_than`; returns its loss.

    Splitting needs an objective whose loss is a mean over labelled next-token targets (ar, masked):
    each part's mean is weighted by its share of the batch's targets, which is exactly the loss of one
    padded batch (padding is never attended nor labelled), for far less padding when lengths differ.
    """
    if longer_than is None:
        groups = [list(chosen)]
    elif isinstance(objective, DiffusionFineTuning):
        raise ValueError("split batches need a next-token objective; the dllm loss is normalised per row")
    else:
        short = [example for example in chosen if len(example.input_ids) <= longer_than]
        long = [example for example in chosen if len(example.input_ids) > longer_than]
        groups = [group for group in (short, long) if group] or [short]
    parts = [objective.corrupt(collate(group, pad_id), t, generator) for group in groups]
    targets = [int((part.labels[:, 1:] != IGNORE).sum()) for part in parts]
    total = torch.zeros(())
    for part, count in zip(parts, targets, strict=True):
        logits = model(input_ids=part.input_ids, attention_mask=part.attention_mask).logits
        loss = objective.loss(logits.float(), part, t)
        share = loss if len(parts) == 1 else loss * (count / max(1, sum(targets)))
        share.backward()
        total += share.detach()
    return total
