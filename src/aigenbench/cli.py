"""The ``aigenbench`` command: dispatches to one module per subcommand (imported lazily)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from aigenbench import __version__
from aigenbench.errors import AigenbenchError

# name -> (module, one-line help). Each module has ``main(argv: list[str]) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "aigenbench.commands.demo",
        "build the synthetic benchmark and run the whole protocol",
    ),
    "fit": ("aigenbench.commands.fit", "train (and validate) every window of an experiment"),
    "validate": ("aigenbench.commands.fit", "re-score a finished experiment (validation stage)"),
    "test": ("aigenbench.commands.fit", "score a finished experiment (test stage)"),
    "evaluate": ("aigenbench.commands.evaluate", "metrics tables of an experiment's predictions"),
    "report": ("aigenbench.commands.report", "write report.html with plots of an experiment"),
    "compare": (
        "aigenbench.commands.compare",
        "leaderboard of runs on the same evaluation set, with intervals and paired tests",
    ),
    "bundle": ("aigenbench.commands.bundle", "pack a run into one checkable zip"),
    "verify": (
        "aigenbench.commands.verify",
        "recompute a bundle's numbers and check it follows the protocol",
    ),
    "predict": ("aigenbench.commands.predict", "score images and folders with a trained detector"),
    "robustness": (
        "aigenbench.commands.robustness",
        "a window's detector under JPEG / resize / blur / noise sweeps",
    ),
    "audit": (
        "aigenbench.commands.audit",
        "shortcut audit: can file formats and sizes alone tell fakes from reals?",
    ),
    "windows": ("aigenbench.commands.windows", "show the chronological windows"),
    "data": ("aigenbench.commands.data", "build the synthetic benchmark / audit a dataset"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        f"aigenbench {__version__}: AI-generated image detection on the AI-GenBench protocol",
        "",
        "usage: aigenbench <command> [options]    (aigenbench <command> --help for its options)",
        "",
        "commands:",
    ]
    lines += [f"  {name.ljust(width)}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        print(__version__)
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, COMMANDS, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        print(f"aigenbench: unknown command {name!r}.{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])
        return int(module.main(rest, command=name) or 0)
    except AigenbenchError as error:
        print(f"aigenbench {name}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"aigenbench {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
