"""The parsers of every subcommand: jsonargparse, one flag style, readable errors.

Every command takes LightningCLI-style flags (``--data.eval_batch_size 64``, ``--per_window
4``), ``--config FILE`` for its settings and ``--print_config`` to show them resolved. A
dashed spelling (``--per-window``) is read as the underscored one. A usage error is a
:class:`ConfigError` (exit 2, no traceback) that names the key, what is wrong, the keys it
probably meant and, for a field with a choice of shapes, the field's own help.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentParser, DefaultHelpFormatter, Namespace
from jsonargparse.typing import (
    ClosedUnitInterval,
    NonNegativeInt,
    OpenUnitInterval,
    PositiveInt,
)

from aigenbench.errors import ConfigError
from aigenbench.shipped_configs import resolve_config_file
from aigenbench.suggest import close_keys

positive_int = PositiveInt
"""Type of a flag that takes a whole number >= 1."""
non_negative_int = NonNegativeInt
"""Type of a flag that takes a whole number >= 0."""
unit_interval = ClosedUnitInterval
"""Type of a flag that takes a number in [0, 1] (a threshold, a fraction)."""
open_unit_interval = OpenUnitInterval
"""Type of a flag that takes a number strictly between 0 and 1 (a confidence level)."""


class HelpFormatter(DefaultHelpFormatter):
    """jsonargparse's help, with a command's description printed as written: its tables of
    choices keep their line breaks."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "".join(indent + line for line in text.splitlines(keepends=True))

    def _get_type_str(self, action: Any) -> str | None:
        # A flag with choices gets a wrapper function as its type: the choices say it better.
        type_str = super()._get_type_str(action)
        return None if type_str is None or "<function" in type_str else type_str


def command_parser(command: str, description: str, *, settings: bool = True) -> ArgumentParser:
    """The parser of ``aigenbench <command>``; ``settings`` adds ``--config``/``--print_config``."""
    from jsonargparse import set_parsing_settings

    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    parser = ArgumentParser(
        prog=f"aigenbench {command}",
        description=description,
        exit_on_error=False,
        allow_abbrev=False,
        formatter_class=HelpFormatter,
    )
    if settings:
        parser.add_argument(
            "--config", action=ActionConfigFile, help="YAML file of these settings; repeatable"
        )
    return parser


def parse_command(
    parser: ArgumentParser, argv: Sequence[str], shorthands: Mapping[str, str] | None = None
) -> Namespace:
    """Parse ``argv``: shorthands and dashed flags rewritten, errors made readable.

    ``--help`` and ``--print_config`` exit (SystemExit 0) as usual.
    """
    args = normalize_flags(parser, argv, shorthands or {})
    try:
        return parser.parse_args(args)
    except SystemExit:
        raise
    except Exception as error:
        names = [name.lstrip("-") for name in shorthands or {}]
        raise ConfigError(usage_error_text(parser, error, names)) from None


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(own, overrides)``: the ``--section.key value`` pairs (experiment settings, for
    commands that reopen an experiment's config.yaml) apart from the command's own flags."""
    own: list[str] = []
    overrides: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        name, equals, _ = arg.partition("=")
        if name.startswith("--") and "." in name:
            overrides.append(arg)
            takes_value = not equals and index + 1 < len(argv)
            if takes_value and not argv[index + 1].startswith("--"):
                overrides.append(argv[index + 1])
                index += 1
        else:
            own.append(arg)
        index += 1
    return own, overrides


def option_names(parser: ArgumentParser) -> set[str]:
    """Every ``--flag`` the parser (and its subcommands) knows."""
    names = set(parser._option_string_actions)
    subcommands = getattr(parser, "_subcommands_action", None)
    for subparser in getattr(subcommands, "_name_parser_map", {}).values():
        names |= option_names(subparser)
    return names


def normalize_flags(
    parser: ArgumentParser, argv: Sequence[str], shorthands: Mapping[str, str]
) -> list[str]:
    """``--dataset X`` -> ``--data.source X`` (shorthands, also ``--flag=X``) and
    ``--per-window`` -> ``--per_window`` when only the underscored one exists."""
    known = option_names(parser)
    out: list[str] = []
    skip_next = False
    for index, arg in enumerate(argv):
        if skip_next:
            skip_next = False
            continue
        if not arg.startswith("--") or arg == "--":
            out.append(arg)
            continue
        name, equals, value = arg.partition("=")
        if name == "--config" and equals:  # a shipped config by name, as fit takes it
            value = resolve_config_file(value)
        elif name == "--config" and index + 1 < len(argv):
            out += [name, resolve_config_file(argv[index + 1])]
            skip_next = True
            continue
        if name in shorthands:
            name = shorthands[name]
        elif name not in known and "-" in name[2:]:
            underscored = "--" + name[2:].replace("-", "_")
            if underscored in known:
                name = underscored
        out.append(name + equals + value)
    return out


def known_keys(parser: ArgumentParser) -> list[str]:
    """Every settable key, including the nested ``init_args`` of the defaults (for hints)."""
    keys = [action.dest for action in parser._actions if action.dest not in ("help", "config")]
    try:
        defaults = parser.dump(parser.get_defaults(), format="json", skip_validation=True)
    except Exception:  # a parser whose defaults cannot be dumped still has its flags
        return keys
    import json

    keys += _leaf_keys(json.loads(defaults))
    # a section (``model``) is not a key to suggest, only what is inside it
    return [key for key in keys if not any(other.startswith(key + ".") for other in keys)]


def _leaf_keys(data: Any, prefix: str = "") -> list[str]:
    if not isinstance(data, dict) or not data:
        return [prefix] if prefix else []
    keys: list[str] = []
    for key, value in data.items():
        keys += _leaf_keys(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
    return keys


_UNKNOWN_KEY = re.compile(
    r"unrecognized arguments: --([\w.\-]+)"
    r"|Group '([\w.]+)' does not accept (?:nested key|option) '([\w.]+)'"
    r"|Key '([\w.]+)' is not expected"
    r"|No action for (?:key|destination key) \"?([\w.]+)"
    r"|Option '--?([\w.]+)'"
)
_BAD_VALUE = re.compile(r'Parser key "([\w.]+)":')
_RESTRICTED = re.compile(r"Not of type (\w+): (.*?) does not conform")
_RESTRICTIONS = {
    "PositiveInt": "a whole number >= 1",
    "NonNegativeInt": "a whole number >= 0",
    "ClosedUnitInterval": "a number from 0 to 1",
    "OpenUnitInterval": "a number strictly between 0 and 1",
}
_GIVEN = re.compile(r"Given value: (.*?)\s*$", re.S)
_EXPECTED = re.compile(r"Expected a (typing\.Literal\[(.*?)\]|<class '(\w+)'>)\. Got value: (.*)$")
_KINDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text"}
_REQUIRED = re.compile(r"the following arguments are required: ([\w., ]+)")


def usage_error_text(
    parser: ArgumentParser, error: BaseException, extra_names: Sequence[str] = ()
) -> str:
    """One readable sentence from a jsonargparse error: the key, the problem, the hint.

    ``extra_names``: other spellings the command accepts (shorthands), for "did you mean"."""
    text = str(error).strip().split("\nusage:")[0]
    flat = re.sub(r"\s+", " ", text)
    hint = ""
    unknown = _UNKNOWN_KEY.search(flat)
    bad_value = _BAD_VALUE.search(flat)
    restricted = _RESTRICTED.search(flat)
    expected = _EXPECTED.search(flat)
    required = _REQUIRED.search(flat)
    if bad_value and expected and "Union subtypes" not in flat:
        flat = _wrong_type(bad_value.group(1), expected)
    elif required:
        keys = [key.strip() for key in required.group(1).split(",")]
        flat = "; ".join(
            f"--{key} is not set: give it on the command line or in a --config file" for key in keys
        )
    elif bad_value and "Union subtypes" in flat:
        flat = _union_error(parser, bad_value.group(1), text)
    elif bad_value and restricted:
        flat = (
            f"--{bad_value.group(1)}: must be {_RESTRICTIONS.get(restricted.group(1), 'valid')}, "
            f"got {restricted.group(2)}"
        )
    elif unknown:
        groups = [g for g in unknown.groups() if g]
        key = ".".join(groups) if unknown.group(2) else groups[0]
        close = close_keys(key.lstrip("-"), [*known_keys(parser), *extra_names])
        hint = f". Did you mean: {', '.join(close)}?" if close else ""
    return f"{flat[:2000]}{hint} (see `{parser.prog} --help`)"


def _union_error(parser: ArgumentParser, key: str, text: str) -> str:
    """'Does not validate against any of the Union subtypes' -> the value and the field's help."""
    given = _GIVEN.search(text)
    value = given.group(1).strip() if given else "this value"
    action = next((a for a in parser._actions if a.dest == key), None)
    expected = re.sub(r"\s+", " ", (action.help or "") if action else "").strip()
    message = f"--{key}: {value} is not a valid value" + (
        f"; expected {expected}" if expected else ""
    )
    if re.search(r"[{,]\s*\w+:\S", value):
        message += " (YAML needs a space after each colon: {window: 2}, not {window:2})"
    return message


def _wrong_type(key: str, expected: re.Match[str]) -> str:
    """``--model.freezing: probes is not one of probe, tune, ...`` (with the close one)."""
    from aigenbench.suggest import did_you_mean

    value = expected.group(4).strip()
    if expected.group(2) is not None:
        choices = [choice.strip().strip("'\"") for choice in expected.group(2).split(",")]
        return f"--{key}: {value} is not one of {', '.join(choices)}." + did_you_mean(
            value, choices, cutoff=0.5
        )
    kind = _KINDS.get(expected.group(3), f"of type {expected.group(3)}")
    return f"--{key}: {value} is not {kind}; give {kind}"
