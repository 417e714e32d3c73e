"""Generators and their release dates: the built-in v1.0 timeline and user timelines from CSV."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aigenbench.errors import ProtocolError

REAL_GENERATOR = ""
"""The generator name of real images (label 0). It sorts first, so its generator id is 0."""

BUILTIN_NAME = "v1.0"

# AI-GenBench v1.0: the 36 generators of PROTOCOL.md §1, in release order.
_V1_RELEASES: tuple[tuple[str, str], ...] = (
    ("CycleGAN", "2017-03-30"),
    ("Cascaded Refinement Networks", "2017-07-28"),
    ("ProGAN", "2017-10-27"),
    ("StarGAN", "2017-11-24"),
    ("SN-PatchGAN", "2018-06-10"),
    ("BigGAN", "2018-09-28"),
    ("IMLE", "2018-11-29"),
    ("StyleGAN1", "2018-12-12"),
    ("GauGAN", "2019-03-18"),
    ("StyleGAN2", "2019-12-03"),
    ("DDPM", "2020-06-19"),
    ("CIPS", "2020-11-27"),
    ("VQGAN", "2020-12-17"),
    ("GANformer", "2021-03-01"),
    ("ADM", "2021-05-11"),
    ("StyleGAN3", "2021-06-23"),
    ("LaMa", "2021-09-15"),
    ("FaceSynthetics", "2021-09-30"),
    ("ProjectedGAN", "2021-11-01"),
    ("Palette", "2021-11-10"),
    ("VQ-Diffusion", "2021-11-29"),
    ("Denoising Diffusion GAN", "2021-12-16"),
    ("Glide", "2021-12-20"),
    ("Latent Diffusion", "2021-12-21"),
    ("Midjourney", "2022-02-01"),
    ("MAT", "2022-03-29"),
    ("Diffusion GAN (ProjectedGAN)", "2022-06-05"),
    ("Diffusion GAN (StyleGAN2)", "2022-06-06"),
    ("Stable Diffusion 1.4", "2022-08-22"),
    ("Stable Diffusion 1.5", "2022-10-20"),
    ("Stable Diffusion 2.1", "2022-12-07"),
    ("DeepFloyd IF", "2023-04-26"),
    ("Stable Diffusion XL 1.0", "2023-07-26"),
    ("DALL-E 3", "2023-09-20"),
    ("FLUX 1 Dev", "2024-08-01"),
    ("FLUX 1 Schnell", "2024-08-02"),
)

CSV_HEADER = ("generator", "release_date")


@dataclass(frozen=True)
class Timeline(Mapping[str, dt.date]):
    """Release date of every fake generator, in the order its source listed them.

    A read-only mapping ``name -> date``. ``source`` says where it came from (for messages).
    """

    release_dates: Mapping[str, dt.date]
    source: str = BUILTIN_NAME
    _position: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if REAL_GENERATOR in self.release_dates:
            raise ProtocolError(
                f"timeline {self.source}: the empty generator name is reserved for real images"
            )
        object.__setattr__(self, "release_dates", dict(self.release_dates))
        object.__setattr__(
            self, "_position", {name: i for i, name in enumerate(self.release_dates)}
        )

    def __getitem__(self, name: str) -> dt.date:
        return self.release_dates[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.release_dates)

    def __len__(self) -> int:
        return len(self.release_dates)

    def chronological(self, generators: Iterable[str]) -> list[str]:
        """``generators`` sorted by release date.

        Ties (same date) keep the timeline's own order. The official framework sorts a ``set``, so
        its order among same-date generators follows string hashing; window membership is the same
        either way because same-date generators always share a window.
        """
        names = list(generators)
        missing = [name for name in names if name not in self.release_dates]
        if missing:
            raise unknown_generators_error(missing, self)
        return sorted(names, key=lambda name: (self.release_dates[name], self._position[name]))

    def to_csv(self, path: str | Path) -> None:
        """Write ``generator,release_date`` rows (with header) that ``from_csv`` reads back."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER)
            for name, date in self.release_dates.items():
                writer.writerow((name, date.isoformat()))

    @classmethod
    def builtin(cls) -> Timeline:
        """The AI-GenBench v1.0 timeline (36 generators)."""
        return cls(
            {name: dt.date.fromisoformat(date) for name, date in _V1_RELEASES},
            source=f"built-in {BUILTIN_NAME}",
        )

    @classmethod
    def from_csv(cls, path: str | Path) -> Timeline:
        """Read a ``generator,release_date`` CSV (dates ``YYYY-MM-DD``; the header is optional).

        Errors name the file and line: a bad date, a duplicate generator, a missing column.
        """
        path = Path(path)
        if not path.is_file():
            raise ProtocolError(
                f"timeline file {path} does not exist; write a CSV with lines "
                f"'generator,release_date' (e.g. 'My GAN,2024-05-01')"
            )
        dates: dict[str, dt.date] = {}
        first_line: dict[str, int] = {}
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for line_no, row in enumerate(csv.reader(handle), start=1):
                cells = [cell.strip() for cell in row]
                if not cells or all(not cell for cell in cells) or cells[0].startswith("#"):
                    continue
                if line_no == 1 and tuple(cell.lower() for cell in cells) == CSV_HEADER:
                    continue
                where = f"{path}:{line_no}"
                if len(cells) != 2:
                    raise ProtocolError(
                        f"{where}: expected 2 columns 'generator,release_date', got {len(cells)}: "
                        f"{row!r} (quote names that contain commas)"
                    )
                name, date_text = cells
                if not name:
                    raise ProtocolError(
                        f"{where}: empty generator name (real images need no timeline entry)"
                    )
                try:
                    date = dt.date.fromisoformat(date_text)
                except ValueError:
                    if line_no == 1 and not any(ch.isdigit() for ch in date_text):
                        raise ProtocolError(
                            f"{where}: {','.join(cells)!r} looks like a header; the header must "
                            f"be exactly 'generator,release_date' (or leave it out)"
                        ) from None
                    raise ProtocolError(
                        f"{where}: bad release date {date_text!r} for {name!r}; use YYYY-MM-DD"
                    ) from None
                if name in dates:
                    raise ProtocolError(
                        f"{where}: duplicate generator {name!r} (first listed on line "
                        f"{first_line[name]}); keep one line per generator"
                    )
                dates[name] = date
                first_line[name] = line_no
        if not dates:
            raise ProtocolError(f"timeline file {path} lists no generator")
        return cls(dates, source=str(path))


def load_timeline(path: str | Path | None) -> Timeline:
    """The timeline at ``path``, or the built-in v1.0 one when ``path`` is None."""
    return Timeline.builtin() if path is None else Timeline.from_csv(path)


def unknown_generators_error(names: Iterable[str], timeline: Timeline) -> ProtocolError:
    """The error for generators that the data has and the timeline lacks, with the fix."""
    listed = sorted(set(names))
    shown = ", ".join(repr(name) for name in listed[:10])
    more = f" and {len(listed) - 10} more" if len(listed) > 10 else ""
    example = listed[0].replace('"', '""')
    if "," in example:
        example = f'"{example}"'
    return ProtocolError(
        f"generator(s) {shown}{more} are in the data but not in the timeline ({timeline.source}). "
        f"Give their release dates in a timeline CSV, one line each, e.g. '{example},YYYY-MM-DD' "
        f"(start from `aigenbench windows --export_timeline my.csv`), then pass it with "
        f"--timeline my.csv; or set protocol.unknown_generators=drop to leave their images out, "
        f"as the official framework does."
    )
