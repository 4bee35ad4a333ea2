"""`striate evaluate` and `striate predict`: a trained checkpoint at work; `striate evaluate`
of several runs evaluates them as an ensemble."""

import argparse

from striate.cli.flags import add_inference_flags
from striate.config import check_device


def cmd_evaluate(args) -> None:
    from striate.inference import evaluate, evaluate_ensemble

    options = (args.split, args.data_dir, check_device(args.device), args.engine, args.tta,
             args.trust_model_code)
    if len(args.checkpoints) == 1:
        print(figures_line(evaluate(args.checkpoints[0], *options)))
        return
    result = evaluate_ensemble(args.checkpoints, *options)
    for member in result.members:
        print(f"{member['checkpoint']}: {figures_line(member)}")
    print(f"ensemble of {len(result.members)}: {figures_line(vars(result))}")


def figures_line(result: dict) -> str:
    return (f"{result['split']}: {result['examples']} examples, loss {result['loss']:.4f}, "
            f"error {result['error']:.2%}, accuracy {result['accuracy']:.2%}")


def cmd_predict(args) -> None:
    from striate.inference import predict

    for row in predict(args.checkpoint, args.images, check_device(args.device), args.engine,
                       args.tta, args.trust_model_code):
        print(f"{row['image']}\t{row['class']}\t{row['probability']:.4f}")


def add_commands(commands) -> None:
    """Add `evaluate` and `predict` to the `striate` parser's subparsers."""
    evaluate = commands.add_parser("evaluate", help="error and loss of a checkpoint on a split; "
                                   "of several, each one's and their ensemble's",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    evaluate.add_argument("checkpoints", metavar="RUN_OR_CHECKPOINT", nargs="+",
                          help="one run, or several on the same data set: each is evaluated, "
                               "then the average of their class probabilities (an ensemble)")
    evaluate.add_argument("--split", default="test", choices=("train", "valid", "test"))
    evaluate.add_argument("--data-dir", default=None, help="where the data set is")
    add_inference_flags(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", help="class and probability of image files",
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    predict.add_argument("checkpoint", metavar="CHECKPOINT")
    predict.add_argument("images", metavar="IMAGE", nargs="+")
    add_inference_flags(predict)
    predict.set_defaults(handler=cmd_predict)
