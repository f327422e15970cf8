"""Checkpoints of a running job, so an interrupted run continues where it stopped with identical results.

A job adds window partials in window order (:func:`sinkmap.engine.job.run_job`). A checkpoint records that order's
state — the first window not yet added, the running totals, cross-tabulations, input-check counts and notes —
after the scratch rasters have been flushed to the operating system. Windows before that point are in the
rasters and in the totals; everything after it is computed again on resume. Because sums continue from the
same partial state in the same order, a resumed run's tables are bit-identical to an uninterrupted run's, and
its rasters hold the same pixels.

The state is written to a temporary file, flushed and renamed over the previous one, so a process killed at any
moment leaves either the old or the new checkpoint, never half of one. A fingerprint (inputs, configuration,
chunk size, sinkmap version) guards against resuming with something changed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Checkpoint", "JobState"]


@dataclass
class JobState:
    """What a job has added so far: windows ``[0, next_window)`` are in the totals and the rasters."""

    next_window: int
    totals: NDArray[np.float64]
    crosstabs: dict[str, NDArray[np.float64]]
    invalid: dict[str, int]
    valid: dict[str, int]
    example: dict[str, tuple[int, int, float]]
    notes: set[tuple[str, int]]
    codes: dict[str, dict[float, int]] = field(default_factory=dict)


class Checkpoint:
    """The checkpoint files of one run in ``folder``; ``fingerprint`` must match for a state to be used."""

    def __init__(self, folder: Path, fingerprint: dict[str, Any], *, every_seconds: float | None = None) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        env = os.environ.get("SINKMAP_CHECKPOINT_SECONDS")
        self.every_seconds = every_seconds if every_seconds is not None else float(env) if env else 10.0

    @property
    def _meta(self) -> Path:
        return self.folder / "checkpoint.json"

    @property
    def _arrays(self) -> Path:
        return self.folder / "checkpoint.npz"

    def mismatch(self) -> str | None:
        """What differs between the stored fingerprint and this run's (``None``: the same, or nothing stored)."""
        if not self._meta.exists():
            return None
        stored = json.loads(self._meta.read_text(encoding="utf-8")).get("fingerprint", {})
        for key in sorted(set(stored) | set(self.fingerprint)):
            if stored.get(key) != self.fingerprint.get(key):
                return key
        return None

    def load(self) -> JobState | None:
        """The last saved state, or ``None``."""
        if not self._meta.exists():
            return None
        meta = json.loads(self._meta.read_text(encoding="utf-8"))
        with np.load(self.folder / meta["arrays"]) as data:
            totals = data["totals"]
            crosstabs = {name[len("crosstab:") :]: data[name] for name in data.files if name.startswith("crosstab:")}
        return JobState(
            next_window=int(meta["next_window"]),
            totals=totals,
            crosstabs=crosstabs,
            invalid={k: int(v) for k, v in meta["invalid"].items()},
            valid={k: int(v) for k, v in meta["valid"].items()},
            example={k: (int(v[0]), int(v[1]), float(v[2])) for k, v in meta["example"].items()},
            notes={(str(a), int(b)) for a, b in meta["notes"]},
            codes={k: {float(c): int(n) for c, n in v} for k, v in meta.get("codes", {}).items()},
        )

    def save(self, state: JobState) -> None:
        """Write ``state`` atomically (arrays first, then the small JSON that points at them)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays = f"checkpoint-{state.next_window}.npz"
        tmp = self.folder / f".{arrays}.tmp"
        with open(tmp, "wb") as fh:
            arrays_by_name: dict[str, Any] = {"totals": state.totals}
            arrays_by_name.update({f"crosstab:{k}": v for k, v in state.crosstabs.items()})
            np.savez(fh, **arrays_by_name)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.folder / arrays)
        meta = {
            "fingerprint": self.fingerprint,
            "next_window": state.next_window,
            "arrays": arrays,
            "invalid": state.invalid,
            "valid": state.valid,
            "example": {k: list(v) for k, v in state.example.items()},
            "notes": sorted([list(n) for n in state.notes]),
            "codes": {k: sorted([c, n] for c, n in v.items()) for k, v in state.codes.items()},
        }
        tmp = self.folder / ".checkpoint.json.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        previous = self._previous_arrays()
        tmp.replace(self._meta)
        for old in previous:
            if old.name != arrays:
                old.unlink(missing_ok=True)

    def _previous_arrays(self) -> list[Path]:
        return list(self.folder.glob("checkpoint-*.npz"))
