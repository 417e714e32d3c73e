"""Intervals: DeLong against a hand computation, the bootstrap against materialised resamples,
coverage measured on simulated binormal scores with a known AUROC, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from aigenbench.evaluation.binary import SortedScores, subset_metrics
from aigenbench.evaluation.calibration import calibration, fpr_key
from aigenbench.evaluation.intervals import (
    BOOTSTRAP_KEYS,
    IntervalOptions,
    bootstrap_run_intervals,
    bootstrap_subset,
    delong_components,
    delong_run_intervals,
    resampling_units,
)
from aigenbench.evaluation.metrics import ScoredImages, evaluate_files
from tests.evaluation.conftest import write_our_run


def test_delong_variance_by_hand():
    # fakes 0.9, 0.6, 0.4; reals 0.5, 0.3, 0.6 (one tie at 0.6).
    # V10 = [3, 2.5, 1] / 3, V01 = [2, 3, 1.5] / 3, AUROC = 13/18,
    # S10 = 13/108, S01 = 7/108, Var = S10/3 + S01/3 = 5/81.
    selected = SortedScores.from_unsorted(
        np.array([0.9, 0.6, 0.4, 0.5, 0.3, 0.6]), np.array([1, 1, 1, 0, 0, 0], bool)
    )
    components = delong_components(selected)
    assert components is not None
    assert components.auroc == pytest.approx(13 / 18, abs=1e-12)
    assert sorted(components.v10) == pytest.approx([1 / 3, 5 / 6, 1.0])
    assert sorted(components.v01) == pytest.approx([0.5, 2 / 3, 1.0])
    assert components.variance == pytest.approx(5 / 81, abs=1e-12)
    assert delong_components(SortedScores.from_unsorted(np.ones(3), np.ones(3, bool))) is None


def _binormal(n_trials: int, n: int, auroc: float, seed: int) -> ScoredImages:
    """``n_trials`` generators, each n fakes ~ N(mu, 1) + n paired reals ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    mu = np.sqrt(2) * norm.ppf(auroc)  # AUROC of the binormal model = Phi(mu / sqrt 2)
    generators = np.repeat(np.arange(1, n_trials + 1), n)
    scores = np.concatenate([rng.normal(mu, 1, n * n_trials), rng.normal(0, 1, n * n_trials)])
    names = ["", *(f"g{i}" for i in range(1, n_trials + 1))]
    return ScoredImages(
        scores=scores,
        generator_ids=np.concatenate([generators, np.zeros(n * n_trials, dtype=np.int64)]),
        pairing=np.concatenate([np.full(n * n_trials, -1), generators]),
        generator_names=names,
        windows=[names[1:]],
        ids=np.arange(2 * n * n_trials),
    )


def _coverage(bounds: dict, truth: float) -> float:
    inside = [b["auroc"][0] <= truth <= b["auroc"][1] for b in bounds.values()]
    return float(np.mean(inside))


def test_delong_coverage_on_binormal_scores():
    truth = 0.8
    images = _binormal(n_trials=2000, n=60, auroc=truth, seed=1)
    intervals = delong_run_intervals({0: images}, IntervalOptions("delong"))
    coverage = _coverage(intervals.windows[0].per_generator, truth)
    assert 0.93 <= coverage <= 0.97, coverage


def test_delong_coverage_near_1_with_small_subsets():
    """50 fakes and 50 reals at AUROC 0.96: ``A ± z sqrt(Var)`` covers 89.7% of these trials
    (measured), the logit-scale interval 95.1%."""
    truth = 0.96
    images = _binormal(n_trials=2000, n=50, auroc=truth, seed=4)
    intervals = delong_run_intervals({0: images}, IntervalOptions("delong"))
    coverage = _coverage(intervals.windows[0].per_generator, truth)
    assert 0.93 <= coverage <= 0.97, coverage
    for bounds in intervals.windows[0].per_generator.values():
        low, high = bounds["auroc"]
        assert 0.0 <= low <= high <= 1.0


def test_bootstrap_coverage_on_binormal_scores():
    # 500 trials of 120 fakes + 120 paired reals, 200 resamples each (fewer than the default
    # 1000 to keep the test fast; the percentile interval needs a couple of hundred).
    truth = 0.8
    images = _binormal(n_trials=500, n=120, auroc=truth, seed=2)
    options = IntervalOptions("bootstrap", resamples=200, seed=3)
    intervals = bootstrap_run_intervals({0: images}, options, matrix=False)
    coverage = _coverage(intervals.windows[0].per_generator, truth)
    assert 0.93 <= coverage <= 0.97, coverage


@pytest.mark.parametrize("ties", [True, False])
def test_each_bootstrap_resample_equals_the_metrics_of_the_materialised_resample(ties):
    rng = np.random.default_rng(0)
    n = 40
    scores = rng.random(2 * n).astype(np.float32)
    if ties:
        scores = np.round(scores, 1)  # many ties, between and within classes
    fake = np.arange(2 * n) < n
    selected = SortedScores.from_unsorted(scores, fake)
    order = np.argsort(-scores, kind="stable")
    units = np.concatenate([np.arange(n), np.arange(n)])[order]  # fake i paired with real i
    counts = rng.multinomial(n, np.full(n, 1 / n), size=5).astype(np.uint16)
    values = bootstrap_subset(selected, units, counts, threshold=0.45)
    for r in range(5):
        repeat = counts[r][units]
        expanded = SortedScores(
            np.repeat(selected.scores, repeat), np.repeat(selected.fake, repeat)
        )
        exact = subset_metrics(expanded, 0.45).to_dict()
        exact.update(calibration(expanded).to_dict())
        exact["brier"] = calibration(expanded).brier
        for key in BOOTSTRAP_KEYS:
            assert values[key][r] == pytest.approx(exact[key], abs=1e-9), key
    assert fpr_key(0.05) in BOOTSTRAP_KEYS


def _materialised(selected: SortedScores, repeat: np.ndarray, threshold: float) -> dict:
    expanded = SortedScores(np.repeat(selected.scores, repeat), np.repeat(selected.fake, repeat))
    exact = subset_metrics(expanded, threshold).to_dict()
    exact.update(calibration(expanded).to_dict())
    return exact


def test_every_block_of_resamples_and_every_thread_split_gives_the_materialised_metrics(
    monkeypatch,
):
    # 130 resamples: two full blocks of 64 and a padded one; 600 images: the walk passes the
    # points where it stops the EER and TPR-at-FPR bookkeeping. Scores on a coarse grid: long
    # runs of ties next to single images.
    from aigenbench.evaluation import bootstrap_kernel

    rng = np.random.default_rng(5)
    n = 300
    scores = np.concatenate([rng.normal(1.0, 1, n), rng.normal(0, 1, n)])
    scores = 1 / (1 + np.exp(-scores))
    scores[::3] = np.round(scores[::3], 2)
    fake = np.arange(2 * n) < n
    selected = SortedScores.from_unsorted(scores, fake)
    order = np.argsort(-scores, kind="stable")
    units = np.concatenate([np.arange(n), np.arange(n)])[order]
    counts = rng.multinomial(n, np.full(n, 1 / n), size=130).astype(np.uint16)
    monkeypatch.setattr(bootstrap_kernel, "_threads", lambda: 1)
    one_thread = bootstrap_subset(selected, units, counts)
    monkeypatch.setattr(bootstrap_kernel, "_threads", lambda: 3)
    values = bootstrap_subset(selected, units, counts)
    for key in BOOTSTRAP_KEYS:
        assert np.array_equal(values[key], one_thread[key]), key
    for r in (0, 63, 64, 100, 129):
        exact = _materialised(selected, counts[r][units], 0.5)
        for key in BOOTSTRAP_KEYS:
            assert values[key][r] == pytest.approx(exact[key], abs=1e-9), (key, r)
    # Logits: Brier is not defined (as the exact calibration), the rest is.
    logits = bootstrap_subset(SortedScores(4 * selected.scores - 2, selected.fake), units, counts)
    assert np.isnan(logits["brier"]).all() and np.isfinite(logits["auroc"]).all()


def test_units_pair_each_fake_with_a_real_of_its_generator():
    images = _binormal(n_trials=3, n=4, auroc=0.7, seed=0)
    units = resampling_units(images)
    assert units.paired and units.n_units == 12
    counts = units.counts(50, seed=1)
    assert (counts.reshape(50, 3, 4).sum(axis=2) == 4).all()  # every stratum keeps its size
    unit_of = units.unit_of_image  # canonical (sorted-ID) order; here IDs are positions
    fake = images.generator_ids != 0
    assert sorted(unit_of[fake]) == sorted(unit_of[~fake]) == list(range(12))
    # A unit holds one fake and a real paired with that fake's generator.
    generator_of_unit = dict(zip(unit_of[fake], images.generator_ids[fake], strict=True))
    pairing_of_unit = dict(zip(unit_of[~fake], images.pairing[~fake], strict=True))
    assert generator_of_unit == pairing_of_unit
    # Reproducible and keyed by (seed, stratum), not by position.
    assert np.array_equal(counts, units.counts(50, seed=1))
    assert not np.array_equal(counts, units.counts(50, seed=2))


def test_run_intervals_contain_the_estimates_and_the_averages_are_tighter(tmp_path):
    write_our_run(tmp_path, per_generator=30)
    files = {k: tmp_path / f"window_{k}" / "predictions_validate.npz" for k in range(3)}
    evaluation = evaluate_files(files)
    from aigenbench.evaluation.metrics import ScoredImages as _S
    from aigenbench.evaluation.predictions import load_predictions

    images = {k: _S.from_predictions(load_predictions(p)) for k, p in files.items()}
    delong = delong_run_intervals(images, IntervalOptions("delong"))
    boot = bootstrap_run_intervals(images, IntervalOptions("bootstrap", resamples=300))
    for method in (delong, boot):
        for window in evaluation.windows:
            low, high = method.windows[window.window].subsets["all"]["auroc"]
            assert low <= window.subsets["all"].auroc <= high
        low, high = method.averages["next"]["auroc"]
        assert low <= evaluation.averages["next"]["auroc"] <= high
    # The average of two disjoint Next subsets is tighter than either alone.
    width = lambda b: b[1] - b[0]  # noqa: E731
    for method in (delong, boot):
        assert width(method.averages["next"]["auroc"]) < min(
            width(method.windows[k].subsets["next"]["auroc"]) for k in (0, 1)
        )
    again = bootstrap_run_intervals(images, IntervalOptions("bootstrap", resamples=300))
    assert again.to_json() == boot.to_json()
    assert boot.windows[0].subsets["past"]["auroc"] is None


def test_bad_interval_options_are_config_errors():
    from aigenbench.errors import ConfigError

    with pytest.raises(ConfigError, match="delong"):
        IntervalOptions("jackknife")
    with pytest.raises(ConfigError, match="resamples"):
        IntervalOptions("bootstrap", resamples=1)


def test_delong_variance_of_an_average_is_corrected_per_step(tmp_path):
    """Next at steps 0 and 1 covers disjoint windows: the variance of their
    average is (Var_0 + Var_1) / 4 with each step's own DeLong (ddof=1) variance, exactly;
    one n/(n-1) pooled over both steps' images, or none, is not."""
    from aigenbench.evaluation.intervals import Influence, average_auroc_influence, canonical_ids
    from aigenbench.evaluation.metrics import SubsetSelector
    from aigenbench.evaluation.predictions import load_predictions

    write_our_run(tmp_path, per_generator=7)
    images = {
        k: ScoredImages.from_predictions(
            load_predictions(tmp_path / f"window_{k}" / "predictions_validate.npz")
        )
        for k in range(3)
    }
    # 28 images per class in all but 14 per step: a pooled 28/27 is not each step's 14/13.
    variances, aurocs = [], []
    for step in (0, 1):
        selector = SubsetSelector(images[step])
        subset = selector.select(images[step].window_generator_ids()[step + 1])
        components = delong_components(subset)
        assert components is not None
        variances.append(components.variance)
        aurocs.append(components.auroc)
        # One AUROC alone: the influence gives DeLong's variance itself.
        alone = Influence(len(subset.scores))
        n_fake = len(components.v10)
        alone.add(components, np.arange(n_fake), np.arange(len(components.v01)), 1.0)
        assert alone.variance == pytest.approx(components.variance, rel=1e-13)
    mean, influence = average_auroc_influence(images, "next", canonical_ids(images[0]))
    assert mean == pytest.approx(np.mean(aurocs), abs=1e-15)
    assert influence.variance == pytest.approx(sum(variances) / 4, rel=1e-13)


def test_the_fakes_and_the_reals_of_one_generator_are_drawn_independently():
    """Unequal numbers of fakes and paired reals: the generator's fakes and its reals are two
    strata (kinds 1 and 2) of the same group. Seeded by the group alone they would share one
    random stream: each resample's first draws would pick the same positions among the fakes
    and among the reals (measured: mean correlation 0.97 over seeds; independent: 0.00)."""
    n_fakes, n_reals = 6, 7
    images = ScoredImages(
        scores=np.linspace(0, 1, n_fakes + n_reals),
        generator_ids=np.array([1] * n_fakes + [0] * n_reals),
        pairing=np.array([-1] * n_fakes + [1] * n_reals),
        generator_names=["", "g"],
        windows=[["g"]],
        ids=np.arange(n_fakes + n_reals),
    )
    units = resampling_units(images)
    assert set(units.strata) == {(1, 1), (2, 1)} and not units.paired
    fake_units, real_units = units.strata[(1, 1)], units.strata[(2, 1)][:n_fakes]
    correlations = []
    for seed in range(300):
        first = units.counts(1, seed=seed)[0].astype(float)
        a, b = first[fake_units], first[real_units]
        if a.std() and b.std():
            correlations.append(np.corrcoef(a, b)[0, 1])
    assert abs(np.mean(correlations)) < 0.15, np.mean(correlations)
