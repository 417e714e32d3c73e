"""Metrics sliced by the recorded mandatory degradations (``evaluate --by-degradation``)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from aigenbench.evaluation.predictions import (
    build_predictions,
    load_predictions,
    save_predictions,
)
from aigenbench.evaluation.slices import window_slices
from aigenbench.protocol.degradations import DEGRADATION_STEPS
from tests.evaluation.conftest import SMALL_WINDOWS
from tests.evaluation.official_format import make_eval_set

GRAY = DEGRADATION_STEPS["grayscale"]
JPEG1, JPEG2 = DEGRADATION_STEPS["jpeg1"], DEGRADATION_STEPS["jpeg2"]


def _codes_of(ids: np.ndarray) -> np.ndarray:
    """A record that is a function of the ID alone: grayscale for ID % 3 == 0, JPEG'd once
    for ID % 3 == 1 and twice for ID % 5 == 0 (on top)."""
    codes = np.where(ids % 3 == 0, GRAY, 0) | np.where(ids % 3 == 1, JPEG1, 0)
    codes |= np.where(ids % 5 == 0, JPEG1 | JPEG2, 0)
    return codes.astype(np.int16)


def _predictions(seed: int = 0, order: np.ndarray | None = None):
    """Fakes score high except on grayscale images, where every score is random."""
    eval_set = make_eval_set(SMALL_WINDOWS, per_generator=20, seed=21)
    ids, generator_ids = eval_set.ids, eval_set.generator_ids
    if order is not None:
        ids, generator_ids = ids[order], generator_ids[order]
    noise = np.random.default_rng(seed).random(int(ids.max()) + 1)[ids]  # keyed by ID
    fake = generator_ids != 0
    scores = np.where(fake, 0.6 + 0.4 * noise, 0.4 * noise)
    gray = (_codes_of(ids) & GRAY) != 0
    scores[gray] = noise[gray]
    predictions = build_predictions(
        scores,
        fake.astype(int),
        generator_ids,
        ids,
        generator_names=eval_set.generator_names,
        windows=SMALL_WINDOWS,
        pairing=eval_set.pairing,
        image_degradations=_codes_of,
    )
    return predictions, eval_set


def test_the_record_is_written_aligned_with_identifier_and_read_back(tmp_path):
    predictions, _ = _predictions()
    path = save_predictions(tmp_path / "p.npz", predictions)
    loaded = load_predictions(path)
    np.testing.assert_array_equal(loaded.degradations, _codes_of(loaded.identifier))
    with np.load(path) as raw:
        assert raw["degradations"].shape == raw["identifier"].shape


def test_slice_metrics_are_the_metrics_of_the_images_in_the_slice():
    predictions, eval_set = _predictions()
    slices = window_slices(predictions, 0)
    ids = predictions.identifier
    fake = predictions.fused_generator_ids != 0
    codes = _codes_of(ids)
    scores = predictions.fused_scores
    # 'all' at step 0: every fake and every paired real.
    for name, mask in {
        "grayscale": (codes & GRAY) != 0,
        "jpeg_never": (codes & (JPEG1 | JPEG2)) == 0,
        "jpeg_twice": (codes & JPEG2) != 0,
        "jpeg_once": ((codes & JPEG1) != 0) & ((codes & JPEG2) == 0),
        "none": codes == 0,
    }.items():
        metrics = slices.metrics["all"][name]
        assert metrics is not None
        assert metrics.n_real + metrics.n_fake == int(mask.sum()), name
        assert metrics.auroc == pytest.approx(roc_auc_score(fake[mask], scores[mask])), name
    assert slices.metrics["all"]["none"].auroc == 1.0
    assert slices.metrics["all"]["grayscale"].auroc < 0.8
    # 'next' at step 0 is window 1's fakes and the reals paired with them.
    next_ids = {g for g in (eval_set.generator_names.index(n) for n in SMALL_WINDOWS[1])}
    owner = np.where(fake, predictions.fused_generator_ids, predictions.pairing)
    member = np.isin(owner, list(next_ids)) & ((codes & GRAY) != 0)
    assert slices.metrics["next"]["grayscale"].n_real + slices.metrics["next"][
        "grayscale"
    ].n_fake == int(member.sum())
    assert slices.metrics["past"]["none"] is None  # not defined at step 0


def test_slices_follow_the_image_not_its_position():
    predictions, _ = _predictions()
    order = np.random.default_rng(3).permutation(predictions.n_images)
    shuffled, _ = _predictions(order=order)
    a, b = window_slices(predictions, 1), window_slices(shuffled, 1)
    for subset in ("all", "next", "past"):
        for name, metrics in a.metrics[subset].items():
            assert metrics == b.metrics[subset][name], (subset, name)


@pytest.fixture
def sliced_run(tmp_path):
    run_dir = tmp_path / "runs" / "sliced"
    for step in range(len(SMALL_WINDOWS)):
        predictions, _ = _predictions(seed=step)
        save_predictions(run_dir / f"window_{step}" / "predictions_validate.npz", predictions)
    return run_dir


def test_cli_by_degradation_table_json_and_csv(run_cli, sliced_run):
    table = run_cli("evaluate", sliced_run, "--by_degradation")
    assert table.exit_code == 0, table.err
    assert "by the mandatory degradations" in table.out
    for title in ("no degradation", "never JPEG'd", "JPEG'd once", "grayscale", "resized crop"):
        assert title in table.out
    assert "100.00" in table.out  # the clean slice is perfectly separated
    data = json.loads(run_cli("evaluate", sliced_run, "--by_degradation", "--json").out)
    assert [w["window"] for w in data["per_window"]] == [0, 1, 2]
    assert data["per_window"][0]["subsets"]["all"]["none"]["auroc"] == 1.0
    assert data["per_window"][0]["subsets"]["past"]["none"] is None
    rows = list(
        csv.DictReader(
            io.StringIO(
                run_cli("evaluate", sliced_run, "--by_degradation", "--csv", "--on", "all").out
            )
        )
    )
    assert len(rows) == 3 * 7 and {r["subset"] for r in rows} == {"all"}


def test_cli_by_degradation_refuses_files_without_a_record(run_cli, our_run):
    result = run_cli("evaluate", our_run, "--by_degradation")
    assert result.exit_code == 2
    assert "no degradation record" in result.err and "aigenbench validate" in result.err
