"""LLaDA-style block sampling: exact commit order on scripted logits, then the tiny bidirectional Llama."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from evaluation.llada_sampling import answer_llada, commit_schedule, sample_answer_regions
from evaluation.prompting import question_prompt_ids

GEN = 8
# Logit of each answer position's prediction: block 2 is more confident than block 1 throughout,
# so any early commit outside the current block would show in the order.
SCORES = [1.0, 4.0, 2.0, 3.0, 10.0, 13.0, 11.0, 12.0]
BAIT = 0  # the position where the mask token itself is the argmax (logit 1.5), with the lowest confidence


class ScriptedDenoiser(torch.nn.Module):
    """Deliberate test double: a "model" whose logits the test dictates, to pin the commit order by hand.

    At answer position p it predicts `targets[p]` with logit SCORES[p] (every other token 0, except the
    mask token at BAIT, 1.5), and records which answer positions were still masked at each call.
    """

    def __init__(self, vocab_size: int, targets: list[int], mask_id: int) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # the sampler takes the device from here
        self.vocab_size, self.targets, self.mask_id = vocab_size, targets, mask_id
        self.masked_seen: list[list[set[int]]] = []
        self.attention_masks: list[torch.Tensor] = []

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        region = input_ids[:, -GEN:].tolist()
        self.masked_seen.append([{p for p, t in enumerate(row) if t == self.mask_id} for row in region])
        self.attention_masks.append(attention_mask.clone())
        logits = torch.zeros(*input_ids.shape, self.vocab_size)
        for p, (target, score) in enumerate(zip(self.targets, SCORES, strict=True)):
            logits[:, p - GEN, target] = score
        logits[:, BAIT - GEN, self.mask_id] = 1.5
        return SimpleNamespace(logits=logits)


@pytest.fixture(scope="module")
def tokenizer(tiny_bidirectional: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(tiny_bidirectional)


def _commits(masked_seen: list[set[int]], left_masked: set[int]) -> list[set[int]]:
    """Positions filled by each step, from what the model saw before each one and what stayed masked."""
    after_each = [*masked_seen[1:], left_masked]
    return [before - after for before, after in zip(masked_seen, after_each, strict=True)]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # 2 blocks x 3 steps, 4 positions per block split [2, 1, 1]; most confident first, block by block.
        # BAIT's commit is the mask token: it stays masked (an empty step) and loses every later contest.
        (6, [{1, 3}, {2}, set(), {5, 7}, {6}, {4}]),
        (None, [{1}, {3}, {2}, set(), {5}, {7}, {6}, {4}]),  # default steps = gen_length: one per step
        (2, [{1, 2, 3}, {4, 5, 6, 7}]),
    ],
)
def test_commit_order_on_scripted_logits(tokenizer, steps: int | None, expected: list[set[int]]) -> None:
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    targets = [*tokenizer.convert_tokens_to_ids(list("Hello!")), eot, tokenizer.convert_tokens_to_ids("x")]
    model = ScriptedDenoiser(len(tokenizer), targets, tokenizer.mask_token_id)
    questions = ["Who is Daphne Barrington?", "Hi"]
    answers = answer_llada(
        model,
        tokenizer,
        questions,
        mask_id=tokenizer.mask_token_id,
        gen_length=GEN,
        block_length=4,
        steps=steps,
    )
    # Both rows (left-padded to different prompt lengths) follow the same order.
    for row in range(2):
        assert _commits([seen[row] for seen in model.masked_seen], {BAIT}) == expected
    # BAIT keeps its mask token (dropped when decoding, as a special token); the answer stops at <|eot_id|>.
    assert answers == ["ello!", "ello!"]
    lengths = [len(question_prompt_ids(tokenizer, q)) + GEN for q in questions]
    assert model.attention_masks[0].sum(dim=1).tolist() == lengths


@pytest.mark.parametrize(
    ("gen_length", "block_length", "steps", "schedule"),
    [
        (8, 4, 6, [2, 1, 1]),
        (10, 5, 4, [3, 2]),
        (8, 8, 3, [3, 3, 2]),
        (8, 4, None, [1, 1, 1, 1]),
        (8, 4, 16, [1, 1, 1, 1, 0, 0, 0, 0]),  # more steps than positions: the extra steps commit nothing
    ],
)
def test_commit_schedule_splits_blocks_evenly_remainder_first(
    gen_length: int, block_length: int, steps: int | None, schedule: list[int]
) -> None:
    assert commit_schedule(gen_length, block_length, steps) == schedule


@pytest.fixture(scope="module")
def bidirectional(tiny_bidirectional: Path) -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(tiny_bidirectional)


QUESTIONS = ["Who is the director of the film?", "Hi", "Which company did she work for after the university?"]


def test_real_model_fills_every_mask(bidirectional, tokenizer) -> None:
    prompts = [question_prompt_ids(tokenizer, q) for q in QUESTIONS]
    regions = sample_answer_regions(
        bidirectional, prompts, pad=tokenizer.pad_token_id, mask_id=tokenizer.mask_token_id, gen_length=GEN
    )
    assert [len(region) for region in regions] == [GEN] * len(QUESTIONS)
    assert all(tokenizer.mask_token_id not in region for region in regions)


def test_real_model_batched_answers_equal_single_answers(bidirectional, tokenizer) -> None:
    mask_id = tokenizer.mask_token_id
    done: list[int] = []
    batched = answer_llada(
        bidirectional,
        tokenizer,
        QUESTIONS,
        mask_id=mask_id,
        gen_length=GEN,
        batch_size=2,
        on_batch=done.append,
    )
    single = answer_llada(bidirectional, tokenizer, QUESTIONS, mask_id=mask_id, gen_length=GEN, batch_size=1)
    assert batched == single
    assert done == [2, 1]
    assert all(batched)


@pytest.mark.parametrize(
    ("gen_length", "block_length", "steps"),
    [(6, 4, None), (8, 3, None), (8, 4, 3), (8, 4, 0), (0, 4, None), (8, 0, None)],
)
def test_invalid_lengths_or_steps_raise(bidirectional, tokenizer, gen_length, block_length, steps) -> None:
    with pytest.raises(ValueError):
        answer_llada(
            bidirectional,
            tokenizer,
            QUESTIONS,
            mask_id=tokenizer.mask_token_id,
            gen_length=gen_length,
            block_length=block_length,
            steps=steps,
        )


class MaskFavouringModel(torch.nn.Module):
    """Deliberate test double around the real tiny bidirectional Llama: at each position the mask token's
    logit is set 0.5 above or below the best other logit, by a rule on the number of filled positions,
    so the mask token is the argmax at a third of the positions and which ones changes at every fill.
    Where it loses, the best other token is raised by 3 (a confident prediction), so positions where it
    wins are left for last and stay masked into later blocks. The rule reads attended tokens and
    distances from the row's end only, so left padding changes nothing.
    """

    def __init__(self, model: torch.nn.Module, mask_id: int) -> None:
        super().__init__()
        self.model, self.mask_id = model, mask_id

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
        filled = ((input_ids != self.mask_id) & (attention_mask == 1)).sum(dim=1, keepdim=True)
        from_end = torch.arange(input_ids.shape[1], 0, -1)
        mask_wins = (filled + from_end) % 3 == 0
        others = logits.clone()
        others[..., self.mask_id] = float("-inf")
        best, best_id = others.max(dim=-1)
        logits.scatter_(-1, best_id.unsqueeze(-1), (best + torch.where(mask_wins, 0.0, 3.0)).unsqueeze(-1))
        logits[..., self.mask_id] = best + torch.where(mask_wins, 0.5, -0.5)
        return SimpleNamespace(logits=logits)


def reference_generate(
    model: torch.nn.Module, prompt: list[int], mask_id: int, gen_length: int, block_length: int, steps: int
) -> tuple[list[int], int, int]:
    """LLaDA's reference `generate` (GSAI-ML/LLaDA generate.py), one prompt, temperature 0,
    low-confidence remasking, no guidance, written out step by step.

    Returns the answer region, how many mask tokens were committed, and how many positions were
    filled during a later block than their own.
    """
    x = torch.tensor([[*prompt, *[mask_id] * gen_length]])
    start, blocks = len(prompt), gen_length // block_length
    steps_per_block = steps // blocks
    mask_commits = late_fills = 0
    for block in range(blocks):
        block_end = start + (block + 1) * block_length
        # Commits per step, from the block's masked count at its start: even split, remainder first.
        masked_in_block = int((x[0, block_end - block_length : block_end] == mask_id).sum())
        base, remainder = divmod(masked_in_block, steps_per_block)
        for step in range(steps_per_block):
            k = base + (step < remainder)
            masked = x[0] == mask_id
            logits = model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0]
            x0 = logits.argmax(dim=-1)
            confidence = torch.softmax(logits, dim=-1).gather(-1, x0.unsqueeze(-1)).squeeze(-1)
            confidence[block_end:] = float("-inf")
            confidence = torch.where(masked, confidence, torch.tensor(float("-inf")))
            chosen = torch.topk(confidence, k=k).indices
            mask_commits += int((x0[chosen] == mask_id).sum())
            late_fills += int(((x0[chosen] != mask_id) & (chosen < block_end - block_length)).sum())
            x[0, chosen] = x0[chosen]
    return x[0, start:].tolist(), mask_commits, late_fills


@pytest.mark.parametrize(("gen_length", "block_length", "steps"), [(16, 4, 16), (16, 4, 8), (12, 4, 6)])
def test_mask_token_argmax_follows_the_reference_step_by_step(
    bidirectional, tokenizer, gen_length: int, block_length: int, steps: int
) -> None:
    mask_id = tokenizer.mask_token_id
    model = MaskFavouringModel(bidirectional, mask_id)
    prompts = [question_prompt_ids(tokenizer, q) for q in QUESTIONS]
    expected, mask_commits, late_fills = [], 0, 0
    for prompt in prompts:
        region, commits, late = reference_generate(model, prompt, mask_id, gen_length, block_length, steps)
        expected.append(region)
        mask_commits, late_fills = mask_commits + commits, late_fills + late
    # The case under test happens: mask tokens are committed, and some such positions are filled later,
    # while a later block is being sampled.
    assert mask_commits > 0 and late_fills > 0
    settings = {"mask_id": mask_id, "gen_length": gen_length, "block_length": block_length, "steps": steps}
    pad = tokenizer.pad_token_id
    singles = [sample_answer_regions(model, [prompt], pad=pad, **settings)[0] for prompt in prompts]
    assert singles == expected
    assert sample_answer_regions(model, prompts, pad=pad, **settings) == expected  # left-padded batch
