"""The frozen-feature store: exact (cache on = cache off), resumable after a kill,
fingerprinted, crash-safe, damaged files named."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from aigenbench.data.batch import collate_evaluation, collate_training, concat_eval_outputs
from aigenbench.errors import DataError
from aigenbench.models import ModelConfig
from aigenbench.training.cached_data import extract_features
from aigenbench.training.feature_cache import (
    CachedEvaluationSet,
    CachedTrainingSet,
    FeatureStore,
    feature_fingerprint,
    feature_loader,
)
from aigenbench.training.module import DetectorModule

from .conftest import loader, trainer

CROPS = [1, 5, 2, 1, 1, 5, 3, 1]
"""Crops per evaluation image (multicrop gives 1 or 5; a method's crop maker any number)."""
IDS = [3, 4, 7, 10, 11, 12, 20, 21]  # IDs need not be dense
UNREADABLE = 10  # its one crop is the placeholder (valid False)
REPO = Path(__file__).resolve().parents[2]


def eval_samples(seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    return [
        {
            "crops": list(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)),
            "label": int(i % 2),
            "generator_id": int(i % 3),
            "id": image_id,
            "valid": image_id != UNREADABLE,
        }
        for i, (image_id, n) in enumerate(zip(IDS, CROPS, strict=True))
    ]


def train_samples(copies: int = 2) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    return [
        {
            "image": torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=g),
            "label": int(image_id % 2),
            "generator_id": int(image_id % 3),
            "id": image_id,
            "copy": copy,
        }
        for image_id in IDS
        for copy in range(copies)
    ]


class Served(Dataset):
    """A list of samples that counts what it serves."""

    def __init__(self, samples: list[dict]) -> None:
        self.samples, self.served = samples, 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        self.served += 1
        return self.samples[index]


def probe() -> DetectorModule:
    config = ModelConfig(backbone="tiny:8", pretrained=False, freezing="probe", input_size=32)
    return DetectorModule(config)


def opener(root: Path, module: DetectorModule, *, ids=IDS, copies=1, crops=5, say=None, **pipe):
    fingerprint = feature_fingerprint(module.detector, crop="multicrop", **pipe)
    return partial(_open, root, ids, copies, crops, module.detector.feature_dim, fingerprint, say)


def _open(root, ids, copies, crops, dim, fingerprint, say, writable):
    return FeatureStore(
        root,
        ids=ids,
        copies=copies,
        crops=crops,
        dim=dim,
        fingerprint=fingerprint,
        writable=writable,
        say=say,
    )


def extract_eval(store_opener, module, dataset, batch_size=3):
    ids = np.asarray([s["id"] for s in dataset.samples])
    load = partial(DataLoader, batch_size=batch_size, collate_fn=collate_evaluation)
    return extract_features(trainer(), module, store_opener, dataset, ids, None, load)


def test_evaluation_with_and_without_the_cache_gives_identical_predictions(tmp_path):
    module = probe()
    samples = eval_samples()
    images = DataLoader(samples, batch_size=3, collate_fn=collate_evaluation)
    trainer().validate(module, images, verbose=False)
    direct = concat_eval_outputs(module.eval_outputs)

    random_state = torch.get_rng_state()
    store, computed = extract_eval(opener(tmp_path / "cache", module), module, Served(samples))
    assert computed == len(IDS)
    # the loader's draws are undone: a cached run trains with the random numbers of an uncached one
    assert torch.equal(torch.get_rng_state(), random_state)
    labels = [s["label"] for s in samples]
    generators = [s["generator_id"] for s in samples]
    cached_set = CachedEvaluationSet(store, IDS, labels, generators)
    trainer().validate(module, feature_loader(cached_set, batch_size=2), verbose=False)
    cached = concat_eval_outputs(module.eval_outputs)

    assert direct.keys() == cached.keys()
    for key in direct:
        assert np.array_equal(direct[key], cached[key]), key
    assert not cached["valid"][cached["id"] == UNREADABLE].any()
    assert cached["valid"][cached["id"] != UNREADABLE].all()


def test_training_on_cached_features_gives_identical_weights(tmp_path):
    samples = train_samples(copies=2)
    batches = [collate_training(samples[i : i + 8]) for i in range(0, len(samples), 8)]
    direct, cached = probe(), probe()
    trainer(max_steps=2).fit(direct, loader(batches))

    ids = np.asarray([s["id"] for s in samples])
    copies = np.asarray([s["copy"] for s in samples])
    open_store = opener(tmp_path / "train", cached, copies=2, crops=1)
    load = partial(DataLoader, batch_size=5, collate_fn=collate_training)
    store, computed = extract_features(
        trainer(), cached, open_store, Served(samples), ids, copies, load
    )
    assert computed == len(samples)
    labels = [s["label"] for s in samples]
    generators = [s["generator_id"] for s in samples]
    dataset = CachedTrainingSet(store, ids, copies, labels, generators)
    trainer(max_steps=2).fit(cached, feature_loader(dataset, batch_size=8))
    for name, tensor in direct.detector.state_dict().items():
        assert torch.equal(tensor, cached.detector.state_dict()[name]), name


KILLED_EXTRACTION = """
import os, signal, sys
from functools import partial
sys.path.insert(0, {repo!r})
import numpy as np, torch
from aigenbench.models import register_backbone
from aigenbench.training import cached_data
from tests.models.conftest import make_tiny
from tests.models import test_feature_cache as t
register_backbone("tiny", make_tiny, overwrite=True)
cached_data.WRITE_EVERY = 1  # every batch written: the kill falls between two writes

class KilledAt(t.Served):
    def __getitem__(self, index):
        if self.served == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no clean-up, no flush
        return super().__getitem__(index)

module = t.probe()
t.extract_eval(t.opener({root!r}, module), module, KilledAt(t.eval_samples()), batch_size=2)
"""


def test_a_killed_extraction_resumes_with_the_missing_rows_only_and_identical_features(tmp_path):
    script = KILLED_EXTRACTION.format(repo=str(REPO), root=str(tmp_path / "cache"), kill_at=5)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr

    module = probe()  # the same seeded weights as the killed process
    partial_store = opener(tmp_path / "cache", module)(False)
    done = partial_store.filled(partial_store.items(IDS))
    assert done.tolist() == [True] * 4 + [False] * 4  # two batches of 2 written before the kill
    partial_store.close()

    rerun = Served(eval_samples())
    _, computed = extract_eval(opener(tmp_path / "cache", module), module, rerun, 2)
    assert computed == rerun.served == 4  # only the missing images went through the backbone

    extract_eval(opener(tmp_path / "fresh", module), module, Served(eval_samples()))
    for name in ("features.npy", "filled.npy"):
        resumed = np.load(tmp_path / "cache" / name)
        uninterrupted = np.load(tmp_path / "fresh" / name)
        assert np.array_equal(resumed, uninterrupted), name  # bit-identical
    assert np.count_nonzero(np.load(tmp_path / "cache" / "features.npy").any(axis=1)) == sum(CROPS)


class FailingFlush(np.memmap):
    def flush(self) -> None:
        raise OSError(errno.EIO, "simulated crash while writing the features")


def test_marks_are_written_only_after_their_features(tmp_path):
    store = FeatureStore(tmp_path / "s", ids=[5, 6, 7], crops=2, dim=4, fingerprint="fp")
    store.write(np.array([0]), np.array([2]), np.ones((2, 4), np.float32), np.array([True]))
    store._rows = store._rows.view(FailingFlush)  # the crash hits the feature write
    with pytest.raises(OSError, match="simulated crash"):
        store.write(np.array([1]), np.array([1]), np.full((1, 4), 2.0), np.array([True]))
    del store

    reopened = FeatureStore(tmp_path / "s", ids=[5, 6, 7], crops=2, dim=4, fingerprint="fp")
    assert reopened.filled(reopened.items([5, 6, 7])).tolist() == [True, False, False]
    assert reopened.read(reopened.items([5]))["features"].tolist() == [[1.0] * 4] * 2


def test_a_changed_fingerprint_rebuilds_the_store_and_says_so(tmp_path):
    module = probe()
    said: list[str] = []
    root = tmp_path / "cache"
    # settings as a run gives them (tuples, paths): equal once read back from the header
    run = {"sizes": (32, 64), "source": Path("data")}
    extract_eval(opener(root, module, say=said.append, **run), module, Served(eval_samples()))

    same = opener(root, module, say=said.append, **run)(True)
    assert not same.rebuilt and same.count() == len(IDS) and said == []
    same.close()

    other_pipeline = opener(root, module, say=said.append, jpeg_quality=[50, 100])(True)
    assert other_pipeline.rebuilt and other_pipeline.count() == 0
    assert str(root) in said[-1] and "jpeg_quality" in said[-1]
    other_pipeline.close()

    # Other weights (a staged backbone after its switch) change the fingerprint too.
    with torch.no_grad():
        next(module.detector.backbone.parameters()).add_(1.0)
    store, computed = extract_eval(
        opener(root, module, jpeg_quality=[50, 100]), module, Served(eval_samples())
    )
    assert store.rebuilt and computed == len(IDS)

    other_rows = opener(root, module, ids=IDS[:-1], say=said.append, jpeg_quality=[50, 100])
    assert other_rows(True).rebuilt and "ids" in said[-1]
    # a reader (DDP rank > 0) never rebuilds: it names the file and the fix
    with pytest.raises(DataError, match=r"header\.json.*feature_cache off"):
        opener(root, module, jpeg_quality=[1])(False)


def test_damaged_files_are_named_with_the_fix(tmp_path):
    root = tmp_path / "s"
    FeatureStore(root, ids=[1, 2], dim=3, fingerprint="fp").close()
    features = root / "features.npy"
    features.write_bytes(features.read_bytes()[:100])  # truncated inside its header
    with pytest.raises(DataError, match=r"features\.npy.*damaged.*delete the folder"):
        FeatureStore(root, ids=[1, 2], dim=3, fingerprint="fp", writable=False)
    said: list[str] = []
    assert FeatureStore(root, ids=[1, 2], dim=3, fingerprint="fp", say=said.append).rebuilt
    assert "features.npy is damaged" in said[0]

    (root / "header.json").write_text("{not json")
    with pytest.raises(DataError, match=r"header\.json is damaged.*delete the folder"):
        FeatureStore(root, ids=[1, 2], dim=3, fingerprint="fp")

    header = json.loads(json.dumps({"format": 0}))
    (root / "header.json").write_text(json.dumps(header))  # an older store: rebuilt
    assert FeatureStore(root, ids=[1, 2], dim=3, fingerprint="fp").rebuilt


def test_a_full_disk_is_named_before_anything_is_computed(tmp_path, monkeypatch):
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    with pytest.raises(DataError, match=r"needs .* GiB.*free some disk space"):
        FeatureStore(tmp_path / "s", ids=range(100), dim=64, fingerprint="fp")


def test_store_items_copies_and_errors(tmp_path):
    store = FeatureStore(
        tmp_path / "s", ids=[9, 5, 7], copies=2, dim=3, fingerprint={"a": 1}, dtype="float16"
    )
    items = store.items([5, 5, 7, 9], [0, 1, 1, 0])
    assert items.tolist() == [0, 1, 3, 4]  # (position of the ID in sorted order) x 2 + copy
    store.write(items[:2], np.array([1, 1]), np.arange(6.0).reshape(2, 3), np.array([True, False]))
    assert store.filled(items).tolist() == [True, True, False, False]
    got = store.read(items[:2])
    assert got["features"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert got["valid"].tolist() == [True, False]
    with pytest.raises(KeyError, match="no row for image 6"):
        store.items([6])
    with pytest.raises(KeyError, match="extract them first"):
        store.read(items[2:])
    with pytest.raises(KeyError, match="extract them first"):
        CachedEvaluationSet(store, [7, 9], [0, 1], [0, 1])


def test_a_signal_stops_the_extraction_after_a_batch_and_keeps_what_was_written(
    tmp_path, monkeypatch
):
    import signal

    from aigenbench.training import cached_data
    from aigenbench.training.interrupts import RunInterrupted, SignalFlag, StopEvaluationOnSignal

    monkeypatch.setattr(cached_data, "WRITE_EVERY", 1)
    flag = SignalFlag()
    flag.received = signal.SIGTERM  # arrived while the first batch was computed
    module, samples = probe(), Served(eval_samples())
    ids = np.asarray(IDS)
    load = partial(DataLoader, batch_size=2, collate_fn=collate_evaluation)
    stopping = trainer(callbacks=[StopEvaluationOnSignal(flag)])
    with pytest.raises(RunInterrupted, match="SIGTERM while computing the cached features"):
        extract_features(stopping, module, opener(tmp_path, module), samples, ids, None, load)
    store = opener(tmp_path, module)(False)
    assert store.filled(store.items(IDS)).tolist() == [True] * 2 + [False] * 6
