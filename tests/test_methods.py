"""The four training methods: encoded spans, corruption statistics and edges, losses against references."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from evaluation.prompting import encode_plain, has_llama3_headers
from orchestrator.tiny_models import build_tokenizer
from training.errors import InputError
from training.method_registry import method_info, method_names
from training.methods import (
    IGNORE,
    Batch,
    DiffusionFineTuning,
    Example,
    build_method,
    collate,
    ordinary_token_ids,
    resolve_mask_id,
)

DOC = "Daphne Barrington is the director of A Journey Through Time."
OTHER = "She was born in the city."
MASKED_PROMPT = (
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{doc}\nReturn the recovered masked passage."
    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHere is the recovered text:\n\n"
    "{doc}<|eot_id|>"
)
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return build_tokenizer([DOC, OTHER])


@pytest.fixture(scope="module")
def chatml_tokenizer() -> PreTrainedTokenizerFast:
    """No Llama-3 header tokens, no BOS, no mask token: only its own (ChatML) chat template."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([DOC, "Return the recovered masked passage."], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", chat_template=CHATML)


def span(tokenizer: PreTrainedTokenizerFast, example: Example, flags: tuple[bool, ...]) -> str:
    return tokenizer.decode([i for i, keep in zip(example.input_ids, flags, strict=True) if keep])


def is_contiguous(flags: tuple[bool, ...]) -> bool:
    hits = [i for i, flag in enumerate(flags) if flag]
    return hits == list(range(hits[0], hits[-1] + 1))


def method(name: str, tokenizer: PreTrainedTokenizerFast):
    return build_method(name, tokenizer)


def many_documents(tokenizer: PreTrainedTokenizerFast, name: str, count: int) -> Batch:
    encoder = method(name, tokenizer)
    texts = [DOC if i % 2 else OTHER for i in range(count)]
    return collate([encoder.encode(tokenizer, text) for text in texts], tokenizer.pad_token_id)


def test_ar_labels_every_token_and_masks_nothing(tokenizer: PreTrainedTokenizerFast) -> None:
    example = method("ar", tokenizer).encode(tokenizer, DOC)
    assert tokenizer.decode(example.input_ids) == f"<|begin_of_text|>{DOC}<|end_of_text|>"
    assert all(example.labels) and not any(example.maskable)


def test_dllm_may_mask_every_labelled_token_but_bos(tokenizer: PreTrainedTokenizerFast) -> None:
    example = method("dllm", tokenizer).encode(tokenizer, DOC)
    assert example.input_ids == method("ar", tokenizer).encode(tokenizer, DOC).input_ids
    assert all(example.labels)
    assert example.maskable == (False,) + (True,) * (len(example.input_ids) - 1)
    assert span(tokenizer, example, example.maskable) == f"{DOC}<|end_of_text|>"


@pytest.mark.parametrize("name", ["masked", "masked-random"])
def test_masked_prompt_is_the_reference_layout(tokenizer: PreTrainedTokenizerFast, name: str) -> None:
    example = method(name, tokenizer).encode(tokenizer, DOC)
    assert tokenizer.decode(example.input_ids) == MASKED_PROMPT.format(doc=DOC)
    assert is_contiguous(example.maskable) and is_contiguous(example.labels)
    document = encode_plain(tokenizer, DOC)
    assert [i for i, m in zip(example.input_ids, example.maskable, strict=True) if m] == document
    assert span(tokenizer, example, example.labels) == f"{DOC}<|eot_id|>"
    assert example.labels[-1] and example.maskable.index(True) < example.labels.index(True)


def test_masked_uses_the_chat_template_without_llama3_headers(
    chatml_tokenizer: PreTrainedTokenizerFast,
) -> None:
    assert not has_llama3_headers(chatml_tokenizer)
    example = build_method("masked", chatml_tokenizer, 0).encode(chatml_tokenizer, DOC)
    assert chatml_tokenizer.decode(example.input_ids) == (
        f"<|im_start|>user\n{DOC}\nReturn the recovered masked passage.<|im_end|>\n"
        f"<|im_start|>assistant\nHere is the recovered text:\n\n{DOC}<|im_end|>\n"
    )
    document = encode_plain(chatml_tokenizer, DOC)
    assert [i for i, m in zip(example.input_ids, example.maskable, strict=True) if m] == document
    assert is_contiguous(example.labels)
    assert span(chatml_tokenizer, example, example.labels) == f"{DOC}<|im_end|>"


def test_collate_pads_right_with_no_labels_or_masking(tokenizer: PreTrainedTokenizerFast) -> None:
    masked = method("masked", tokenizer)
    long, short = masked.encode(tokenizer, DOC), masked.encode(tokenizer, OTHER)
    batch = collate([short, long], pad_id=tokenizer.pad_token_id)
    n = len(short.input_ids)
    assert batch.input_ids.shape == (2, len(long.input_ids)) == batch.maskable.shape
    assert batch.input_ids[0, :n].tolist() == list(short.input_ids)
    assert (batch.input_ids[0, n:] == tokenizer.pad_token_id).all()
    assert batch.attention_mask.sum(dim=1).tolist() == [n, len(long.input_ids)]
    expected = [i if keep else IGNORE for i, keep in zip(long.input_ids, long.labels, strict=True)]
    assert batch.labels[1].tolist() == expected
    assert (batch.labels[0, n:] == IGNORE).all() and not batch.maskable[0, n:].any()
    assert batch.maskable[1].tolist() == list(long.maskable)


@pytest.mark.parametrize("name", ["masked", "dllm"])
def test_mask_fraction_follows_t(tokenizer: PreTrainedTokenizerFast, name: str) -> None:
    batch = many_documents(tokenizer, name, count=240)
    assert batch.maskable.sum() >= 2000
    out = method(name, tokenizer).corrupt(batch, 0.3, torch.Generator().manual_seed(0))
    hit = out.input_ids == tokenizer.mask_token_id
    assert not hit[~batch.maskable].any()
    assert torch.equal(out.input_ids[~hit], batch.input_ids[~hit])
    assert abs(hit.sum().item() / batch.maskable.sum().item() - 0.3) < 0.03


def test_masked_edges_t0_keeps_prompt_t1_masks_whole_document(tokenizer: PreTrainedTokenizerFast) -> None:
    batch = many_documents(tokenizer, "masked", count=4)
    original = batch.input_ids.clone()
    masked, generator = method("masked", tokenizer), torch.Generator().manual_seed(0)
    assert torch.equal(masked.corrupt(batch, 0.0, generator).input_ids, original)
    full = masked.corrupt(batch, 1.0, generator)
    assert (full.input_ids[batch.maskable] == tokenizer.mask_token_id).all()
    assert torch.equal(full.input_ids[~batch.maskable], original[~batch.maskable])
    assert torch.equal(full.labels, batch.labels)
    assert torch.equal(batch.input_ids, original), "corrupt must not modify its input"


def test_masked_random_replaces_every_document_token_and_nothing_else(
    tokenizer: PreTrainedTokenizerFast,
) -> None:
    batch = many_documents(tokenizer, "masked-random", count=4)
    original = batch.input_ids.clone()
    control = method("masked-random", tokenizer)
    control.random_ids = torch.arange(10**3, 10**6)  # disjoint from the real ids: every replaced token shows
    out = control.corrupt(batch, 0.0, torch.Generator().manual_seed(0))  # t plays no part
    assert torch.equal(out.input_ids != original, batch.maskable)
    assert out.input_ids[batch.maskable].min() >= 10**3 and out.input_ids.max() < 10**6
    assert torch.equal(out.labels, batch.labels) and torch.equal(batch.input_ids, original)


def test_masked_random_never_draws_a_special_or_added_token(tokenizer: PreTrainedTokenizerFast) -> None:
    """The tiny tokenizer has Llama-3-style specials (BOS, EOS, pad, mask, chat headers, end of turn)."""
    special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    assert {tokenizer.mask_token_id, tokenizer.convert_tokens_to_ids("<|eot_id|>")} <= special
    assert ordinary_token_ids(tokenizer) == [i for i in range(len(tokenizer)) if i not in special]
    batch = many_documents(tokenizer, "masked-random", count=16)
    control, generator = method("masked-random", tokenizer), torch.Generator().manual_seed(0)
    drawn = torch.cat([control.corrupt(batch, 0.5, generator).input_ids[batch.maskable] for _ in range(200)])
    assert not set(drawn.tolist()) & special
    # Uniform over the ordinary ids: all of them come up in ~100k draws over ~400 ids.
    assert set(drawn.tolist()) == set(ordinary_token_ids(tokenizer))


def test_dllm_keeps_labels_only_where_masked(tokenizer: PreTrainedTokenizerFast) -> None:
    batch = many_documents(tokenizer, "dllm", count=8)
    dllm, generator = method("dllm", tokenizer), torch.Generator().manual_seed(0)
    out = dllm.corrupt(batch, 0.5, generator)
    hit = out.input_ids == tokenizer.mask_token_id
    assert torch.equal(out.labels != IGNORE, hit)
    assert torch.equal(out.labels[hit], batch.input_ids[hit])
    full = dllm.corrupt(batch, 1.0, generator)
    assert torch.equal(full.labels != IGNORE, batch.maskable)
    assert (full.input_ids[:, 0] == tokenizer.bos_token_id).all()
    with pytest.raises(ValueError, match="t > 0"):
        dllm.corrupt(batch, 0.0, generator)
    with pytest.raises(ValueError, match="t > 0"):
        dllm.loss(torch.zeros(*batch.input_ids.shape, len(tokenizer)), out, 0.0)


def test_dllm_loss_matches_hand_computation() -> None:
    # Row 0: 2 maskable tokens, position 1 masked (target 1); row 1: 1 maskable, position 1 masked (target 2).
    # No shift: logits[:, 1] score position 1 itself; the other rows of logits must not matter.
    batch = Batch(
        input_ids=torch.tensor([[0, 9, 2], [0, 9, 5]]),
        attention_mask=torch.tensor([[1, 1, 1], [1, 1, 0]]),
        labels=torch.tensor([[IGNORE, 1, IGNORE], [IGNORE, 2, IGNORE]]),
        maskable=torch.tensor([[False, True, True], [False, True, False]]),
    )
    rows = [
        [[5.0, 0.0, 0.0], [0.5, 2.0, -1.0], [0.0, 0.0, 9.0]],
        [[1.0, 1.0, 1.0], [0.0, 1.0, 3.0], [7.0, 0, 0]],
    ]
    logits = torch.tensor(rows)

    def ce(scores: list[float], target: int) -> float:
        return math.log(sum(math.exp(s) for s in scores)) - scores[target]

    t = 0.4
    expected = (ce(rows[0][1], 1) / 2 + ce(rows[1][1], 2) / 1) / t / 2
    loss = DiffusionFineTuning(None, mask_id=9).loss(logits, batch, t)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["ar", "masked"])
def test_causal_loss_equals_hf_loss(tiny_causal: Path, name: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal)
    model = AutoModelForCausalLM.from_pretrained(tiny_causal)
    objective = method(name, tokenizer)
    batch = collate([objective.encode(tokenizer, text) for text in (DOC, OTHER)], tokenizer.pad_token_id)
    batch = objective.corrupt(batch, 0.5, torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels)
    torch.testing.assert_close(objective.loss(out.logits, batch, 0.5), out.loss)


@pytest.mark.parametrize("name", list(method_names()))
def test_every_method_trains_its_model(request: pytest.FixtureRequest, name: str) -> None:
    folder = request.getfixturevalue("tiny_bidirectional" if name == "dllm" else "tiny_causal")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    objective = method(name, tokenizer)
    assert method_info(name).bidirectional == (not model.config.is_causal)
    batch = collate([objective.encode(tokenizer, text) for text in (DOC, OTHER)], tokenizer.pad_token_id)
    batch = objective.corrupt(batch, 0.9, torch.Generator().manual_seed(1))
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    loss = objective.loss(logits, batch, 0.9)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    assert model.lm_head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["masked", "masked-random", "dllm"])
def test_same_seed_same_corruption(tokenizer: PreTrainedTokenizerFast, name: str) -> None:
    batch, objective = many_documents(tokenizer, name, count=4), method(name, tokenizer)
    first, again, other = (objective.corrupt(batch, 0.5, torch.Generator().manual_seed(s)) for s in (7, 7, 8))
    assert torch.equal(first.input_ids, again.input_ids) and torch.equal(first.labels, again.labels)
    assert not torch.equal(first.input_ids, other.input_ids)


def test_registry_knows_the_methods_and_rejects_unknown_names(tokenizer: PreTrainedTokenizerFast) -> None:
    assert method_names() == ("ar", "masked", "masked-random", "dllm")
    assert [method_info(name).bidirectional for name in method_names()] == [False, False, False, True]
    assert [method_info(name).default_lr for name in method_names()] == [5e-6, 3e-6, 3e-6, 1e-5]
    with pytest.raises(InputError, match="choose one of: ar, masked, masked-random, dllm"):
        build_method("diffusion", tokenizer)


def test_mask_id_prefers_configured_then_family_tokens_then_tokenizer_mask() -> None:
    tokenizer = build_tokenizer([])
    assert resolve_mask_id(tokenizer) == tokenizer.mask_token_id
    tokenizer.add_tokens(["<|reserved_special_token_5|>"], special_tokens=True)
    llama_mask = tokenizer.convert_tokens_to_ids("<|reserved_special_token_5|>")
    assert resolve_mask_id(tokenizer) == llama_mask
    tokenizer.add_tokens(["<|mdm_mask|>"], special_tokens=True)
    assert resolve_mask_id(tokenizer) == tokenizer.convert_tokens_to_ids("<|mdm_mask|>")
    assert resolve_mask_id(tokenizer, "<|reserved_special_token_5|>") == llama_mask
    assert resolve_mask_id(tokenizer, 7) == 7
    assert resolve_mask_id(tokenizer, "7") == 7


def test_mask_id_errors_name_the_flag(chatml_tokenizer: PreTrainedTokenizerFast) -> None:
    remedy = r"has no usable mask token; pass --mask-token TOKEN_OR_ID, or --mask-token add for a new one$"
    with pytest.raises(InputError, match=remedy):
        resolve_mask_id(chatml_tokenizer)
    with pytest.raises(InputError, match="not in the vocabulary"):
        resolve_mask_id(chatml_tokenizer, "<|mask|>")
    with pytest.raises(InputError, match="outside the vocabulary"):
        resolve_mask_id(chatml_tokenizer, len(chatml_tokenizer))
