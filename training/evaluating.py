"""Evaluation during training (every rank): each rank answers its shard, results are gathered.

Decoding runs on gathered (unsharded) weights so that ranks whose answers end early do not
leave the others waiting in a collective; every rank must call `evaluate` at the same points.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from evaluation.answering import answer_questions
from evaluation.decoding import Decoding
from evaluation.questions import QAItem
from evaluation.scoring import exact_match, rouge1_recall, summarize
from training.config import TrialConfig
from training.failures import agreed
from training.method_registry import method_info
from training.methods import resolve_mask_id
from training.sharding import gathered


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    generations: list[dict[str, Any]]


def decoding(config: TrialConfig, tokenizer: PreTrainedTokenizerBase) -> Decoding:
    """The paper's decoding for the trial's method: LLaDA's sampler for dllm, greedy otherwise."""
    bidirectional = method_info(config.method).bidirectional
    return Decoding(
        max_new_tokens=config.max_new_tokens,
        batch_size=config.eval_batch_size,
        mask_id=resolve_mask_id(tokenizer, config.mask_token) if bidirectional else None,
        block_length=config.block_length,
        prompt_style=config.prompt_style or "chat",
    )


def evaluate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[QAItem],
    config: TrialConfig,
) -> Evaluation:
    """Score `items` with all ranks sharing the work; every rank returns the same metrics:
    recall (`acc/...`, the paper's number) and exact match (`em/...`) per category and direction."""
    start = time.perf_counter()
    rank, world = dist.get_rank(), dist.get_world_size()
    shard = list(items[rank::world])
    model.eval()
    with torch.no_grad(), gathered(model), agreed():  # a question one rank cannot ask stops them all
        predictions = answer_questions(
            model, tokenizer, [item.question for item in shard], decoding(config, tokenizer)
        )
    model.train()
    shards: list[list[str]] = [[] for _ in range(world)]
    dist.all_gather_object(shards, predictions)
    # Shard r holds items r, r + world, ...: interleave back into question order.
    ordered = [shards[i % world][i // world] for i in range(len(items))]
    scores = [
        rouge1_recall(prediction, item.answers, config.scoring)
        for prediction, item in zip(ordered, items, strict=True)
    ]
    matches = [exact_match(prediction, item.answers) for prediction, item in zip(ordered, items, strict=True)]
    metrics = {**summarize(items, scores), **summarize(items, matches, prefix="em")}
    metrics["eval/seconds"] = time.perf_counter() - start
    generations = [
        {
            "question": item.question,
            "answer": " | ".join(item.answers),
            "prediction": prediction,
            "score": score,
            "exact": match,
            "category": item.category,
        }
        for item, prediction, score, match in zip(items, ordered, scores, matches, strict=True)
    ]
    return Evaluation(metrics, generations)
