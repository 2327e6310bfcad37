"""Batched greedy answering on the tiny causal Llama: batching, stop tokens, length cap."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from evaluation.greedy_decoding import answer_greedy, decode_answer, left_pad
from evaluation.prompting import encode_plain, pad_id, question_prompt_ids

QUESTIONS = [
    "Who is the director of the film?",
    "Hi",
    "What is the name of the company she worked for after she studied at the university in the city?",
    "Where was he born?",
    "Who is Ä Journey?",
    "Which university?",
    "What is the name?",
]


@pytest.fixture(scope="module")
def causal(tiny_causal: Path) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    return AutoModelForCausalLM.from_pretrained(tiny_causal), AutoTokenizer.from_pretrained(tiny_causal)


def _raw_generation(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, question: str, n: int
) -> list[int]:
    """The first n greedy ids for one unpadded question from `generate` itself, stop tokens suppressed."""
    prompt = torch.tensor([question_prompt_ids(tokenizer, question)])
    output = model.generate(prompt, do_sample=False, max_new_tokens=n, min_new_tokens=n)
    return output[0, prompt.shape[1] :].tolist()


def test_batched_answers_equal_one_at_a_time_answers(causal) -> None:
    model, tokenizer = causal
    done: list[int] = []
    batched = answer_greedy(
        model, tokenizer, QUESTIONS, batch_size=3, max_new_tokens=12, on_batch=done.append
    )
    single = answer_greedy(model, tokenizer, QUESTIONS, batch_size=1, max_new_tokens=12)
    assert batched == single
    assert done == [3, 3, 1]
    # Distinct non-empty answers: a padding leak would have something to change.
    assert all(batched) and len(set(batched)) > 1


def test_answer_is_cut_at_the_first_stop_token(causal, tiny_causal: Path) -> None:
    model, tokenizer = causal
    question = QUESTIONS[0]
    raw = _raw_generation(model, tokenizer, question, 12)
    # Make the 5th generated token an end-of-answer token by declaring it the tokenizer's EOS.
    cut = 4
    assert raw[cut] not in raw[:cut]
    stopping = AutoTokenizer.from_pretrained(tiny_causal)
    stopping.eos_token = tokenizer.convert_ids_to_tokens(raw[cut])
    answer = answer_greedy(model, stopping, [question], max_new_tokens=12)
    assert answer == [tokenizer.decode(raw[:cut], skip_special_tokens=True).strip()]
    assert answer != answer_greedy(model, tokenizer, [question], max_new_tokens=12)


def test_max_new_tokens_caps_the_answer(causal) -> None:
    model, tokenizer = causal
    raw = _raw_generation(model, tokenizer, QUESTIONS[3], 12)
    for n in (1, 5):
        expected = tokenizer.decode(raw[:n], skip_special_tokens=True).strip()
        assert answer_greedy(model, tokenizer, [QUESTIONS[3]], max_new_tokens=n) == [expected]


def test_model_mode_and_dtype_are_left_alone(causal) -> None:
    model, tokenizer = causal
    model.train()
    try:
        answer_greedy(model, tokenizer, QUESTIONS[:2], max_new_tokens=2)
        assert model.training and next(model.parameters()).dtype == torch.float32
    finally:
        model.eval()


def test_decode_answer_stops_at_first_stop_and_drops_special_tokens(causal) -> None:
    _, tokenizer = causal
    eot, pad = tokenizer.convert_tokens_to_ids("<|eot_id|>"), tokenizer.pad_token_id
    ids = [pad, *encode_plain(tokenizer, " Paris, France"), eot, *encode_plain(tokenizer, " Rome"), eot]
    assert decode_answer(tokenizer, ids, {eot}) == "Paris, France"
    assert decode_answer(tokenizer, ids, set()) == "Paris, France Rome"


def test_left_pad_right_aligns_rows() -> None:
    input_ids, mask = left_pad([[5, 6, 7], [8]], pad=0, device=torch.device("cpu"))
    assert input_ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_pad_falls_back_to_eos(causal, tiny_causal: Path) -> None:
    _, tokenizer = causal
    assert pad_id(tokenizer) == tokenizer.pad_token_id
    no_pad = AutoTokenizer.from_pretrained(tiny_causal)
    no_pad.pad_token = None
    assert pad_id(no_pad) == no_pad.eos_token_id
