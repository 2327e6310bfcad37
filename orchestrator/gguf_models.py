"""A GGUF model file as a Hugging Face model folder (driver side), for `--model FILE.gguf`.

transformers reads GGUF files itself (it needs the `gguf` package, and `accelerate`), dequantising
every tensor to fp32, but the model it returns carries a GGUF quantizer that refuses
`save_pretrained`. The weights are therefore copied into a plain model of the same class and saved,
with the tokenizer (chat template included), as an ordinary folder: Ray workers, export and eval
then load it like any other. Converted once per file (path, size and modification time) into
`<user cache>/models/gguf/`; the folder holds fp32 weights, 4 bytes per parameter.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console

from training.errors import InputError
from training.knowledge import user_cache

SUFFIX = ".gguf"


def is_gguf(model: str) -> bool:
    return model.lower().endswith(SUFFIX) and Path(model).expanduser().is_file()


def converted_folder(gguf: Path, cache: Path | None = None) -> Path:
    """Where the conversion of `gguf` lives: one folder per file version."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return (cache or user_cache() / "models" / "gguf") / f"{gguf.stem}-{key}"


def local_model(model: str) -> str:
    """`model` unchanged, or for a .gguf file the folder it converts to (converted on first use)."""
    if not is_gguf(model):
        return model
    gguf = Path(model).expanduser()
    folder = converted_folder(gguf)
    if not (folder / "config.json").is_file():
        convert_gguf(gguf, folder)
    return str(folder)


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Write `gguf` as a plain Hugging Face folder at `out` (written aside, then moved in place)."""
    missing = [name for name in ("gguf", "accelerate") if importlib.util.find_spec(name) is None]
    if missing:
        raise InputError(
            f"reading {gguf.name} needs {' and '.join(missing)}: pip install {' '.join(missing)}"
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evaluation.prompting import end_of_turn_id
    from training.model_folder import save_model_folder

    console = Console()
    console.print(f"converting {gguf.name} once, into {out} (fp32)", highlight=False, soft_wrap=True)
    start = time.perf_counter()
    # transformers draws a tqdm bar over the tensors on stderr that no setting of its own turns off:
    # in a log it is one line of hundreds of carriage returns. Errors still arrive as exceptions.
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            loaded = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, dtype=torch.float32
            )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read {gguf}: {first}") from exc
    settings = loaded.config.to_dict()
    for key in ("quantization_config", "_name_or_path"):
        settings.pop(key, None)
    config = type(loaded.config).from_dict(settings)
    plain = type(loaded)(config)  # no quantizer: saves like any model
    missing_keys, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing_keys) - tied or unexpected:
        raise InputError(f"{gguf.name}: weights do not match {type(plain).__name__} ({missing_keys[:3]})")
    plain.tie_weights()
    stops = [token for token in (tokenizer.eos_token_id, end_of_turn_id(tokenizer)) if token is not None]
    plain.generation_config.eos_token_id = sorted(set(stops))
    plain.generation_config.pad_token_id = tokenizer.pad_token_id
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".converting-", dir=out.parent) as scratch:
        save_model_folder(plain.eval(), tokenizer, Path(scratch) / "model")
        if out.exists():
            shutil.rmtree(out)
        (Path(scratch) / "model").rename(out)
    console.print(f"converted {gguf.name} in {time.perf_counter() - start:.0f} s", highlight=False)
    return out
