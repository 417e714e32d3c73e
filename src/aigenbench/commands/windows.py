"""``aigenbench windows``: the chronological windows of a timeline."""

from __future__ import annotations

import json

from aigenbench.commands._args import command_parser, parse_command, positive_int
from aigenbench.protocol import load_timeline, make_windows, windows_with_dates


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
