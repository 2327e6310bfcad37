"""Prompt token layouts shared by answering (evaluation) and masked fine-tuning (training).

Tokenizers with Llama-3's header tokens (Llama-3, LLaDA, mft's tiny models) get the reference
layout byte for byte, with no system turn: Llama-3.1's own chat template injects one ("Cutting
Knowledge Date ..."), which the paper did not use. Every other tokenizer (ChatML, Mistral, Gemma,
Phi-3, ...) goes through its own chat template, rendered as text, defaults included (SmolLM2's
template adds its system line: the model was tuned with it). A template must write each message's
content verbatim, or nothing can be placed in it: such a tokenizer is refused in one line.

An answer ends at EOS or at the template's end-of-turn token: the token it writes right after an
assistant message (`<|im_end|>`, `<end_of_turn>`, `<|end|>`, `</s>`; Llama-3: `<|eot_id|>`).

A question is asked in one of two styles: `chat` (the paper's: one user turn, then the assistant's
generation prompt) or `completion` (the text as written, started as the tokenizer starts any
plain text, for cloze-style sets whose "questions" are sentence beginnings). A completion never
opens a chat turn: SmolLM2's BOS is `<|im_start|>`, which its tokenizer does not add to text.
"""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedTokenizerBase

from evaluation.errors import InputError
from evaluation.questions import PROMPT_STYLES

HEADER_START, HEADER_END, END_OF_TURN = "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"
# Llama-3-headed tokenizers only: end-of-answer tokens beyond EOS (LLaDA pads its answers with
# <|endoftext|>), as the authors' code cut answers.
EXTRA_STOP_TOKENS = (END_OF_TURN, "<|endoftext|>", "<|end_of_text|>")
# Stands in for a message's content when a chat template is rendered, to find where content goes.
SENTINEL = "\uf8ffmft-content\uf8ff"


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


def describe(tokenizer: PreTrainedTokenizerBase) -> str:
    return f"tokenizer at {tokenizer.name_or_path or '<not saved>'}"


def text_start_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """What starts a plain text (a training document, a completion prompt): Llama-3-headed
    tokenizers their BOS, as the authors' code; others whatever they add before text themselves."""
    if has_llama3_headers(tokenizer):
        return bos_ids(tokenizer)
    plain = encode_plain(tokenizer, "mft")
    full = list(tokenizer.encode("mft", add_special_tokens=True))
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start]
    return []


def render_chat(
    tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], generation_prompt: bool
) -> str:
    """The tokenizer's chat template applied to `messages`, as text; one line if it cannot be."""
    if not tokenizer.chat_template:
        raise InputError(f"{describe(tokenizer)} has no chat template; use --prompt-style completion")
    try:
        rendered: Any = tokenizer.apply_chat_template(
            messages, add_generation_prompt=generation_prompt, tokenize=False
        )
    except Exception as exc:  # jinja2 errors, raise_exception() in the template, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"the chat template of {describe(tokenizer)} failed: {first}") from exc
    if not isinstance(rendered, str):
        raise InputError(f"the chat template of {describe(tokenizer)} did not render text")
    return rendered


def template_pieces(
    tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], generation_prompt: bool = False
) -> list[str]:
    """The rendered chat split at each SENTINEL in the messages' contents; refused unless every
    sentinel comes through verbatim (a template that trims, rewrites or drops content)."""
    expected = sum(message["content"].count(SENTINEL) for message in messages)
    pieces = render_chat(tokenizer, messages, generation_prompt).split(SENTINEL)
    if len(pieces) != expected + 1:
        raise InputError(
            f"the chat template of {describe(tokenizer)} does not render message contents verbatim,"
            " so questions and documents cannot be placed in it; use a model whose template does"
        )
    return pieces


def question_prompt_ids(tokenizer: PreTrainedTokenizerBase, question: str) -> list[int]:
    """One user turn holding `question` + the assistant's generation prompt."""
    if has_llama3_headers(tokenizer):
        text = f"{header('user')}{question}{END_OF_TURN}{header('assistant')}"
        return bos_ids(tokenizer) + encode_plain(tokenizer, text)
    rendered = render_chat(tokenizer, [{"role": "user", "content": question}], generation_prompt=True)
    if question not in rendered:
        raise InputError(
            f"the chat template of {describe(tokenizer)} does not render the question verbatim"
            f" ({question[:60]!r}); use --prompt-style completion or another model"
        )
    return encode_plain(tokenizer, rendered)


def prompt_ids(tokenizer: PreTrainedTokenizerBase, question: str, style: str = "chat") -> list[int]:
    """The prompt that asks `question` in `style` (see the module docstring)."""
    if style == "chat":
        return question_prompt_ids(tokenizer, question)
    if style == "completion":
        return text_start_ids(tokenizer) + encode_plain(tokenizer, question)
    raise ValueError(f"prompt style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")


def end_of_turn_id(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """The token the chat template writes right after an assistant message's content, if it is a
    special token (`<|im_end|>`, `<end_of_turn>`, `<|end|>`, `</s>`); None without a template."""
    if has_llama3_headers(tokenizer):
        return tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if not tokenizer.chat_template:
        return None
    messages = [{"role": "user", "content": "?"}, {"role": "assistant", "content": SENTINEL}]
    after = encode_plain(tokenizer, template_pieces(tokenizer, messages)[-1])
    special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    return after[0] if after and after[0] in special else None


def stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """Ids that end an answer: EOS and the template's end of turn (Llama-3-headed: the authors' list)."""
    if has_llama3_headers(tokenizer):
        vocab = tokenizer.get_vocab()
        stops = {vocab[token] for token in EXTRA_STOP_TOKENS if token in vocab}
    else:
        turn_end = end_of_turn_id(tokenizer)
        stops = set() if turn_end is None else {turn_end}
    if tokenizer.eos_token_id is not None:
        stops.add(tokenizer.eos_token_id)
    return stops


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The padding id: the tokenizer's pad token, else its EOS (Llama-3 has no pad token)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("the tokenizer has neither a pad nor an EOS token to pad batches with")
    return pad
