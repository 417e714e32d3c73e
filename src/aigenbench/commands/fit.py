"""``aigenbench fit`` (train every window) and ``validate`` / ``test`` (re-score an experiment)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from aigenbench.errors import ConfigError

RESCORE_USAGE = """usage: aigenbench {command} RUN_DIR [--section.key value ...] [--print_config]

Score every finished window of the experiment in RUN_DIR with its final weights on the
{stage} stage: window_<k>/predictions_{stage}.npz and its metrics, then print the AUROC
table. RUN_DIR's config.yaml is used; --section.key value pairs override how it runs (e.g.
--trainer.devices 2 --data.eval_batch_size 64); `aigenbench fit --help` lists every key.
"""

PRINT_CONFIG = ("--print_config", "--print-config")


FIT_USAGE = """\
usage: aigenbench fit --config PROTOCOL --config MODEL [--dataset PATH] [--section.key VALUE ...]

Run the AI-GenBench protocol: every window of the timeline, resumable (rerun the same command
after anything and it continues where it stopped).

What you set (a later --config or flag overrides an earlier one):
  --config NAME|FILE     a shipped config or your YAML; repeatable. Shipped:
{shipped}
  --dataset PATH         = --data.source: the dataset (HF dataset on disk, image folders,
                         CSV/JSONL manifest)
  --backbone SPEC        = --model.backbone: timm:<name>, torchvision:<name>,
                         open_clip:<arch>/<tag>, hf:<repo>, small:cnn, clip_rn50, clip_vitl14,
                         dinov2_vitl14. Required: from a models/... or methods/... config, or here
  --model.method NAME    a published detector (univfd, cnndetection, npr, rine, effort) or an
                         import path (docs/METHODS.md); default: backbone + linear head
  --model.freezing MODE  probe (backbone frozen), tune, staged, lora
  --experiment-id NAME   = --experiment.id: results in <runs-dir>/<NAME>/ (default: derived
                         from the settings, so the same command finds the same experiment)
  --runs-dir DIR, --timeline CSV, --window K, --seed N      (= --experiment.runs_dir,
                         --protocol.timeline, --experiment.window, --experiment.seed)
  --print_config         print the resolved configuration (what config.yaml holds) and exit
  --help full            every setting below plus every lightning.Trainer argument
                         (--trainer.<name>)

Every setting, by section (--section.key VALUE on the command line, or in a --config YAML):
"""
HELP = ("-h", "--help")


def main(argv: list[str], command: str = "fit") -> int:
    if command != "fit" and (not argv or argv[0] in HELP):
        return _rescore_usage(argv, command)  # before torch is imported: help is instant
    if command == "fit" and any(arg in HELP for arg in argv):
        return _fit_help(full=_help_level(argv) == "full")
    from aigenbench.training.runner import quiet_lightning

    quiet_lightning()
    if command == "fit":
        return _fit(argv)
    return _rescore(argv, command)


def _help_level(argv: list[str]) -> str | None:
    """``--help full`` (or ``--help=full``) asks for every setting; plain ``--help`` for the
    ones users set."""
    for index, arg in enumerate(argv):
        if arg in HELP:
            return argv[index + 1] if index + 1 < len(argv) else None
        if arg.startswith("--help="):
            return arg.partition("=")[2]
    return None


def _fit_help(*, full: bool) -> int:
    from aigenbench.commands._config import build_parser
    from aigenbench.config import packaged_configs

    parser = build_parser(lightning_trainer=full)
    parser.usage = argparse.SUPPRESS
    shipped = textwrap.fill(
        ", ".join(packaged_configs()), width=95, initial_indent=" " * 25, subsequent_indent=" " * 25
    )
    parser.description = FIT_USAGE.format(shipped=shipped)
    for action in parser._actions:
        if action.dest == "model.backbone":
            # Required in the resolved config, not on the command line: a config can give it.
            action.required = False
            action.help = (action.help or "") + " Required: in a --config, or --backbone."
    text = parser.format_help()
    if not full:
        text += "\nLightning's own Trainer arguments: aigenbench fit --help full\n"
    sys.stdout.write(text.replace("usage: ==SUPPRESS==\n\n", ""))
    return 0


def _rescore_usage(argv: list[str], command: str) -> int:
    stage = "validate" if command == "validate" else "test"
    print(RESCORE_USAGE.format(command=command, stage=stage))
    if argv:
        return 0
    raise ConfigError(f"give the experiment directory first: aigenbench {command} RUN_DIR")


def _print_config_requested(argv: list[str]) -> tuple[list[str], bool]:
    """``--print_config`` prints the resolved, validated config (what config.yaml holds)."""
    kept = [arg for arg in argv if arg not in PRINT_CONFIG]
    return kept, len(kept) != len(argv)


def _fit(argv: list[str]) -> int:
    from aigenbench.commands._config import parse_config
    from aigenbench.config import dump_yaml
    from aigenbench.training.run_warnings import run_warnings
    from aigenbench.training.runner import ExperimentRunner

    argv, print_only = _print_config_requested(argv)
    config = parse_config(argv)
    if print_only:
        sys.stdout.write(dump_yaml(config.raw))
        return 0
    for warning in run_warnings(config.model):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    runner = ExperimentRunner(config)
    runner.fit()
    runner.say(
        f"\nnext: aigenbench evaluate {config.run_dir}    aigenbench report {config.run_dir}"
    )
    return 0


def _rescore(argv: list[str], command: str) -> int:
    from aigenbench.commands._run import experiment_config
    from aigenbench.config import dump_yaml
    from aigenbench.training.runner import ExperimentRunner

    stage = "validate" if command == "validate" else "test"
    if argv[0].startswith("-"):
        return _rescore_usage([], command)
    run_dir, overrides = Path(argv[0]), argv[1:]
    overrides, print_only = _print_config_requested(overrides)
    config = experiment_config(run_dir, overrides, f"aigenbench {command}")
    if print_only:
        sys.stdout.write(dump_yaml(config.raw))
        return 0
    runner = ExperimentRunner(config)
    paths, evaluation = runner.score(stage)
    if runner.rank_zero:
        for path in paths:
            print(path)
        if evaluation is not None:
            # The AUROC table of the freshly scored stage (what `aigenbench evaluate` shows).
            from aigenbench.commands.evaluate import print_tables

            print()
            print_tables(evaluation, str(run_dir), stage, None, False)
    return 0
