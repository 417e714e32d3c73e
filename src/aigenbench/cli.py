"""The ``aigenbench`` command: one jsonargparse parser per subcommand, imported lazily.

Adding a command is one line in :data:`COMMANDS` and a module with ``main(argv, command) ->
int`` that builds its parser with :func:`aigenbench.commands._args.command_parser` and reads
it with :func:`~aigenbench.commands._args.parse_command` (see CONTRIBUTING.md). Modules are
imported only when their command runs, so ``aigenbench windows`` never imports torch.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aigenbench import __version__
from aigenbench.classpath import working_directory_on_path
from aigenbench.errors import AigenbenchError
from aigenbench.quiet import quiet_third_party
from aigenbench.suggest import did_you_mean

# name -> (module, one-line help). Each module has ``main(argv: list[str], command: str) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("aigenbench.commands.demo", "build the synthetic benchmark, run the whole protocol"),
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
    "export": ("aigenbench.commands.export", "a trained detector as a folder anyone can load"),
    "serve": ("aigenbench.commands.serve", "a trained detector as a local web service and page"),
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


EXPERIMENT_READERS = frozenset(
    {"validate", "test", "evaluate", "report", "robustness", "bundle", "export", "compare"}
)
"""Commands that read an experiment ``fit`` made: a ``--config`` defining one is not theirs."""

PREEMPTIBLE = frozenset({"demo", "fit", "validate", "test", "robustness", "predict"})
"""Commands that may run for hours on a cluster: the requeue signal (SIGUSR1) and SIGTERM are
handled from their first instant to their last (``aigenbench.training.preemption``)."""


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        f"aigenbench {__version__}: AI-generated image detection on the AI-GenBench protocol",
        "",
        "usage: aigenbench <command> [options]    (aigenbench <command> --help for its options)",
        "",
        "Every command takes --section.key value flags (underscores, as LightningCLI), --config",
        "FILE for its settings and --print_config to show them resolved.",
        "",
        "commands:",
    ]
    lines += [f"  {name.ljust(width)}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the console script: the user's modules live where it runs
        working_directory_on_path()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        print(__version__)
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        hint = did_you_mean(name, COMMANDS)
        print(f"aigenbench: unknown command {name!r}.{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    quiet_third_party()
    try:
        if name in EXPERIMENT_READERS:
            from aigenbench.commands._run import refuse_fit_config

            refuse_fit_config(rest, name)
        with _signals_handled(name):
            module = importlib.import_module(COMMANDS[name][0])
            return int(module.main(rest, command=name) or 0)
    except AigenbenchError as error:
        print(f"aigenbench {name}: error: {error}", file=sys.stderr)
        return error.exit_code
    except SystemExit as done:  # --help, --print_config
        return done.code if isinstance(done.code, int) else 0
    except KeyboardInterrupt:
        print(f"aigenbench {name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader left (`aigenbench windows --json | head`): nothing more to say to it.
        _silence_stdout()
        return 0
    except OSError as error:
        # A full disk in a write no command wrapped (a library's log file, say): one sentence.
        from aigenbench.files import DiskFull, disk_full, is_disk_full

        if not is_disk_full(error):
            raise
        folder = Path(error.filename).parent if error.filename else Path.cwd()
        print(f"aigenbench {name}: error: {disk_full(folder, 'a file', None)}", file=sys.stderr)
        return DiskFull.exit_code


def _signals_handled(name: str) -> contextlib.AbstractContextManager[object]:
    """For a long command, the signal handlers of its whole life (a no-op for the others)."""
    if name not in PREEMPTIBLE:
        return contextlib.nullcontext()
    from aigenbench.training.preemption import preemptible

    return preemptible()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
