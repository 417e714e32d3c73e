"""``aigenbench verify``: recompute a bundle's numbers and check it follows the protocol."""

from __future__ import annotations

import json

from aigenbench.commands._args import command_parser, parse_command

DESCRIPTION = """\
Check a bundle made by `aigenbench bundle`: files unchanged (SHA-256), every number
recomputed from the predictions, a predictions file for every window, training rows equal
to the protocol's plan (rebuilt from the dataset's generator columns), the whole evaluation
set scored with its pairing, the mandatory degradations on. The plan needs the dataset: the
config's data.source, or --dataset PATH; without it those checks are skipped and say so.
Exit code 0 when nothing failed, 1 otherwise."""

MARKS = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}


def verify(bundle: str, dataset: str | None = None):
    """Verify ``bundle``.

    Args:
        bundle: the zip written by ``aigenbench bundle``.
        dataset: the dataset the run used, when it is not at the config's ``data.source``.
    """
    from aigenbench.evaluation.bundle import verify_bundle

    return verify_bundle(bundle, dataset)


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
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    args = parse_command(parser, argv)
    result = verify(args.bundle, args.dataset)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for check in result.checks:
            print(f"[{MARKS[check.status]}] {check.name}: {check.detail}")
        print("verified: the bundle follows the protocol" if result.ok else "NOT verified")
    return 0 if result.ok else 1
