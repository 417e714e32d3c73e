"""``aigenbench export --onnx``: the network as an ONNX graph, its scores checked against PyTorch.

The graph maps normalised crops (``float32 [N, 3, S, S]``, the transform of ``config.json``
applied: decode, crop-if-large, crop to the input size, ``(x - mean) / std`` on 0..255) to the
logits; the score (sigmoid, or 1 - softmax of the real class) and the crop fusion stay outside,
as ``config.json`` spells them out. Exported with PyTorch's TorchScript-based exporter (opset
:data:`DEFAULT_OPSET`), then run by onnxruntime on seeded random crops: a score farther than
:data:`TOLERANCE` from PyTorch's is a refusal, and so is an operation ONNX cannot express.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aigenbench.errors import ConfigError
from aigenbench.export.folder import ExportedModel
from aigenbench.files import write_bytes_atomic
from aigenbench.scoring import fake_scores

DEFAULT_OPSET = 17
TOLERANCE = 1e-4
"""Largest allowed |onnxruntime score - PyTorch score| (float32 arithmetic in another order)."""
CHECK_CROPS = 8
CHECK_SEED = 0
OPERATOR = re.compile(r"(?:operator|Operator)\s+'?([\w:.]+)'?")


class _Logits(torch.nn.Module):
    """The detector on normalised crops -> logits (no normalisation, no score, no fusion)."""

    def __init__(self, detector: torch.nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.detector(x)


def _require() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(
            "--onnx needs the onnx and onnxruntime packages: pip install 'aigenbench[onnx]'"
        ) from None
    return onnx, onnxruntime


def check_crops(model: ExportedModel) -> torch.Tensor:
    """Seeded random uint8 crops at the input size, normalised as the transform says."""
    size = int(model.config["transform"]["input_size"])
    generator = torch.Generator().manual_seed(CHECK_SEED)
    crops = torch.randint(
        0, 256, (CHECK_CROPS, 3, size, size), dtype=torch.uint8, generator=generator
    )
    detector = model.module.detector
    return detector.normalize(crops.to(detector.mean.device)).cpu()


def _refusal(error: Exception) -> ConfigError:
    text = str(error)
    match = OPERATOR.search(text)
    operation = match[1] if match else text.splitlines()[0][:200] if text else type(error).__name__
    return ConfigError(
        f"this detector cannot be exported to ONNX: the operation {operation} has no ONNX "
        f"equivalent at this opset ({type(error).__name__}); export without --onnx (the "
        "safetensors folder loads anywhere with aigenbench), or try a higher --opset"
    )


def _export(network: torch.nn.Module, crops: torch.Tensor, opset: int, dynamic: bool) -> bytes:
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # tracing notes (shape checks frozen as constants): the parity check is the test
            warnings.simplefilter("ignore")
            torch.onnx.export(
                network,
                (crops,),
                buffer,  # type: ignore[arg-type]  # a file object is accepted (TorchScript exporter)
                dynamo=False,
                opset_version=opset,
                input_names=["crops"],
                output_names=["logits"],
                dynamic_axes={"crops": {0: "crops"}, "logits": {0: "crops"}} if dynamic else None,
            )
    except Exception as error:  # the exporter's own errors name the unsupported operation
        raise _refusal(error) from None
    return buffer.getvalue()


def _largest_difference(
    data: bytes, network: torch.nn.Module, batches: list[torch.Tensor], onnxruntime: Any
) -> float:
    """max |score difference| over ``batches`` (inf when onnxruntime cannot run one)."""
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    largest = 0.0
    for batch in batches:
        try:
            got = session.run(["logits"], {"crops": batch.numpy()})[0]
        except Exception:  # e.g. a reshape that froze the traced batch size
            return float("inf")
        with torch.no_grad():
            reference = network(batch).float().numpy()
        largest = max(largest, float(np.max(np.abs(fake_scores(got) - fake_scores(reference)))))
    return largest


def export_onnx(model: ExportedModel, path: Path, opset: int | None = None) -> dict[str, Any]:
    """Write ``path`` (an ONNX graph of ``model``'s network) after checking onnxruntime's scores
    against PyTorch's; return the ``onnx`` section of config.json.

    The graph takes any number of crops when it can; a network whose traced graph froze the
    batch size (a reshape by the batch length) is exported for one crop at a time (``batch``: 1).
    """
    onnx, onnxruntime = _require()
    opset = DEFAULT_OPSET if opset is None else int(opset)
    network = _Logits(model.module.detector).eval().cpu()
    crops = check_crops(model)
    batch: int | str = "any"
    data = _export(network, crops, opset, dynamic=True)
    onnx.checker.check_model(onnx.load_from_string(data))
    difference = _largest_difference(data, network, [crops, crops[:1], crops[:3]], onnxruntime)
    if not difference <= TOLERANCE:
        batch = 1
        data = _export(network, crops[:1], opset, dynamic=False)
        singles = [crops[i : i + 1] for i in range(len(crops))]
        difference = _largest_difference(data, network, singles, onnxruntime)
    if not difference <= TOLERANCE:
        raise ConfigError(
            f"the ONNX graph's scores differ from PyTorch's by up to {difference:.2e} (tolerance "
            f"{TOLERANCE:.0e}) on {CHECK_CROPS} random crops: an operation is exported "
            "inexactly or cannot run in onnxruntime; export without --onnx, or try another --opset"
        )
    masked = None
    if model.model_config.task == "multiclass" and model.config.get("known_generator_ids"):
        masked = "classes not in known_generator_ids get no softmax mass (logit -inf)"
    write_bytes_atomic(path, data)
    return {
        "file": path.name,
        "opset": opset,
        "input": "crops: float32 [N, 3, S, S], the transform applied (normalised)",
        "output": "logits: float32 [N, outputs]; score and fusion as in transform",
        "batch": batch,
        "class_mask": masked,
        "tolerance": TOLERANCE,
        "max_score_difference": difference,
        "checked_on": f"{CHECK_CROPS} seeded random crops",
        "onnxruntime_version": onnxruntime.__version__,
        "torch_version": torch.__version__,
    }
