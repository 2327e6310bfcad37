"""Build the FSDP2-sharded model on every Ray Train worker (all ranks call everything here).

Only rank 0 reads the checkpoint from disk; the other ranks build the model on the meta device,
so an 8B model is never materialised in full on every rank. After `fully_shard` (each decoder
block, then the root) the weights are broadcast from rank 0 straight into the shards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel

from training.failures import agreed
from training.mask_token import grow_embeddings


def build_mesh(device: torch.device) -> DeviceMesh:
    """An explicit 1-D mesh over all ranks; CPU needs it spelled out ("cpu" + gloo)."""
    return init_device_mesh(device.type, (dist.get_world_size(),))


def mixed_precision(precision: str) -> MixedPrecisionPolicy:
    """bf16 compute with fp32 gradient reduction (the paper's policy), or plain fp32."""
    if precision == "bf16":
        return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    return MixedPrecisionPolicy()


def decoder_blocks(model: nn.Module) -> nn.ModuleList:
    """The repeated transformer blocks: the longest ModuleList (Llama `model.layers`, LLaDA `blocks`)."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ValueError(f"{type(model).__name__} has no ModuleList of decoder blocks to shard")
    return max(lists, key=len)


def load_sharded_model(
    path: str,
    mesh: DeviceMesh,
    device: torch.device,
    precision: str,
    trust_remote_code: bool = False,
    vocab_size: int | None = None,
) -> PreTrainedModel:
    """fp32 master weights sharded over `mesh`, loaded from `path` on rank 0 and broadcast.

    `vocab_size`: grow the embeddings to that many rows first (`--mask-token add`).
    """
    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    if vocab_size is not None and vocab_size > config.vocab_size:
        config.vocab_size = vocab_size
    full_state: dict[str, torch.Tensor] = {}
    buffers: dict[str, torch.Tensor] = {}
    with agreed():  # weights rank 0 cannot use fail the trial on every rank, not once per retry
        if dist.get_rank() == 0:
            source = AutoModelForCausalLM.from_pretrained(
                path, dtype=torch.float32, trust_remote_code=trust_remote_code
            )
            if vocab_size is not None:
                grow_embeddings(source, vocab_size)
            full_state = source.state_dict()
            buffers = dict(source.named_buffers())
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(
            config, dtype=torch.float32, trust_remote_code=trust_remote_code
        )
    policy = mixed_precision(precision)
    for block in decoder_blocks(model):
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    model.to_empty(device=device)
    set_model_state_dict(
        model, full_state, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    )
    # Non-persistent buffers (rotary frequencies) are not in the state dict: to_empty left them
    # uninitialised, so copy rank 0's and broadcast. Every rank must reach each broadcast.
    for name, buffer in model.named_buffers():
        if dist.get_rank() == 0:
            buffer.copy_(buffers[name].to(device))
        dist.broadcast(buffer, src=0)
    return model


@contextmanager
def gathered(model: nn.Module) -> Iterator[None]:
    """Hold full (bf16 under the policy) weights on every rank so ranks can decode independently.

    Inside, forwards issue no collectives, so ranks may run different numbers of decoding steps
    (answers end at different lengths). Every rank must enter and leave together.
    """
    shards = [m for m in model.modules() if isinstance(m, FSDPModule)]
    for module in shards:
        module.set_reshard_after_forward(False)
        module.unshard()
    try:
        yield
    finally:
        for module in shards:
            module.reshard()
            module.set_reshard_after_forward(True)
