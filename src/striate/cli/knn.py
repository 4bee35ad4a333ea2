"""`striate knn`: k-nearest neighbours with cs231n's cross-validation over k (striate.knn)."""

import argparse
from pathlib import Path

from striate.cli.flags import add_threads_flag, with_default
from striate.config import DataConfig, field_type, flag_name, section_fields
from striate.errors import StriateError
from striate.files import make_directory

# The data flags of `striate train` that apply here; kNN has no validation split of its own
# (the folds are its validation), so --valid-size, --valid-split, --folds and --fold are not.
DATA_FLAGS = ("dataset", "data_dir", "download", "preprocess", "pca_components", "whiten_eps",
              "image_size", "channels")
# Unlike training's: the bundled set, which needs no download, and cs231n's raw pixels.
DEFAULTS = {"dataset": "digits", "preprocess": "none"}


def k_values(text: str) -> list[int]:
    """--k 1,3,5 -> [1, 3, 5]."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got "
                                         f"{text!r}") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"every k must be at least 1, got {text!r}")
    return values


def add_data_flags(parser) -> None:
    """DATA_FLAGS as `striate train` has them, with DEFAULTS' defaults."""
    group = parser.add_argument_group("data options")
    for section, leaf in section_fields():
        if section != "data" or leaf.name not in DATA_FLAGS:
            continue
        default = DEFAULTS.get(leaf.name, leaf.default)
        help_text = with_default(leaf.metadata["help"], default)
        if field_type(leaf) is bool:
            group.add_argument(flag_name(leaf.name), dest=leaf.name, default=default,
                               action=argparse.BooleanOptionalAction, help=help_text)
        else:
            group.add_argument(flag_name(leaf.name), dest=leaf.name, type=field_type(leaf),
                               default=default, choices=leaf.metadata["choices"], help=help_text)


def cmd_knn(args) -> None:
    from striate.data import pipeline
    from striate.files import atomic_write_bytes
    from striate.knn import K_CHOICES, report, run_knn
    from striate.threads import use_threads
    from striate.viz.knn import k_cross_validation_png

    data = DataConfig(**{name: getattr(args, name) for name in DATA_FLAGS})
    data.check()
    out = Path(args.out or f"knn-{data.dataset}.png")
    if out.suffix.lower() != ".png":
        raise StriateError(f"--out must name a .png file, got {str(out)!r}")
    make_directory(out.parent, "choose another --out")
    use_threads(args.threads)
    result = run_knn(pipeline.load_data(data), preprocess=data.preprocess,
                     pca_components=data.pca_components, whiten_eps=data.whiten_eps,
                     k_choices=args.k or K_CHOICES, num_folds=args.folds,
                     train_size=args.train_size, test_size=args.test_size, seed=args.seed)
    print(report(result))
    atomic_write_bytes(out, k_cross_validation_png(
        result.cross_validation, f"Cross-validation on k: {result.dataset}"))
    print(f"plot: {out}")


def add_commands(commands) -> None:
    """Add `knn` to the `striate` parser's subparsers."""
    parser = commands.add_parser(
        "knn", help="k-nearest neighbours: cross-validate k (cs231n), then the test accuracy "
        "of the best", description="Split the training images in order into --folds folds; "
        "classify each fold by its nearest neighbours (L2) in the others, for every --k; print "
        "each k's accuracy as mean ± std over the folds and plot it; then classify the test "
        "images with the best k and all the training images.")
    search = parser.add_argument_group("cross-validation options")
    search.add_argument("--k", type=k_values, default=None, metavar="K,K,...",
                        help="the k to try (default: cs231n's k_choices, "
                             "1,3,5,8,10,12,15,20,50,100)")
    search.add_argument("--folds", type=int, default=5, help="folds (default: 5)")
    search.add_argument("--train-size", type=int, default=None, metavar="N",
                        help="use the first N training images (cs231n: 5000 of CIFAR-10) "
                             "(default: all)")
    search.add_argument("--test-size", type=int, default=None, metavar="N",
                        help="use the first N test images (cs231n: 500) (default: all)")
    search.add_argument("--seed", type=int, default=None,
                        help="draw the --train-size and --test-size images at random by this "
                             "seed, and shuffle the training images before the folds "
                             "(default: none, the images in stored order as cs231n)")
    search.add_argument("--out", default=None, metavar="FILE.png",
                        help="where to write the plot (default: knn-DATASET.png)")
    add_threads_flag(search)
    add_data_flags(parser)
    parser.set_defaults(handler=cmd_knn)
