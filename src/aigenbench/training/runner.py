"""The window runner: the whole protocol, one window after another, resumable.

Per window k: the window's data (``WindowDataModule``), the detector initialised from window
k-1's final weights with a fresh optimiser and schedule, ``fit``, a validation of the whole
evaluation set, then ``window_<k>/``: ``membership.json``, ``checkpoints/final.ckpt``,
``predictions_validate.npz``, ``metrics.json`` and ``DONE`` last. Rerunning the same command
skips DONE windows and continues a half-done one from ``last.ckpt``.

Several processes (DDP) run this same code; only global rank 0 writes files, and evaluation
rows are gathered in memory.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aigenbench.classpath import import_modules
from aigenbench.config import Config, check_experiment_id
from aigenbench.errors import ConfigError, DataError
from aigenbench.evaluation.experiment import headline_text
from aigenbench.evaluation.metrics import RunEvaluation, WindowEvaluation
from aigenbench.files import disk_full_is_a_sentence
from aigenbench.models.available_weights import check_pretrained_weights
from aigenbench.models.registry import check_backbone_spec
from aigenbench.protocol import BenchmarkPlan, Timeline, load_timeline, make_plan
from aigenbench.training.preemption import (
    SignalFlag,
    active_flag,
    launched_as_rank_zero,
    parse_signal,
)
from aigenbench.training.run_warnings import as_yaml_comment, run_warnings
from aigenbench.training.window import WindowResult

__all__ = ["ExperimentRunner", "launched_as_rank_zero", "quiet_lightning"]

logger = logging.getLogger("aigenbench")


def choose_timeline(config: Config, source: Any) -> Timeline:
    """``protocol.timeline`` if set, else the dataset's own ``timeline.csv``, else v1.0."""
    if config.protocol.timeline:
        return load_timeline(config.protocol.timeline)
    own = source.timeline
    return own if own is not None else Timeline.builtin()


def check_unfreeze_window(model: Any, n_windows: int) -> None:
    """``unfreeze_at: {window: k}`` must name a window this protocol has (else: a silent probe)."""
    unfreeze_at = getattr(model, "unfreeze_at", None)
    if getattr(model, "freezing", None) != "staged" or unfreeze_at is None:
        return
    if unfreeze_at.unit == "window" and unfreeze_at.value >= n_windows:
        raise ConfigError(
            f"model.unfreeze_at is {{window: {unfreeze_at.value}}} but this protocol has "
            f"{n_windows} window(s) (0..{n_windows - 1}): the backbone would never train; "
            f"pick a window from 1 to {n_windows - 1}, or use model.freezing: probe"
        )


def check_loggers(loggers: Sequence[str]) -> None:
    if "wandb" in loggers:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError(
                "experiment.loggers has wandb but wandb is not installed: "
                "pip install 'aigenbench[wandb]'"
            ) from None


class ExperimentRunner:
    """Runs (or re-scores) the windows of one experiment."""

    def __init__(self, config: Config, *, quiet: bool = False) -> None:
        from aigenbench.training.experiment_dir import ExperimentDir

        self.config = config
        # The command's flag, installed before anything else ran (so a signal at start-up is not
        # lost); a runner used as a library installs its own around fit/score.
        self.flag = active_flag() or SignalFlag()
        self.flag.use_requeue_signal(parse_signal(config.experiment.requeue_signal))
        self.quiet = quiet
        self.rank_zero = launched_as_rank_zero()
        import_modules(config.experiment.imports)
        check_experiment_id(config.experiment_id)
        check_backbone_spec(config.model.backbone)
        check_loggers(config.experiment.loggers)
        self.dir = ExperimentDir(config.run_dir)
        self.source = self._open_source()
        self.timeline = choose_timeline(config, self.source)
        self.plan: BenchmarkPlan = make_plan(
            self.source.generators("train"),
            self.source.generators("validation"),
            config.protocol,
            self.timeline,
        )
        if config.experiment.window is not None:
            self.plan.check_window(config.experiment.window)
        check_unfreeze_window(config.model, self.plan.n_windows)

    # ------------------------------------------------------------------------------ set-up

    def _open_source(self) -> Any:
        from aigenbench.data.sources import open_source

        path = self.config.data.source
        if not path:
            raise ConfigError(
                "no dataset: pass --dataset PATH (or data.source in a config); "
                "`aigenbench data synth DIR` builds a small one to try things with"
            )
        if not Path(path).exists():
            raise DataError(
                f"dataset path {path} does not exist; check --dataset / data.source "
                f"(`aigenbench data synth DIR` builds a small benchmark to try things with)"
            )
        return open_source(path, self.config.data.source_kind)

    def fit_command(self) -> str:
        """The command that continues (and repairs) this experiment."""
        return (
            f"aigenbench fit --config {self.dir.config_path} --runs-dir "
            f"{self.config.experiment.runs_dir} --experiment-id {self.config.experiment_id}"
        )

    def say(self, text: str) -> None:
        if self.rank_zero and not self.quiet:
            print(text, flush=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if not self.rank_zero:
            yield
            return
        self.dir.lock()
        try:
            yield
        finally:
            self.dir.unlock()

    # --------------------------------------------------------------------------------- fit

    def fit(self) -> list[WindowResult]:
        """Train and validate every window (or ``experiment.window``), resuming what exists."""
        from aigenbench.training.window import WindowJob

        if not self.dir.final_checkpoint(0).is_file():
            # Before anything is written or trained: an offline newcomer learns at once which
            # file is missing. (Windows after the first start from the previous one's weights.)
            check_pretrained_weights(self.config.model.backbone, self.config.model.pretrained)
        # Every check that can refuse the configuration runs before the experiment folder is
        # created or its config.yaml written: a refused command leaves runs/ as it found it.
        windows = self._windows_to_run()
        if windows:
            WindowJob(self, windows[0], None, []).check_accepted()
        with disk_full_is_a_sentence(self.dir.root), self._locked(), self.flag:
            if self.rank_zero:
                self.dir.record_config(
                    self.config.raw,
                    say=self.say,
                    defaults=self.config.defaults,
                    comment=as_yaml_comment(run_warnings(self.config.model)),
                )
            self._describe()
            if self.config.data.pixel_cache:  # before anything is decoded: the disk it needs
                from aigenbench.training.pixel_cache import announce

                announce(self.config, self.plan, self.dir.pixels_dir, self.say)
            # Every process knows the earlier windows from this loop (or, for --window k, from
            # DONE files written by an earlier run): never from a DONE that rank 0 is writing.
            earlier = [self._done_result(k) for k in range(windows[0])] if windows else []
            results: list[WindowResult] = []
            detector = None
            started = time.perf_counter()
            for window in windows:
                self.flag.raise_if_received(f"before window {window}")
                job = WindowJob(self, window, detector, [*earlier, *results])
                result = job.run()
                detector = job.final_detector
                results.append(result)
            computed = {r.window: r.evaluation for r in results if r.evaluation is not None}
            headline = self._write_summary(computed) if self.rank_zero else {}
            self.say(
                f"\nexperiment {self.config.experiment_id}: {len(results)} window(s) in "
                f"{time.perf_counter() - started:.1f} s -> {self.dir.root}"
            )
            if headline:
                self.say(f"AUROC (%) averaged over time: {headline_text(headline)}")
            return results

    def _done_result(self, window: int) -> WindowResult:
        record = self.dir.done_record(window)
        return WindowResult.from_done(window, list(record.get("generators", [])), record)

    def _windows_to_run(self) -> list[int]:
        only = self.config.experiment.window
        if only is None:
            return list(range(self.plan.n_windows))
        missing = [k for k in range(only) if not self.dir.is_done(k)]
        if missing:
            # Say what is wrong with a DONE that is there (a damaged strategy state, ...).
            why = [
                f"window {k}: {'; '.join(problems)}"
                for k in missing
                if (problems := self.dir.check_done(k).problems)
            ]
            raise ConfigError(
                f"window {only} starts from window {only - 1}'s weights, but window(s) "
                f"{', '.join(map(str, missing))} are not done"
                + (f" ({'; '.join(why)})" if why else "")
                + "; run them first (or drop --window)"
            )
        return [only]

    def _describe(self) -> None:
        plan = self.plan
        self.say(
            f"experiment {self.config.experiment_id} ({self.dir.root}): "
            f"{plan.config.benchmark_type}, {plan.n_windows} window(s), "
            f"timeline {self.timeline.source}, dataset {self.source.name}"
        )
        for note in plan.notes:
            self.say(f"note: {note}")

    def _evaluation(
        self, computed: dict[int, WindowEvaluation], stage: str = "validate"
    ) -> RunEvaluation | None:
        """The run's metrics on ``stage``: the windows this process scored come as ``computed``
        (the objects their metrics file was written from); the others, done by an earlier run,
        are read back from theirs. None when no window has any."""
        from aigenbench.evaluation.experiment import read_window_metrics
        from aigenbench.evaluation.metrics import EvaluationOptions, summarise

        windows = [
            computed[k] if k in computed else read_window_metrics(self.dir.window_dir(k), stage)
            for k in range(self.plan.n_windows)
            if k in computed or self.dir.is_done(k)
        ]
        return summarise(windows, self.plan.windows, EvaluationOptions()) if windows else None

    def _write_summary(self, computed: dict[int, WindowEvaluation]) -> dict[str, float | None]:
        """summary.json (metrics of every finished window + the data summary); the headline."""
        from aigenbench.evaluation.experiment import headline

        evaluation = self._evaluation(computed)
        if evaluation is None:
            return {}
        self._summarise(evaluation)
        return headline(evaluation)

    def _summarise(self, evaluation: RunEvaluation) -> None:
        """summary.json: ``evaluation`` (the validation metrics) beside the data summary."""
        from aigenbench.evaluation.experiment import write_summary

        write_summary(
            self.dir.root,
            "validate",
            evaluation=evaluation,
            sections={
                "data": self.data_summary(),
                "strategy": self.strategy_summary(),
                "warnings": run_warnings(self.config.model),
            },
        )

    def strategy_summary(self) -> dict[str, Any]:
        """The continual strategy and what it cost per finished window (from the DONE records)."""
        cumulative = self.plan.config.benchmark_type == "cumulative"

        def named(name: str) -> str:
            # The protocol's cumulative setting trains each window on every window so far (the
            # only strategy it accepts is the default): that is not fine-tuning on one window.
            return "cumulative" if cumulative and name == "finetune" else name

        name = self.config.strategy.name if self.config.strategy is not None else "finetune"
        windows = {}
        for k in range(self.plan.n_windows):
            if self.dir.is_done(k):
                record = dict(self.dir.done_record(k).get("strategy", {}))
                if "name" in record:
                    record["name"] = named(str(record["name"]))
                windows[str(k)] = record
        return {"name": named(name), "windows": windows}

    def data_summary(self) -> dict[str, Any]:
        """What the experiment ran on: dataset, timeline, windows, sizes, unreadable images."""
        from aigenbench.evaluation.predictions import find_predictions, load_predictions

        plan = self.plan
        unreadable: list[dict[str, Any]] = []
        done = [k for k in range(plan.n_windows) if self.dir.is_done(k)]
        path = find_predictions(self.dir.window_dir(done[-1]), "validate") if done else None
        if path is not None:
            predictions = load_predictions(path)
            if predictions.fused_valid is not None:
                for row_id in predictions.identifier[~predictions.fused_valid].tolist():
                    where = self.source.describe("validation", int(row_id))
                    unreadable.append({"id": int(row_id), "path": where})
        training_failures = self.dir.unreadable_training_images()
        return {
            "dataset": str(self.source.path),
            "kind": getattr(self.source, "kind", "?"),
            "timeline": self.timeline.source,
            "benchmark_type": plan.config.benchmark_type,
            "windows": plan.windows,
            "train_rows": len(plan.train),
            "validation_rows": len(plan.validation),
            "evaluated_images": len(plan.evaluation("validate")),
            "dropped_rows": {"train": plan.train.dropped, "validation": plan.validation.dropped},
            "notes": plan.notes,
            "unreadable_evaluation_images": unreadable,
            # Replaced deterministically by another image of the same label; `aigenbench data
            # check` lists every unreadable image of a dataset up front.
            "unreadable_training_images": training_failures,
            "n_unreadable_training_images": len(training_failures),
        }

    # ----------------------------------------------------------------------- validate/test

    def score(self, stage: str) -> tuple[list[Path], RunEvaluation | None]:
        """Re-score every finished window on ``stage`` ('validate' or 'test') from final.ckpt:
        the predictions files, and (rank 0) the metrics computed from them in memory."""
        from aigenbench.training.window import WindowJob

        done = [k for k in range(self.plan.n_windows) if self.dir.is_done(k)]
        if not done:
            raise ConfigError(
                f"experiment {self.dir.root} has no finished window; run `aigenbench fit` first"
            )
        damaged = [
            f"window {k} ({'; '.join(check.problems)})"
            for k in range(self.plan.n_windows)
            if (check := self.dir.check_done(k)).problems
        ]
        if damaged:
            raise ConfigError(
                f"experiment {self.dir.root}: {', '.join(damaged)}: its DONE record does not "
                f"match its files. Run `{self.fit_command()}` to repair the window(s), then this "
                "command again"
            )
        paths = []
        computed: dict[int, WindowEvaluation] = {}
        with disk_full_is_a_sentence(self.dir.root), self._locked(), self.flag:
            if self.rank_zero:
                self.dir.record_config(
                    self.config.raw, say=self.say, defaults=self.config.defaults
                )  # refuses result changes
            for window in done:
                path, scored = WindowJob(self, window, None, []).score(stage)
                paths.append(path)
                if scored is not None:
                    computed[window] = scored
            evaluation = self._evaluation(computed, stage) if self.rank_zero else None
            if evaluation is not None and stage == "validate":
                self._summarise(evaluation)
        return paths, evaluation


def quiet_lightning() -> None:
    """Keep Lightning's start-up chatter (GPU/TPU lines, tips) out of the user's terminal."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
    # A window shorter than log_every_n_steps still logs its epoch-level curves: not a problem.
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
    # The DataModule restores the position in the epoch itself (its state is in the checkpoint).
    warnings.filterwarnings("ignore", message=r".*your dataloader is not resumable.*")
