"""The four training methods behind one interface: encode a document, corrupt a batch, compute the loss.

Runs on every Ray Train worker (all ranks, independently): `encode` once per document before the
loop, then per step `corrupt` with the batch's mask ratio t and the rank's own generator, the
forward pass, and `loss`. The losses are per-rank means exactly as the authors' scripts compute
them (see PAPER.md, "What the authors' own scripts do"); FSDP averages gradients across ranks.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from evaluation.prompting import (
    END_OF_TURN,
    SENTINEL,
    bos_ids,
    describe,
    encode_plain,
    has_llama3_headers,
    header,
    template_pieces,
    text_start_ids,
)
from training.errors import InputError
from training.mask_token import ADD, ADDED_MASK_TOKEN
from training.method_registry import method_info

IGNORE = -100  # label value that carries no loss (PyTorch's and HF's ignore_index)
RECOVERY_REQUEST = "\nReturn the recovered masked passage."
RECOVERY_ANSWER = "Here is the recovered text:\n\n"
# Mask tokens tried in order when none is configured: LLaDA's own (id 126336), then the Llama-3
# reserved token the paper uses (id 128013), then whatever the tokenizer calls its mask token.
MASK_TOKEN_CANDIDATES = ("<|mdm_mask|>", "<|reserved_special_token_5|>")


@dataclass(frozen=True)
class Example:
    """One encoded training document (no padding); the three tuples have one entry per token."""

    input_ids: tuple[int, ...]
    labels: tuple[bool, ...]
    """Positions whose token is a training target."""
    maskable: tuple[bool, ...]
    """Positions `corrupt` may replace."""

    def __post_init__(self) -> None:
        if not len(self.input_ids) == len(self.labels) == len(self.maskable):
            raise ValueError("Example fields must have one entry per token")


@dataclass
class Batch:
    """Right-padded (B, L) tensors; `labels` holds target ids, IGNORE where there is no loss."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    maskable: torch.Tensor


def collate(examples: Sequence[Example], pad_id: int) -> Batch:
    """Pad to the longest example in the batch; padding is never attended, labelled or maskable."""
    if not examples:
        raise ValueError("collate needs at least one example")
    length = max(len(example.input_ids) for example in examples)
    shape = (len(examples), length)
    batch = Batch(
        input_ids=torch.full(shape, pad_id, dtype=torch.long),
        attention_mask=torch.zeros(shape, dtype=torch.long),
        labels=torch.full(shape, IGNORE, dtype=torch.long),
        maskable=torch.zeros(shape, dtype=torch.bool),
    )
    for row, example in enumerate(examples):
        ids = torch.tensor(example.input_ids, dtype=torch.long)
        n = len(ids)
        batch.input_ids[row, :n] = ids
        batch.attention_mask[row, :n] = 1
        batch.labels[row, :n] = torch.where(torch.tensor(example.labels, dtype=torch.bool), ids, IGNORE)
        batch.maskable[row, :n] = torch.tensor(example.maskable, dtype=torch.bool)
    return batch


class Method(Protocol):
    """Built as `Class(tokenizer, mask_id)`; its name and properties live in `training.method_registry`."""

    def encode(self, tokenizer: PreTrainedTokenizerBase, text: str) -> Example: ...

    def corrupt(self, batch: Batch, t: float, generator: torch.Generator) -> Batch: ...

    def loss(self, logits: torch.Tensor, batch: Batch, t: float) -> torch.Tensor: ...


def _document_example(tokenizer: PreTrainedTokenizerBase, text: str, maskable: bool) -> Example:
    """BOS + document + EOS ("pre-training format"), every token labelled; BOS is never maskable.

    The BOS is what the tokenizer starts plain text with (`text_start_ids`): none for SmolLM2,
    whose BOS `<|im_start|>` opens a chat turn.
    """
    if tokenizer.eos_token_id is None:
        raise InputError(f"{describe(tokenizer)} has no EOS token; ar and dllm end every document with one")
    bos = text_start_ids(tokenizer)
    ids = bos + encode_plain(tokenizer, text) + [tokenizer.eos_token_id]
    flags = [False] * len(bos) + [maskable] * (len(ids) - len(bos))
    return Example(tuple(ids), (True,) * len(ids), tuple(flags))


def _next_token_loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """HF-style causal LM loss: logits[:, i] predict token i + 1; mean over labelled targets."""
    vocab = logits.shape[-1]
    shifted = logits[:, :-1].reshape(-1, vocab).float()
    return F.cross_entropy(shifted, batch.labels[:, 1:].reshape(-1), ignore_index=IGNORE)


def _draw(batch: Batch, t: float, generator: torch.Generator) -> torch.Tensor:
    """Bool (B, L): each maskable position independently with probability t (t=0: none, t=1: all)."""
    draws = torch.rand(batch.input_ids.shape, generator=generator, device=generator.device)
    return batch.maskable & (draws.to(batch.maskable.device) < t)


def _require_positive(t: float) -> None:
    if t <= 0:
        raise ValueError(f"dllm needs a mask ratio t > 0 (its loss divides by t), got {t}")


class Autoregressive:
    """`ar`: plain fine-tuning on the raw document, next-token loss on every token."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, mask_id: int | None) -> None:
        del tokenizer, mask_id  # nothing to configure: every token is a plain target

    def encode(self, tokenizer: PreTrainedTokenizerBase, text: str) -> Example:
        return _document_example(tokenizer, text, maskable=False)

    def corrupt(self, batch: Batch, t: float, generator: torch.Generator) -> Batch:
        """Nothing to corrupt; the batch is returned unchanged (never modified in place)."""
        return batch

    def loss(self, logits: torch.Tensor, batch: Batch, t: float) -> torch.Tensor:
        return _next_token_loss(logits, batch)


def _llama3_recovery_pieces(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int], list[int]]:
    """The reference layout, byte for byte: (before the document, between the copies, after the answer)."""
    before = bos_ids(tokenizer) + encode_plain(tokenizer, header("user"))
    between = encode_plain(
        tokenizer, f"{RECOVERY_REQUEST}{END_OF_TURN}{header('assistant')}{RECOVERY_ANSWER}"
    )
    return before, between, encode_plain(tokenizer, END_OF_TURN)


def _template_recovery_pieces(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int], list[int]]:
    """The same two turns through the tokenizer's own chat template, split where the document goes."""
    messages = [
        {"role": "user", "content": f"{SENTINEL}{RECOVERY_REQUEST}"},
        {"role": "assistant", "content": f"{RECOVERY_ANSWER}{SENTINEL}"},
    ]
    before, between, after = template_pieces(tokenizer, messages)
    return encode_plain(tokenizer, before), encode_plain(tokenizer, between), encode_plain(tokenizer, after)


def _recovery_example(tokenizer: PreTrainedTokenizerBase, text: str) -> Example:
    """User turn: document + recovery request; assistant turn: recovery answer + document.

    The document is tokenized on its own, as the reference does: its prompt copy is the only
    maskable span, its answer copy plus the end-of-turn token the only labelled span.
    """
    pieces = _llama3_recovery_pieces if has_llama3_headers(tokenizer) else _template_recovery_pieces
    before, between, after = pieces(tokenizer)
    document = encode_plain(tokenizer, text)
    target, tail = document + after[:1], after[1:]  # end of turn: the first token after the answer
    ids = before + document + between + target + tail
    labels = (
        [False] * (len(before) + len(document) + len(between)) + [True] * len(target) + [False] * len(tail)
    )
    rest = len(ids) - len(before) - len(document)
    maskable = [False] * len(before) + [True] * len(document) + [False] * rest
    return Example(tuple(ids), tuple(labels), tuple(maskable))


class MaskedFineTuning:
    """`masked`: recover the document from a copy with a fraction t of its tokens masked."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, mask_id: int | None) -> None:
        self.mask_id = _require_mask_id(mask_id)

    def encode(self, tokenizer: PreTrainedTokenizerBase, text: str) -> Example:
        return _recovery_example(tokenizer, text)

    def corrupt(self, batch: Batch, t: float, generator: torch.Generator) -> Batch:
        """t = 0 leaves the prompt intact: the paper's control that learns nothing."""
        masked = _draw(batch, t, generator)
        return dataclasses.replace(batch, input_ids=batch.input_ids.masked_fill(masked, self.mask_id))

    def loss(self, logits: torch.Tensor, batch: Batch, t: float) -> torch.Tensor:
        return _next_token_loss(logits, batch)


def ordinary_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The ids masked-random may draw: every id but special and added tokens (Llama-3: 0..127999).

    Drawing `<|eot_id|>`, chat headers or the mask token into the prompt would teach the control
    something else than the authors' control did (they draw only from Llama-3's ordinary tokens).
    """
    excluded = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    return [token for token in range(len(tokenizer)) if token not in excluded]


class RandomTokenControl:
    """`masked-random` (paper Fig. 9): as `masked`, but every prompt document token becomes random."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, mask_id: int | None) -> None:
        self.random_ids = torch.tensor(ordinary_token_ids(tokenizer), dtype=torch.long)

    def encode(self, tokenizer: PreTrainedTokenizerBase, text: str) -> Example:
        return _recovery_example(tokenizer, text)

    def corrupt(self, batch: Batch, t: float, generator: torch.Generator) -> Batch:
        """t is ignored: the reference replaces all document tokens, uniformly over `random_ids`."""
        shape = batch.input_ids.shape
        picks = torch.randint(0, len(self.random_ids), shape, generator=generator, device=generator.device)
        noise = self.random_ids[picks.cpu()].to(batch.input_ids.device)
        ids = torch.where(batch.maskable, noise, batch.input_ids)
        return dataclasses.replace(batch, input_ids=ids)

    def loss(self, logits: torch.Tensor, batch: Batch, t: float) -> torch.Tensor:
        return _next_token_loss(logits, batch)


class DiffusionFineTuning:
    """`dllm`: LLaDA's objective; mask each token but BOS with probability t, predict the masked ones."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, mask_id: int | None) -> None:
        self.mask_id = _require_mask_id(mask_id)

    def encode(self, tokenizer: PreTrainedTokenizerBase, text: str) -> Example:
        return _document_example(tokenizer, text, maskable=True)

    def corrupt(self, batch: Batch, t: float, generator: torch.Generator) -> Batch:
        """Masks the input and keeps labels only where masked: the loss sees masked positions only."""
        _require_positive(t)
        masked = _draw(batch, t, generator)
        return dataclasses.replace(
            batch,
            input_ids=batch.input_ids.masked_fill(masked, self.mask_id),
            labels=batch.labels.masked_fill(~masked, IGNORE),
        )

    def loss(self, logits: torch.Tensor, batch: Batch, t: float) -> torch.Tensor:
        """Σ over masked positions of CE / (maskable tokens in its row), then / t / batch size.

        No shift: the bidirectional model's logits[:, i] predict token i itself.
        """
        _require_positive(t)
        vocab = logits.shape[-1]
        flat = F.cross_entropy(
            logits.reshape(-1, vocab).float(), batch.labels.reshape(-1), ignore_index=IGNORE, reduction="none"
        )
        per_row = batch.maskable.sum(dim=1, keepdim=True).clamp(min=1)
        return (flat.view(batch.labels.shape) / per_row).sum() / t / batch.labels.shape[0]


def build_method(
    name: str, tokenizer: PreTrainedTokenizerBase, mask_token: int | str | None = None
) -> Method:
    """The registered method `name` for this tokenizer, its mask token resolved if it uses one."""
    info = method_info(name)
    mask_id = resolve_mask_id(tokenizer, mask_token) if info.uses_mask_token else None
    module, _, cls = info.implementation.partition(":")
    return getattr(importlib.import_module(module), cls)(tokenizer, mask_id)


def _require_mask_id(mask_id: int | None) -> int:
    if mask_id is None:
        raise ValueError("this method needs a mask token id; register it with uses_mask_token=True")
    return mask_id


def resolve_mask_id(tokenizer: PreTrainedTokenizerBase, configured: int | str | None = None) -> int:
    """The mask token id: the configured one, else the model family's own, else the tokenizer's.

    A configured string of digits is an id (a digit token is never a sensible mask token); `add`
    is the token `training.mask_token.add_mask_token` put in the vocabulary.
    """
    where = describe(tokenizer)
    vocab = tokenizer.get_vocab()
    if configured == ADD:
        if ADDED_MASK_TOKEN not in vocab:
            raise ValueError(f"--mask-token add: {ADDED_MASK_TOKEN} was never added to the {where}")
        return vocab[ADDED_MASK_TOKEN]
    if configured is not None:
        if isinstance(configured, int) or configured.isdigit():
            if 0 <= int(configured) < len(tokenizer):
                return int(configured)
            raise InputError(
                f"--mask-token id {configured} is outside the vocabulary (0..{len(tokenizer) - 1})"
            )
        if configured in vocab:
            return vocab[configured]
        raise InputError(
            f"--mask-token {configured!r} is not in the vocabulary of {where}; pass a token or id"
        )
    for token in MASK_TOKEN_CANDIDATES:
        if token in vocab:
            return vocab[token]
    if tokenizer.mask_token_id is not None:
        return tokenizer.mask_token_id
    raise InputError(
        f"{where} has no usable mask token; pass --mask-token TOKEN_OR_ID, or --mask-token add for a new one"
    )
