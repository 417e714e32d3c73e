"""The frozen-feature cache: exact (cache on = cache off), reusable, invalidated, crash-safe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aigenbench.models import ModelConfig
from aigenbench.training.feature_cache import (
    CachedEvaluationSet,
    CachedTrainingSet,
    FeatureStore,
    extract_features,
    feature_fingerprint,
    feature_loader,
)
from aigenbench.training.module import DetectorModule, concat_eval_outputs

from .conftest import eval_batch, loader, train_batch, trainer

CROPS = [[1, 5, 2], [1, 1, 5], [3]]


def _eval_batches() -> list[dict[str, torch.Tensor]]:
    batches, first = [], 0
    for seed, crops in enumerate(CROPS):
        batches.append(
            eval_batch(crops, first_id=first * 7 + 3, seed=seed)
        )  # IDs need not be dense
        first += len(crops)
    return batches


def _eval_columns(batches):
    starts = [torch.unique_consecutive(b["id"], return_inverse=True) for b in batches]
    ids = torch.cat([s[0] for s in starts])
    labels, generators = [], []
    for batch in batches:
        first = torch.ones(len(batch["id"]), dtype=torch.bool)
        first[1:] = batch["id"][1:] != batch["id"][:-1]
        labels.append(batch["label"][first])
        generators.append(batch["generator_id"][first])
    return ids, torch.cat(labels), torch.cat(generators)


def _probe(**overrides) -> DetectorModule:
    config = ModelConfig(
        backbone="tiny:8", pretrained=False, freezing="probe", input_size=32, **overrides
    )
    return DetectorModule(config)


def _store(tmp_path, module, **pipeline) -> FeatureStore:
    fingerprint = feature_fingerprint(module.detector, crop="multicrop", **pipeline)
    return FeatureStore(
        tmp_path / "cache", fingerprint=fingerprint, dim=module.detector.feature_dim
    )


def test_evaluation_with_and_without_the_cache_gives_identical_predictions(tmp_path):
    module = _probe()
    batches = _eval_batches()
    trainer().validate(module, loader(batches), verbose=False)
    direct = concat_eval_outputs(module.eval_outputs)

    store = _store(tmp_path, module)
    assert extract_features(module.detector, batches, store, "validate") == 18
    ids, labels, generators = _eval_columns(batches)
    cached_set = CachedEvaluationSet(store, "validate", ids, labels, generators)
    trainer().validate(module, feature_loader(cached_set, batch_size=3), verbose=False)
    cached = concat_eval_outputs(module.eval_outputs)

    assert direct.keys() == cached.keys()
    for key in direct:
        assert np.array_equal(direct[key], cached[key]), key


def test_training_on_cached_features_gives_identical_weights(tmp_path):
    batches = [train_batch(seed=i) for i in range(4)]
    for batch in batches:
        batch["copy"] = torch.arange(len(batch["id"])) % 2
    direct = _probe()
    cached = _probe()
    assert torch.equal(direct.detector.head[1].weight, cached.detector.head[1].weight)
    trainer(max_steps=4).fit(direct, loader(batches))

    store = _store(tmp_path, cached)
    extract_features(cached.detector, batches, store, "train")
    columns = {
        k: torch.cat([b[k] for b in batches]) for k in ("id", "copy", "label", "generator_id")
    }
    dataset = CachedTrainingSet(
        store, "train", columns["id"], columns["copy"], columns["label"], columns["generator_id"]
    )
    trainer(max_steps=4).fit(cached, feature_loader(dataset, batch_size=8))
    for name, tensor in direct.detector.state_dict().items():
        assert torch.equal(tensor, cached.detector.state_dict()[name]), name


def test_only_missing_entries_are_computed_and_the_store_survives_reopening(tmp_path):
    module = _probe()
    batches = _eval_batches()
    store = _store(tmp_path, module)
    assert extract_features(module.detector, batches[:1], store, "validate") == 8
    assert extract_features(module.detector, batches, store, "validate") == 10
    assert extract_features(module.detector, batches, store, "validate") == 0
    before = store.crops("validate", [3, 4]).copy()

    reopened = _store(tmp_path, module)  # another window, or after a restart
    assert not reopened.invalidated
    assert len(reopened) == 18
    assert extract_features(module.detector, batches, reopened, "validate") == 0
    after = reopened.crops("validate", [3, 4])
    assert torch.equal(after["features"], before["features"])
    assert after["crop_to_image"].tolist() == [0, 1, 1, 1, 1, 1]
    assert after["crop"].tolist() == [0, 0, 1, 2, 3, 4]


def test_a_new_fingerprint_empties_the_store(tmp_path):
    module = _probe()
    batches = _eval_batches()
    store = _store(tmp_path, module)
    extract_features(module.detector, batches, store, "validate")

    assert not _store(tmp_path, module).invalidated
    other_pipeline = _store(tmp_path, module, jpeg_quality=[50, 100])
    assert other_pipeline.invalidated and len(other_pipeline) == 0

    # Other weights (a staged backbone after its switch) change the fingerprint too.
    with torch.no_grad():
        next(module.detector.backbone.parameters()).add_(1.0)
    retrained = _store(tmp_path, module, jpeg_quality=[50, 100])
    assert retrained.invalidated and len(retrained) == 0
    assert extract_features(module.detector, batches, retrained, "validate") == 18


def test_an_interrupted_flush_leaves_the_last_complete_state(tmp_path):
    store = FeatureStore(tmp_path / "s", fingerprint="fp", dim=4)
    store.put("train", [1, 2], [0, 0], torch.ones(2, 4))
    store.flush()
    # A chunk written but never indexed (killed between the two writes) and a temporary file.
    np.save(tmp_path / "s" / "chunk_000009.npy", np.zeros((3, 4), np.float32))
    (tmp_path / "s" / ".tmp-abc.npz").write_bytes(b"partial")
    store.put("train", [3], [0], torch.zeros(1, 4))  # pending, never flushed

    reopened = FeatureStore(tmp_path / "s", fingerprint="fp", dim=4)
    assert reopened.contains("train", [1, 2, 3], [0, 0, 0]).tolist() == [True, True, False]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "chunk_000000.npy",
        "index.npz",
        "meta.json",
    ]
    assert torch.equal(reopened.get("train", [2], [0]), torch.ones(1, 4))


def test_store_keys_parts_copies_and_errors(tmp_path):
    store = FeatureStore(tmp_path / "s", fingerprint={"a": 1}, dim=3, dtype="float16", chunk_rows=2)
    store.put("train", [5, 5, 7], [0, 3, 1], torch.arange(9, dtype=torch.float32).view(3, 3))
    store.put("validate", [5], None, torch.full((1, 3), -1.0))
    store.flush()
    assert store.count("train") == 3 and store.count("validate") == 1
    assert store.get("train", [5], [3]).tolist() == [[3.0, 4.0, 5.0]]
    assert store.get("validate", [5]).tolist() == [[-1.0, -1.0, -1.0]]
    assert store.contains("train", [5, 5, 7], [1, 3, 1]).tolist() == [False, True, True]
    assert store.missing_ids("train", [5, 6, 7]).tolist() == [6]
    # Overwriting a key keeps one entry with the new value.
    store.put("train", [7], [1], torch.zeros(1, 3))
    store.flush()
    assert store.count("train") == 3 and store.get("train", [7], [1]).tolist() == [[0.0, 0.0, 0.0]]
    with pytest.raises(KeyError, match="image 6 copy 0"):
        store.get("train", [6], [0])
    with pytest.raises(KeyError, match="extract them first"):
        CachedEvaluationSet(store, "validate", [5, 9], [0, 1], [0, 1])
