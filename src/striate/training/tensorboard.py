"""TensorBoard logging (optional): each epoch's metrics.csv row as scalars in RUN/tensorboard/.

`tensorboard --logdir runs/` then shows every run's curves side by side while they train. The
package is imported only when logging is asked for, and its absence is a one-line error.
"""

from pathlib import Path

from striate.errors import StriateError

LOG_DIR = "tensorboard"
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

    def write(self, row: dict) -> None:
        """One metrics.csv row (numbers, or the strings csv reads back); flushed at once, so
        a running TensorBoard sees the epoch as soon as it ends."""
        for column, tag in TAGS.items():
            if column in row:
                self.writer.add_scalar(tag, float(row[column]), global_step=int(row["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> "TensorBoardLog":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
