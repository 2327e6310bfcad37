"""Adding a training method = one class + one registry entry: a throwaway method, registered here
and nowhere else, goes through config, sweep expansion, preflight and a real training step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from evaluation.prompting import encode_plain
from orchestrator.sweep.expansion import Overrides, expand
from orchestrator.sweep.spec import parse_spec
from orchestrator.trial.checks import check_data_and_model
from training.config import TrialConfig
from training.errors import InputError
from training.loop import build_optimizer, train_step
from training.method_registry import LLAMA_INSTRUCT, MethodInfo, method_names, register, unregister
from training.methods import Autoregressive, Batch, Example, build_method, collate


class ReversedDocuments:
    """Plain next-token training on each document's tokens in reverse order."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, mask_id: int | None) -> None:
        self.plain = Autoregressive(tokenizer, mask_id)

    def encode(self, tokenizer: PreTrainedTokenizerBase, text: str) -> Example:
        ids = tuple(reversed(encode_plain(tokenizer, text)))
        return Example(ids, (True,) * len(ids), (False,) * len(ids))

    def corrupt(self, batch: Batch, t: float, generator: torch.Generator) -> Batch:
        return batch

    def loss(self, logits: torch.Tensor, batch: Batch, t: float) -> torch.Tensor:
        return self.plain.loss(logits, batch, t)


@pytest.fixture
def reversed_method() -> Iterator[str]:
    info = register(MethodInfo("reversed", f"{__name__}:ReversedDocuments", 7e-4, LLAMA_INSTRUCT))
    yield info.name
    unregister(info.name)


FACT = "Alice Zorn is the mayor of Lantern Bay."


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    (tmp_path / "train.jsonl").write_text(json.dumps({"text": FACT}) + "\n")
    qa = {"question": "Who is Alice Zorn?", "answer": "the mayor of Lantern Bay", "direction": "forward"}
    (tmp_path / "qa.jsonl").write_text(json.dumps(qa) + "\n")
    return tmp_path


def test_a_registered_method_runs_through_config_sweep_preflight_and_a_step(
    reversed_method: str, tiny_causal: Path, facts: Path
) -> None:
    assert reversed_method in method_names()
    config = TrialConfig(model=str(tiny_causal), dataset=str(facts), method=reversed_method)
    assert config.lr == 7e-4  # its own default learning rate

    spec = parse_spec({"methods": [reversed_method], "datasets": [str(facts)]}, "unit", "unit")
    [trial] = expand(spec, Overrides(model=str(tiny_causal)))
    assert trial.config.method == reversed_method and trial.trial_id.startswith("reversed_")

    assert check_data_and_model(config).knowledge.documents == (FACT,)
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal)
    method = build_method(reversed_method, tokenizer)
    example = method.encode(tokenizer, "Alice Zorn")
    assert list(example.input_ids) == encode_plain(tokenizer, "Alice Zorn")[::-1]

    model = AutoModelForCausalLM.from_pretrained(tiny_causal)
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    before = model.lm_head.weight.detach().clone()
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        batch = collate([example], tokenizer.pad_token_id)
        loss, tokens = train_step(
            model, method, batch, optimizer, scheduler, config, torch.Generator(), 0.5
        ).tolist()
    finally:
        dist.destroy_process_group()
    assert loss > 0 and tokens == len(example.input_ids)
    assert not torch.equal(model.lm_head.weight, before)


def test_once_unregistered_the_name_is_refused(tiny_causal: Path) -> None:
    assert "reversed" not in method_names()
    with pytest.raises(InputError, match="unknown method 'reversed'; choose one of: ar, masked"):
        TrialConfig(model=str(tiny_causal), method="reversed")
