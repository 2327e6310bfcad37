"""The lab's shipped base-model weights (driver side, milliseconds).

Pre-training the two base models takes minutes of CPU; the default recipe's weights ship with the
package instead, exactly as `mft lab --rebuild-base` builds them (same recipe, same seeds, the build
pinned to BUILD_THREADS threads), so a first `mft lab` only writes them into its folder. A rebuild
is compared with them byte for byte (`differing_from_shipped`; tests/test_lab.py checks it).
Bit-identity holds on CPUs whose float kernels match the one that built them (the same vector
instruction set); elsewhere a rebuild differs in its last bits and `mft lab` says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import torch
from safetensors.torch import load_file

SHIPPED = "prebuilt"
"""Package folder: one sub-folder per shipped recipe (its `folder_name`), with `recipe.json`."""
WEIGHTS = "model.safetensors"
BASE_NAMES = ("base-causal", "base-bidirectional")
BUILD_THREADS = 2
"""Intra-op threads while building: the result depends on the thread count (how matrix products are
split), so it is pinned, whatever the machine has."""


def shipped_folder(recipe: Mapping[str, object], folder_name: str) -> Traversable | None:
    """The shipped weights of exactly this recipe (`asdict(LabRecipe)`, every field equal), or None."""
    folder = resources.files("orchestrator.lab").joinpath(SHIPPED, folder_name)
    marker = folder.joinpath("recipe.json")
    if not marker.is_file() or json.loads(marker.read_text()) != dict(recipe):
        return None
    return folder


def shipped_weights(folder: Traversable, base: str) -> dict[str, torch.Tensor]:
    """One base model's shipped state dict (`base` one of BASE_NAMES)."""
    with resources.as_file(folder.joinpath(f"{base}.safetensors")) as path:
        return load_file(path)


def file_digest(path: Path | Traversable) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def differing_from_shipped(folder: Traversable, built: dict[str, Path]) -> list[str]:
    """The base models (of `built`: name → model folder) whose weights differ from the shipped ones."""
    return [
        base
        for base, model_folder in built.items()
        if file_digest(model_folder / WEIGHTS) != file_digest(folder.joinpath(f"{base}.safetensors"))
    ]
