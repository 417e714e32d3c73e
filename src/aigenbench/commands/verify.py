"""``aigenbench verify``: recompute a bundle's numbers and check it follows the protocol."""

from __future__ import annotations

import json

from aigenbench.commands._args import command_parser, parse_command

DESCRIPTION = """\
Check a bundle made by `aigenbench bundle`, read as untrusted input (size, file count and
compression ratio checked before anything is extracted; nothing imported or unpickled):
files unchanged (SHA-256), every number recomputed from the predictions, every key a metric
reads consistent, a predictions file of its own for every window, and, with the dataset (the
config's data.source, or --dataset PATH), every evaluation row's label, generator and paired
real taken from the dataset, training rows equal to the protocol's plan; the mandatory
degradations on. --rescore N scores N evaluation images per window again from the bundled
weights (`bundle --weights`) and compares them with the submitted scores.
Exit status: 0 verified (every check ran and passed), 1 failed (a check failed),
3 incomplete (nothing failed, but a check could not run, e.g. without the dataset: the
checks not run are listed), 2 the bundle or an argument cannot be used."""

MARKS = {"pass": "ok  ", "fail": "FAIL", "skip": "n/a "}


def verify(
    bundle: str,
    dataset: str | None = None,
    rescore: int = 0,
    seed: int | None = None,
    max_gib: float | None = None,
):
    """Verify ``bundle``.

    Args:
        bundle: the zip written by ``aigenbench bundle``.
        dataset: the dataset the run used, when it is not at the config's ``data.source``.
        rescore: images per window to score again from the bundled weights (0: none).
        seed: the draw of those images (None: a fresh one, shown so it can be repeated).
        max_gib: the largest uncompressed size accepted, in GiB.
    """
    from aigenbench.errors import ConfigError
    from aigenbench.evaluation.bundle import verify_bundle
    from aigenbench.evaluation.bundle_archive import GIB, ArchiveLimits

    if rescore < 0:
        raise ConfigError(f"--rescore {rescore}: give a number of images per window, 0 or more")
    if seed is not None and seed < 0:
        raise ConfigError(f"--seed {seed}: give a seed of 0 or more")
    if max_gib is not None and max_gib <= 0:
        raise ConfigError(f"--max-gib {max_gib}: give a positive size in GiB")
    limits = (
        ArchiveLimits() if max_gib is None else ArchiveLimits(max_total_bytes=int(max_gib * GIB))
    )
    if rescore:
        from aigenbench.training.runner import quiet_lightning

        quiet_lightning()
    return verify_bundle(bundle, dataset, rescore=rescore, seed=seed, limits=limits)


def main(argv: list[str], command: str = "verify") -> int:
    parser = command_parser(command, DESCRIPTION)
    parser.add_argument("bundle", metavar="BUNDLE", help="the zip to check")
    parser.add_argument(
        "--dataset",
        type=str | None,
        default=None,
        metavar="PATH",
        help="the run's dataset (default: config)",
    )
    parser.add_argument(
        "--rescore",
        type=int,
        default=0,
        metavar="N",
        help="score N evaluation images per window again from the bundled weights",
    )
    parser.add_argument(
        "--seed",
        type=int | None,
        default=None,
        help="seed of the --rescore draw (default: a fresh one, printed)",
    )
    parser.add_argument(
        "--max-gib",
        type=float | None,
        default=None,
        help="largest uncompressed bundle accepted, in GiB (default 64)",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    args = parse_command(parser, argv)
    result = verify(args.bundle, args.dataset, args.rescore, args.seed, args.max_gib)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for check in result.checks:
            print(f"[{MARKS[check.status]}] {check.name}: {check.detail}")
        if result.verdict == "verified":
            print("verified: the bundle follows the protocol")
        elif result.verdict == "failed":
            print("NOT verified: a check failed")
        else:
            print(
                f"incomplete: not verified, these checks could not run: {', '.join(result.not_run)}"
            )
    return result.exit_code
