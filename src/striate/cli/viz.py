"""`striate plot` and `striate report`. The plotting modules (matplotlib, and torch for feature
maps) are imported by the handlers, so that `striate --help` stays fast."""

from pathlib import Path

from striate.cli.flags import add_trust_flag
from striate.config import check_device
from striate.errors import StriateError

TUTORIAL_SEED = 23455  # the seed of the Deep Learning Tutorials' numpy.random.RandomState
PLOT_NAMES = "loss, error, lr, filters, features, confusion, wrong, cv, folds, heatmap"


def names(text: str) -> list[str]:
    """A comma-separated list of names, blanks dropped: "loss, error" -> ["loss", "error"]."""
    return [name.strip() for name in text.split(",") if name.strip()]


def cmd_plot(args) -> None:
    from striate.viz.plots import PlotOptions, Subject, draw, select, write_pngs

    if args.random_filters:
        written = random_filters(args)
    elif args.run is None:
        raise StriateError("give RUN (a run directory, checkpoint or study directory), or "
                           "--random-filters for the tutorials' random-filter picture")
    else:
        options = PlotOptions(args.layers, args.image, args.index, args.x, args.y,
                              check_device(args.device), args.trust_model_code)
        subject = Subject(args.run, options)
        pngs = {stem: png for _, stem, png in draw(subject, select(subject, args.what))}
        written = write_pngs(pngs, Path(args.out) if args.out else subject.default_out())
    for path in written:
        print(path)


def random_filters(args) -> list[Path]:
    from striate.viz.figures import png_bytes
    from striate.viz.plots import write_pngs
    from striate.viz.weights import random_filter_demo, random_filters_figure

    if args.run is not None or args.what is not None:
        raise StriateError("--random-filters draws on a photo, not on a run; drop RUN and --what "
                           "(or drop --random-filters)")
    demo = random_filter_demo(args.image, args.seed)
    print("\n".join(demo.shapes()))
    png = png_bytes(random_filters_figure(demo))
    return write_pngs({"random-filters": png}, Path(args.out or "plots"))


def cmd_report(args) -> None:
    from striate.viz.plots import PlotOptions, Subject
    from striate.viz.report import write_report

    options = PlotOptions(device=check_device(args.device),
                          trust_model_code=args.trust_model_code)
    subjects = [Subject(run, options) for run in args.runs]
    for subject in subjects:
        if subject.kind != "run":
            raise StriateError(f"{subject.path} is a {subject.kind}, and `striate report` "
                               "describes run directories; use `striate plot` for it")
    if len({subject.path.resolve() for subject in subjects}) < len(subjects):
        raise StriateError("a run is given twice; give each run directory once")
    default = subjects[0].path / "report.html" if len(subjects) == 1 else Path("report.html")
    print(write_report(subjects, Path(args.out) if args.out else default))


def add_commands(commands) -> None:
    """Add `plot` and `report` to the `striate` parser's subparsers."""
    plot = commands.add_parser(
        "plot", help="draw a run's, checkpoint's or study's plots as PNG files",
        description="Plots read run directories, checkpoints and study directories (never a "
                    "running training); by default every plot that applies is drawn.")
    plot.add_argument("run", metavar="RUN", nargs="?",
                      help="run directory, .safetensors checkpoint or study directory "
                           "(default: none, for --random-filters)")
    plot.add_argument("--what", type=names, metavar="A,B",
                      help=f"plots to draw, from: {PLOT_NAMES} (default: every one that "
                           "applies to RUN)")
    plot.add_argument("--out", metavar="DIR",
                      help="directory for the PNG files (default: RUN/plots)")
    plot.add_argument("--layers", type=names, metavar="A,B",
                      help="features: layer names, as in the checkpoint (default: every "
                           "convolution)")
    plot.add_argument("--image", metavar="FILE",
                      help="features and --random-filters: the input image (default: test "
                           "image --index; a photo shipped with matplotlib)")
    plot.add_argument("--index", type=int, default=0, help="features: the test image shown")
    plot.add_argument("--x", metavar="PARAM", help="study plots: parameter on the x axis "
                      "(default: the study's first)")
    plot.add_argument("--y", metavar="PARAM", help="heatmap: parameter on the y axis (default: "
                      "the study's next)")
    plot.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or "
                      "cuda:N")
    add_trust_flag(plot)
    plot.add_argument("--random-filters", action="store_true",
                      help="the Deep Learning Tutorials' picture: two random 9x9 filters "
                           "convolved with a photo already look like edge detectors")
    plot.add_argument("--seed", type=int, default=TUTORIAL_SEED,
                      help="--random-filters: seed of the filters (the tutorials')")
    plot.set_defaults(handler=cmd_plot)

    report = commands.add_parser(
        "report", help="one self-contained HTML page: config, metrics, plots, per-class accuracy; "
                       "of several runs, their curves overlaid and the settings that differ")
    report.add_argument("runs", metavar="RUN", nargs="+",
                        help="the run directory to describe, or several to compare")
    report.add_argument("--out", metavar="FILE",
                        help="the HTML file (default: RUN/report.html for one run, "
                             "report.html in the current directory for several)")
    report.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, "
                        "cuda or cuda:N")
    add_trust_flag(report)
    report.set_defaults(handler=cmd_report)
