"""The scoring service: ``POST /score``, ``GET /`` (the page), ``GET /health`` and FastAPI's
OpenAPI docs (``/docs``, ``/openapi.json``). Handlers are a thin layer over
:meth:`aigenbench.LoadedDetector.classify`, the scoring ``aigenbench predict`` uses."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from aigenbench import __version__
from aigenbench.serve.batching import Batcher
from aigenbench.serve.limits import IMAGE_TYPES, ServeLimits
from aigenbench.serve.uploads import Upload, UploadRefused, read_uploads


class ImageScore(BaseModel):
    name: str = Field(description="the file name of the upload (``image`` for a raw body)")
    probability: float = Field(description="P(fake), as `aigenbench predict` scores it")
    label: Literal["fake", "real"] = Field(description="fake when probability > threshold")
    threshold: float
    generator: str | None = Field(
        None, description="multiclass detectors: the likeliest generator; else null"
    )


class ScoreResponse(BaseModel):
    detector_id: str
    threshold: float
    results: list[ImageScore] = Field(description="one per image, in the order sent")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    detector_id: str
    device: str
    version: str


class Problem(BaseModel):
    detail: str = Field(description="what was refused and why, in one sentence")


REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description}
    for status, description in (
        (400, "no image, a malformed body or too many files"),
        (413, "a body, an image or its pixel count over the server's limits"),
        (415, "a content type that is not an image"),
        (422, "an image that cannot be decoded"),
    )
}

SCORE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                }
            },
            **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in IMAGE_TYPES},
        },
    }
}


def _decode(upload: Upload, max_pixels: int) -> np.ndarray:
    """The upload's pixels, decoded as ``predict`` decodes files (the same pixel limit)."""
    from aigenbench.data.decode import UnreadableImage
    from aigenbench.export.detector_api import to_rgb_array

    try:
        return to_rgb_array(upload.data, max_pixels)
    except UnreadableImage as error:
        if "decompression bomb" in error.reason:
            size = re.search(r"image too large \(([^;]+);", error.reason)
            raise UploadRefused(
                413,
                f"{upload.name}: image too large ({size.group(1) if size else 'over the limit'}"
                f"; at most {max_pixels:,} pixels): possible decompression bomb (--max-pixels)",
            ) from None
        raise UploadRefused(422, f"{upload.name}: not a readable image: {error.reason}") from None


def score_uploads(batcher: Batcher, uploads: list[Upload], max_pixels: int) -> Future[list[Any]]:
    """Decode every upload (all refused if one is unreadable), then queue them for
    ``detector.classify`` with the images of the requests waiting beside them."""
    return batcher.submit([_decode(upload, max_pixels) for upload in uploads])


def create_app(
    detector: Any, limits: ServeLimits | None = None, threshold: float | None = None
) -> FastAPI:
    """The service of ``detector`` (a :class:`~aigenbench.LoadedDetector`); ``threshold``:
    the label's cut (default: the detector's own)."""
    limits = limits or ServeLimits()
    cut = float(detector.threshold if threshold is None else threshold)
    batcher = Batcher(detector, cut, limits.batch_size)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close()

    app = FastAPI(
        lifespan=lifespan,
        title="aigenbench detector",
        version=__version__,
        description=f"Scores images with detector {detector.detector_id}: P(fake), the label "
        f"at threshold {cut:g} and, for multiclass detectors, the likeliest generator.",
    )

    @app.post(
        "/score",
        response_model=ScoreResponse,
        responses=REFUSALS,
        openapi_extra=SCORE_BODY,
        summary="Score one or many images",
    )
    async def score(request: Request) -> ScoreResponse:
        """Images as ``multipart/form-data`` file parts (any field name, up to ``max_files``),
        or one image as the raw body with its image Content-Type."""
        try:
            uploads = await read_uploads(request, limits)
            scored = await run_in_threadpool(score_uploads, batcher, uploads, limits.max_pixels)
        except UploadRefused as refused:
            raise HTTPException(refused.status, refused.detail) from None
        verdicts = await asyncio.wrap_future(scored)
        results = [
            ImageScore(
                name=upload.name,
                probability=verdict.probability,
                label=verdict.label,
                threshold=verdict.threshold,
                generator=verdict.generator,
            )
            for upload, verdict in zip(uploads, verdicts, strict=True)
        ]
        return ScoreResponse(detector_id=detector.detector_id, threshold=cut, results=results)

    @app.get("/health", response_model=Health, summary="Liveness and the detector served")
    def health() -> Health:
        return Health(
            detector_id=detector.detector_id, device=str(detector.device), version=__version__
        )

    @app.get("/", response_class=HTMLResponse, summary="The page to drop images on")
    def page() -> HTMLResponse:
        from aigenbench.templating import render

        return HTMLResponse(
            render(
                "serve/page.html.j2",
                detector_id=detector.detector_id,
                headline=detector.card_headline,
                threshold=cut,
                limits=limits,
                image_types=IMAGE_TYPES,
            )
        )

    return app


__all__ = ["Health", "ImageScore", "ScoreResponse", "ServeLimits", "create_app", "score_uploads"]
