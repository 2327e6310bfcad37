"""The lab's pre-training: a batch split by length gives the gradient of one padded batch (seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from orchestrator.lab.base_models import LabRecipe, new_model
from orchestrator.lab.pretraining import _backward, causal_examples
from orchestrator.lab.synthetic import SEEN_FOLDER, vocabulary_texts, write_lab_set
from orchestrator.lab.word_tokenizer import build_word_tokenizer
from training.knowledge import load_knowledge_set
from training.methods import DiffusionFineTuning, MaskedFineTuning, collate, resolve_mask_id


def gradients(model: torch.nn.Module) -> list[torch.Tensor]:
    grads = [parameter.grad.clone() for parameter in model.parameters()]
    model.zero_grad(set_to_none=True)
    return grads


def test_split_batch_has_the_loss_and_gradient_of_one_padded_batch(tmp_path: Path) -> None:
    tokenizer = build_word_tokenizer(vocabulary_texts())
    seen = load_knowledge_set(write_lab_set(tmp_path, people=10, seed=0) / SEEN_FOLDER, "same-order")
    mask_id = resolve_mask_id(tokenizer)
    examples = causal_examples(tokenizer, seen, mask_id)
    # Statements and questions (short), mask-recovery examples (long): both sides of the split.
    chosen = examples[:6] + examples[len(seen.documents) : len(seen.documents) + 4] + examples[-6:]
    assert {len(e.input_ids) <= 32 for e in chosen} == {True, False}
    model = new_model(LabRecipe(hidden_size=32, layers=1, heads=2), tokenizer, causal=True)
    objective = MaskedFineTuning(tokenizer, mask_id)
    generator = torch.Generator().manual_seed(0)

    # t = 0 leaves every example unmasked, so both ways see the same inputs.
    padded = objective.corrupt(collate(chosen, tokenizer.pad_token_id), 0.0, generator)
    logits = model(input_ids=padded.input_ids, attention_mask=padded.attention_mask).logits
    whole = objective.loss(logits.float(), padded, 0.0)
    whole.backward()
    expected = gradients(model)

    split = _backward(model, objective, chosen, tokenizer.pad_token_id, 0.0, generator, 32)
    assert split.item() == pytest.approx(whole.item(), rel=1e-5)
    for got, want in zip(gradients(model), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)

    with pytest.raises(ValueError, match="next-token objective"):
        diffusion = DiffusionFineTuning(tokenizer, mask_id)
        _backward(model, diffusion, chosen, tokenizer.pad_token_id, 0.5, generator, 32)
