"""A request's body as named encoded images, within :class:`ServeLimits`, or an
:class:`UploadRefused` (HTTP status + one sentence that says why and what is allowed)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from aigenbench.serve.limits import IMAGE_TYPES, ServeLimits


class UploadRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def _image_type(media_type: str, name: str) -> None:
    if media_type not in IMAGE_TYPES:
        raise UploadRefused(
            415,
            f"{name}: content type {media_type or '(none)'!r} is not an image type; "
            f"send one of {', '.join(IMAGE_TYPES)}",
        )


async def _capped_body(request: Request, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it passes ``limit`` bytes: a client that
    sends no Content-Length (chunked) cannot make the server hold more."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadRefused(
            413,
            f"request body of {_mb(int(declared))} is over the {_mb(limit)} limit "
            "(--max-request-mb)",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UploadRefused(
                413, f"request body is over the {_mb(limit)} limit (--max-request-mb)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def read_uploads(request: Request, limits: ServeLimits) -> list[Upload]:
    """The images of a ``multipart/form-data`` body (every file part, any field name) or of a
    raw body whose Content-Type is an image type."""
    media_type = _media_type(request.headers.get("content-type"))
    body = await _capped_body(request, limits.max_request_bytes)
    if media_type == "multipart/form-data":
        uploads = await _multipart(request, body, limits)
    else:
        _image_type(media_type, "request body")
        uploads = [Upload("image", body)]
    if not uploads:
        raise UploadRefused(
            400,
            "no image in the request: send files as multipart/form-data "
            "or one image as the body with its image Content-Type",
        )
    for upload in uploads:
        if len(upload.data) > limits.max_file_bytes:
            raise UploadRefused(
                413,
                f"{upload.name}: {_mb(len(upload.data))} is over the "
                f"{_mb(limits.max_file_bytes)} per-image limit (--max-file-mb)",
            )
        if not upload.data:
            raise UploadRefused(400, f"{upload.name}: empty file (0 bytes)")
    return uploads


async def _multipart(request: Request, body: bytes, limits: ServeLimits) -> list[Upload]:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        request.headers,
        stream(),
        max_files=limits.max_files,
        max_fields=limits.max_files,
        max_part_size=limits.max_file_bytes,
    )
    try:
        form = await parser.parse()
    except MultiPartException as error:
        if "Too many files" in str(error.message):
            raise UploadRefused(400, _too_many(limits)) from None
        raise UploadRefused(400, f"malformed multipart body: {error.message}") from None
    uploads = []
    try:
        for index, (_, value) in enumerate(form.multi_items()):
            if not isinstance(value, UploadFile):
                continue  # a plain text field: not an image, nothing to score
            name = value.filename or f"file {index}"
            _image_type(_media_type(value.content_type), name)
            uploads.append(Upload(name, await value.read()))
    finally:
        await form.close()
    return uploads  # no more than max_files: the parser counted the file parts


def _too_many(limits: ServeLimits) -> str:
    return f"too many images in one request: at most {limits.max_files} (--max-files)"
