"""Do the intervals cover, and do compare's Holm-adjusted tests keep their family-wise error?

Two simulations with a known truth, through the project's own code:

1. **DeLong coverage near 1** (``delong_run_intervals``): binormal scores (fakes ~ N(mu, 1),
   reals ~ N(0, 1), AUROC = Phi(mu / sqrt 2)), ``--trials`` subsets of ``--fakes`` fakes and
   as many paired reals; the share of 95% intervals holding the true AUROC, for the shipped
   logit-scale interval and for the plain ``A ± z sqrt(Var)`` (clipped to [0, 1]).
2. **Family-wise error of compare** (``compare_runs``): ``--runs`` runs that are the same
   detector (scores drawn from one distribution, independently per run: every null hypothesis
   is true), 2 windows; per metric, the share of simulations in which *any* pair is called
   significant at 0.05, with Holm's adjustment (what compare reports) and without.

    .venv/bin/python benchmarks/interval_coverage.py [--trials 4000] [--simulations 200]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from aigenbench.evaluation.compare import TESTED, compare_runs
from aigenbench.evaluation.intervals import IntervalOptions, delong_run_intervals
from aigenbench.evaluation.metrics import ScoredImages
from aigenbench.evaluation.predictions import build_predictions, save_predictions


def binormal(trials: int, n: int, auroc: float, seed: int) -> ScoredImages:
    """``trials`` generators, each n fakes ~ N(mu, 1) and n paired reals ~ N(0, 1), as
    probabilities (a monotone map: the AUROC is unchanged)."""
    rng = np.random.default_rng(seed)
    mu = np.sqrt(2) * norm.ppf(auroc)
    generators = np.repeat(np.arange(1, trials + 1), n)
    scores = expit(np.concatenate([rng.normal(mu, 1, n * trials), rng.normal(0, 1, n * trials)]))
    names = ["", *(f"g{i}" for i in range(1, trials + 1))]
    return ScoredImages(
        scores=scores,
        generator_ids=np.concatenate([generators, np.zeros(n * trials, dtype=np.int64)]),
        pairing=np.concatenate([np.full(n * trials, -1), generators]),
        generator_names=names,
        windows=[names[1:]],
        ids=np.arange(2 * n * trials),
    )


def delong_coverage(trials: int, fakes: int, auroc: float, seed: int) -> tuple[float, float]:
    """(logit-scale coverage, plain coverage) of the per-generator DeLong intervals."""
    from aigenbench.evaluation.binary import SortedScores
    from aigenbench.evaluation.intervals import delong_components

    images = binormal(trials, fakes, auroc, seed)
    intervals = delong_run_intervals({0: images}, IntervalOptions("delong"))
    logit = np.mean(
        [
            b["auroc"][0] <= auroc <= b["auroc"][1]
            for b in intervals.windows[0].per_generator.values()
        ]
    )
    z, plain = IntervalOptions().z, []
    for g in range(1, trials + 1):
        chosen = (images.generator_ids == g) | (images.pairing == g)
        c = delong_components(
            SortedScores.from_unsorted(images.scores[chosen], images.generator_ids[chosen] != 0)
        )
        assert c is not None
        half = z * np.sqrt(c.variance)
        plain.append(max(0.0, c.auroc - half) <= auroc <= min(1.0, c.auroc + half))
    return float(logit), float(np.mean(plain))


def write_null_runs(root: Path, runs: int, per_generator: int, seed: int) -> list[Path]:
    """``runs`` runs of one detector on one evaluation set (2 windows of 2 generators)."""
    rng = np.random.default_rng(seed)
    windows = [["a", "b"], ["c", "d"]]
    names = ["", "a", "b", "c", "d"]
    fakes = np.repeat(np.arange(1, 5), per_generator)
    generator_ids = np.concatenate([fakes, np.zeros(len(fakes), dtype=np.int64)])
    ids = np.arange(len(generator_ids))
    pairing = dict(zip(ids[len(fakes) :].tolist(), fakes.tolist(), strict=True))
    paths = []
    for run in range(runs):
        for step in range(2):
            scores = np.where(
                generator_ids != 0,
                rng.beta(3, 2, len(generator_ids)),
                rng.beta(2, 3, len(generator_ids)),
            )
            predictions = build_predictions(
                scores,
                (generator_ids != 0).astype(int),
                generator_ids,
                ids,
                generator_names=names,
                windows=windows,
                pairing=pairing,
            )
            save_predictions(
                root / f"run{run}" / f"window_{step}" / "predictions_validate.npz", predictions
            )
        paths.append(root / f"run{run}")
    return paths


def family_wise_error(simulations: int, runs: int, per_generator: int, resamples: int):
    holm_errors = dict.fromkeys(TESTED, 0)
    raw_errors = dict.fromkeys(TESTED, 0)
    for simulation in range(simulations):
        with tempfile.TemporaryDirectory() as directory:
            paths = write_null_runs(Path(directory), runs, per_generator, seed=simulation)
            comparison = compare_runs(
                paths, intervals=IntervalOptions("bootstrap", resamples=resamples, seed=simulation)
            )
        for metric in TESTED:
            pairs = [p for p in comparison.pairs if p.metric == metric]
            holm_errors[metric] += any(p.significant for p in pairs)
            raw_errors[metric] += any(p.p is not None and p.p < comparison.alpha for p in pairs)
    return (
        {k: v / simulations for k, v in holm_errors.items()},
        {k: v / simulations for k, v in raw_errors.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4000)
    parser.add_argument("--fakes", type=int, default=50)
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--per-generator", type=int, default=50)
    parser.add_argument("--resamples", type=int, default=500)
    args = parser.parse_args()
    for auroc in (0.8, 0.96, 0.99):
        logit, plain = delong_coverage(args.trials, args.fakes, auroc, seed=1)
        print(
            f"DeLong 95% coverage, {args.fakes} fakes + {args.fakes} reals, AUROC {auroc}, "
            f"{args.trials} trials: logit scale {100 * logit:.1f}%, "
            f"A ± z sqrt(Var) {100 * plain:.1f}%"
        )
    holm, raw = family_wise_error(args.simulations, args.runs, args.per_generator, args.resamples)
    pairs = args.runs * (args.runs - 1) // 2
    for metric in TESTED:
        print(
            f"family-wise error, {args.runs} equal runs ({pairs} pairs), {metric}, "
            f"{args.simulations} simulations: Holm {100 * holm[metric]:.1f}%, "
            f"unadjusted {100 * raw[metric]:.1f}% (alpha 5%)"
        )


if __name__ == "__main__":
    main()
