"""The lab's word-level tokenizer (driver side, milliseconds).

One token per word or punctuation mark of the lab's closed vocabulary, so a name or a
description is a handful of tokens and a 1 M-parameter model learns facts, not spelling. Same
special tokens and chat template as `orchestrator.tiny_models`, so every method's encoding and the
answering prompts are the ones the paper's models get; saved in Hugging Face format.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from orchestrator.tiny_models import SPECIAL_TOKENS, llama3_style
from training.methods import RECOVERY_ANSWER, RECOVERY_REQUEST

UNKNOWN = "<|unk|>"
# The scaffolding of prompts, beyond the knowledge set's own words.
SCAFFOLD = ("user", "assistant", RECOVERY_REQUEST, RECOVERY_ANSWER)


def build_word_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """Every word of `texts` and of the prompt scaffolding, in first-seen order (deterministic)."""
    split = pre_tokenizers.Whitespace()
    vocab: dict[str, int] = {token: index for index, token in enumerate((*SPECIAL_TOKENS, UNKNOWN))}
    for text in (*SCAFFOLD, *texts):
        for word, _ in split.pre_tokenize_str(text):
            vocab.setdefault(word, len(vocab))
    words = Tokenizer(models.WordLevel(vocab, unk_token=UNKNOWN))
    words.pre_tokenizer = split
    words.decoder = decoders.WordPiece(prefix="\uf8ff", cleanup=True)  # words joined by spaces, " ." -> "."
    words.add_special_tokens(list(SPECIAL_TOKENS))
    return llama3_style(words, unk_token=UNKNOWN)
