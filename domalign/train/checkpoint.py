"""Resumable training checkpoints, written atomically; the newest ``KEEP`` are kept.

A checkpoint ``step-N/`` holds everything a run needs to continue as if it had
never stopped:

    adapter_config.json, adapter_model.safetensors   LoRA weights (loadable as an adapter too)
    trainer_state.pt    optimizer, LR scheduler and RNG state (tensors only; read with weights_only)
    state.json          step, position in the data stream, losses so far, data fingerprint,
                        time spent, planned length (time budget), early-stopping checks
    training_config.json

Each is written into a hidden temporary folder that is renamed into place, so a
crash leaves either a whole checkpoint or none; readers ignore hidden folders.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from domalign.errors import Conflict
from domalign.store.atomic import atomic_dir
from domalign.train.config import TrainingConfig

KEEP = 2
_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass
class CheckpointState:
    """Where a run stood: ``micro_batch`` is its position in the (seed-determined) batch stream.

    ``planned_steps`` is the length a time-budgeted run fixed for its schedule
    after timing its first steps; a resumed run keeps it, and the early-stopping
    history in ``validation``.
    """

    step: int
    micro_batch: int
    losses: list[float]
    fingerprint: str
    planned_steps: int | None = None
    elapsed_s: float = 0.0  # training time spent before this checkpoint, across resumes
    validation: list[tuple[int, float]] = field(default_factory=list)  # (step, loss) of each early-stopping check
    packed: bool | None = None  # whether the run trains packed rows, as its first check found: it fixes the data order


def save_checkpoint(
    checkpoint_dir: Path, peft_model, optimizer, scheduler, state: CheckpointState, config: TrainingConfig
) -> Path:
    """Write ``step-N`` atomically, then drop all but the newest ``KEEP`` checkpoints."""
    import torch

    target = checkpoint_dir / f"step-{state.step}"
    with atomic_dir(target) as tmp:
        peft_model.save_pretrained(tmp)
        trainer_state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": capture_rng(),
        }
        torch.save(trainer_state, tmp / "trainer_state.pt")
        (tmp / "state.json").write_text(json.dumps(asdict(state)))
        (tmp / "training_config.json").write_text(config.model_dump_json(indent=2))
    for old in list_checkpoints(checkpoint_dir)[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def list_checkpoints(checkpoint_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    if not checkpoint_dir.is_dir():
        return []
    found = []
    for path in checkpoint_dir.iterdir():
        if (match := _STEP_DIR.match(path.name)) and path.is_dir():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def remove_stale_temporaries(checkpoint_dir: Path) -> None:
    """Delete half-written folders left by a crash in the middle of a save."""
    if checkpoint_dir.is_dir():
        for path in checkpoint_dir.iterdir():
            if path.name.startswith((".tmp-", ".old-")):
                shutil.rmtree(path, ignore_errors=True)


def load_checkpoint(
    path: Path, peft_model, optimizer, scheduler, config: TrainingConfig, fingerprint: str
) -> CheckpointState:
    """Restore weights, optimizer, scheduler and RNG from ``path``; refuse a mismatched run."""
    import torch
    from peft.utils import load_peft_weights, set_peft_model_state_dict

    state = CheckpointState(**json.loads((path / "state.json").read_text()))
    saved = TrainingConfig.model_validate_json((path / "training_config.json").read_text())
    changed = sorted(k for k, v in config.resume_fields().items() if saved.resume_fields().get(k) != v)
    if changed:
        raise Conflict(
            f"checkpoint {path} was written with different training options ({', '.join(changed)}); "
            "use the same options to resume, or delete the checkpoint folder to start over"
        )
    if state.fingerprint != fingerprint:
        raise Conflict(
            f"checkpoint {path} was written for different training examples; "
            "delete the checkpoint folder to train on the new examples from the start"
        )
    device = next(peft_model.parameters()).device
    set_peft_model_state_dict(peft_model, load_peft_weights(str(path), device=str(device)))
    trainer_state = torch.load(path / "trainer_state.pt", weights_only=True, map_location="cpu")
    optimizer.load_state_dict(trainer_state["optimizer"])
    scheduler.load_state_dict(trainer_state["scheduler"])
    restore_rng(trainer_state["rng"])
    return state


def capture_rng() -> dict:
    """Torch's RNG state: dropout draws from it, so a resumed run must continue the same stream."""
    import torch

    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict) -> None:
    import torch

    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
