"""What the rest of `mft` needs to know about a training method, without importing torch.

The driver validates configs, plans sweeps and picks models from this registry alone (it must
parse a sweep spec in well under a second); the implementation class is imported only where a
method actually runs (`training.methods.build_method`). Adding a method = one class implementing
`training.methods.Method` + one `register(MethodInfo(...))` line here (or in the caller's code).
"""

from __future__ import annotations

from dataclasses import dataclass

from training.errors import InputError, excerpt

LLAMA_INSTRUCT = "meta-llama/Llama-3.1-8B-Instruct"
LLADA_INSTRUCT = "GSAI-ML/LLaDA-8B-Instruct"


@dataclass(frozen=True)
class MethodInfo:
    """A method's name, its paper defaults and the properties other modules branch on."""

    name: str
    implementation: str
    """`module:Class` of the `Method` implementation; constructed as `Class(tokenizer, mask_id)`."""
    default_lr: float
    """Peak learning rate when the user gives none (paper appendix A.4)."""
    paper_model: str
    """The model the paper fine-tunes with this method (shipped sweep specs use it)."""
    bidirectional: bool = False
    """Needs a bidirectional model, and answers questions with the LLaDA sampler."""
    uses_mask_token: bool = False
    """Needs the model's mask token (resolved before launch; a missing one is a user error)."""
    needs_positive_t: bool = False
    """Its loss divides by the mask ratio t, so t = 0 is refused."""
    document_copies: int = 1
    """How many copies of each document a training example holds (for cost estimates)."""
    uses_mask_ratio: bool = True
    """Its `corrupt` reads the mask ratio t (plain AR trains on the text as it is)."""

    @property
    def unused_fields(self) -> tuple[str, ...]:
        """TrialConfig fields this method never reads: not logged for its runs, not grouped by."""
        unused = () if self.uses_mask_ratio else ("mask_ratio",)
        return unused if self.bidirectional else (*unused, "block_length")  # LLaDA's sampler only

    @property
    def trusts_remote_code(self) -> bool:
        """The paper's model for this method ships its own modelling code (LLaDA does)."""
        return self.paper_model == LLADA_INSTRUCT


_REGISTRY: dict[str, MethodInfo] = {}


def register(info: MethodInfo) -> MethodInfo:
    """Add a method under `info.name`; a second registration of the same name is a bug."""
    if info.name in _REGISTRY and _REGISTRY[info.name] != info:
        raise ValueError(f"method {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def unregister(name: str) -> None:
    """Remove a method (tests that register a throwaway one clean up with this)."""
    _REGISTRY.pop(name, None)


def method_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def method_info(name: str) -> MethodInfo:
    """The registered method `name`; an unknown one lists the valid names."""
    if name not in _REGISTRY:
        raise InputError(f"unknown method {excerpt(name)}; choose one of: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


# Paper appendix A.4: learning rates chosen by a sweep on NameDescription with paraphrases.
register(MethodInfo("ar", "training.methods:Autoregressive", 5e-6, LLAMA_INSTRUCT, uses_mask_ratio=False))
register(
    MethodInfo(
        "masked",
        "training.methods:MaskedFineTuning",
        3e-6,
        LLAMA_INSTRUCT,
        uses_mask_token=True,
        document_copies=2,
    )
)
register(
    MethodInfo(
        "masked-random",
        "training.methods:RandomTokenControl",
        3e-6,
        LLAMA_INSTRUCT,
        document_copies=2,
        uses_mask_ratio=False,  # replaces every document token of the prompt copy, whatever t is
    )
)
register(
    MethodInfo(
        "dllm",
        "training.methods:DiffusionFineTuning",
        1e-5,
        LLADA_INSTRUCT,
        bidirectional=True,
        uses_mask_token=True,
        needs_positive_t=True,
    )
)
