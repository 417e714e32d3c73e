"""``aigenbench serve``: a trained detector as a local web service with a page to drop images on."""

from __future__ import annotations

from aigenbench.commands._args import command_parser, parse_command, positive_int
from aigenbench.errors import ConfigError

DESCRIPTION = """\
Serve a trained detector over HTTP (FastAPI + uvicorn): POST /score takes one or many images
(multipart/form-data files, or one image as the raw body with its image Content-Type) and
answers JSON with each image's P(fake), its label at the threshold, the likeliest generator of
a multiclass detector and the detector's id; GET / is a page to drop images on; GET /health;
GET /docs the OpenAPI documentation. Scores equal `aigenbench predict`'s. Listens on
127.0.0.1 (this machine only) unless --host says otherwise. Needs the serve extra:
pip install 'aigenbench[serve]'."""

MB = 1024 * 1024


def resolve_threshold(value: str | None, detector: object) -> float | None:
    """A number, or the name of one of the detector's thresholds (``best_f1``, ``fpr_1``...)."""
    if value is None:
        return None
    thresholds: dict[str, float] = getattr(detector, "thresholds", {})
    if value in thresholds:
        return float(thresholds[value])
    try:
        number = float(value)
    except ValueError:
        from aigenbench.suggest import did_you_mean

        raise ConfigError(
            f"--threshold {value!r} is neither a number nor one of this detector's thresholds "
            f"({', '.join(sorted(thresholds)) or 'none'}){did_you_mean(value, thresholds)}"
        ) from None
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"--threshold {value} is not a probability: give a number in [0, 1]")
    return number


def main(argv: list[str], command: str = "serve") -> int:
    parser = command_parser(command, DESCRIPTION, settings=False)
    parser.add_argument(
        "model",
        metavar="DIR",
        help="an exported detector folder (aigenbench export), a run or window folder, a .ckpt",
    )
    parser.add_argument(
        "--host",
        type=str,
        default="127.0.0.1",
        help="address to listen on (127.0.0.1: this machine only; 0.0.0.0: every network)",
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (8000)")
    parser.add_argument("--device", type=str, default="cpu", help="cpu, cuda, cuda:1, ... (cpu)")
    parser.add_argument(
        "--threshold",
        type=str | None,
        default=None,
        metavar="T|NAME",
        help="label fake above this: a number or one of the detector's thresholds (0.5, "
        "best_f1, fpr_1, fpr_5; default: the detector's)",
    )
    parser.add_argument(
        "--max-files", type=positive_int, default=16, metavar="N", help="images per request (16)"
    )
    parser.add_argument(
        "--max-file-mb", type=positive_int, default=20, metavar="MB", help="per image (20)"
    )
    parser.add_argument(
        "--max-request-mb", type=positive_int, default=64, metavar="MB", help="per request (64)"
    )
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=None,
        metavar="N",
        help="pixels per image, checked before decoding (decompression bombs; predict's default)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=16, metavar="N", help="images per forward pass"
    )
    args = parse_command(parser, argv)

    try:
        import uvicorn

        from aigenbench.serve.app import create_app
    except ImportError as error:
        raise ConfigError(
            f"aigenbench serve needs the serve extra ({error.name} is missing): "
            "pip install 'aigenbench[serve]'"
        ) from None
    from aigenbench.data.decode import DEFAULT_MAX_PIXELS
    from aigenbench.export.detector_api import load_detector
    from aigenbench.serve.limits import ServeLimits

    limits = ServeLimits(
        max_files=args.max_files,
        max_file_bytes=args.max_file_mb * MB,
        max_request_bytes=args.max_request_mb * MB,
        max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS,
        batch_size=args.batch_size,
    )
    detector = load_detector(args.model, device=args.device, max_pixels=limits.max_pixels)
    threshold = resolve_threshold(args.threshold, detector)
    app = create_app(detector, limits, threshold)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: listening on {args.host}: anyone who can reach this machine can use the "
            "service (it has no authentication)"
        )
    print(
        f"serving {detector.detector_id} on http://{args.host}:{args.port}/ "
        f"(page /, API POST /score, docs /docs); Ctrl-C stops"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
