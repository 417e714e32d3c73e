"""Argument parsing shared by the subcommands: usage errors exit 2 with a message, no traceback."""

from __future__ import annotations

import argparse

from aigenbench.errors import ConfigError


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors become ``ConfigError`` (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def command_parser(command: str, description: str) -> CommandParser:
    return CommandParser(
        prog=f"aigenbench {command}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
