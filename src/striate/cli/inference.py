"""`striate evaluate`, `striate predict` and `striate export`: a trained checkpoint at work;
`striate evaluate` of several runs evaluates them as an ensemble, `striate predict --onnx` runs
an exported file."""

from striate.cli.flags import (add_inference_flags, add_json_flag, add_trust_flag, add_tta_flags,
                               print_json, tta_of)
from striate.config import check_device
from striate.errors import StriateError

FIGURE_KEYS = ("split", "examples", "loss", "error", "accuracy")  # inference.figures()'s
FIGURES = ", ".join(f'"{key}"' for key in FIGURE_KEYS)


def cmd_evaluate(args) -> None:
    from striate.inference import evaluate, evaluate_ensemble
    from striate.threads import use_threads

    use_threads(args.threads)
    options = (args.split, args.data_dir, check_device(args.device), args.engine, tta_of(args),
               args.trust_model_code)
    if len(args.checkpoints) == 1:
        result = {"checkpoint": args.checkpoints[0], **evaluate(args.checkpoints[0], *options)}
        lines = [figures_line(result)]
    else:
        ensemble = evaluate_ensemble(args.checkpoints, *options)
        result = {"members": ensemble.members,
                  "ensemble": {key: getattr(ensemble, key) for key in FIGURE_KEYS}}
        lines = [f"{member['checkpoint']}: {figures_line(member)}" for member in ensemble.members]
        lines.append(f"ensemble of {len(ensemble.members)}: {figures_line(result['ensemble'])}")
    if args.json:
        print_json(result)
    else:
        print("\n".join(lines))


def figures_line(result: dict) -> str:
    return (f"{result['split']}: {result['examples']} examples, loss {result['loss']:.4f}, "
            f"error {result['error']:.2%}, accuracy {result['accuracy']:.2%}")


def cmd_predict(args) -> None:
    from striate.inference import predict, predict_onnx
    from striate.threads import use_threads

    use_threads(args.threads)
    if args.onnx is not None:
        check_onnx_flags(args)
        rows = predict_onnx(args.onnx, [args.checkpoint, *args.images])
    elif not args.images:
        raise StriateError("predict needs image files after the checkpoint: striate predict "
                           "RUN IMAGE [IMAGE ...]")
    else:
        rows = predict(args.checkpoint, args.images, check_device(args.device), args.engine,
                       tta_of(args), args.trust_model_code)
    if args.json:
        print_json({"predictions": rows})
        return
    for row in rows:
        print(f"{row['image']}\t{row['class']}\t{row['probability']:.4f}")


def check_onnx_flags(args) -> None:
    """The exported file decides its device, engine and test-time augmentation."""
    given = [flag for flag, value in (("--device", args.device != "auto"),
                                      ("--engine", args.engine is not None),
                                      ("--tta", args.tta),
                                      ("--tta-shift", args.tta_shift),
                                      ("--trust-model-code", args.trust_model_code)) if value]
    if given:
        raise StriateError(f"{', '.join(given)} cannot apply to an exported --onnx file (it "
                           "runs on the CPU with onnxruntime; test-time augmentation is chosen "
                           "at `striate export --tta --tta-shift N`); drop them")


def cmd_export(args) -> None:
    from striate.export import export_model

    out = export_model(args.checkpoint, args.format, args.out, tta_of(args), args.force,
                 args.trust_model_code)
    if args.json:
        print_json({"checkpoint": args.checkpoint, "format": args.format, "out": str(out)})
    else:
        print(f"wrote {out}")


def add_commands(commands) -> None:
    """Add `evaluate` and `predict` to the `striate` parser's subparsers."""
    evaluate = commands.add_parser("evaluate", help="error and loss of a checkpoint on a split; "
                                   "of several, each one's and their ensemble's")
    evaluate.add_argument("checkpoints", metavar="RUN_OR_CHECKPOINT", nargs="+",
                          help="a run directory or .safetensors checkpoint; several on the same "
                               "data set: each is evaluated, then the average of their class "
                               "probabilities (an ensemble)")
    evaluate.add_argument("--split", default="test", choices=("train", "valid", "test"),
                          help="the examples to evaluate on; train and valid are carved again "
                               "from the run's seed, as in training")
    evaluate.add_argument("--data-dir", default=None,
                          help="where the data set is (default: the run's --data-dir, else "
                               "$STRIATE_DATA, the user cache, then the system's datasets)")
    add_inference_flags(evaluate)
    add_json_flag(evaluate, f'of one run {{"checkpoint", {FIGURES}}}; of several '
                            f'{{"members": [one run\'s object each], "ensemble": {{{FIGURES}}}}}')
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", help="class and probability of image files")
    predict.add_argument("checkpoint", metavar="CHECKPOINT",
                         help="a run directory or .safetensors checkpoint (with --onnx, the "
                              "first image)")
    predict.add_argument("images", metavar="IMAGE", nargs="*",
                         help="image files (PNG, JPEG, ...), resized and converted to the "
                              "model's input size and channels (default: none, which only "
                              "--onnx allows)")
    predict.add_argument("--onnx", metavar="FILE", default=None,
                         help="run a model `striate export` wrote as ONNX, with onnxruntime, "
                              "in place of a checkpoint: every positional is an image "
                              "(default: a checkpoint, not ONNX)")
    add_inference_flags(predict)
    add_json_flag(predict, '{"predictions": [{"image", "class", "probability"} per image]}')
    predict.set_defaults(handler=cmd_predict)

    export = commands.add_parser("export", help="write a checkpoint as an ONNX or TorchScript "
                                 "file that runs without striate, preprocessing included")
    export.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT",
                        help="a run directory (its model.safetensors) or a .safetensors "
                             "checkpoint")
    export.add_argument("--format", default="onnx", choices=("onnx", "torchscript"),
                        help="onnx (runs in onnxruntime and elsewhere) or torchscript "
                             "(torch.jit.load)")
    export.add_argument("--out", metavar="FILE", default=None,
                        help="where to write it (default: the checkpoint's path with .onnx or "
                             ".pt)")
    add_tta_flags(export, "put in the graph each image's probabilities averaged with")
    export.add_argument("--force", action="store_true",
                        help="replace the --out file if it exists (otherwise refused)")
    add_trust_flag(export)
    add_json_flag(export, '{"checkpoint", "format", "out"}')
    export.set_defaults(handler=cmd_export)
