"""The predictions file of one window and stage: the official framework's ``.npz`` format.

What the official framework writes (``training_metrics/predictions_dump.py`` and the model's
``evaluation_step``), and therefore what this module writes and reads:

- every key is one array, concatenated over the evaluation batches (and then over ranks);
- ``crop_*`` keys have one row per crop; the crops of one image are consecutive;
  ``crop_to_image_index`` is the index of the crop's image **inside its batch** (it restarts
  at 0 with every batch), so it cannot identify an image on its own: ``crop_identifiers``
  (the image ID) does;
- ``fused_*`` keys and ``identifier`` have one row per image (``identifier`` is the fused
  identifiers again); ``pairing`` is aligned with ``identifier``: for a real image the
  generator id of the fake it is paired with, -1 for a fake (and for an unpaired real);
- ``generator_id_to_name`` is a string array (id 0 is real, ``""``); ``windows_timeline`` is
  ``np.array(list_of_windows)``, a 2-D string array, one row per window;
- with multiclass training, ``crop_multiclass_predictions`` / ``fused_multiclass_predictions``
  hold the raw logits, one column per generator id.

The official evaluation script ignores the ``fused_*`` keys: it re-fuses ``crop_scores`` (or
the multiclass logits) by the mean over each run of equal consecutive ``crop_identifiers``,
and uses ``generator id != 0`` as the binary truth. :func:`image_scores` does the same.

Windows of different lengths (user timelines) cannot be a 2-D string array, and the official
writer crashes on them (NumPy >= 1.24 refuses ragged arrays). This module pads a short row by
repeating its last generator name: the official reader turns each row into a ``set`` of ids,
so the repeat is harmless there, and :func:`load_predictions` drops it.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aigenbench.errors import ConfigError, DataError, ProtocolError
from aigenbench.files import write_atomic
from aigenbench.scoring import (
    all_per_image,
    binary_log_loss,
    crop_image_index,
    fake_scores,
    fuse_mean,
    image_runs,
)

OFFICIAL_STEP_FILE = re.compile(r"predictions_(?P<stage>\w+?)_epoch=\d+-step=(?P<step>\d+)\.npz$")
"""The per-step file name of the official framework (the highest step is the last)."""

REQUIRED_KEYS = (
    "crop_generator_ids",
    "crop_identifiers",
    "generator_id_to_name",
    "windows_timeline",
    "pairing",
)
STAGES = ("validate", "test")

PairingLookup = Mapping[int, int] | Callable[[np.ndarray], np.ndarray]
"""A real image ID -> paired generator id mapping, or a function from IDs to the pairing column."""


@dataclass
class Predictions:
    """The content of one predictions file (PROTOCOL.md §9), one attribute per official key."""

    crop_scores: np.ndarray
    """Fake probability per crop (float32), ``(N,)``; multiclass logits go in
    ``crop_multiclass_predictions``."""
    crop_labels: np.ndarray
    crop_generator_ids: np.ndarray
    crop_identifiers: np.ndarray
    crop_to_image_index: np.ndarray
    crop_losses: np.ndarray
    fused_scores: np.ndarray
    fused_labels: np.ndarray
    fused_generator_ids: np.ndarray
    fused_identifiers: np.ndarray
    fused_losses: np.ndarray
    identifier: np.ndarray
    """Image IDs in image order (the official key; equal to ``fused_identifiers``)."""
    generator_id_to_name: np.ndarray
    """String array: generator id -> name, id 0 is real (``""``)."""
    windows_timeline: list[list[str]]
    """Generator names per window (rows may differ in length)."""
    pairing: np.ndarray
    """Per image, aligned with ``identifier``: paired generator id of a real, -1 otherwise."""
    crop_multiclass_predictions: np.ndarray | None = None
    fused_multiclass_predictions: np.ndarray | None = None
    fused_valid: np.ndarray | None = None
    """Our extension: False for an image that could not be decoded (scored as a placeholder)."""
    degradations: np.ndarray | None = None
    """Our extension, per image aligned with ``identifier``: the mandatory degradations it got,
    as bits (``aigenbench.protocol.degradations``); absent when degradations were off."""

    @property
    def n_images(self) -> int:
        return len(self.identifier)

    @property
    def n_crops(self) -> int:
        return len(self.crop_identifiers)

    @property
    def generator_names(self) -> list[str]:
        return [str(name) for name in self.generator_id_to_name.tolist()]

    @property
    def is_multiclass(self) -> bool:
        return self.crop_multiclass_predictions is not None


# ----------------------------------------------------------------------------- fusion


def image_scores(predictions: Predictions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-image fake scores, generator ids and IDs, fused from the crops like the official code.

    Returns ``(scores, generator_ids, identifiers)`` in image order (aligned with ``pairing``).
    """
    starts, counts = image_runs(predictions.crop_identifiers)
    if predictions.crop_multiclass_predictions is not None:
        fused = fuse_mean(predictions.crop_multiclass_predictions, starts, counts)
        scores = fake_scores(fused)
    else:
        crop_scores = np.asarray(predictions.crop_scores)
        if crop_scores.ndim == 2 and crop_scores.shape[1] == 1:
            crop_scores = crop_scores[:, 0]
        if crop_scores.ndim != 1:
            # The official evaluation reads one probability per crop; anything else is not a score.
            raise DataError(
                f"crop_scores must be one fake probability per crop, shape (N,), got shape "
                f"{crop_scores.shape}; multiclass logits go in crop_multiclass_predictions"
            )
        scores = fuse_mean(crop_scores, starts, counts)
    generator_ids = np.asarray(predictions.crop_generator_ids)[starts]
    identifiers = np.asarray(predictions.crop_identifiers)[starts]
    return scores, generator_ids, identifiers


# ----------------------------------------------------------------------------- building


def _pairing_column(pairing: PairingLookup, identifiers: np.ndarray) -> np.ndarray:
    if callable(pairing):
        column = np.asarray(pairing(identifiers), dtype=np.int64)
    else:
        column = np.fromiter(
            (pairing.get(int(i), -1) for i in identifiers), dtype=np.int64, count=len(identifiers)
        )
    if column.shape != identifiers.shape:
        raise ProtocolError(
            f"the pairing lookup returned {column.shape[0] if column.ndim else 0} values for "
            f"{len(identifiers)} images; it must give one per image ID"
        )
    return column


def build_predictions(
    crop_scores: Sequence[float] | np.ndarray | None,
    crop_labels: Sequence[int] | np.ndarray,
    crop_generator_ids: Sequence[int] | np.ndarray,
    crop_identifiers: Sequence[int] | np.ndarray,
    *,
    generator_names: Sequence[str],
    windows: Sequence[Sequence[str]],
    pairing: PairingLookup,
    crop_to_image_index: Sequence[int] | np.ndarray | None = None,
    crop_losses: Sequence[float] | np.ndarray | None = None,
    crop_multiclass_predictions: np.ndarray | None = None,
    crop_valid: Sequence[bool] | np.ndarray | None = None,
    image_degradations: Callable[[np.ndarray], np.ndarray | None] | None = None,
    fusion: str = "mean",
) -> Predictions:
    """Assemble the predictions of one evaluation from its crop rows (in evaluation order).

    ``crop_scores`` are fake probabilities; with ``crop_multiclass_predictions`` (logits, one
    column per generator id) they may be None and are derived as 1 - softmax(real).
    ``crop_to_image_index`` should be the batches' ``crop_to_image`` concatenated (per batch,
    as the official file has it); without it, images are numbered 0.. over the whole file.
    ``crop_losses`` default to the binary cross-entropy of the scores. ``pairing`` maps a
    real image ID to its paired generator id (``EvaluationSet.pairing``) or is a function
    from IDs to the pairing column (``EvaluationSet.pairing_of``). ``image_degradations`` maps
    image IDs to their degradation codes (``EvalPipeline.degradation_codes``; None: not
    recorded).
    """
    if fusion != "mean":
        raise ConfigError(
            f"unknown crop fusion {fusion!r}: the protocol (and the official evaluation) fuse "
            "the crops of an image by their mean; use fusion='mean'"
        )
    identifiers = np.asarray(crop_identifiers, dtype=np.int64)
    labels = np.asarray(crop_labels, dtype=np.int64)
    generator_ids = np.asarray(crop_generator_ids, dtype=np.int64)
    n = len(identifiers)
    multiclass = None
    if crop_multiclass_predictions is not None:
        multiclass = np.asarray(crop_multiclass_predictions, dtype=np.float32)
        if multiclass.ndim != 2 or len(multiclass) != n:
            raise ProtocolError(
                f"crop_multiclass_predictions must be (n_crops, n_classes) with {n} rows, got "
                f"shape {multiclass.shape}"
            )
    if crop_scores is None:
        if multiclass is None:
            raise ProtocolError("give crop_scores, or crop_multiclass_predictions to derive them")
        scores = fake_scores(multiclass).astype(np.float32)
    else:
        scores = np.asarray(crop_scores, dtype=np.float32)
    for name, column in (("crop_labels", labels), ("crop_generator_ids", generator_ids)):
        if len(column) != n or len(scores) != n:
            raise ProtocolError(
                f"{name} has {len(column)} rows, crop_scores {len(scores)}, crop_identifiers "
                f"{n}: every crop column needs one row per crop"
            )

    starts, counts = image_runs(identifiers)
    image_ids = identifiers[starts]
    if len(np.unique(image_ids)) != len(image_ids):
        seen, repeated = set(), None
        for value in image_ids.tolist():
            if value in seen:
                repeated = value
                break
            seen.add(value)
        raise ProtocolError(
            f"image ID {repeated} appears in two places of the predictions: the crops of one "
            "image must be consecutive and every image scored once (drop the duplicates a "
            "distributed sampler pads with before building the predictions)"
        )

    if crop_to_image_index is None:
        to_image = crop_image_index(counts)
    else:
        to_image = np.asarray(crop_to_image_index, dtype=np.int64)
    losses = (
        binary_log_loss(scores, labels)
        if crop_losses is None
        else np.asarray(crop_losses, dtype=np.float32)
    )
    valid = None
    if crop_valid is not None:
        valid = all_per_image(crop_valid, starts)

    degradations = None
    if image_degradations is not None:
        codes = image_degradations(image_ids)
        if codes is not None:
            degradations = np.asarray(codes, dtype=np.int16)
            if degradations.shape != image_ids.shape:
                raise ProtocolError(
                    f"the degradation record has {len(degradations)} values for "
                    f"{len(image_ids)} images; it must give one per image ID"
                )

    return Predictions(
        crop_scores=scores,
        crop_labels=labels,
        crop_generator_ids=generator_ids,
        crop_identifiers=identifiers,
        crop_to_image_index=to_image,
        crop_losses=losses,
        fused_scores=fuse_mean(scores, starts, counts),
        fused_labels=labels[starts],
        fused_generator_ids=generator_ids[starts],
        fused_identifiers=image_ids,
        fused_losses=fuse_mean(losses, starts, counts),
        identifier=image_ids.copy(),
        generator_id_to_name=np.array([str(name) for name in generator_names]),
        windows_timeline=[[str(name) for name in window] for window in windows],
        pairing=_pairing_column(pairing, image_ids),
        crop_multiclass_predictions=multiclass,
        fused_multiclass_predictions=(
            None if multiclass is None else fuse_mean(multiclass, starts, counts)
        ),
        fused_valid=valid,
        degradations=degradations,
    )


# ----------------------------------------------------------------------------- files


def windows_timeline_array(windows: Sequence[Sequence[str]]) -> np.ndarray:
    """The ``windows_timeline`` array: 2-D strings; a short row repeats its last name."""
    if not windows:
        return np.zeros((0, 0), dtype=str)
    width = max(len(window) for window in windows)
    if any(len(window) == 0 for window in windows):
        raise ProtocolError("a window without generators cannot be written to a predictions file")
    rows = [list(window) + [window[-1]] * (width - len(window)) for window in windows]
    return np.array(rows, dtype=str)


def _windows_from_array(array: np.ndarray) -> list[list[str]]:
    rows = array.tolist()
    if array.ndim == 1 and array.dtype != object:
        rows = [[name] for name in rows]  # one generator per window, stored flat
    windows = []
    for row in rows:
        # dict.fromkeys: drop the padding repeats, keep the order
        windows.append([str(name) for name in dict.fromkeys(row)])
    return windows


def predictions_arrays(predictions: Predictions) -> dict[str, np.ndarray]:
    """The arrays of the file, by official key (plus our optional ``fused_valid`` and
    ``degradations``, which the official reader ignores)."""
    arrays = {
        "fused_scores": predictions.fused_scores,
        "fused_labels": predictions.fused_labels,
        "fused_generator_ids": predictions.fused_generator_ids,
        "fused_identifiers": predictions.fused_identifiers,
        "fused_losses": predictions.fused_losses,
        "crop_scores": predictions.crop_scores,
        "crop_labels": predictions.crop_labels,
        "crop_generator_ids": predictions.crop_generator_ids,
        "crop_identifiers": predictions.crop_identifiers,
        "crop_losses": predictions.crop_losses,
        "crop_to_image_index": predictions.crop_to_image_index,
        "identifier": predictions.identifier,
        "generator_id_to_name": np.asarray(predictions.generator_id_to_name, dtype=str),
        "windows_timeline": windows_timeline_array(predictions.windows_timeline),
        "pairing": predictions.pairing,
    }
    optional = {
        "fused_multiclass_predictions": predictions.fused_multiclass_predictions,
        "crop_multiclass_predictions": predictions.crop_multiclass_predictions,
        "fused_valid": predictions.fused_valid,
        "degradations": predictions.degradations,
    }
    arrays.update({key: value for key, value in optional.items() if value is not None})
    return {key: np.asarray(value) for key, value in arrays.items()}


def save_predictions(path: str | os.PathLike[str], predictions: Predictions) -> Path:
    """Write ``predictions`` to ``path`` atomically (a temporary file, then a rename).

    Uncompressed ``np.savez`` like the official writer; no pickled objects, so the official
    script (``np.load`` with ``allow_pickle=False``) reads it.
    """
    arrays: dict[str, Any] = predictions_arrays(predictions)
    return write_atomic(path, lambda handle: np.savez(handle, **arrays))


def _open_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.files)
            arrays: dict[str, np.ndarray] = {}
            for key in keys:
                try:
                    arrays[key] = data[key]
                except ValueError:
                    if key != "windows_timeline":
                        raise
            if "windows_timeline" in keys and "windows_timeline" not in arrays:
                # Written by NumPy < 1.24 from ragged windows: an object array, which only a
                # pickle can hold. Never unpickled as such (a pickle runs code): decoded by a
                # reader that accepts nothing but lists of strings.
                arrays["windows_timeline"] = read_ragged_windows(path)
            return arrays
    except FileNotFoundError:
        raise DataError(f"predictions file {path} does not exist") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
        raise DataError(
            f"predictions file {path} is corrupt or not a NumPy .npz ({error}); delete it and "
            "re-run the evaluation of that window"
        ) from None


_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
"""The only callables an object array of lists of strings needs to be rebuilt."""


class _WindowsUnpickler(pickle.Unpickler):
    """Refuses every global but the three that rebuild an empty NumPy object array."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}")
        return super().find_class(module, name)


def read_ragged_windows(path: Path) -> np.ndarray:
    """The official ragged ``windows_timeline`` (an object array of lists of generator names).

    Read without running code: the pickle may name only the NumPy constructors of an object
    array, and the result must be a 1-D array whose items are lists of strings. Anything else
    is a DataError.
    """

    def refuse(reason: str) -> DataError:
        return DataError(
            f"predictions file {path}: 'windows_timeline' is not a list of windows of generator "
            f"names ({reason}); it was not loaded. Rewrite the file with windows_timeline as a "
            "2-D string array (aigenbench writes it so)"
        )

    with zipfile.ZipFile(path) as archive, archive.open("windows_timeline.npy") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        if dtype != np.dtype(object) or len(shape) != 1:
            raise refuse(f"an array of {dtype} with shape {shape}")
        try:
            value = _WindowsUnpickler(io.BytesIO(handle.read())).load()
        except Exception as error:  # anything the restricted unpickler refuses
            raise refuse(str(error) or type(error).__name__) from None
    if not isinstance(value, np.ndarray) or value.dtype != object or value.shape != shape:
        raise refuse(f"it holds {type(value).__name__}")
    windows = np.empty(len(value), dtype=object)
    for index, window in enumerate(value.tolist()):
        if not isinstance(window, list | tuple) or not all(isinstance(n, str) for n in window):
            raise refuse(f"window {index} is {type(window).__name__}, not a list of strings")
        windows[index] = [str(name) for name in window]
    return windows


def load_predictions(path: str | os.PathLike[str]) -> Predictions:
    """Read a predictions file written by this project or by the official framework."""
    path = Path(path)
    arrays = _open_npz(path)
    if "prediction" in arrays and "generator" in arrays and "crop_identifiers" not in arrays:
        raise DataError(
            f"{path} is in the official framework's legacy format (keys 'prediction', "
            "'generator'); re-run its evaluation with a current version of either framework"
        )
    if "crop_scores" not in arrays and "crop_multiclass_predictions" not in arrays:
        raise DataError(f"predictions file {path} has neither 'crop_scores' nor multiclass logits")
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise DataError(
            f"predictions file {path} lacks the key(s) {', '.join(missing)}; it was not written "
            "by aigenbench or the official AI-GenBench framework"
        )

    _check_shapes(path, arrays)
    crop_ids = np.asarray(arrays["crop_identifiers"])
    starts, counts = image_runs(crop_ids)
    n_crops, n_images = len(crop_ids), len(starts)
    _check_unique_images(path, crop_ids[starts])
    multiclass = arrays.get("crop_multiclass_predictions")
    crop_scores = arrays.get("crop_scores")
    if crop_scores is None:
        assert multiclass is not None
        crop_scores = fake_scores(multiclass).astype(np.float32)
    generator_ids = np.asarray(arrays["crop_generator_ids"])
    crop_labels = arrays.get("crop_labels", (generator_ids != 0).astype(np.int64))
    for key, value in (("crop_scores", crop_scores), ("crop_generator_ids", generator_ids)):
        if len(value) != n_crops:
            raise DataError(
                f"predictions file {path}: {key} has {len(value)} rows but crop_identifiers "
                f"has {n_crops}; the file is inconsistent"
            )
    pairing = np.asarray(arrays["pairing"], dtype=np.int64)
    identifier = np.asarray(arrays.get("identifier", crop_ids[starts]))
    if len(pairing) != n_images or len(identifier) != n_images:
        raise DataError(
            f"predictions file {path}: {n_images} images (runs of crop_identifiers) but "
            f"{len(pairing)} pairing values and {len(identifier)} identifiers; pairing must "
            "have one value per image, aligned with 'identifier'"
        )
    if not np.array_equal(identifier, crop_ids[starts]):
        raise DataError(
            f"predictions file {path}: the 'identifier' key is not in the order of the images "
            "in crop_identifiers, so 'pairing' cannot be matched to the images"
        )

    names = np.asarray(arrays["generator_id_to_name"]).astype(str)
    _check_values(path, np.asarray(crop_scores), generator_ids, pairing, len(names))

    def fused_or(key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        value = arrays.get(key)
        return np.asarray(value) if value is not None and len(value) == n_images else compute()

    crop_losses = arrays.get("crop_losses", np.zeros(n_crops, dtype=np.float32))
    degradations = arrays.get("degradations")
    if degradations is not None and len(degradations) != n_images:
        raise DataError(
            f"predictions file {path}: {len(degradations)} degradation codes for {n_images} "
            "images; the 'degradations' key must have one value per image, aligned with "
            "'identifier'"
        )
    return Predictions(
        crop_scores=np.asarray(crop_scores),
        crop_labels=np.asarray(crop_labels),
        crop_generator_ids=generator_ids,
        crop_identifiers=crop_ids,
        crop_to_image_index=np.asarray(arrays.get("crop_to_image_index", crop_image_index(counts))),
        crop_losses=np.asarray(crop_losses),
        fused_scores=fused_or("fused_scores", lambda: fuse_mean(crop_scores, starts, counts)),
        fused_labels=fused_or("fused_labels", lambda: np.asarray(crop_labels)[starts]),
        fused_generator_ids=fused_or("fused_generator_ids", lambda: generator_ids[starts]),
        fused_identifiers=fused_or("fused_identifiers", lambda: crop_ids[starts]),
        fused_losses=fused_or("fused_losses", lambda: fuse_mean(crop_losses, starts, counts)),
        identifier=identifier,
        generator_id_to_name=names,
        windows_timeline=_windows_from_array(np.asarray(arrays["windows_timeline"])),
        pairing=pairing,
        crop_multiclass_predictions=None if multiclass is None else np.asarray(multiclass),
        fused_multiclass_predictions=arrays.get("fused_multiclass_predictions"),
        fused_valid=arrays.get("fused_valid"),
        degradations=degradations,
    )


INTEGER_KEYS = ("crop_identifiers", "crop_generator_ids", "crop_labels", "pairing", "identifier")
"""Keys that hold ids or labels: one integer per row."""


def _check_shapes(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Refuse arrays of a shape or type that no metric can read as the official keys say.

    A score is one fake probability per crop: ``crop_scores`` of shape (N, 3) would otherwise
    be turned into a score by a softmax the official evaluation never applies (it fails on it),
    and integers or strings would be compared as something else than probabilities.
    """
    for key in INTEGER_KEYS:
        value = arrays.get(key)
        if value is None:
            continue
        if value.ndim != 1 or not (np.issubdtype(value.dtype, np.integer) or len(value) == 0):
            raise DataError(
                f"predictions file {path}: {key} must be one integer per row (shape (N,)), got "
                f"{value.dtype} of shape {value.shape}; the file was not written by aigenbench "
                "or the official framework. Write it again from its run"
            )
    scores = arrays.get("crop_scores")
    if scores is not None:
        one_column = scores.ndim == 2 and scores.shape[1] == 1
        if not (scores.ndim == 1 or one_column) or not np.issubdtype(scores.dtype, np.floating):
            raise DataError(
                f"predictions file {path}: crop_scores must be one fake probability per crop "
                f"(floating point, shape (N,)), got {scores.dtype} of shape {scores.shape}; "
                "store multiclass logits under crop_multiclass_predictions (N, classes) instead"
            )
    logits = arrays.get("crop_multiclass_predictions")
    if logits is not None and (
        logits.ndim != 2 or logits.shape[1] < 2 or not np.issubdtype(logits.dtype, np.floating)
    ):
        raise DataError(
            f"predictions file {path}: crop_multiclass_predictions must be floating-point "
            f"logits of shape (N, classes) with at least 2 classes, got {logits.dtype} of shape "
            f"{logits.shape}"
        )


def _check_unique_images(path: Path, image_ids: np.ndarray) -> None:
    """Every image scored once, its crops consecutive: a repeated ID would count it twice."""
    unique, seen = np.unique(image_ids, return_counts=True)
    if len(unique) == len(image_ids):
        return
    repeated = unique[seen > 1]
    raise DataError(
        f"predictions file {path}: image ID(s) {', '.join(str(i) for i in repeated[:5].tolist())}"
        f"{' ...' if len(repeated) > 5 else ''} appear in {int(seen.max())} places "
        f"({len(repeated)} image(s) in all): every image must be scored once, its crops "
        "consecutive, or it counts twice in every metric. Write the file again from its run"
    )


def _check_values(
    path: Path, scores: np.ndarray, generator_ids: np.ndarray, pairing: np.ndarray, n_names: int
) -> None:
    """Refuse values no metric can be trusted on: unnamed generator ids, pairings to generators
    that do not exist, scores that are not probabilities."""

    def few(values: np.ndarray) -> str:
        unique = np.unique(values)
        return ", ".join(str(v) for v in unique[:5].tolist()) + (" ..." if len(unique) > 5 else "")

    unnamed = generator_ids[(generator_ids < 0) | (generator_ids >= n_names)]
    if len(unnamed):
        raise DataError(
            f"predictions file {path}: crop_generator_ids has id(s) {few(unnamed)} that "
            f"generator_id_to_name ({n_names} names, ids 0..{n_names - 1}) does not name; the "
            "file mixes two benchmarks or was edited. Write it again from its run"
        )
    unknown = pairing[(pairing != -1) & ((pairing < 1) | (pairing >= n_names))]
    if len(unknown):
        raise DataError(
            f"predictions file {path}: pairing refers to generator id(s) {few(unknown)}, which "
            f"are not generators of generator_id_to_name (ids 1..{n_names - 1}; -1 = unpaired)"
        )
    values = scores.astype(np.float64, copy=False)
    bad = ~np.isfinite(values) | (values < 0) | (values > 1)
    if bad.any():
        raise DataError(
            f"predictions file {path}: {int(bad.sum())} crop score(s) are not probabilities in "
            f"[0, 1] (e.g. {few(values[bad])}); scores must be the fake probability (a sigmoid "
            "or softmax output), not raw logits, NaN or infinity"
        )


def normalise_stage(stage: str) -> str:
    if stage == "validation":
        return "validate"
    if stage not in STAGES:
        raise ConfigError(f"unknown evaluation stage {stage!r}; use 'validate' or 'test'")
    return stage


def predictions_file_name(stage: str = "validate") -> str:
    """Our file name for a stage: ``predictions_<stage>.npz``."""
    return f"predictions_{normalise_stage(stage)}.npz"


def find_predictions(window_dir: str | os.PathLike[str], stage: str = "validate") -> Path | None:
    """The predictions file of a window directory, or None when it has none.

    Looks for ours (``predictions_<stage>.npz``), then the official framework's latest copy
    (``predictions_<stage>_all.npz``), then its per-step files
    (``predictions_<stage>_epoch=E-step=N.npz``, highest N), as its evaluation script does.
    """
    stage = normalise_stage(stage)
    window_dir = Path(window_dir)
    for name in (predictions_file_name(stage), f"predictions_{stage}_all.npz"):
        candidate = window_dir / name
        if candidate.is_file():
            return candidate
    best: tuple[int, Path] | None = None
    if window_dir.is_dir():
        for candidate in window_dir.glob(f"predictions_{stage}_epoch=*.npz"):
            match = OFFICIAL_STEP_FILE.match(candidate.name)
            if match and match["stage"] == stage:
                step = int(match["step"])
                if best is None or step > best[0]:
                    best = (step, candidate)
    return None if best is None else best[1]
