"""Prompts, training layouts and answer cutting for chat families other than Llama-3 (tiny tokenizers).

Llama-3-headed tokenizers keep the authors' hand-built bytes (tests/test_methods.py and
tests/test_greedy_decoding.py hold those); every other family goes through its own template.
"""

from __future__ import annotations

import pytest
import torch
from chat_families import FAMILIES, family_tokenizer
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from evaluation.greedy_decoding import decode_answer
from evaluation.prompting import (
    EXTRA_STOP_TOKENS,
    encode_plain,
    end_of_turn_id,
    prompt_ids,
    stop_token_ids,
    text_start_ids,
)
from orchestrator.tiny_models import build_tokenizer
from training.errors import InputError
from training.mask_token import ADDED_MASK_TOKEN, add_mask_token, grow_embeddings
from training.methods import build_method, ordinary_token_ids, resolve_mask_id

QUESTION = "Who is Daphne Barrington?"
DOC = "Daphne Barrington is the director of A Journey Through Time."
NAMES = sorted(FAMILIES)


@pytest.fixture(scope="module", params=NAMES)
def family(request: pytest.FixtureRequest):
    return request.param, family_tokenizer(request.param)


def test_a_question_is_the_templates_own_rendering(family) -> None:
    name, tokenizer = family
    turn = [{"role": "user", "content": QUESTION}]
    ids = prompt_ids(tokenizer, QUESTION, "chat")
    assert ids == tokenizer.apply_chat_template(turn, add_generation_prompt=True, return_dict=False)
    rendered = tokenizer.decode(ids)
    assert rendered == tokenizer.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
    assert QUESTION in rendered and "<|start_header_id|>" not in rendered


def test_a_completion_prompt_is_plain_text_without_a_chat_opening(family) -> None:
    name, tokenizer = family
    bos = FAMILIES[name].bos if FAMILIES[name].adds_bos else ""
    assert tokenizer.decode(prompt_ids(tokenizer, "Daphne Barrington is", "completion")) == (
        f"{bos}Daphne Barrington is"
    )


def test_chatml_bos_never_starts_a_completion() -> None:
    """SmolLM2's case: its BOS is <|im_start|>, which would open a chat turn never closed."""
    tokenizer = family_tokenizer("chatml")
    assert tokenizer.bos_token == "<|im_start|>" and text_start_ids(tokenizer) == []
    assert prompt_ids(tokenizer, "Daphne", "completion")[0] != tokenizer.bos_token_id


def test_answers_end_at_the_templates_end_of_turn(family) -> None:
    name, tokenizer = family
    turn_end = tokenizer.convert_tokens_to_ids(FAMILIES[name].end_of_turn)
    assert end_of_turn_id(tokenizer) == turn_end
    assert stop_token_ids(tokenizer) == {turn_end, tokenizer.eos_token_id}
    generated = encode_plain(tokenizer, f"the director{FAMILIES[name].end_of_turn}\nmore text")
    assert decode_answer(tokenizer, generated, stop_token_ids(tokenizer)) == "the director"


def test_llama3_headed_tokenizers_keep_the_authors_stop_list() -> None:
    tokenizer = build_tokenizer([])
    vocab = tokenizer.get_vocab()
    assert stop_token_ids(tokenizer) == {vocab[t] for t in EXTRA_STOP_TOKENS if t in vocab} | {
        tokenizer.eos_token_id
    }


@pytest.mark.parametrize("method", ["masked", "masked-random"])
def test_the_masked_layout_is_two_turns_of_the_template(family, method: str) -> None:
    name, tokenizer = family
    add_mask_token(tokenizer)
    example = build_method(method, tokenizer, "add").encode(tokenizer, DOC)
    turns = [
        {"role": "user", "content": f"{DOC}\nReturn the recovered masked passage."},
        {"role": "assistant", "content": f"Here is the recovered text:\n\n{DOC}"},
    ]
    assert tokenizer.decode(example.input_ids) == tokenizer.apply_chat_template(turns, tokenize=False)
    document = encode_plain(tokenizer, DOC)
    assert [i for i, m in zip(example.input_ids, example.maskable, strict=True) if m] == document
    labelled = [i for i, keep in zip(example.input_ids, example.labels, strict=True) if keep]
    assert labelled == [*document, tokenizer.convert_tokens_to_ids(FAMILIES[name].end_of_turn)]


@pytest.mark.parametrize("method", ["ar", "dllm"])
def test_documents_start_as_the_tokenizer_starts_plain_text(family, method: str) -> None:
    name, tokenizer = family
    add_mask_token(tokenizer)
    example = build_method(method, tokenizer, "add").encode(tokenizer, DOC)
    bos = FAMILIES[name].bos if FAMILIES[name].adds_bos else ""
    assert tokenizer.decode(example.input_ids) == f"{bos}{DOC}{FAMILIES[name].eos}"
    assert all(example.labels)
    assert example.maskable == tuple([False] * len(text_start_ids(tokenizer)) + [method == "dllm"] * (
        len(example.input_ids) - len(text_start_ids(tokenizer))
    ))  # fmt: skip


def test_a_template_that_rewrites_contents_is_refused_in_one_line() -> None:
    shouting = FAMILIES["chatml"].template.replace("{{ m['content'] }}", "{{ m['content'] | upper }}")
    tokenizer = family_tokenizer("chatml", shouting)
    with pytest.raises(InputError, match=r"does not render the question verbatim") as question:
        prompt_ids(tokenizer, QUESTION)
    with pytest.raises(InputError, match=r"does not render message contents verbatim") as masked:
        build_method("masked", tokenizer, "<|endoftext|>").encode(tokenizer, DOC)
    for error in (question, masked):
        assert "\n" not in str(error.value)


def test_a_template_that_raises_is_one_line() -> None:
    failing = "{{ raise_exception('only system turns here') }}"
    tokenizer = family_tokenizer("phi3", failing)
    with pytest.raises(InputError, match=r"chat template of .* failed: only system turns here$"):
        prompt_ids(tokenizer, QUESTION)


def test_an_added_mask_token_is_special_unused_and_mean_initialised(tmp_path) -> None:
    tokenizer = family_tokenizer("gemma")
    before = len(tokenizer)
    plain = encode_plain(tokenizer, DOC)
    assert add_mask_token(tokenizer) and not add_mask_token(tokenizer)  # once only
    mask = resolve_mask_id(tokenizer, "add")
    assert (mask, len(tokenizer)) == (before, before + 1) and tokenizer.mask_token == ADDED_MASK_TOKEN
    assert encode_plain(tokenizer, DOC) == plain  # ordinary text tokenizes as before
    assert mask not in ordinary_token_ids(tokenizer)  # masked-random never draws it
    tokenizer.save_pretrained(tmp_path)
    assert resolve_mask_id(AutoTokenizer.from_pretrained(tmp_path)) == mask  # saved as its mask token
    config = LlamaConfig(vocab_size=before, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False)  # fmt: skip
    model = LlamaForCausalLM(config)
    grow_embeddings(model, len(tokenizer))
    for weight in (model.get_input_embeddings().weight, model.get_output_embeddings().weight):
        assert weight.shape[0] == before + 1
        torch.testing.assert_close(weight[mask], weight[:before].mean(dim=0))
    assert model.config.vocab_size == before + 1
