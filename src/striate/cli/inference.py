"""`striate evaluate` and `striate predict`: a trained checkpoint at work; `striate evaluate`
of several runs evaluates them as an ensemble."""

from striate.cli.flags import add_inference_flags, add_json_flag, print_json
from striate.config import check_device

FIGURE_KEYS = ("split", "examples", "loss", "error", "accuracy")  # inference.figures()'s
FIGURES = ", ".join(f'"{key}"' for key in FIGURE_KEYS)


def cmd_evaluate(args) -> None:
    from striate.inference import evaluate, evaluate_ensemble

    options = (args.split, args.data_dir, check_device(args.device), args.engine, args.tta,
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
    from striate.inference import predict

    rows = predict(args.checkpoint, args.images, check_device(args.device), args.engine,
                   args.tta, args.trust_model_code)
    if args.json:
        print_json({"predictions": rows})
        return
    for row in rows:
        print(f"{row['image']}\t{row['class']}\t{row['probability']:.4f}")


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
                          help="where the data set is (default: where the run found it)")
    add_inference_flags(evaluate)
    add_json_flag(evaluate, f'of one run {{"checkpoint", {FIGURES}}}; of several '
                            f'{{"members": [one run\'s object each], "ensemble": {{{FIGURES}}}}}')
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", help="class and probability of image files")
    predict.add_argument("checkpoint", metavar="CHECKPOINT",
                         help="a run directory or .safetensors checkpoint")
    predict.add_argument("images", metavar="IMAGE", nargs="+",
                         help="image files (PNG, JPEG, ...), resized and converted to the "
                              "model's input size and channels")
    add_inference_flags(predict)
    add_json_flag(predict, '{"predictions": [{"image", "class", "probability"} per image]}')
    predict.set_defaults(handler=cmd_predict)
