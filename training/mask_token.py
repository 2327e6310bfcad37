"""`--mask-token add`: a dedicated mask token for a tokenizer that has no usable one (any process).

The paper masks with a token the model never saw in text (Llama-3's reserved id 128013, LLaDA's
126336); most chat models have none to spare, so `add` appends `<|mft_mask|>` as a special token
and grows the embeddings by one row set to the mean of the others (an "average" token: it adds
no bias to any logit, where a random row could dominate them). Every rank, the driver's preflight
and `mft export` apply it the same way, so the token always gets the same id; checkpoints and
exports carry the grown embeddings and the tokenizer that holds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from training.method_registry import method_info

if TYPE_CHECKING:  # annotations only: transformers' model module costs a driver ~1 CPU-s to import
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ADD = "add"
"""The `--mask-token` value that asks for a new token."""
ADDED_MASK_TOKEN = "<|mft_mask|>"


def add_mask_token(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Put `<|mft_mask|>` in the vocabulary (as its mask token if it has none); False if already there."""
    if ADDED_MASK_TOKEN in tokenizer.get_vocab():
        return False
    if tokenizer.mask_token is None:
        tokenizer.add_special_tokens({"mask_token": ADDED_MASK_TOKEN})
    else:
        tokenizer.add_tokens([ADDED_MASK_TOKEN], special_tokens=True)
    return True


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase, method: str, mask_token: str | None) -> int | None:
    """Add the mask token when the trial asks for one and its method masks; returns the vocabulary
    size the model's embeddings must then have (None: the model is used as saved)."""
    if mask_token != ADD or not method_info(method).uses_mask_token:
        return None
    add_mask_token(tokenizer)
    return len(tokenizer)


def grow_embeddings(model: PreTrainedModel, vocab_size: int) -> None:
    """Resize input (and untied output) embeddings to `vocab_size` rows, new rows = the old rows' mean."""
    old = model.get_input_embeddings().weight.shape[0]
    if vocab_size <= old:
        return
    model.resize_token_embeddings(vocab_size, mean_resizing=False)
    with torch.no_grad():
        for module in (model.get_input_embeddings(), model.get_output_embeddings()):
            if module is not None:
                module.weight[old:] = module.weight[:old].mean(dim=0)
