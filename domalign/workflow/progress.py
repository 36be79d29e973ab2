"""Overall progress (0-100) from the stage and its own fraction, and the ETA derived from it."""

from __future__ import annotations

from datetime import datetime, timedelta

# Shares of the whole job, roughly their wall time on the embedded model.
STAGE_WEIGHTS: dict[str, float] = {
    "ingest": 2.0,
    "synthesize": 5.0,
    "baseline": 15.0,
    "train": 58.0,
    "evaluate": 15.0,
    "register": 5.0,
}
STAGE_ORDER = tuple(STAGE_WEIGHTS)


def overall_progress(stage: str, fraction: float) -> float:
    """Percent done when ``stage`` is ``fraction`` complete (all earlier stages done)."""
    start = sum(STAGE_WEIGHTS[s] for s in STAGE_ORDER[: STAGE_ORDER.index(stage)])
    return round(start + STAGE_WEIGHTS[stage] * min(max(fraction, 0.0), 1.0), 2)


class EtaEstimator:
    """Extrapolates the rate of progress seen since this run started (not since creation,
    so a job resumed after a restart does not look faster than it is)."""

    def __init__(self, start_progress: float, started: datetime) -> None:
        self._p0, self._t0 = start_progress, started

    def estimate(self, progress: float, now: datetime) -> datetime | None:
        gained = progress - self._p0
        elapsed = (now - self._t0).total_seconds()
        if gained < 1.0 or elapsed <= 0:
            return None
        return now + timedelta(seconds=elapsed * (100.0 - progress) / gained)
