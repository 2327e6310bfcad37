"""One mask ratio t per optimizer step, shared by every rank (the authors' scripts draw it so).

The invariant: 2 workers x batch 8 and 1 worker x batch 16 train with the same t sequence, and
`train/mask_ratio` logs that t. Real `train_step` on a real 2-rank gloo group (torch.multiprocessing,
no Ray); a tiny random-init Llama built in memory. Cost: ~10 s, mostly process start-up.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from local_stack import free_port
from transformers import LlamaConfig, LlamaForCausalLM, get_constant_schedule_with_warmup

from training.config import TrialConfig
from training.loop import StepWindow, build_optimizer, draw_mask_ratio, mask_ratio_generator, train_step
from training.methods import Batch, Example, MaskedFineTuning, collate

STEPS, GLOBAL_BATCH, VOCAB, MASK_ID = 6, 16, 64, 3


class RecordingMaskedFineTuning(MaskedFineTuning):
    """The real `masked` method, noting the t and the masked positions each step hands it."""

    def __init__(self) -> None:
        super().__init__(None, MASK_ID)
        self.ratios: list[float] = []
        self.masks: list[list[list[bool]]] = []

    def corrupt(self, batch: Batch, t: float, generator: torch.Generator) -> Batch:
        self.ratios.append(t)
        corrupted = super().corrupt(batch, t, generator)
        self.masks.append((corrupted.input_ids == MASK_ID).tolist())
        return corrupted


def _examples() -> list[Example]:
    ids = torch.randint(4, VOCAB, (GLOBAL_BATCH, 12), generator=torch.Generator().manual_seed(1)).tolist()
    return [Example(tuple(row), (True,) * 12, (True,) * 12) for row in ids]


def _train(rank: int, world: int, port: int, out: Path) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        config = TrialConfig(model="unused", method="masked", batch_size=GLOBAL_BATCH // world, workers=world)
        torch.manual_seed(config.seed)
        model = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=VOCAB,
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                num_key_value_heads=2,
            )
        )
        optimizer = build_optimizer(model, config)
        scheduler = get_constant_schedule_with_warmup(optimizer, 0)
        # As the loop builds them: per-rank mask positions, one t stream for all.
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + rank)
        mask_ratios = mask_ratio_generator(config.seed)
        method = RecordingMaskedFineTuning()
        shard = _examples()[rank * config.batch_size : (rank + 1) * config.batch_size]
        window = StepWindow()
        for step in range(1, STEPS + 1):  # as `train_epoch` does: t from the shared stream, then the step
            t = draw_mask_ratio(config, mask_ratios)
            batch = collate(shard, pad_id=0)
            values = train_step(model, method, batch, optimizer, scheduler, config, generator, t)
            window.add(step, float(step), config.lr, t, values)
        logged = [row.mask_ratio for row in window.flush()]
        result = {"ratios": method.ratios, "logged": logged, "masks": method.masks}
        (out / f"world{world}_rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def test_two_workers_and_one_worker_share_the_t_sequence(tmp_path: Path) -> None:
    for world in (2, 1):
        mp.spawn(_train, args=(world, free_port(), tmp_path), nprocs=world, join=True)
    runs = {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("*.json")}
    one, rank0, rank1 = runs["world1_rank0"], runs["world2_rank0"], runs["world2_rank1"]
    assert len(one["ratios"]) == STEPS and len(set(one["ratios"])) == STEPS  # a fresh t every step
    assert rank0["ratios"] == rank1["ratios"] == one["ratios"]
    for run in (one, rank0, rank1):
        assert run["logged"] == run["ratios"]  # train/mask_ratio is the t every rank used
    # Mask positions are still drawn per rank: the two ranks' masks differ.
    assert rank0["masks"] != rank1["masks"]


def test_the_t_stream_resumes_where_it_stopped() -> None:
    config = TrialConfig(model="unused")
    stream = mask_ratio_generator(config.seed)
    ratios = [draw_mask_ratio(config, stream) for _ in range(50)]
    resumed = mask_ratio_generator(config.seed, step=30)
    assert [draw_mask_ratio(config, resumed) for _ in range(20)] == ratios[30:]
    assert all(0.05 <= t <= 0.95 for t in ratios)
    fixed = config.replace(mask_ratio=(0.25, 0.25))
    assert {draw_mask_ratio(fixed, mask_ratio_generator(0)) for _ in range(3)} == {0.25}
