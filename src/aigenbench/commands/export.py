"""``aigenbench export``: a trained detector as a folder anyone can load (Hugging Face layout)."""

from __future__ import annotations

from aigenbench.commands._args import command_parser, parse_command

DESCRIPTION = """\
Write a run's detector as a self-contained folder in the Hugging Face model-repository
layout: model.safetensors (LoRA merged; no pickle), config.json (method, backbone, input size,
the evaluation transform spelled out, class names, the thresholds the run chose: 0.5, best-F1,
FPR 1% / 5%, and the window they come from) and README.md (the model card: the protocol's
results with 95% intervals, per generator, calibration, what the detector has not seen).
Load it with aigenbench.load_detector(DIR) or score images with `aigenbench predict DIR ...`.
--onnx adds model.onnx (normalised crops -> logits), checked against PyTorch."""


def main(argv: list[str], command: str = "export") -> int:
    parser = command_parser(command, DESCRIPTION)
    parser.add_argument(
        "model",
        metavar="RUN|WINDOW",
        help="an experiment folder (its last finished window), a window folder or a final.ckpt",
    )
    parser.add_argument("-o", "--output", type=str, required=True, metavar="DIR", help="folder")
    parser.add_argument(
        "--threshold",
        type=str | None,
        default=None,
        metavar="NAME",
        help="the default operating threshold: 0.5, best_f1, fpr_1 or fpr_5 (default: the "
        "run's model.classification_threshold, 0.5 unless set)",
    )
    parser.add_argument("--onnx", action="store_true", help="also write model.onnx")
    parser.add_argument(
        "--opset", type=int | None, default=None, metavar="N", help="ONNX opset (default 17)"
    )
    parser.add_argument(
        "--imports",
        type=list[str],
        default=[],
        metavar="MODULE",
        help="modules to import first (ones that register the model's backbone family); "
        "--import MODULE adds one",
    )
    args = parse_command(parser, argv, {"--import": "--imports+"})

    from aigenbench.training.runner import import_modules

    import_modules(args.imports)

    from aigenbench.export.writing import export

    config = export(
        args.model, args.output, threshold=args.threshold, onnx=args.onnx, opset=args.opset
    )
    thresholds = ", ".join(f"{k} {v:.4g}" for k, v in config["thresholds"].items())
    headline = ", ".join(f"{k} {v:.2f}" for k, v in config["card_headline"].items())
    print(f"exported {config['detector_id']} to {args.output}")
    print(f"  thresholds: {thresholds} (default {config['threshold']['default']})")
    print(f"  AUROC %: {headline or 'no evaluation found in the run'}")
    if config["onnx"]:
        onnx = config["onnx"]
        print(
            f"  model.onnx: opset {onnx['opset']}, max |score difference| vs PyTorch "
            f"{onnx['max_score_difference']:.2e} (tolerance {onnx['tolerance']:.0e})"
        )
    print(
        f"load it: aigenbench.load_detector({args.output!r}); score: aigenbench predict "
        f"{args.output} photos/"
    )
    return 0
