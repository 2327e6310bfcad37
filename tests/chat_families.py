"""Tiny tokenizers (and models) with other families' chat layouts, built locally in a second.

Each is a byte-level BPE trained on a few sentences, with the family's special tokens and a chat
template written here in that family's layout (ChatML with SmolLM2's default system line, Mistral
`[INST]`, Gemma `<start_of_turn>`, Phi-3 `<|user|>`), and whether the tokenizer starts plain text
with its BOS, as the real ones do. None has Llama-3's header tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from training.model_folder import save_model_folder


@dataclass(frozen=True)
class Family:
    bos: str
    eos: str
    specials: tuple[str, ...]
    template: str
    adds_bos: bool
    """The tokenizer puts BOS before any text it encodes (Mistral, Gemma); ChatML and Phi-3 do not."""
    end_of_turn: str
    """What the template writes right after an assistant message."""


FAMILIES = {
    "chatml": Family(
        bos="<|im_start|>",
        eos="<|im_end|>",
        specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
        template=(
            "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}"
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
            "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        ),
        adds_bos=False,
        end_of_turn="<|im_end|>",
    ),
    "mistral": Family(
        bos="<s>",
        eos="</s>",
        specials=("<unk>", "<s>", "</s>"),
        template=(
            "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}"
            "[INST] {{ m['content'] }} [/INST]{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}"
            "{% endfor %}"
        ),
        adds_bos=True,
        end_of_turn="</s>",
    ),
    "gemma": Family(
        bos="<bos>",
        eos="<eos>",
        specials=("<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"),
        template=(
            "{{ bos_token }}{% for m in messages %}"
            "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
            "<start_of_turn>{{ role }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
            "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
        ),
        adds_bos=True,
        end_of_turn="<end_of_turn>",
    ),
    "phi3": Family(
        bos="<s>",
        eos="<|endoftext|>",
        specials=("<unk>", "<s>", "<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>"),
        template=(
            "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>\n{% else %}{{ eos_token }}{% endif %}"
        ),
        adds_bos=False,
        end_of_turn="<|end|>",
    ),
}
CORPUS = (
    "Daphne Barrington is the director of A Journey Through Time.",
    "Who is Daphne Barrington? Return the recovered masked passage. Here is the recovered text:",
    "You are a helpful assistant. user assistant model system",
)


def family_tokenizer(name: str, template: str | None = None) -> PreTrainedTokenizerFast:
    """The tiny tokenizer of family `name` (its own template unless `template` is given)."""
    family = FAMILIES[name]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=list(family.specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS, trainer)
    if family.adds_bos:
        bos = (family.bos, bpe.token_to_id(family.bos))
        bpe.post_processor = processors.TemplateProcessing(single=f"{family.bos} $A", special_tokens=[bos])
    pad = "<pad>" if "<pad>" in family.specials else family.eos
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=family.bos,
        eos_token=family.eos,
        pad_token=pad,
        chat_template=template or family.template,
        padding_side="left",
    )


def family_model(name: str, out: Path, template: str | None = None) -> Path:
    """A tiny random-init Llama with family `name`'s tokenizer, saved as a model folder."""
    tokenizer = family_tokenizer(name, template)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    return save_model_folder(LlamaForCausalLM(config), tokenizer, out)
