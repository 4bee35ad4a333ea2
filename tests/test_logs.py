"""What `striate train` prints as it trains: one line per epoch when written to a file or a pipe
(its figures those of metrics.csv), a bar on a terminal (never its frames in a file), the
summary alone with -q, and the log docs/getting-started.md shows."""

import csv
import fcntl
import os
import pty
import re
import shlex
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from helpers import interrupted_after_epochs

ROOT = Path(__file__).resolve().parent.parent
DIGITS_MLP = ("--dataset", "digits", "--model", "mlp", "--device", "cpu")
EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+): train loss ([\d.]+), train error ([\d.]+)%, "
                        r"valid error ([\d.]+)%, lr ([\d.e+-]+), ([\d.]+) s")


def piped(*args, cwd=None) -> subprocess.CompletedProcess:
    """`striate ARGS...` with stdout and stderr to pipes, as under nohup, a scheduler or CI."""
    return subprocess.run([sys.executable, "-m", "striate", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as handle:
        return [{key: float(value) for key, value in row.items()}
                for row in csv.DictReader(handle)]


def run_dir(out: str) -> Path:
    [named] = [line for line in out.splitlines() if line.startswith("run directory ")]
    return Path(named.removeprefix("run directory ").rpartition(": ")[0])


def assert_lines_match_metrics(lines: list[str], history: list[dict], epochs: int,
                               elapsed_before: float = 0.0):
    """Each line holds its metrics.csv row's figures, as rounded for printing; its seconds are
    the row's time_s less the previous row's."""
    assert len(lines) == len(history)
    previous = elapsed_before
    for line, row in zip(lines, history):
        epoch, total, loss, train_error, valid_error, lr, seconds = EPOCH_LINE.fullmatch(
            line).groups()
        assert (int(epoch), int(total)) == (row["epoch"], epochs)
        assert float(loss) == pytest.approx(row["train_loss"], abs=5e-5)
        assert float(train_error) / 100 == pytest.approx(row["train_error"], abs=5e-5)
        assert float(valid_error) / 100 == pytest.approx(row["valid_error"], abs=5e-5)
        assert float(lr) == pytest.approx(row["lr"], rel=5e-4)
        # time_s is rounded to 1 ms, the line's seconds to 10 ms
        assert float(seconds) == pytest.approx(row["time_s"] - previous, abs=6e-3)
        previous = row["time_s"]


def test_a_piped_run_prints_one_line_per_epoch_with_the_metrics_csv_figures(tmp_path):
    done = piped("train", *DIGITS_MLP, "--epochs", "3", "--out-dir", tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("training mlp on digits (1294/144/359 train/valid/test) in ")
    assert lines[4].startswith("best validation error ")
    assert len(lines) == 7
    assert_lines_match_metrics(lines[1:4], rows(run_dir(done.stdout)), epochs=3)
    assert "\r" not in done.stdout + done.stderr


def test_progress_on_into_a_file_logs_lines_and_never_bar_frames(tmp_path):
    log = tmp_path / "log.txt"
    with open(log, "w") as handle:
        code = subprocess.call([sys.executable, "-m", "striate", "train", *DIGITS_MLP,
                                "--epochs", "2", "--out-dir", tmp_path, "--progress", "on"],
                               stdout=handle, stderr=subprocess.STDOUT, timeout=300)
    text = log.read_text()
    assert code == 0, text
    assert "\r" not in text
    assert [line.split(":")[0] for line in text.splitlines() if line.startswith("epoch ")] == \
        ["epoch 1/2", "epoch 2/2"]


def test_progress_off_prints_the_first_line_and_the_summary(cli, tmp_path):
    result = cli("train", *DIGITS_MLP, "--epochs", "2", "--out-dir", tmp_path,
                 "--progress", "off")
    lines = result.out.splitlines()
    assert result.code == 0 and len(lines) == 4
    assert lines[0].startswith("training mlp on digits") and not any(
        line.startswith("epoch ") for line in lines)


def test_quiet_prints_the_summary_alone(cli, tmp_path):
    result = cli("train", *DIGITS_MLP, "--epochs", "2", "--out-dir", tmp_path, "-q")
    lines = result.out.splitlines()
    assert result.code == 0 and result.err == "" and len(lines) == 3
    assert lines[0].startswith("best validation error ")
    assert lines[1].startswith("2 epochs in ")
    assert lines[2].startswith(f"run directory {tmp_path}")


def test_a_resumed_run_logs_the_epochs_it_trains(cli, tmp_path):
    with interrupted_after_epochs(2):
        first = cli("train", *DIGITS_MLP, "--epochs", "4", "--out-dir", tmp_path)
    assert first.code == 130
    [run] = tmp_path.iterdir()
    before = rows(run)
    result = cli("train", "--resume", run, "--epochs", "4")
    lines = [line for line in result.out.splitlines() if line.startswith("epoch ")]
    assert result.code == 0
    assert_lines_match_metrics(lines, rows(run)[2:], epochs=4,
                               elapsed_before=before[-1]["time_s"])


def on_a_terminal(*args, cwd) -> tuple[int, str]:
    """(exit status, what was shown) of `striate ARGS...` run with both outputs on one
    terminal, 120 columns wide, as at a shell."""
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "striate", *map(str, args)], cwd=cwd,
                               stdout=secondary, stderr=secondary,
                               env={**os.environ, "TERM": "xterm"})
    os.close(secondary)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # EIO: the command ended and its terminal closed
            break
        if not chunk:
            break
        shown += chunk
    process.wait(timeout=300)
    os.close(main)
    return process.returncode, shown.decode()


def test_a_terminal_shows_the_bar_with_the_epoch_and_the_training_loss(tmp_path):
    code, shown = on_a_terminal("train", *DIGITS_MLP, "--epochs", "3", "--out-dir", tmp_path,
                                cwd=tmp_path)
    assert code == 0, shown
    last = rows(run_dir(shown.replace("\r\n", "\n")))[-1]
    frames = [frame.lstrip("\n") for frame in shown.split("\r")]   # a terminal ends lines \r\n
    assert any(frame.startswith("epoch 3/3: 100%|") and
               f"train_loss={last['train_loss']:.4f}" in frame for frame in frames)
    assert not any(line.startswith("epoch 1/3: train loss") for line in shown.splitlines())


def test_data_parallel_ranks_log_each_epoch_once(tmp_path):
    done = piped("train", *DIGITS_MLP, "--epochs", "2", "--batch-size", "50", "--nproc", "2",
                 "--out-dir", tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line for line in lines if line.startswith("training ")] == [lines[0]]
    assert lines[0].endswith(" on 2 processes")
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == \
        ["epoch 1/2", "epoch 2/2"]


def documented_log() -> tuple[str, str]:
    """The piped `striate train` of docs/getting-started.md and the log the page shows."""
    text = (ROOT / "docs" / "getting-started.md").read_text()
    command, log = re.search(r"```sh\n(nohup striate train [^\n]*)\n[^`]*```\n\n```\n(.*?)```",
                             text, re.DOTALL).groups()
    return command, log


def comparable(log: str) -> list[str]:
    """A log's lines without what differs between two runs: the run directory and the clock."""
    log = re.sub(r"runs/[\w.-]+|/\S+/[\w.-]+-mlp-digits", "RUN", log)
    log = re.sub(r"\d+\.\d+ s\b", "T s", log)
    return log.splitlines()


def test_the_documented_log_is_what_a_piped_run_writes(tmp_path):
    command, log = documented_log()
    words = shlex.split(command)
    words = words[words.index("striate") + 1:words.index(">")]
    done = piped(*words, "--device", "cpu", cwd=tmp_path)   # the page's figures are the CPU's
    assert done.returncode == 0, done.stderr
    assert comparable(done.stdout) == comparable(log)
