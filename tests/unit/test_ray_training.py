"""Data-parallel training on a real local Ray instance (Ray Train's TorchTrainer, two CPU workers)."""

from __future__ import annotations

import pytest
import torch

from domalign.errors import Cancelled
from domalign.models.loader import load_base_model
from domalign.train import train_lora
from domalign.train.ray_executor import RayCluster, train_on_ray
from tests.unit.test_train import EXAMPLES, adapter_weights, small_config

pytestmark = pytest.mark.ray

# 17 examples in batches of 4: one batch holds a single example, so one worker's share of it is empty.
DATA = EXAMPLES[:17]
# No dropout, fp32 and padded rows, so two workers must reproduce one process's updates up to summation
# order. (Packed rows of a split batch hold other neighbours, which moves the last bits of every sum; Adam
# turns that into differences above the tolerance below. The cancel test trains packed on Ray.)
CONFIG = small_config(lora_dropout=0.0, precision="fp32", checkpoint_every=2, validation_fraction=0.1,
                      packing=False)


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory):
    import ray

    from domalign.train.ray_executor import connect

    connect()
    yield RayCluster(num_workers=2, storage_path=tmp_path_factory.mktemp("ray-runs"))
    ray.shutdown()


@pytest.fixture(scope="module")
def one_process(tiny_model_dir, tmp_path_factory):
    """The reference: the same run in this process."""
    out = tmp_path_factory.mktemp("one-process")
    model, tokenizer = load_base_model(str(tiny_model_dir), cache_dir=out / "cache")
    return train_lora(model, tokenizer, DATA, CONFIG, output_dir=out / "adapter", checkpoint_dir=out / "ckpt")


def test_two_ray_workers_make_the_same_updates_as_one_process(ray_instance, one_process, tiny_model_dir, tmp_path):
    progress, saved = [], []
    result = train_on_ray(
        str(tiny_model_dir), tmp_path / "cache", DATA, CONFIG, ray_instance, run_name="same-updates",
        output_dir=tmp_path / "adapter", checkpoint_dir=tmp_path / "ckpt",
        on_progress=progress.append, on_checkpoint=saved.append,
    )

    assert result.steps == one_process.steps == 6
    assert result.losses == pytest.approx(one_process.losses, rel=1e-4)
    assert result.validation_loss == pytest.approx(one_process.validation_loss, rel=1e-4)
    assert [p.step for p in progress] == [1, 2, 3, 4, 5, 6]  # the main worker's reports reach the driver
    assert [p.loss for p in progress] == pytest.approx(result.losses)
    assert saved == [2, 4]
    ours, reference = adapter_weights(result.adapter_dir), adapter_weights(one_process.adapter_dir)
    assert ours.keys() == reference.keys()
    assert all(torch.allclose(ours[k], reference[k], atol=1e-5) for k in ours)


def test_cancel_on_ray_keeps_a_checkpoint_that_a_local_run_resumes(ray_instance, tiny_model_dir, tmp_path):
    config = CONFIG.model_copy(update={"max_steps": 200, "checkpoint_every": 1, "packing": True})
    progress = []
    with pytest.raises(Cancelled, match="cancelled at step"):
        train_on_ray(
            str(tiny_model_dir), tmp_path / "cache", DATA, config, ray_instance, run_name="cancelled",
            output_dir=tmp_path / "adapter", checkpoint_dir=tmp_path / "ckpt",
            on_progress=progress.append, should_stop=lambda: len(progress) >= 3,
        )
    assert not (tmp_path / "adapter").exists()
    kept = sorted(int(p.name.removeprefix("step-")) for p in (tmp_path / "ckpt").iterdir())
    stopped_at = kept[-1]
    assert 3 <= stopped_at < 200 and stopped_at == progress[-1].step

    model, tokenizer = load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache")
    resumed = train_lora(model, tokenizer, DATA, config, output_dir=tmp_path / "adapter",
                         checkpoint_dir=tmp_path / "ckpt")
    assert resumed.resumed_from_step == stopped_at and resumed.steps == 200
    assert resumed.losses[:stopped_at] == pytest.approx([p.loss for p in progress])
