"""What one request to the scoring service may carry. Every limit refuses with a 4xx that
names the limit and the option that raises it, and the server goes on serving."""

from __future__ import annotations

from dataclasses import dataclass

from aigenbench.data.decode import DEFAULT_MAX_PIXELS

IMAGE_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/bmp",
    "image/tiff",
    "image/gif",
)
"""Content types accepted for an image (raw body or multipart part)."""


@dataclass(frozen=True)
class ServeLimits:
    max_files: int = 16
    """Images per request (``--max-files``)."""
    max_file_bytes: int = 20 * 1024 * 1024
    """Bytes per image (``--max-file-mb``)."""
    max_request_bytes: int = 64 * 1024 * 1024
    """Bytes per request body, all parts together (``--max-request-mb``)."""
    max_pixels: int = DEFAULT_MAX_PIXELS
    """Pixels per image, checked from the header before decoding: decompression bombs
    (``--max-pixels``)."""
    batch_size: int = 16
    """Images per forward pass."""

    def describe(self) -> dict[str, int]:
        return {
            "max_files": self.max_files,
            "max_file_bytes": self.max_file_bytes,
            "max_request_bytes": self.max_request_bytes,
            "max_pixels": self.max_pixels,
        }
