"""Writing a Hugging Face model folder others can read (single process: the driver, or rank 0).

`save_pretrained` writes the weights through a private temporary file, so `model.safetensors`
ends up mode 0600 whatever the umask: a model exported or built on a shared machine would be
unreadable by the colleagues it was made for. Every file here gets the mode a plain `open()`
would have given it.
"""

from __future__ import annotations

import os
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging


def save_model_folder(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out: Path) -> Path:
    """`save_pretrained` model and tokenizer into `out`, every file readable as the umask allows."""
    out.mkdir(parents=True, exist_ok=True)
    # A small model is one shard: transformers' "Writing model shards" bar would only be noise on
    # stderr (and break a command's one-line error), whatever the environment said at import time.
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out)
    finally:
        if shown:
            hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(out)
    apply_umask(out)
    return out


def apply_umask(folder: Path) -> None:
    """Give every file under `folder` mode 0666 minus the process umask (0644 under umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o666 & ~umask)
