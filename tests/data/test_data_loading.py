"""The window DataModule: protocol rows, batches, per-sample seeding, bad images, resuming."""

from __future__ import annotations

import logging

import lightning as L
import pytest
import torch

from aigenbench.data.batch import EVALUATION_KEYS, TRAINING_KEYS, collate_evaluation
from aigenbench.data.config import DataConfig
from aigenbench.data.datamodule import WindowDataModule
from aigenbench.data.sampler import ShardSampler, WindowSampler
from aigenbench.data.sources import HFDiskSource, open_source
from aigenbench.errors import ConfigError
from aigenbench.protocol import make_plan


class CorruptSource(HFDiskSource):
    """The tiny benchmark with some rows' bytes broken (module level: workers can unpickle it)."""

    broken: frozenset[tuple[str, int]] = frozenset()

    def read(self, split: str, row_id: int) -> bytes:
        data = super().read(split, row_id)
        return data[:20] if (split, row_id) in self.broken else data


def _plan(source):
    return make_plan(
        source.generators("train"), source.generators("validation"), None, source.timeline
    )


def _datamodule(path, window=0, **config):
    source = open_source(path)
    options = {
        "num_workers": 0,
        "train_batch_size": 8,
        "eval_batch_size": 4,
        "augmentation_factor": 2,
    }
    data = DataConfig(source=str(path), **{**options, **config})
    return WindowDataModule(source, _plan(source), window, data, input_size=32)


def _all(loader):
    batches = list(loader)
    return {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}


def test_training_set_is_the_plans_window_times_the_factor(tiny_synth):
    datamodule = _datamodule(tiny_synth, window=1, augmentation_factor=3)
    ids = datamodule.plan.training_ids(1)
    dataset = datamodule.train_dataset
    assert len(dataset) == 3 * len(ids)
    batch = _all(datamodule.train_dataloader())
    assert set(batch) == set(TRAINING_KEYS)
    assert batch["image"].dtype == torch.uint8 and batch["image"].shape[1:] == (3, 32, 32)
    assert sorted(batch["id"].tolist()) == sorted(ids * 3)
    assert sorted(batch["copy"].tolist()) == sorted([0, 1, 2] * len(ids))
    names = datamodule.generator_names
    generator_of = dict(
        zip(datamodule.plan.train.ids, datamodule.plan.train.generators, strict=True)
    )
    for row_id, label, generator_id in zip(
        batch["id"], batch["label"], batch["generator_id"], strict=True
    ):
        name = generator_of[int(row_id)]
        assert names[int(generator_id)] == name and int(label) == (name != "")


def test_evaluation_set_in_evaluation_order_with_multicrop(tiny_synth):
    datamodule = _datamodule(tiny_synth, window=None)
    datamodule.eval_pipeline.crop = "multicrop"
    evaluation = datamodule.evaluation_set("validate")
    batch = _all(datamodule.val_dataloader())
    assert set(batch) == set(EVALUATION_KEYS)
    # One row per crop, crops of an image consecutive; images in evaluation order.
    first_rows = torch.ones(len(batch["id"]), dtype=torch.bool)
    first_rows[1:] = batch["crop_to_image"][1:] != batch["crop_to_image"][:-1]
    assert batch["id"][first_rows].tolist() == list(evaluation.ids)
    assert batch["valid"].all()
    assert (batch["label"][first_rows] == torch.tensor(evaluation.labels)).all()
    assert len(batch["id"]) > len(evaluation.ids)  # some images were big enough for five crops
    with pytest.raises(ConfigError, match="evaluation only"):
        datamodule.train_dataloader()


def test_multicrop_collation():
    def sample(image_id, crops, valid=True):
        return {
            "crops": [torch.full((3, 4, 4), image_id, dtype=torch.uint8)] * crops,
            "label": image_id % 2,
            "generator_id": image_id,
            "id": 100 + image_id,
            "valid": valid,
        }

    batch = collate_evaluation([sample(1, 5), sample(2, 1, valid=False), sample(3, 5)])
    assert batch["image"].shape == (11, 3, 4, 4)
    assert batch["crop_to_image"].tolist() == [0] * 5 + [1] + [2] * 5
    assert batch["id"].tolist() == [101] * 5 + [102] + [103] * 5
    assert batch["valid"].tolist() == [True] * 5 + [False] + [True] * 5
    assert (batch["image"][:, 0, 0, 0] == torch.tensor([1] * 5 + [2] + [3] * 5)).all()


def test_same_tensors_whatever_the_number_of_workers(tiny_synth):
    one = _datamodule(tiny_synth, window=0)
    two = _datamodule(tiny_synth, window=0, num_workers=2, persistent_workers=False)
    for name in ("train_dataloader", "val_dataloader"):
        a, b = _all(getattr(one, name)()), _all(getattr(two, name)())
        assert set(a) == set(b)
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)


def test_a_sample_does_not_depend_on_when_it_is_drawn(tiny_synth):
    dataset = _datamodule(tiny_synth, window=0).train_dataset
    indices = list(range(0, len(dataset), 5))
    forward = [dataset[(i, 2)]["image"] for i in indices]
    backward = [dataset[(i, 2)]["image"] for i in reversed(indices)][::-1]
    assert all(torch.equal(a, b) for a, b in zip(forward, backward, strict=True))
    # The epoch reaches the stochastic part: another epoch, other rotations/flips.
    assert any(
        not torch.equal(dataset[(i, 3)]["image"], f) for i, f in zip(indices, forward, strict=True)
    )


def test_unreadable_training_image_is_replaced_deterministically(tiny_synth, caplog):
    source = CorruptSource(tiny_synth)
    plan = _plan(source)
    bad_id = plan.training_ids(0)[0]
    CorruptSource.broken = frozenset({("train", bad_id)})
    try:
        config = DataConfig(num_workers=0, augmentation_factor=1)
        datamodule = WindowDataModule(source, plan, 0, config, input_size=32)
        dataset = datamodule.train_dataset
        position = list(dataset.ids).index(bad_id)
        with caplog.at_level(logging.WARNING, logger="aigenbench.data"):
            first = dataset[position]
            again = dataset[position]
        assert first["id"] != bad_id and first["label"] == dataset.labels[position]
        assert first["id"] == again["id"] and torch.equal(first["image"], again["image"])
        assert bad_id in dataset.unreadable and "truncated" in dataset.unreadable[bad_id]
        warnings = [r for r in caplog.records if str(bad_id) in r.getMessage()]
        assert len(warnings) == 1 and "train[" in warnings[0].getMessage()  # logged once, with path
    finally:
        CorruptSource.broken = frozenset()


def test_unreadable_evaluation_image_is_a_flagged_placeholder(tiny_synth):
    source = CorruptSource(tiny_synth)
    plan = _plan(source)
    bad_id = plan.evaluation("validate").ids[3]
    CorruptSource.broken = frozenset({("validation", bad_id)})
    try:
        config = DataConfig(num_workers=0, eval_batch_size=8)
        batch = _all(WindowDataModule(source, plan, None, config, input_size=32).val_dataloader())
        flagged = batch["id"][~batch["valid"]].tolist()
        assert flagged == [bad_id]
        assert int(batch["image"][~batch["valid"]].max()) == 0
        assert len(set(batch["id"].tolist())) == len(plan.evaluation("validate").ids)
    finally:
        CorruptSource.broken = frozenset()


# ------------------------------------------------------------------------------------ samplers


def test_sampler_order_is_seeded_by_window_and_epoch():
    sampler = WindowSampler(50, seed=4321, window=2)
    epoch0 = list(sampler)
    assert sorted(i for i, _ in epoch0) == list(range(50)) and {e for _, e in epoch0} == {0}
    assert epoch0 == list(WindowSampler(50, seed=4321, window=2))
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert [i for i, _ in epoch1] != [i for i, _ in epoch0] and {e for _, e in epoch1} == {1}
    assert list(WindowSampler(50, 4321, window=3)) != epoch0


def test_sampler_resumes_mid_epoch():
    full = list(WindowSampler(40, 4321, 0, epoch=1))
    resumed = WindowSampler(40, 4321, 0)
    resumed.load_state_dict({"epoch": 1, "samples_done": 16})
    assert len(resumed) == 40  # Lightning counts batches from the full length
    assert list(resumed) == full[16:]
    assert list(resumed) == full  # the skip applies once; the next pass is whole again


def test_samplers_shard_across_ranks_without_losing_samples():
    shards = [list(WindowSampler(10, 4321, 0, num_replicas=3, rank=r)) for r in range(3)]
    assert all(len(shard) == 4 for shard in shards)
    assert {i for shard in shards for i, _ in shard} == set(range(10))
    evaluation = [list(ShardSampler(10, num_replicas=3, rank=r)) for r in range(3)]
    assert sorted(i for shard in evaluation for i in shard) == list(range(10))


class _Recorder(L.LightningModule):
    """Records what each optimisation step sees; the weights do not matter here."""

    def __init__(self, stop_at: int | None = None) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.stop_at = stop_at
        self.seen: list[tuple[int, tuple[int, ...], int]] = []

    def training_step(self, batch, batch_idx):
        if self.stop_at is not None and self.global_step == self.stop_at:
            raise RuntimeError("simulated crash")
        checksum = int(batch["image"].double().sum())
        self.seen.append((self.global_step, tuple(batch["id"].tolist()), checksum))
        return (self.weight * batch["image"].float().mean()).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _fit(tiny_synth, tmp_path, model, ckpt_path=None, every=5):
    checkpoints = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=tmp_path, every_n_train_steps=every, save_top_k=-1, filename="{step}"
    )
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        callbacks=[checkpoints],
    )
    trainer.fit(model, datamodule=_datamodule(tiny_synth, window=0), ckpt_path=ckpt_path)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("crash_step", [13, 17])
def test_resuming_a_lightning_fit_mid_epoch_sees_the_same_samples(tiny_synth, tmp_path, crash_step):
    reference = _Recorder()
    _fit(tiny_synth, tmp_path / "ref", reference)
    steps_per_epoch = len(reference.seen) // 2
    assert steps_per_epoch == 12

    crashed = _Recorder(stop_at=crash_step)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(tiny_synth, tmp_path / "run", crashed)
    last = max((tmp_path / "run").glob("step=*.ckpt"), key=lambda p: int(p.stem.split("=")[1]))
    resumed_from = int(last.stem.split("=")[1])
    assert resumed_from % steps_per_epoch != 0  # a mid-epoch checkpoint

    resumed = _Recorder()
    _fit(tiny_synth, tmp_path / "run", resumed, ckpt_path=last)
    assert crashed.seen[:resumed_from] + resumed.seen == reference.seen
