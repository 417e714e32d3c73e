"""How fast the shortcut audit reads file traits, and what the classifier costs at full size.

1. Encodes ``--images`` photo crops (1024 x 768, half JPEG at random qualities, half PNG), then
   times the traits read from their headers (``file_traits``) against a full decode of the
   same bytes (what reading pixels would cost).
2. Times the traits-only classifier of one window at the benchmark's size: 288,000 training
   rows and 72,000 evaluation rows of random traits (gradient boosting and logistic).

    .venv/bin/python benchmarks/audit_speed.py [--images 200]
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image

from aigenbench.data.decode import decode_image
from aigenbench.data.file_traits import TRAIT_NAMES, file_traits
from aigenbench.evaluation.shortcut import make_classifier


def encoded_photos(count: int, seed: int = 0) -> list[bytes]:
    from skimage.data import astronaut, chelsea, coffee

    photos = [np.asarray(p()) for p in (astronaut, chelsea, coffee)]
    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        photo = Image.fromarray(photos[index % 3]).resize((1024, 768))
        stream = io.BytesIO()
        if index % 2:
            photo.save(stream, format="PNG", compress_level=1)
        else:
            photo.save(stream, format="JPEG", quality=int(rng.integers(60, 98)))
        out.append(stream.getvalue())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()

    files = encoded_photos(args.images)
    started = time.perf_counter()
    for data in files:
        file_traits(data)
    traits_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for data in files:
        decode_image(data)
    decode_seconds = time.perf_counter() - started
    print(
        f"traits from headers: {len(files) / traits_seconds:,.0f} images/s; full decode: "
        f"{len(files) / decode_seconds:,.0f} images/s ({decode_seconds / traits_seconds:.0f}x)"
    )

    rng = np.random.default_rng(0)
    x_train = rng.random((288_000, len(TRAIT_NAMES)))
    y_train = rng.integers(0, 2, 288_000)
    x_eval = rng.random((72_000, len(TRAIT_NAMES)))
    for kind in ("boosting", "logistic"):
        started = time.perf_counter()
        make_classifier(kind).fit(x_train, y_train).predict_proba(x_eval)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        print(f"{kind}: one window (288,000 + 72,000 rows) in {seconds:.1f} s")


if __name__ == "__main__":
    main()
