"""Interrupts keep work: Ctrl-C during `mft eval` leaves every answer so far in OUT.partial and
says where, in one line, exit 130. A real process and a real SIGINT, sent once the first rows are
on disk (an event, not a delay). No Ray.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

QUESTIONS = 400  # answered one per batch: far more batches than the first row needs


def test_ctrl_c_during_eval_keeps_the_answers_so_far(tiny_causal: Path, tmp_path: Path) -> None:
    kset = tmp_path / "kset"
    kset.mkdir()
    (kset / "train.jsonl").write_text(json.dumps({"text": "Ada Quill keeps the lamp."}) + "\n")
    rows = [
        {"question": f"Who is person {i}?", "answer": "Ada", "direction": "forward"} for i in range(QUESTIONS)
    ]
    (kset / "qa.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "gen.jsonl"
    partial = tmp_path / "gen.jsonl.partial"
    command = [
        sys.executable, "-m", "orchestrator", "eval", "--model", str(tiny_causal), "--dataset", str(kset),
        "--batch-size", "1", "--max-new-tokens", "8", "--out", str(out),
    ]  # fmt: skip
    # SIGINT as a terminal's Ctrl-C finds it: a suite started by a shell's `&` ignores SIGINT, and a
    # child inherits that (Python then installs no KeyboardInterrupt handler)
    process = subprocess.Popen(
        command, cwd=tmp_path, env={**os.environ, "COLUMNS": "200"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 600  # a safety net for a broken build, not part of the check
    while not (partial.is_file() and partial.read_text().count("\n") >= 2):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no answer was written to OUT.partial"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"answers are in {partial}" in lines[0], err
    kept = [json.loads(line) for line in partial.read_text().splitlines()]
    assert 2 <= len(kept) < QUESTIONS and kept[0]["question"] == "Who is person 0?"
    assert f"{len(kept)} of {QUESTIONS} answers" in lines[0]
    assert not out.exists(), "an interrupted run never passes for a whole one"
