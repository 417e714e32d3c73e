"""Opening a bundle someone else made, as untrusted input.

A bundle is read without trusting it: the zip's directory is checked against limits (member
count, total uncompressed size, compression ratio, free disk space) **before** one byte is
extracted, each member is then extracted by hand with its size capped at what the directory
declared (no ``extractall``: no absolute paths, ``..``, links or duplicate names), and every
JSON or YAML file is parsed by a reader that names the member and the shape it expected. Nothing
from a bundle is imported or unpickled (predictions are read with ``allow_pickle=False``,
weights are safetensors).
"""

from __future__ import annotations

import json
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from aigenbench.errors import DataError

GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """What verify accepts before extracting anything."""

    max_total_bytes: int = 64 * GIB
    """Sum of the members' uncompressed sizes (a bundle with the final weights of nine windows
    of a fully tuned ViT-L/14 is about 11 GiB)."""
    max_members: int = 10_000
    """A bundle has about 5 files per window."""
    max_ratio: float = 100.0
    """Uncompressed / compressed size of one member larger than ``ratio_floor`` bytes: weights
    and scores compress less than 2x, ID lists about 5x; a zip bomb reaches ~1000x."""
    ratio_floor: int = MIB
    """Smaller members (JSON, the string arrays of a predictions file) may compress more: the
    member count and the total bound what they can add up to."""


def size_text(size: float) -> str:
    """``1.5 GiB``, ``12.3 MiB`` or ``850 bytes``."""
    if size >= GIB / 10:
        return f"{size / GIB:.3g} GiB"
    return f"{size / MIB:.3g} MiB" if size >= MIB / 10 else f"{size:.0f} bytes"


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name)
    return name.startswith(("/", "\\")) or ".." in path.parts or ":" in name or "\\" in name


def _is_link(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return stat.S_ISLNK(mode)


def check_directory(
    archive: zipfile.ZipFile, bundle: Path, limits: ArchiveLimits, scratch: Path
) -> list[zipfile.ZipInfo]:
    """The members to extract, after every limit is checked on the zip's directory alone."""
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise DataError(
            f"{bundle} holds {len(infos)} files, more than the {limits.max_members} a bundle "
            "may have; it was not made by `aigenbench bundle`"
        )
    files: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    total = 0
    for info in infos:
        if _unsafe(info.filename):
            raise DataError(f"{bundle}: unsafe path {info.filename!r} inside the zip")
        if _is_link(info):
            raise DataError(f"{bundle}: {info.filename!r} is a symbolic link; a bundle has none")
        if info.is_dir():
            continue
        if info.filename in seen:
            raise DataError(f"{bundle}: {info.filename!r} appears twice inside the zip")
        seen.add(info.filename)
        if info.file_size > limits.ratio_floor:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise DataError(
                    f"{bundle}: {info.filename} would expand {ratio:.0f}-fold "
                    f"({info.compress_size} -> {info.file_size} bytes), more than the "
                    f"{limits.max_ratio:g}-fold a bundle's files reach (a zip bomb?); "
                    "nothing was extracted"
                )
        total += info.file_size
        files.append(info)
    if total > limits.max_total_bytes:
        raise DataError(
            f"{bundle} would expand to {size_text(total)}, more than the "
            f"{size_text(limits.max_total_bytes)} verify accepts (--max-gib raises it); "
            "nothing was extracted"
        )
    free = shutil.disk_usage(scratch).free
    if total > free:
        raise DataError(
            f"{bundle} expands to {size_text(total)} but {scratch} has {size_text(free)} free; "
            "set TMPDIR to a folder with room"
        )
    return files


def extract(bundle: Path, into: Path, limits: ArchiveLimits | None = None) -> None:
    """Extract ``bundle`` into ``into`` after :func:`check_directory`; every member is capped at
    its declared size (one that inflates past it fails its CRC-32: refused)."""
    limits = limits or ArchiveLimits()
    try:
        with zipfile.ZipFile(bundle) as archive:
            for info in check_directory(archive, bundle, limits, into):
                target = into / info.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                # zipfile reads at most the declared size and checks the CRC-32: a member
                # that inflates past its entry is a BadZipFile, never a bigger file.
                with archive.open(info) as source, open(target, "xb") as sink:
                    shutil.copyfileobj(source, sink, MIB)
    except zipfile.BadZipFile as error:
        raise DataError(f"{bundle} is not a zip file (or is corrupt: {error})") from None
    except (NotImplementedError, RuntimeError) as error:  # encrypted or unknown compression
        raise DataError(f"{bundle} cannot be extracted ({error})") from None


def read_json(root: Path, name: str, expected: type = dict) -> Any:
    """The JSON member ``name``, which must be a ``expected`` (dict or list)."""
    try:
        value = json.loads((root / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{name} in the bundle is not valid JSON ({error})") from None
    if not isinstance(value, expected):
        kind = "an object {...}" if expected is dict else "a list [...]"
        raise DataError(
            f"{name} in the bundle is a JSON {type(value).__name__}, not {kind}; the bundle was "
            "edited or not made by `aigenbench bundle`"
        )
    return value


def read_yaml_mapping(root: Path, name: str) -> dict[str, Any]:
    """The YAML member ``name``, which must be a mapping (safe loader: no Python objects)."""
    import yaml

    try:
        loaded = yaml.safe_load((root / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise DataError(f"{name} in the bundle is not valid YAML ({error})") from None
    if not isinstance(loaded, dict):
        raise DataError(
            f"{name} in the bundle is a YAML {type(loaded).__name__}, not a mapping of config "
            "sections (protocol:, data:, model:, ...)"
        )
    return loaded


def section(config: dict[str, Any], name: str, file: str) -> dict[str, Any]:
    """``config[name]`` as a mapping ({} when absent)."""
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DataError(
            f"{file} in the bundle: '{name}:' is a {type(value).__name__}, not a mapping"
        )
    return value
