"""What a window leaves for the next: ``strategy.json`` (row IDs, costs) and
``strategy.safetensors`` (tensors, when a plugin has some), both written atomically.

The tensors are written first and the JSON last, so a JSON on disk means a complete state.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from aigenbench.errors import DataError
from aigenbench.files import write_bytes_atomic, write_json_atomic

STATE_FILE = "strategy.json"
TENSORS_FILE = "strategy.safetensors"


def state_exists(window_dir: Path) -> bool:
    return (window_dir / STATE_FILE).is_file()


def save_state(window_dir: Path, data: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save

    tensors_path = window_dir / TENSORS_FILE
    if tensors:
        write_bytes_atomic(tensors_path, save(tensors))
    else:
        tensors_path.unlink(missing_ok=True)
    write_json_atomic(window_dir / STATE_FILE, {**data, "tensors": bool(tensors)})


def load_state(window_dir: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The state a finished window left; a DataError naming the file if it is missing or broken."""
    from safetensors.torch import load_file

    path = window_dir / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(
            f"{path}: the continual strategy's state of this window cannot be read ({error}); "
            f"delete {window_dir} to train that window again"
        ) from None
    tensors: dict[str, torch.Tensor] = {}
    if data.get("tensors"):
        try:
            tensors = load_file(str(window_dir / TENSORS_FILE))
        except Exception as error:  # safetensors raises its own error types
            raise DataError(
                f"{window_dir / TENSORS_FILE}: cannot be read ({error}); delete {window_dir} to "
                "train that window again"
            ) from None
    return data, tensors
