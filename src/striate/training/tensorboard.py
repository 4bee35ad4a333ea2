"""TensorBoard logging (optional), in RUN/tensorboard/: each epoch's metrics.csv row as scalars
(the epoch as the step), every step's training loss and learning rate (the iteration as the
step), and at the end of training the settings with the final metrics (the HParams tab), the
first layer's filters and the test confusion matrix (the Images tab).

`tensorboard --logdir runs/` then shows every run's curves side by side while they train. The
package is imported only when logging is asked for, and its absence is a one-line error.
"""

from pathlib import Path

import numpy as np

from striate.data.splits import Split
from striate.engines import filter_images
from striate.errors import StriateError

LOG_DIR = "tensorboard"
MAX_FILTERS = 100  # filters in the picture, as `striate plot`'s
CELL = 16          # pixels per confusion-matrix cell: a 10-class matrix is 160 x 160 pixels
CHUNK = 1024       # test images per prediction call, to bound the memory it takes
# metrics.csv column -> TensorBoard tag; the slash groups train and valid in one chart section.
TAGS = {"train_loss": "loss/train", "valid_loss": "loss/valid",
        "train_error": "error/train", "valid_error": "error/valid",
        "best_valid_error": "error/best_valid", "valid_accuracy": "accuracy/valid",
        "lr": "lr", "time_s": "time_s"}


def summary_writer_class():
    """torch's SummaryWriter, or the one-line error naming the fix. Training calls this before
    it creates the run directory, so a missing package leaves nothing behind."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch writes the event files, so it takes torch as well
        raise StriateError("--tensorboard needs the tensorboard package and torch: `pip install "
                           "tensorboard`, or drop --tensorboard") from None
    return SummaryWriter


class TensorBoardLog:
    """Writes a run's per-epoch rows as TensorBoard scalars, the epoch as the step."""

    def __init__(self, run_path):
        SummaryWriter = summary_writer_class()
        self.directory = Path(run_path) / LOG_DIR
        self.writer = SummaryWriter(log_dir=str(self.directory))

    def write(self, row: dict, steps=()) -> None:
        """One metrics.csv row (numbers, or the strings csv reads back), and the epoch's steps
        as the loop kept them, (lr, loss as train_step returned it); flushed at once, so a
        running TensorBoard sees the epoch as soon as it ends."""
        for column, tag in TAGS.items():
            if column in row:
                self.writer.add_scalar(tag, float(row[column]), global_step=int(row["epoch"]))
        # The epoch's last step is row["iteration"]. Each loss is read here, after the epoch:
        # float() of a GPU tensor waits for the device, which the loop never does per step.
        first = int(row["iteration"]) - len(steps) + 1
        for iteration, (lr, loss) in enumerate(steps, first):
            self.writer.add_scalar("steps/train_loss", float(loss), global_step=iteration)
            self.writer.add_scalar("steps/lr", float(lr), global_step=iteration)
        self.writer.flush()

    def write_hparams(self, settings: dict, metrics: dict) -> None:
        """settings: config.yaml's {section: {name: value}}; metrics: metrics.json. The numeric
        metrics are the HParams tab's columns, as final/NAME."""
        hparams = {f"{section}.{name}": value if isinstance(value, (bool, int, float, str))
                   else str(value)  # None and lists: the plugin takes plain values only
                   for section, values in settings.items() for name, value in values.items()}
        final = {f"final/{name}": float(value) for name, value in metrics.items()
                 if isinstance(value, (int, float)) and not isinstance(value, bool)}
        # run_name ".": the run's own directory, not the timestamped one torch would add
        self.writer.add_hparams(hparams, final, run_name=".")

    def write_pictures(self, filters: np.ndarray | None, confusion: np.ndarray | None,
                       class_names: list[str], step: int) -> None:
        """filters: (K, C, h, w) first-layer filters; confusion: (classes, classes) counts,
        rows the true class. Either may be None (a model of PCA scores, no test split)."""
        if filters is not None:
            # each filter on its own scale: its pattern matters, and scales vary a lot
            shown = filters[:MAX_FILTERS].astype(np.float64)
            low = shown.min(axis=(1, 2, 3), keepdims=True)
            span = shown.max(axis=(1, 2, 3), keepdims=True) - low
            scaled = (shown - low) / np.where(span > 0, span, 1.0)   # (K, C, h, w) in [0, 1]
            self.writer.add_images("filters/first_layer", scaled, step, dataformats="NCHW")
        if confusion is not None:
            self.writer.add_image("confusion/test", confusion_image(confusion), step,
                                  dataformats="HW")
            self.writer.add_text("confusion/test", confusion_table(confusion, class_names), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> "TensorBoardLog":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def first_layer_filters(engine, model, input_shape) -> np.ndarray | None:
    """(K, C, h, w): the first convolution's kernels, or the first affine layer's rows as images
    of the input; None for a layer that reads PCA scores (no image) or a model with neither."""
    try:
        _, weight = engine.first_layer(model)
    except StriateError:
        return None
    return filter_images(weight, input_shape)


def confusion_counts(predict, test: Split, classes: int) -> np.ndarray:
    """(classes, classes) test examples per (true, predicted) class; predict: an engine's
    predictor, preprocessed inputs -> class log-probabilities."""
    predicted = np.concatenate([predict(test.images[start:start + CHUNK]).argmax(axis=1)
                                for start in range(0, len(test), CHUNK)])
    return np.bincount(test.labels * classes + predicted,
                       minlength=classes * classes).reshape(classes, classes)


def confusion_image(counts: np.ndarray) -> np.ndarray:
    """Each row as fractions of its true class (white: all of them), CELL pixels a cell."""
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return np.kron(fractions, np.ones((CELL, CELL)))


def confusion_table(counts: np.ndarray, class_names: list[str]) -> str:
    """The counts as a Markdown table (TensorBoard's Text tab), which the picture cannot label."""
    header = "| true / predicted | " + " | ".join(class_names) + " |"
    rule = "|---" * (len(class_names) + 1) + "|"
    rows = [f"| {name} | " + " | ".join(str(count) for count in row) + " |"
            for name, row in zip(class_names, counts)]
    return "\n".join([header, rule, *rows])
