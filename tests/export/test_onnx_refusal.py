"""An operation ONNX cannot express: a clear refusal naming it, and no model.onnx left behind."""

from __future__ import annotations

import pytest
import torch

from aigenbench.errors import ConfigError
from aigenbench.export.folder import ONNX_FILE
from aigenbench.export.onnx_export import export_onnx
from aigenbench.export.writing import describe, find_source
from tests.conftest import optional_module

from .conftest import zoo_checkpoint


def test_an_operation_onnx_cannot_express_is_refused_by_name(tmp_path):
    optional_module("onnxruntime", "onnx")
    checkpoint = zoo_checkpoint(tmp_path, "cnndetection")
    model = describe(find_source(checkpoint))[0]
    # a frequency-domain preprocessing step (as spectral detectors use): no ONNX export of FFTs
    model.module.detector.preprocess = lambda x: torch.fft.fft2(x).abs()
    with pytest.raises(ConfigError, match=r"operation .*fft.* has no ONNX equivalent"):
        export_onnx(model, tmp_path / ONNX_FILE)
    assert not (tmp_path / ONNX_FILE).exists()
