"""A small exported detector to serve (random weights: seconds), images, and the app."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.export.conftest import zoo_checkpoint


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> Path:
    """An ``aigenbench export`` folder of a tiny CNNDetection (test_resnet, 32 px)."""
    from aigenbench.export.writing import export

    root = tmp_path_factory.mktemp("serve")
    checkpoint = zoo_checkpoint(root, "cnndetection")
    export(checkpoint, root / "detector")
    return root / "detector"


@pytest.fixture(scope="session")
def detector(exported):
    import aigenbench

    return aigenbench.load_detector(exported, device="cpu")


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> list[Path]:
    """Two images of different sizes and formats."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(3)
    first, second = folder / "first.png", folder / "second.jpg"
    Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(first)
    Image.fromarray((rng.random((64, 36, 3)) * 255).astype(np.uint8)).save(second, quality=90)
    return [first, second]


def png_bytes(height: int, width: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def bomb_png(side: int = 20000) -> bytes:
    """A PNG whose header says side x side pixels (400 Mpx) in a few hundred KB: it compresses
    to nothing, and the header is all a size check needs."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def client(detector):
    from fastapi.testclient import TestClient

    from aigenbench.serve.app import create_app
    from aigenbench.serve.limits import ServeLimits

    limits = ServeLimits(
        max_files=4, max_file_bytes=200_000, max_request_bytes=600_000, max_pixels=1_000_000
    )
    with TestClient(create_app(detector, limits)) as test_client:
        yield test_client
