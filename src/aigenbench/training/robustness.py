"""The robustness sweep: one window's detector on the evaluation set under one controlled
degradation at a time (``aigenbench robustness``).

Each point (kind, strength) is a ``Trainer.validate`` of the window's final weights with the
window's DataModule, whose evaluation pipeline is a :class:`ControlledDegradation` (the protocol's
own degradations off); the clean point has no degradation at all. Every point's predictions go to
an official-format file, ``runs/<id>/robustness/window_<k>/<kind>_<strength>.npz``, and its
metrics (the same engine as ``evaluate``) to ``robustness.json`` beside them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aigenbench.data.controlled import ControlledDegradation, check_strength
from aigenbench.data.pipelines import EvalPipeline
from aigenbench.errors import ConfigError
from aigenbench.evaluation.metrics import evaluate_window
from aigenbench.evaluation.predictions import save_predictions
from aigenbench.evaluation.robustness import ROBUSTNESS_DIR, ROBUSTNESS_FILE, point_file_name
from aigenbench.files import write_json_atomic
from aigenbench.training.collect import collect_predictions

if TYPE_CHECKING:
    from aigenbench.training.module import DetectorModule
    from aigenbench.training.runner import ExperimentRunner

REPORTED_SUBSETS = ("all", "next", "past")


def default_window(runner: ExperimentRunner) -> int:
    """The last finished window (the final detector)."""
    done = [k for k in range(runner.plan.n_windows) if runner.dir.is_done(k)]
    if not done:
        raise ConfigError(
            f"experiment {runner.dir.root} has no finished window; run `aigenbench fit` first"
        )
    return done[-1]


def run_robustness(
    runner: ExperimentRunner,
    sweeps: Mapping[str, Sequence[float]],
    window: int | None = None,
) -> dict[str, Any]:
    """Score the clean point and every (kind, strength) of ``sweeps``; returns (and writes) the
    ``robustness.json`` document."""
    from aigenbench.training.window import WindowJob

    window = default_window(runner) if window is None else window
    runner.plan.check_window(window)
    if not runner.dir.is_done(window):
        raise ConfigError(
            f"window {window} of {runner.dir.root} is not finished (no DONE); run "
            "`aigenbench fit` first, or pick a finished window with --window"
        )
    points = [(kind, check_strength(kind, s)) for kind, values in sweeps.items() for s in values]
    job = WindowJob(runner, window, None)
    module = job.module(job.final_detector)
    out_dir = runner.dir.root / ROBUSTNESS_DIR / f"window_{window}"
    config, model = runner.config, runner.config.model
    options = {
        "input_size": model.input_size,
        "crop": model.eval_crop,
        "seed": config.data.augmentation_seed,
        "maximum_processing_size": config.data.maximum_processing_size,
    }
    results: list[dict[str, Any]] = []
    for kind, strength in [(None, None), *points]:
        pipeline = (
            EvalPipeline(degradations=False, **options)
            if kind is None
            else ControlledDegradation(kind, strength, **options)  # type: ignore[arg-type]
        )
        path = out_dir / point_file_name(kind, strength)
        metrics = _score_point(job, module, pipeline, window, path)
        if metrics is not None:
            results.append({"kind": kind or "clean", "strength": strength, **metrics})
            runner.say(_describe(results[-1]))
    document = {
        "window": window,
        "experiment": runner.config.experiment_id,
        "subsets": list(REPORTED_SUBSETS),
        "clean": results[0] if results else None,
        "points": results[1:],
    }
    if runner.rank_zero:
        write_json_atomic(out_dir / ROBUSTNESS_FILE, document)
    return document


def _score_point(
    job: Any, module: DetectorModule, pipeline: EvalPipeline, window: int, path: Path
) -> dict[str, Any] | None:
    """One ``Trainer.validate`` under ``pipeline``; its metrics (None on ranks other than 0)."""
    from aigenbench.data.datamodule import WindowDataModule

    runner = job.runner
    model = runner.config.model
    datamodule = WindowDataModule(
        runner.source,
        runner.plan,
        window,
        runner.config.data,
        input_size=model.input_size,
        train_crop=model.train_crop,
        eval_crop=model.eval_crop,
        eval_pipeline=pipeline,
    )
    trainer = job.eval_trainer()
    trainer.validate(module, datamodule=datamodule, verbose=False)
    evaluation = runner.plan.evaluation("validate")
    predictions = collect_predictions(
        module.eval_outputs, trainer.world_size, runner.plan, evaluation
    )
    if predictions is None:
        return None
    save_predictions(path, predictions)
    result = evaluate_window(predictions, window)
    metrics: dict[str, Any] = {"file": path.name}
    for subset in REPORTED_SUBSETS:
        values = result.subsets[subset]
        metrics[subset] = {"auroc": values.auroc, "ap": values.ap}
    return metrics


def _describe(point: dict[str, Any]) -> str:
    def percent(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.2f}"

    name = point["kind"] if point["strength"] is None else f"{point['kind']} {point['strength']:g}"
    return f"{name}: AUROC {percent(point['all']['auroc'])}, AP {percent(point['all']['ap'])}"
