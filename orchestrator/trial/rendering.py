"""A trial's prompts and examples, built for its model on the driver before Ray starts.

The workers build the same things from the same code; building one of each here first means a
model that cannot be served is refused in one line in seconds, not after Ray's start-up and the
first evaluation. Refused: a chat template that fails or does not write contents verbatim, no
token to end or pad answers, a mask token that is also an end/pad token or occurs in the text, an
answer region past the model's context. The notes show what was built: the question prompt as the
model sees it, and the mask token.
"""

from __future__ import annotations

from typing import Any

from evaluation.errors import InputError
from evaluation.prompting import describe, pad_id, prompt_ids, stop_token_ids
from training.config import TrialConfig
from training.knowledge import KnowledgeSet
from training.mask_token import ADD, ADDED_MASK_TOKEN
from training.method_registry import method_info
from training.methods import Method, resolve_mask_id


def check_rendering(
    config: TrialConfig, tokenizer: Any, method: Method, knowledge: KnowledgeSet, context: int | None
) -> list[str]:
    """Build one question prompt and one training example of the trial's method; refuse what
    the workers could not serve (see the module docstring); return the notes to print."""
    style = config.prompt_style or knowledge.prompt_style
    prompt = prompt_ids(tokenizer, knowledge.questions[0].question, style)
    stops = stop_token_ids(tokenizer)
    try:
        pad = pad_id(tokenizer)
    except ValueError as exc:
        raise InputError(f"{describe(tokenizer)}: {exc}") from exc
    if not stops:
        raise InputError(f"{describe(tokenizer)} has no EOS or end-of-turn token to end answers with")
    if context and len(prompt) + config.max_new_tokens > context:
        raise InputError(
            f"a question prompt ({len(prompt)} tokens) plus --max-new-tokens {config.max_new_tokens}"
            f" exceeds the model's context of {context} tokens; lower --max-new-tokens"
        )
    example = method.encode(tokenizer, knowledge.documents[0])
    notes = [f"{style} prompt, as the model sees it: {tokenizer.decode(prompt)!r}"]
    if method_info(config.method).uses_mask_token:
        mask = resolve_mask_id(tokenizer, config.mask_token)
        if mask in stops or mask == pad:
            raise InputError(
                f"mask token id {mask} is also {describe(tokenizer)}'s end or padding token;"
                " pass another with --mask-token, or --mask-token add for a new one"
            )
        if mask in example.input_ids:
            raise InputError(
                f"mask token {tokenizer.convert_ids_to_tokens(mask)!r} (id {mask}) occurs in the"
                " training text itself; pass another with --mask-token, or --mask-token add for a new one"
            )
    return notes


def mask_token_summary(config: TrialConfig, tokenizer: Any, model_vocab_size: int) -> str | None:
    """The mask token a masking trial uses, its id and whether `--mask-token add` added it (for the
    run's `mft.mask_token` tag and the notes); None for methods that mask nothing."""
    if not method_info(config.method).uses_mask_token:
        return None
    mask = resolve_mask_id(tokenizer, config.mask_token)
    token = tokenizer.convert_ids_to_tokens(mask)
    if config.mask_token == ADD and token == ADDED_MASK_TOKEN and mask >= model_vocab_size:
        return (
            f"{token} (id {mask}), added: embeddings grow from {model_vocab_size} to {len(tokenizer)}"
            " rows, new rows set to the mean of the others"
        )
    return f"{token} (id {mask})"
