"""Training in a child process (the default executor): same result as in this process, cancel, crashes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from domalign.errors import Cancelled, InvalidInput
from domalign.models.loader import load_base_model
from domalign.train import train_lora
from domalign.train.process_executor import TrainingProcessDied, train_in_child_process
from tests.unit.test_train import EXAMPLES, adapter_weights, small_config

CONFIG = small_config(lora_dropout=0.0, checkpoint_every=2, validation_fraction=0.1)


def _train(tiny_model_dir: Path, folder: Path, config=CONFIG, **callbacks):
    return train_in_child_process(str(tiny_model_dir), folder / "cache", EXAMPLES, config,
                                  output_dir=folder / "adapter", checkpoint_dir=folder / "ckpt", **callbacks)


def test_the_child_makes_the_same_updates_as_this_process(tiny_model_dir, tmp_path):
    progress, saved = [], []
    result = _train(tiny_model_dir, tmp_path / "child", on_progress=progress.append, on_checkpoint=saved.append)
    model, tokenizer = load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "here" / "cache")
    here = train_lora(model, tokenizer, EXAMPLES, CONFIG, output_dir=tmp_path / "here" / "adapter",
                      checkpoint_dir=tmp_path / "here" / "ckpt")

    assert result.steps == here.steps == 6
    assert result.losses == pytest.approx(here.losses, rel=1e-5)
    assert result.validation_loss == pytest.approx(here.validation_loss, rel=1e-5)
    assert [p.step for p in progress] == [1, 2, 3, 4, 5, 6]  # every report reaches the driver, in order
    assert [p.loss for p in progress] == pytest.approx(result.losses)
    assert saved == [2, 4]
    ours, reference = adapter_weights(result.adapter_dir), adapter_weights(here.adapter_dir)
    assert ours.keys() == reference.keys()
    assert all(torch.allclose(ours[k], reference[k], atol=1e-6) for k in ours)
    assert not multiprocessing.active_children()  # the child is gone


def test_a_cancel_reaches_the_child_which_keeps_a_checkpoint(tiny_model_dir, tmp_path):
    config = CONFIG.model_copy(update={"max_steps": 500, "checkpoint_every": 100})
    progress = []
    with pytest.raises(Cancelled, match="cancelled at step"):
        _train(tiny_model_dir, tmp_path, config, on_progress=progress.append, should_stop=lambda: len(progress) >= 3)
    kept = sorted(int(p.name.removeprefix("step-")) for p in (tmp_path / "ckpt").iterdir())
    assert kept and 3 <= kept[-1] < 500 and kept[-1] == progress[-1].step
    assert not (tmp_path / "adapter").exists()


def test_bad_options_raise_the_same_error_as_in_this_process(tiny_model_dir, tmp_path):
    config = small_config(validation_fraction=0.01, early_stopping_patience=2)  # 1 % of 34 examples: none
    with pytest.raises(InvalidInput, match="early stopping needs validation examples"):
        _train(tiny_model_dir, tmp_path, config)


def test_a_killed_child_fails_the_run_with_its_signal_and_a_checkpoint_to_resume_from(tiny_model_dir, tmp_path):
    config = CONFIG.model_copy(update={"max_steps": 500, "checkpoint_every": 2})

    def kill_after_a_checkpoint(step: int) -> None:  # what the kernel's out-of-memory killer does
        if step >= 4:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(TrainingProcessDied, match="training process was killed by signal 9"):
        _train(tiny_model_dir, tmp_path, config, on_checkpoint=kill_after_a_checkpoint)
    model, tokenizer = load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache")
    resumed = []
    with pytest.raises(Cancelled):  # one step is enough to see where the run picks up
        train_lora(model, tokenizer, EXAMPLES, config, output_dir=tmp_path / "adapter",
                   checkpoint_dir=tmp_path / "ckpt", on_progress=resumed.append, should_stop=lambda: bool(resumed))
    assert resumed[0].step > 4  # it went on from a checkpoint the killed child wrote, not from the start


DRIVER = textwrap.dedent("""
    import multiprocessing, sys
    from pathlib import Path
    from domalign.train.process_executor import train_in_child_process
    from tests.unit.test_process_training import CONFIG, EXAMPLES

    def main():
        model, folder = sys.argv[1], Path(sys.argv[2])
        def tell(_progress):
            (folder / "child.pid").write_text(str(multiprocessing.active_children()[0].pid))
        train_in_child_process(model, folder / "cache", EXAMPLES, CONFIG.model_copy(update={"max_steps": 100000}),
                               output_dir=folder / "adapter", checkpoint_dir=folder / "ckpt", on_progress=tell)

    if __name__ == "__main__":
        main()
""")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent can reap it


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_the_child_stops_when_the_worker_dies(tiny_model_dir, tmp_path):
    """An orphan must not train on beside the worker that takes the job over."""
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    root = Path(__file__).resolve().parents[2]
    driver = subprocess.Popen([sys.executable, str(script), str(tiny_model_dir), str(tmp_path)], cwd=root,
                              env={**os.environ, "PYTHONPATH": str(root)})
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "child.pid").exists():
            assert driver.poll() is None and time.monotonic() < deadline, "the child never reported a step"
            time.sleep(0.2)
        child = int((tmp_path / "child.pid").read_text())
        assert _running(child)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 30
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _running(child)
    finally:
        driver.kill()
