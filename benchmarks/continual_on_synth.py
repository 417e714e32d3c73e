"""Continual strategies on the synthetic benchmark: what each one keeps, and what it costs.

The ``continual_learning`` protocol (window k trains on window k's generators only, from window
k-1's weights) on the built-in synthetic benchmark, with the demo's compact CNN, once per
strategy: finetune, replay with two memory budgets, LwF, EWC and cumulative (the upper bound).
For each: Next / Past / Whole AUROC averaged over time, forgetting, backward and forward
transfer (points of AUROC), the strategy's extra forward passes and the wall time.

    python benchmarks/continual_on_synth.py [--data DIR] [--runs DIR] [--epochs 1] [--json out]

CPU-sized: a few minutes in all. Runs are kept under ``--runs`` (rerunning resumes/skips them).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from aigenbench.commands._config import parse_config
from aigenbench.config import PACKAGED_CONFIGS
from aigenbench.data.synth import SynthConfig, build_synthetic
from aigenbench.evaluation.experiment import evaluate_experiment
from aigenbench.training.runner import ExperimentRunner, quiet_lightning


def strategies(budgets: list[int]) -> list[tuple[str, list[str]]]:
    """(label, config overrides) of every run."""
    runs: list[tuple[str, list[str]]] = [("finetune", ["--strategy.name", "finetune"])]
    for budget in budgets:
        runs.append(
            (
                f"replay {budget}",
                ["--strategy.name", "replay", "--strategy.memory_size", str(budget)],
            )
        )
    runs += [
        ("lwf", ["--strategy.name", "lwf"]),
        ("ewc", ["--strategy.name", "ewc"]),
        ("cumulative", ["--strategy.name", "cumulative"]),
    ]
    return runs


def run_one(
    label: str, overrides: list[str], args: argparse.Namespace, data: Path
) -> dict[str, Any]:
    experiment = label.replace(" ", "-")
    config = parse_config(
        [
            "--config",
            str(PACKAGED_CONFIGS / "demo.yaml"),
            "--protocol.benchmark_type",
            "continual_learning",
            "--dataset",
            str(data),
            "--runs-dir",
            str(args.runs),
            "--experiment-id",
            experiment,
            "--trainer.max_epochs",
            str(args.epochs),
            "--data.augmentation_factor",
            str(args.factor),
            "--data.num_workers",
            str(args.workers),
            "--trainer.enable_progress_bar",
            "false",
            "--experiment.loggers",
            "[csv]",
            "--seed",
            str(args.seed),
            *overrides,
            *args.extra,
        ]
    )
    started = time.perf_counter()
    ExperimentRunner(config, quiet=True).fit()
    seconds = time.perf_counter() - started
    evaluation = evaluate_experiment(config.run_dir)
    transfer = evaluation.transfer
    assert transfer is not None
    costs = [
        json.loads((config.run_dir / f"window_{k}" / "DONE").read_text()).get("strategy", {})
        for k in range(evaluation.n_windows)
    ]
    recorded = [
        json.loads((config.run_dir / f"window_{k}" / "DONE").read_text())["seconds"]
        for k in range(evaluation.n_windows)
    ]
    return {
        "strategy": label,
        "next": evaluation.averages["next"]["auroc"],
        "past": evaluation.averages["past"]["auroc"],
        "whole": evaluation.averages["whole"]["auroc"],
        "forgetting": transfer.forgetting,
        "bwt": transfer.backward_transfer,
        "fwt": transfer.forward_transfer,
        "final_average": transfer.final_average,
        "matrix": evaluation.matrix,
        "memory_images": max((c.get("memory_images", 0) for c in costs), default=0),
        "extra_forward_images": sum(c.get("extra_forward_images", 0) for c in costs),
        "seconds": sum(recorded) if seconds < 1 else seconds,  # a rerun skips finished windows
    }


def table(results: list[dict[str, Any]]) -> str:
    def points(value: float | None, signed: bool = False) -> str:
        if value is None:
            return "-"
        return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"

    lines = [
        "| strategy | Next | Past | Whole | forgetting | BWT | FWT | memory images | "
        "extra forward images | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['strategy']} | {points(r['next'])} | {points(r['past'])} | "
            f"{points(r['whole'])} | {points(r['forgetting'])} | {points(r['bwt'], True)} | "
            f"{points(r['fwt'], True)} | {r['memory_images']} | {r['extra_forward_images']} | "
            f"{r['seconds']:.0f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="synthetic benchmark folder (built there if missing)")
    parser.add_argument("--runs", type=Path, help="experiments folder (default: a temporary one)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per window")
    parser.add_argument("--factor", type=int, default=1, help="augmentation factor")
    parser.add_argument("--per-generator", type=int, default=100, help="training images")
    parser.add_argument("--validation-per-generator", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--budgets", type=int, nargs=2, default=[200, 800], help="replay memories")
    parser.add_argument("--only", nargs="*", help="run only these strategies (labels)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("extra", nargs="*", help="more config overrides (--key value)")
    args, unknown = parser.parse_known_args()
    args.extra = [*args.extra, *unknown]

    quiet_lightning()
    sizes = SynthConfig(
        per_generator=args.per_generator, validation_per_generator=args.validation_per_generator
    )
    name = f"aigenbench_synth_0_{sizes.per_generator}_{sizes.validation_per_generator}"
    data = Path(args.data or Path(tempfile.gettempdir()) / name)
    build_synthetic(data, sizes)
    args.runs = args.runs or Path(tempfile.mkdtemp(prefix="continual_"))
    results = []
    for label, overrides in strategies(args.budgets):
        if args.only and label not in args.only:
            continue
        result = run_one(label, overrides, args, data)
        print(
            f"{label}: {json.dumps({k: v for k, v in result.items() if k != 'matrix'})}", flush=True
        )
        results.append(result)
    print()
    print(table(results))
    print(f"\nruns: {args.runs}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
