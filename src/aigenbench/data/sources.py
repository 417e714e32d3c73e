"""Where images come from: one interface over the official on-disk dataset, image folders and
manifests.

An :class:`ImageSource` has two splits, ``train`` and ``validation``. Per split it gives the raw
``generator`` column (every row, real = ``""``, without decoding any image), the labels, and the
encoded bytes of one row. A row is addressed by its **ID**: its index in the split before any
filtering (PROTOCOL.md §2). Sources open lazily and pickle small, so DataLoader workers reopen them
instead of copying data.

Layouts (``open_source`` detects them):

- ``hf``: a ``datasets.DatasetDict`` saved with ``save_to_disk`` (``dataset_dict.json`` at the
  root), columns ``image``, ``label``, ``generator`` (others ignored). The official format.
- ``folder``: ``ROOT/{train,validation}/{real,<generator>}/<image files>``; rows are the files
  sorted by relative path.
- ``manifest``: a ``.csv`` or ``.jsonl`` file with columns ``path`` (relative to the manifest's
  folder, or absolute), ``label`` (0 real, 1 fake), ``generator`` (empty for real), ``split``
  (``train`` or ``validation``); rows keep the file's order.

Each layout may have a ``timeline.csv`` (``generator,release_date``) at its root: ``timeline``.
"""

from __future__ import annotations

import csv
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from aigenbench.errors import DataError
from aigenbench.protocol import REAL_GENERATOR, Timeline

SPLITS: tuple[str, ...] = ("train", "validation")
TIMELINE_FILE = "timeline.csv"
REAL_FOLDER = "real"
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".jfif", ".ppm", ".pgm"}
)

LAYOUTS_HELP = (
    "expected one of: a saved datasets.DatasetDict directory (the official format, with "
    "dataset_dict.json); an image folder ROOT/{train,validation}/{real,<generator>}/*; a manifest "
    ".csv or .jsonl with columns path,label,generator,split"
)


class ImageSource(ABC):
    """Rows of images with labels and generator names, in two splits (see the module doc)."""

    kind: str = "?"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.stem if self.path.is_file() else self.path.name

    @abstractmethod
    def generators(self, split: str) -> list[str]:
        """The generator name of every row of ``split`` (real = ``""``), in row (ID) order."""

    @abstractmethod
    def labels(self, split: str) -> list[int]:
        """The label of every row of ``split`` (0 real, 1 fake), in row (ID) order."""

    @abstractmethod
    def read(self, split: str, row_id: int) -> bytes:
        """The encoded file bytes of row ``row_id`` (not decoded)."""

    @abstractmethod
    def describe(self, split: str, row_id: int) -> str:
        """Where the row lives, for messages: a file path or ``split[row]``."""

    def __len__(self) -> int:
        return sum(self.num_rows(split) for split in SPLITS)

    def num_rows(self, split: str) -> int:
        return len(self.generators(split))

    @property
    def timeline(self) -> Timeline | None:
        """The dataset's own ``timeline.csv`` (at its root), or None."""
        candidate = (self.path.parent if self.path.is_file() else self.path) / TIMELINE_FILE
        return Timeline.from_csv(candidate) if candidate.is_file() else None

    def check_split(self, split: str) -> None:
        if split not in SPLITS:
            raise DataError(
                f"unknown split {split!r}; a dataset has the splits {', '.join(SPLITS)}"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


# --------------------------------------------------------------------------- HF DatasetDict on disk


class HFDiskSource(ImageSource):
    """A ``datasets.DatasetDict`` saved to disk, read through its memory-mapped Arrow tables: the
    ``generator`` and ``label`` columns are read alone, image bytes one row at a time."""

    kind = "hf"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        if not (self.path / "dataset_dict.json").is_file():
            raise DataError(
                f"{self.path} is not a saved DatasetDict (no dataset_dict.json); {LAYOUTS_HELP}"
            )
        self._datasets: dict[str, Any] | None = None
        self._image_columns: dict[str, Any] = {}
        self._indices: dict[str, Any] = {}
        self._columns: dict[tuple[str, str], list[Any]] = {}
        self._check_columns()

    def __getstate__(self) -> dict[str, Any]:
        # Workers reopen the memory-mapped files; caches of columns are not shipped either.
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, state["path"])

    def _dataset(self, split: str) -> Any:
        if self._datasets is None:
            import datasets

            try:
                loaded = datasets.load_from_disk(str(self.path))
            except Exception as error:  # datasets raises several kinds for broken folders
                raise DataError(f"cannot load the dataset at {self.path}: {error}") from None
            if not isinstance(loaded, datasets.DatasetDict):
                raise DataError(
                    f"{self.path} holds a single Dataset, not a DatasetDict with splits "
                    f"{', '.join(SPLITS)}"
                )
            self._datasets = dict(loaded)
        self.check_split(split)
        if split not in self._datasets:
            raise DataError(
                f"the dataset at {self.path} has no {split!r} split (it has: "
                f"{', '.join(sorted(self._datasets)) or 'none'}); {LAYOUTS_HELP}"
            )
        return self._datasets[split]

    def _check_columns(self) -> None:
        import pyarrow as pa

        for split in SPLITS:
            dataset = self._dataset(split)
            names = set(dataset.column_names)
            missing = {"image", "label", "generator"} - names
            if missing:
                raise DataError(
                    f"the {split} split of {self.path} lacks the column(s) "
                    f"{', '.join(sorted(missing))} (it has {', '.join(sorted(names))}); the "
                    f"official format has image, label, generator"
                )
            generator_type = dataset.data.schema.field("generator").type
            if not (pa.types.is_string(generator_type) or pa.types.is_large_string(generator_type)):
                raise DataError(
                    f"the generator column of the {split} split of {self.path} has type "
                    f"{generator_type}, expected strings (generator names, '' for real images)"
                )

    def _column(self, split: str, name: str) -> list[Any]:
        key = (split, name)
        if key not in self._columns:
            dataset = self._dataset(split)
            values = dataset.data.column(name).to_pylist()
            indices = getattr(dataset, "_indices", None)
            if indices is not None:  # a selected/shuffled view that was not flattened
                values = [values[i] for i in indices.column(0).to_pylist()]
            self._columns[key] = values
        return self._columns[key]

    def generators(self, split: str) -> list[str]:
        return list(self._column(split, "generator"))

    def labels(self, split: str) -> list[int]:
        return [int(label) for label in self._column(split, "label")]

    def num_rows(self, split: str) -> int:
        return self._dataset(split).num_rows

    def read(self, split: str, row_id: int) -> bytes:
        if split not in self._image_columns:
            dataset = self._dataset(split)
            self._image_columns[split] = dataset.data.column("image")
            indices = getattr(dataset, "_indices", None)
            self._indices[split] = None if indices is None else indices.column(0)
        column = self._image_columns[split]
        if not 0 <= row_id < len(column):
            raise DataError(f"{split}[{row_id}] does not exist: the split has {len(column)} rows")
        indices = self._indices[split]
        row = row_id if indices is None else indices[row_id].as_py()
        cell = column[row]
        if not cell.is_valid:
            return b""
        value = cell.as_py()
        if isinstance(value, bytes):
            return value
        if isinstance(value, dict):
            if value.get("bytes") is not None:
                return value["bytes"]
            if value.get("path"):
                return _read_file(Path(value["path"]), self.path)
        return b""

    def describe(self, split: str, row_id: int) -> str:
        return f"{split}[{row_id}]"


def _read_file(path: Path, root: Path) -> bytes:
    """Bytes of an image file; a missing or unreadable file is an unreadable image (named, with
    the reason), not a crash."""
    from aigenbench.data.decode import UnreadableImage

    if not path.is_absolute():
        path = root / path
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableImage("the file does not exist", str(path)) from None
    except OSError as error:
        raise UnreadableImage(
            f"cannot read the file ({error.strerror or error})", str(path)
        ) from None


# ---------------------------------------------------------------------------------- file-based rows


class _FileRowsSource(ImageSource):
    """Rows that are files: subclasses fill ``_rows[split]`` with (path, label, generator)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._rows: dict[str, list[tuple[Path, int, str]]] = {}

    def _split_rows(self, split: str) -> list[tuple[Path, int, str]]:
        self.check_split(split)
        return self._rows[split]

    def generators(self, split: str) -> list[str]:
        return [generator for _, _, generator in self._split_rows(split)]

    def labels(self, split: str) -> list[int]:
        return [label for _, label, _ in self._split_rows(split)]

    def file(self, split: str, row_id: int) -> Path:
        rows = self._split_rows(split)
        if not 0 <= row_id < len(rows):
            raise DataError(f"{split}[{row_id}] does not exist: the split has {len(rows)} rows")
        return rows[row_id][0]

    def read(self, split: str, row_id: int) -> bytes:
        return _read_file(self.file(split, row_id), self.path)

    def describe(self, split: str, row_id: int) -> str:
        return str(self.file(split, row_id))


class FolderSource(_FileRowsSource):
    """``ROOT/{train,validation}/{real,<generator>}/*``: the folder name is the generator."""

    kind = "folder"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        if not self.path.is_dir():
            raise DataError(f"dataset folder {self.path} does not exist; {LAYOUTS_HELP}")
        for split in SPLITS:
            split_dir = self.path / split
            if not split_dir.is_dir():
                raise DataError(
                    f"image folder {self.path} has no {split}/ folder; expected "
                    f"{self.path}/{{train,validation}}/{{real,<generator>}}/<images>"
                )
            rows: list[tuple[Path, int, str]] = []
            for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
                generator = REAL_GENERATOR if class_dir.name == REAL_FOLDER else class_dir.name
                label = 0 if generator == REAL_GENERATOR else 1
                files = sorted(
                    p
                    for p in class_dir.rglob("*")
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                )
                rows.extend((file, label, generator) for file in files)
            if not rows:
                raise DataError(
                    f"{split_dir} holds no images; expected "
                    f"{split_dir}/{{real,<generator>}}/<images> "
                    f"(suffixes: {', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            self._rows[split] = rows


class ManifestSource(_FileRowsSource):
    """A ``.csv`` (with header) or ``.jsonl`` manifest: ``path,label,generator,split`` per row.

    A real row has label 0 and an empty generator (``real`` is accepted too); a fake row has
    label 1 and a generator name. Relative paths are relative to the manifest's folder.
    """

    kind = "manifest"
    COLUMNS = ("path", "label", "generator", "split")

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        if not self.path.is_file():
            raise DataError(f"manifest {self.path} does not exist; {LAYOUTS_HELP}")
        suffix = self.path.suffix.lower()
        if suffix not in (".csv", ".jsonl"):
            raise DataError(f"manifest {self.path}: expected a .csv or .jsonl file")
        try:
            records = self._read_csv() if suffix == ".csv" else self._read_jsonl()
        except UnicodeDecodeError as error:
            raise DataError(
                f"manifest {self.path} is not UTF-8 text (byte {error.object[error.start]:#04x} "
                f"at offset {error.start}); save it as UTF-8, e.g. "
                f"`iconv -f latin1 -t utf-8 {self.path} > fixed{suffix}`"
            ) from None
        rows: dict[str, list[tuple[Path, int, str]]] = {split: [] for split in SPLITS}
        base = self.path.parent
        for where, record in records:
            split, row = self._row(where, record, base)
            rows[split].append(row)
        for split in SPLITS:
            if not rows[split]:
                raise DataError(f"manifest {self.path} has no row of the {split!r} split")
        self._rows = rows

    def _read_csv(self) -> list[tuple[str, dict[str, Any]]]:
        with open(self.path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            missing = [column for column in self.COLUMNS if column not in header]
            if missing:
                raise DataError(
                    f"manifest {self.path}: missing column(s) {', '.join(missing)} in the header "
                    f"(found: {', '.join(header) or 'nothing'}); expected {','.join(self.COLUMNS)}"
                )
            return [
                (
                    f"{self.path}:{line}",
                    {k.strip(): (v or "").strip() for k, v in record.items() if k},
                )
                for line, record in enumerate(reader, start=2)
            ]

    def _read_jsonl(self) -> list[tuple[str, dict[str, Any]]]:
        records = []
        with open(self.path, encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{self.path}:{line_no}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(f"{where}: not valid JSON ({error.msg})") from None
                if not isinstance(record, dict):
                    raise DataError(
                        f"{where}: expected a JSON object with {', '.join(self.COLUMNS)}"
                    )
                records.append((where, record))
        return records

    def _row(
        self, where: str, record: dict[str, Any], base: Path
    ) -> tuple[str, tuple[Path, int, str]]:
        missing = [column for column in self.COLUMNS if column not in record]
        if missing:
            raise DataError(f"{where}: missing {', '.join(missing)}")
        split = str(record["split"]).strip()
        if split not in SPLITS:
            raise DataError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
        try:
            label = int(record["label"])
        except (TypeError, ValueError):
            raise DataError(f"{where}: label {record['label']!r} is not 0 or 1") from None
        generator = "" if record["generator"] is None else str(record["generator"]).strip()
        if label == 0 and generator.lower() == REAL_FOLDER:
            generator = REAL_GENERATOR
        if label not in (0, 1) or (label == 0) != (generator == REAL_GENERATOR):
            raise DataError(
                f"{where}: label {label} with generator {generator!r}; real images have label 0 "
                f"and an empty generator, fakes label 1 and a generator name"
            )
        path = Path(str(record["path"]))
        return split, ((path if path.is_absolute() else base / path), label, generator)


# -------------------------------------------------------------------------------------------- open


def detect_kind(path: Path) -> str:
    """The layout of ``path``: ``hf``, ``folder`` or ``manifest`` (DataError if none fits)."""
    if not path.exists():
        raise DataError(f"dataset path {path} does not exist; {LAYOUTS_HELP}")
    if path.is_file():
        if path.suffix.lower() in (".csv", ".jsonl"):
            return "manifest"
        raise DataError(f"{path} is a file but not a .csv/.jsonl manifest; {LAYOUTS_HELP}")
    if (path / "dataset_dict.json").is_file():
        return "hf"
    if all((path / split).is_dir() for split in SPLITS):
        return "folder"
    for name in ("manifest.csv", "manifest.jsonl"):
        if (path / name).is_file():
            return "manifest"
    if (path / "dataset_info.json").is_file() or (path / "state.json").is_file():
        raise DataError(
            f"{path} is a single saved Dataset, not a DatasetDict with splits "
            f"{', '.join(SPLITS)}; {LAYOUTS_HELP}"
        )
    raise DataError(f"cannot recognise the dataset layout of {path}; {LAYOUTS_HELP}")


def open_source(path_or_config: Any, kind: str = "auto") -> ImageSource:
    """Open a dataset: a path (``kind`` ``auto``/``hf``/``folder``/``manifest``) or a config with
    ``source`` and ``source_kind`` (a ``DataConfig``)."""
    if hasattr(path_or_config, "source") and not isinstance(path_or_config, (str, Path)):
        kind = getattr(path_or_config, "source_kind", kind)
        path_or_config = path_or_config.source
    if path_or_config is None or str(path_or_config) == "":
        raise DataError(f"no dataset path given (set data.source); {LAYOUTS_HELP}")
    path = Path(path_or_config).expanduser()
    if kind == "auto":
        kind = detect_kind(path)
    elif not path.exists():
        raise DataError(f"dataset path {path} does not exist; {LAYOUTS_HELP}")
    if kind == "hf":
        return HFDiskSource(path)
    if kind == "folder":
        return FolderSource(path)
    if kind == "manifest":
        if path.is_dir():
            candidates = [
                path / n for n in ("manifest.csv", "manifest.jsonl") if (path / n).is_file()
            ]
            if not candidates:
                raise DataError(f"{path} has no manifest.csv or manifest.jsonl; {LAYOUTS_HELP}")
            path = candidates[0]
        return ManifestSource(path)
    raise DataError(f"unknown dataset kind {kind!r}; use auto, hf, folder or manifest")
