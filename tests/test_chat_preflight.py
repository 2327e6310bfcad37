"""Other chat families before Ray: the preflight renders a prompt and an example and refuses in one
line what cannot be served; `mft eval` answers through each family's template; deterministic
worker errors are agreed across ranks. Tiny models, no Ray (seconds)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch.distributed as dist
from chat_families import FAMILIES, family_model
from rich.markup import escape
from transformers import AutoTokenizer

from orchestrator.trial.checks import check_data_and_model
from training.config import TrialConfig
from training.errors import InputError
from training.failures import TrialError, agreed

FACTS = [("Alice Zorn", "the inventor of the glass piano"), ("Boris Quill", "the mayor of Lantern Bay")]


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kset")
    with (folder / "train.jsonl").open("w") as train, (folder / "qa.jsonl").open("w") as qa:
        for name, description in FACTS:
            train.write(json.dumps({"text": f"{name} is {description}."}) + "\n")
            qa.write(json.dumps({"question": f"Who is {name}?", "answer": description, "direction": "fwd"}))
            qa.write("\n")
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {name: family_model(name, root / name) for name in FAMILIES}


def checked_notes(model: Path, knowledge: Path, **fields: object) -> list[str]:
    config = TrialConfig(model=str(model), dataset=str(knowledge), epochs=1, eval_at=(1,), **fields)
    return list(check_data_and_model(config).notes)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_preflight_shows_the_templates_prompt_and_the_added_mask_token(
    name: str, models: dict[str, Path], knowledge: Path
) -> None:
    notes = checked_notes(models[name], knowledge, method="masked", mask_token="add")
    tokenizer = AutoTokenizer.from_pretrained(models[name])
    turn = [{"role": "user", "content": "Who is Alice Zorn?"}]
    rendered = tokenizer.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
    assert any(escape(repr(rendered)) in note for note in notes), notes  # Rich markup escaped
    size = len(tokenizer)
    added = f"<|mft_mask|> (id {size}), added: embeddings grow from {size} to {size + 1}"
    assert any(added in note for note in notes), notes


def test_masked_without_a_mask_token_names_the_remedy(models: dict[str, Path], knowledge: Path) -> None:
    with pytest.raises(InputError, match=r"no usable mask token; .* or --mask-token add for a new one$"):
        checked_notes(models["phi3"], knowledge, method="masked")


def test_a_mask_token_that_ends_answers_is_refused(models: dict[str, Path], knowledge: Path) -> None:
    with pytest.raises(InputError, match=r"is also .* end or padding token; pass another"):
        checked_notes(models["chatml"], knowledge, method="masked", mask_token="<|im_end|>")


def test_an_answer_region_past_the_context_is_refused(models: dict[str, Path], knowledge: Path) -> None:
    too_long = r"exceeds the model's context of 512 tokens; lower --max-new-tokens"
    with pytest.raises(InputError, match=too_long):
        checked_notes(models["gemma"], knowledge, method="ar", max_new_tokens=600)


def test_mft_train_refuses_a_template_that_rewrites_contents_before_ray(
    mft, tmp_path: Path, knowledge: Path
) -> None:
    shouting = FAMILIES["chatml"].template.replace("{{ m['content'] }}", "{{ m['content'] | upper }}")
    model = family_model("chatml", tmp_path / "shouting", shouting)
    result = mft("train", "--model", str(model), "--dataset", str(knowledge), "--method", "ar",
                 "--epochs", "1", "--gpus-per-worker", "0", "--storage", str(tmp_path / "runs"),
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}")  # fmt: skip
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        f"error: the chat template of tokenizer at {model} does not render the question verbatim"
        " ('Who is Alice Zorn?'); use --prompt-style completion or another model"
    ]
    assert not (tmp_path / "runs").exists()  # nothing launched


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_mft_eval_asks_through_each_template(
    name: str, models: dict[str, Path], knowledge: Path, tmp_path: Path, mft
) -> None:
    for style in ("chat", "completion"):
        out = tmp_path / f"{style}.jsonl"
        result = mft("eval", "--model", str(models[name]), "--dataset", str(knowledge),
                     "--max-new-tokens", "4", "--prompt-style", style, "--out", str(out))  # fmt: skip
        assert result.code == 0, result.err
        shown = result.out.split("prompt, as the model sees it: ")[1].splitlines()[0]
        expected = "Who is Alice Zorn?"
        if style == "completion" and FAMILIES[name].adds_bos:
            expected = FAMILIES[name].bos + expected
        assert (expected in shown) and (shown == repr(expected) or style == "chat")
        assert len(out.read_text().splitlines()) == len(FACTS)


@pytest.fixture
def one_rank(tmp_path: Path):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_agreed_turns_deterministic_errors_into_one_line_and_lets_others_through(one_rank) -> None:
    with pytest.raises(TrialError, match=r"^the template refused it$"):
        with agreed():
            raise InputError("the template refused it")
    with pytest.raises(TrialError, match=r"^TypeError: bad operand$"):
        with agreed():
            raise TypeError("bad operand\nsecond line")
    with pytest.raises(RuntimeError, match="peer died"):  # the environment's: left to Ray's retry
        with agreed():
            raise RuntimeError("peer died")
    with agreed():
        pass
