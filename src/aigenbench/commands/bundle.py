"""``aigenbench bundle``: pack a run into one checkable zip (``aigenbench verify`` checks it)."""

from __future__ import annotations

from typing import Literal

from aigenbench.commands._args import command_parser, parse_command

DESCRIPTION = """\
Pack an experiment into one zip a leaderboard maintainer can check: every window's
predictions file and membership.json, the resolved config.yaml, summary.json and metrics,
environment.json (Python, platform, package versions) and manifest.json (SHA-256 of every
file, each window's files and the metrics). With --weights, each window's final weights too
(safetensors; tensors equal across windows, a frozen backbone, stored once), so that
`aigenbench verify BUNDLE --rescore N` can score images again from them.
`aigenbench verify BUNDLE` recomputes the numbers and checks the protocol."""


def bundle(run_dir: str, output: str, stage: str = "validate", weights: bool = False):
    """Pack ``run_dir`` into the zip ``output``.

    Args:
        run_dir: the experiment directory (runs/<id> or an official experiment folder).
        output: where to write the zip.
        stage: which predictions (validate or test).
        weights: add each window's final weights (from checkpoints/final.ckpt).
    """
    from aigenbench.evaluation.bundle import write_bundle

    return write_bundle(run_dir, output, stage, weights=weights)


def main(argv: list[str], command: str = "bundle") -> int:
    parser = command_parser(command, DESCRIPTION)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="experiment directory")
    parser.add_argument("-o", "--output", type=str, required=True, metavar="ZIP", help="the zip")
    parser.add_argument(
        "--stage", type=Literal["validate", "test"], default="validate", help="which predictions"
    )
    parser.add_argument(
        "--weights",
        action="store_true",
        help="add each window's final weights (for verify --rescore)",
    )
    args = parse_command(parser, argv)
    made = bundle(args.run_dir, args.output, args.stage, args.weights)
    extra = ", with weights" if made.weights else ""
    print(f"bundle: {made.path} ({made.n_windows} windows, {len(made.files)} files{extra})")
    rescore = " --rescore 16" if made.weights else ""
    print(f"check it with: aigenbench verify {made.path}{rescore}")
    return 0
