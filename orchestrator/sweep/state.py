"""What a resumed sweep or `mft sweep status` needs, saved beside Tune's own state (driver, pure).

It lives in the sweep's storage (a folder or a URI), so a sweep submitted from one machine can
be inspected and resumed from any other that reaches the same storage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from orchestrator import storage
from training.errors import InputError, clip, excerpt

STATE_FILE = "mft-sweep.json"


@dataclass(frozen=True)
class SweepState:
    name: str
    kind: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    storage: str
    trials: dict[str, str]
    """Trial id → MLflow child run id; "" until the trial first starts (it creates its run then)."""

    def save(self) -> None:
        text = json.dumps(asdict(self), indent=2)
        storage.write_text(storage.join(self.storage, self.name, STATE_FILE), text)

    @classmethod
    def load(cls, name: str, location: str) -> SweepState:
        """The sweep `name` under the storage `location` (or `name` is the sweep's own folder)."""
        text = storage.read_text(storage.join(name, STATE_FILE)) or storage.read_text(
            storage.join(location, name, STATE_FILE)
        )
        if text is None:
            raise InputError(
                f"no sweep {excerpt(name)} under {location}; pass its name and the same --storage"
            )
        try:
            values = json.loads(text)
            if not isinstance(values, dict):
                raise TypeError("not a JSON object")
            return cls(**values)
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"the state file of sweep {excerpt(name)} ({STATE_FILE}) is unreadable"
                f" ({clip(str(exc))}); it is written by mft sweep: restore it or start a new sweep"
            ) from exc
