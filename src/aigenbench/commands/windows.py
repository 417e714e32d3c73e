"""``aigenbench windows``: the chronological windows of a timeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aigenbench.commands._args import command_parser, parse_command, positive_int
from aigenbench.errors import ConfigError
from aigenbench.protocol import load_timeline, make_windows, windows_with_dates

FIT_SECTIONS = ("protocol", "model", "experiment", "strategy", "data", "trainer")


def protocol_from_fit_configs(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    """``argv`` without the ``--config`` files that are `fit` configs, and the protocol they set
    (``generators_per_window``, ``timeline``: the later file wins, as in fit). So ``aigenbench
    windows --config protocol/sliding_windows`` shows that protocol's windows instead of refusing
    its first key; a fit config that sets no protocol is named with the fix."""
    import yaml

    from aigenbench.shipped_configs import resolve_config_file

    kept: list[str] = []
    protocol: dict[str, Any] = {}
    index = 0
    while index < len(argv):
        name, equals, value = argv[index].partition("=")
        if name != "--config" or not (equals or index + 1 < len(argv)):
            kept.append(argv[index])
            index += 1
            continue
        given = value if equals else argv[index + 1]
        step = 1 if equals else 2
        try:
            data = yaml.safe_load(Path(resolve_config_file(given)).read_text(encoding="utf-8"))
        except (ConfigError, OSError, UnicodeDecodeError, yaml.YAMLError):
            data = None  # the parser below names a missing or unreadable file
        if not isinstance(data, dict) or not any(key in data for key in FIT_SECTIONS):
            kept.extend(argv[index : index + step])
        elif isinstance(data.get("protocol"), dict):
            protocol.update(data["protocol"])
        else:
            raise ConfigError(
                f"--config {given} is a `fit` config that sets no protocol; `aigenbench "
                "windows` shows a protocol's windows: give a protocol config (e.g. --config "
                "protocol/sliding_windows) or --per_window N [--timeline CSV]"
            )
        index += step
    return kept, protocol


def main(argv: list[str], command: str = "windows") -> int:
    parser = command_parser(command, "Show the chronological windows of generators.")
    parser.add_argument(
        "--timeline",
        type=str | None,
        default=None,
        metavar="CSV",
        help="generator,release_date CSV (default: built-in v1.0)",
    )
    parser.add_argument(
        "--per_window", type=positive_int, default=4, metavar="N", help="generators per window (4)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--export_timeline",
        type=str | None,
        default=None,
        metavar="CSV",
        help="also write the timeline as a CSV to edit",
    )
    argv, protocol = protocol_from_fit_configs(argv)
    defaults = {
        key: protocol[field]
        for key, field in (("per_window", "generators_per_window"), ("timeline", "timeline"))
        if protocol.get(field) is not None
    }
    if defaults:
        parser.set_defaults(**defaults)  # the command line still overrides the config
    args = parse_command(parser, argv)

    timeline = load_timeline(args.timeline)
    windows = windows_with_dates(make_windows(timeline, timeline, args.per_window), timeline)
    if args.export_timeline:
        timeline.to_csv(args.export_timeline)
    if args.json:
        print(json.dumps({"windows": windows}, indent=2))
        return 0
    print(f"timeline: {timeline.source}, {len(timeline)} generators, {len(windows)} windows")
    for index, window in enumerate(windows):
        first, last = window[0]["release_date"], window[-1]["release_date"]
        print(f"\nwindow {index}  ({first} .. {last})")
        for entry in window:
            print(f"  {entry['release_date']}  {entry['generator']}")
    if args.export_timeline:
        print(f"\ntimeline written to {args.export_timeline}")
    return 0
