"""``aigenbench compare``: ranking, intervals, paired tests, seed groups, refusals, outputs."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from scipy.stats import norm

from aigenbench.evaluation.binary import SortedScores
from aigenbench.evaluation.compare import compare_runs, holm
from aigenbench.evaluation.intervals import IntervalOptions, delong_components
from aigenbench.evaluation.metrics import ScoredImages, SubsetSelector
from aigenbench.evaluation.predictions import load_predictions
from tests.evaluation.conftest import write_our_run


@pytest.fixture
def three_runs(tmp_path):
    runs = {}
    for name, score_seed, sharpen in (
        ("plain", 0, 0.0),
        ("other", 1, 0.0),
        ("sharp", 0, 0.3),
        ("nudged", 0, 0.04),
    ):
        runs[name] = tmp_path / name
        write_our_run(runs[name], per_generator=30, score_seed=score_seed, sharpen=sharpen)
    return runs


def test_leaderboard_ranks_and_tests_pairs(run_cli, three_runs, tmp_path):
    html = tmp_path / "cmp.html"
    result = run_cli(
        "compare", *three_runs.values(), "--json", "--resamples", "200", "--html", html
    )
    assert result.exit_code == 0, result.err
    data = json.loads(result.out)
    names = [run["name"] for run in data["runs"]]
    assert names[0] == "sharp"  # the better detector ranks first
    for run in data["runs"]:
        low, high = run["next_auroc"]["interval"]
        assert low <= run["next_auroc"]["value"] <= high
        assert run["next_ap"]["interval"] is not None
    pairs = {(p["first"], p["second"], p["metric"]): p for p in data["pairs"]}
    assert len(pairs) == 6 * 4
    sharp_vs_plain = pairs[("sharp", "plain", "next_auroc")]
    assert sharp_vs_plain["test"] == "DeLong" and sharp_vs_plain["difference"] > 0
    assert sharp_vs_plain["p"] < 0.01 and sharp_vs_plain["significant"]
    page = html.read_text(encoding="utf-8")
    assert "Paired tests" in page and page.count("data:image/png;base64,") == 1


def test_paired_delong_matches_a_direct_covariance_computation(three_runs):
    # "nudged" is "plain" with every score pushed a little towards its class: strongly
    # correlated, so the paired variance is far below the sum of the two variances.
    comparison = compare_runs(
        [three_runs["plain"], three_runs["nudged"]],
        intervals=IntervalOptions("bootstrap", resamples=50),
    )
    # Next at step 0 and 1 are disjoint windows; recompute Var(A - B) per step from the
    # components' covariances (DeLong 1988) and combine the two steps' differences.
    variance, unpaired, deltas = 0.0, 0.0, []
    for step in (0, 1):
        parts = []
        for name in ("plain", "nudged"):
            images = ScoredImages.from_predictions(
                load_predictions(three_runs[name] / f"window_{step}" / "predictions_validate.npz")
            )
            selector = SubsetSelector(images)
            chosen = selector.mask(images.window_generator_ids()[step + 1])
            ids = images.ids[selector.order][chosen]
            fake = selector.fake[chosen]
            c = delong_components(SortedScores(selector.scores[chosen], fake))
            order_f, order_r = np.argsort(ids[fake]), np.argsort(ids[~fake])
            parts.append((c.auroc, c.v10[order_f], c.v01[order_r]))
        (a, fa, ra), (b, fb, rb) = parts
        deltas.append(a - b)
        unpaired += (np.var(fa, ddof=1) + np.var(fb, ddof=1)) / len(fa) / 4
        unpaired += (np.var(ra, ddof=1) + np.var(rb, ddof=1)) / len(ra) / 4
        s10 = np.cov(fa, fb)  # 2x2, ddof=1
        s01 = np.cov(ra, rb)
        variance += (
            (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / len(fa)
            + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / len(ra)
        ) / 4
    pair = next(p for p in comparison.pairs if p.metric == "next_auroc")
    sign = 1 if pair.first == "plain" else -1
    assert pair.difference == pytest.approx(sign * np.mean(deltas), abs=1e-12)
    half = (pair.bounds[1] - pair.bounds[0]) / 2
    assert half == pytest.approx(norm.ppf(0.975) * np.sqrt(variance), rel=1e-12)
    assert variance < unpaired / 4  # the pairing matters here


def test_refuses_runs_on_other_images(run_cli, tmp_path):
    write_our_run(tmp_path / "a", per_generator=20)
    write_our_run(tmp_path / "b", per_generator=21)
    result = run_cli("compare", tmp_path / "a", tmp_path / "b")
    assert result.exit_code == 2
    assert "cannot compare" in result.err and "different images" in result.err
    write_our_run(tmp_path / "c", per_generator=20, steps=[0, 1])
    result = run_cli("compare", tmp_path / "a", tmp_path / "c")
    assert result.exit_code == 2 and "steps" in result.err


def test_seed_groups_and_csv(run_cli, tmp_path):
    for seed in (1, 2):
        run = tmp_path / f"s{seed}"
        write_our_run(run, per_generator=20, score_seed=seed)
        (run / "config.yaml").write_text(
            f"model:\n  backbone: small:cnn\nexperiment:\n  seed: {seed}\n  id: s{seed}\n"
        )
    other = tmp_path / "lr"
    write_our_run(other, per_generator=20, score_seed=3)
    (other / "config.yaml").write_text("model:\n  backbone: small:cnn\n  lr: 0.1\n")
    runs = [tmp_path / "s1", tmp_path / "s2", other]
    data = json.loads(run_cli("compare", *runs, "--json", "--resamples", "50").out)
    (group,) = data["seed_groups"]
    assert sorted(group["runs"]) == ["s1", "s2"]
    values = [r["next_auroc"]["value"] for r in data["runs"] if r["name"] in ("s1", "s2")]
    assert group["mean"]["next_auroc"] == pytest.approx(np.mean(values))
    assert group["std"]["next_auroc"] == pytest.approx(np.std(values, ddof=1))
    table = run_cli("compare", *runs, "--resamples", "50")
    assert "mean ± std of 2 seeds" in table.out
    rows = list(
        csv.DictReader(io.StringIO(run_cli("compare", *runs, "--csv", "--resamples", "50").out))
    )
    assert {r["kind"] for r in rows} == {"run", "pair"} and len(rows) == 3 * 6 + 3 * 4


def test_holm_adjustment():
    assert holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06], nan_ok=True)


def test_bootstrap_p_value_is_two_sided():
    from aigenbench.evaluation.compare import _bootstrap_p

    # 10% of the resampled differences on the other side of 0: p = 2 x 10%, whichever side.
    mostly_positive = np.concatenate([np.full(90, 0.02), np.full(10, -0.01)])
    assert _bootstrap_p(mostly_positive, 100) == pytest.approx(0.2)
    assert _bootstrap_p(-mostly_positive, 100) == pytest.approx(0.2)
    # Centred on 0: no evidence either way.
    assert _bootstrap_p(np.linspace(-1, 1, 101), 101) == pytest.approx(1.0)
    # Never below one resample's worth.
    assert _bootstrap_p(np.full(50, 0.3), 50) == pytest.approx(1 / 50)


def test_refuses_runs_that_give_images_other_generators(run_cli, tmp_path):
    """The same image IDs and counts per generator, two fakes' generators swapped in every
    window of run b: not the same evaluation set."""
    from aigenbench.evaluation.predictions import predictions_arrays

    write_our_run(tmp_path / "a", per_generator=10)
    write_our_run(tmp_path / "b", per_generator=10)
    first = load_predictions(tmp_path / "b" / "window_0" / "predictions_validate.npz")
    fakes = np.flatnonzero(first.fused_generator_ids != 0)
    other = next(
        i for i in fakes if first.fused_generator_ids[i] != first.fused_generator_ids[fakes[0]]
    )
    swap = {
        int(first.identifier[fakes[0]]): int(first.fused_generator_ids[other]),
        int(first.identifier[other]): int(first.fused_generator_ids[fakes[0]]),
    }
    for step in range(3):
        path = tmp_path / "b" / f"window_{step}" / "predictions_validate.npz"
        arrays = predictions_arrays(load_predictions(path))
        for image, generator in swap.items():
            arrays["crop_generator_ids"][arrays["crop_identifiers"] == image] = generator
        np.savez(path, **arrays)
    result = run_cli("compare", tmp_path / "a", tmp_path / "b", "--resamples", "20")
    assert result.exit_code != 0
    assert "give some images different generators" in result.err
