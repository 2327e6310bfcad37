"""Prompt token layouts shared by answering (evaluation) and masked fine-tuning (training).

Tokenizers with Llama-3's header tokens (Llama-3, LLaDA, mft's tiny models) get the reference
layout byte for byte, with no system turn: Llama-3.1's own chat template injects one ("Cutting
Knowledge Date ..."), which the paper did not use. Other tokenizers use their own chat template.

A question is asked in one of two styles: `chat` (the paper's: one user turn, then the assistant's
generation prompt) or `completion` (BOS + the text as written, for cloze-style knowledge sets whose
"questions" are sentence beginnings the model should complete).
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from evaluation.questions import PROMPT_STYLES

HEADER_START, HEADER_END, END_OF_TURN = "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"
# Extra end-of-answer tokens beyond the tokenizer's EOS (LLaDA pads its answers with <|endoftext|>).
EXTRA_STOP_TOKENS = (END_OF_TURN, "<|endoftext|>", "<|end_of_text|>")


def has_llama3_headers(tokenizer: PreTrainedTokenizerBase) -> bool:
    vocab = tokenizer.get_vocab()
    return all(token in vocab for token in (HEADER_START, HEADER_END, END_OF_TURN))


def header(role: str) -> str:
    return f"{HEADER_START}{role}{HEADER_END}\n\n"


def encode_plain(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of `text` with no BOS/EOS added (special tokens written in `text` are kept)."""
    return list(tokenizer.encode(text, add_special_tokens=False))


def bos_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    return [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]


def question_prompt_ids(tokenizer: PreTrainedTokenizerBase, question: str) -> list[int]:
    """BOS + one user turn holding `question` + the assistant's generation prompt."""
    if has_llama3_headers(tokenizer):
        text = f"{header('user')}{question}{END_OF_TURN}{header('assistant')}"
        return bos_ids(tokenizer) + encode_plain(tokenizer, text)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=True
    )
    return list(ids["input_ids"] if isinstance(ids, dict) else ids)


def prompt_ids(tokenizer: PreTrainedTokenizerBase, question: str, style: str = "chat") -> list[int]:
    """The prompt that asks `question` in `style` (see the module docstring)."""
    if style == "chat":
        return question_prompt_ids(tokenizer, question)
    if style == "completion":
        return bos_ids(tokenizer) + encode_plain(tokenizer, question)
    raise ValueError(f"prompt style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")


def stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """Ids that end an answer: EOS plus whichever end-of-turn tokens the vocabulary has."""
    vocab = tokenizer.get_vocab()
    stops = {vocab[token] for token in EXTRA_STOP_TOKENS if token in vocab}
    if tokenizer.eos_token_id is not None:
        stops.add(tokenizer.eos_token_id)
    return stops
