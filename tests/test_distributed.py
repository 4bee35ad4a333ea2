"""Data-parallel training on the CPU (gloo): N ranks must train as one process would."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from striate.checkpoint import load_state
from striate.runs import TRAIN_STATE

SRC = Path(__file__).resolve().parent.parent / "src"
# A LeNet small enough for 8x8 digits; no batch norm (on the CPU each rank normalizes its own
# share) and no dropout (each rank draws its own masks), so the ranks must match one process.
TINY = ("--dataset", "digits", "--model", "lenet", "--model-arg", "filter_size=3",
        "--model-arg", "nkerns=4,8", "--model-arg", "hidden=16", "--model-arg", "pool=1",
        "--progress", "off", "--translate", "1", "--batch-size", "50")


def striate(*args, out_dir) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "striate", *map(str, args), "--out-dir",
                             str(out_dir)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory):
    """The same training in one process and in two ranks (a batch of 50 splits 25 + 25; the
    last minibatch of each epoch, 37 examples, unevenly 18 + 19)."""
    out = tmp_path_factory.mktemp("ddp")
    single = striate("train", *TINY, "--epochs", "3", "--name", "one", out_dir=out)
    double = striate("train", *TINY, "--epochs", "3", "--name", "two", "--nproc", "2",
                     out_dir=out)
    for process in (single, double):
        code, _, err = finished(process)
        assert code == 0, err
    return out / "one", out / "two"


def test_two_ranks_train_as_one_process(one_and_two):
    one, two = one_and_two
    for a, b in zip(rows(one), rows(two), strict=True):
        for column in ("train_loss", "valid_loss"):
            assert float(b[column]) == pytest.approx(float(a[column]), rel=1e-5)
        for column in ("iteration", "lr", "train_error", "valid_error", "best_valid_error"):
            assert b[column] == a[column]
    weights_one, weights_two = load_file(one / "model.safetensors"), \
        load_file(two / "model.safetensors")
    assert weights_one.keys() == weights_two.keys()
    for name in weights_one:
        assert weights_two[name] == pytest.approx(weights_one[name], rel=1e-4, abs=1e-6)


def test_only_rank_0_writes_and_the_config_records_the_ranks(one_and_two):
    one, two = one_and_two
    assert sorted(p.name for p in two.parent.iterdir()) == ["one", "two"]
    assert "nproc: 2" in (two / "config.yaml").read_text()
    assert "nproc: 1" in (one / "config.yaml").read_text()


def test_a_killed_rank_ends_the_job_with_one_clear_line(tmp_path):
    job = striate("train", *TINY, "--epochs", "1000", "--early-stopping", "none",
                  "--nproc", "2", out_dir=tmp_path)
    rank_1 = wait_for_child(job.pid, rank=1)
    while not list(tmp_path.glob("*/metrics.csv")):  # both ranks are training
        assert job.poll() is None
        time.sleep(0.2)
    os.kill(rank_1, signal.SIGKILL)
    code, _, err = finished(job, timeout=60)  # not a hang: the launcher stops rank 0
    assert code == 1
    assert "striate: error: rank 1 of 2 was killed by signal 9, so the job was stopped" in err
    assert "Traceback" not in err


def long_job(tmp_path) -> tuple[subprocess.Popen, list[int]]:
    """A 2-rank job set to train for long, once it has saved an epoch: (launcher, rank pids)."""
    job = striate("train", *TINY, "--epochs", "1000", "--early-stopping", "none",
                  "--nproc", "2", "--name", "long", out_dir=tmp_path)
    ranks = [wait_for_child(job.pid, rank) for rank in (0, 1)]
    while not (tmp_path / "long" / TRAIN_STATE).is_file():
        assert job.poll() is None, job.communicate()[1]
        time.sleep(0.2)
    return job, ranks


def all_gone(pids: list[int], timeout: float = 30) -> bool:
    """Whether every process ends (or is a zombie left to its new parent) within `timeout`."""
    def alive(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
        except (OSError, IndexError):
            return False

    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_the_launcher_ends_the_job_as_ctrl_c_ends_one_process(tmp_path, signum):
    """`kill PID` of the launcher (or Ctrl-C, or a closed terminal) reaches every rank: the last
    epoch stays saved, the resume command is printed once, no rank is left running."""
    job, ranks = long_job(tmp_path)
    job.send_signal(signum)
    code, _, err = finished(job, timeout=60)
    assert code == 128 + signum, err
    assert err.count("striate: interrupted; continue with `striate train --resume") == 1, err
    assert "error" not in err and "Traceback" not in err
    assert all_gone(ranks)
    assert load_state(tmp_path / "long" / TRAIN_STATE)["loop"]["epoch"] >= 1


def test_no_rank_outlives_a_killed_launcher(tmp_path):
    job, ranks = long_job(tmp_path)
    job.kill()
    job.communicate()
    assert all_gone(ranks), "a rank went on training without its launcher"


def wait_for_child(parent: int, rank: int, timeout: float = 60) -> int:
    """The pid of the launcher's child process that runs `rank`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{parent}/task").iterdir():
            for pid in (task / "children").read_text().split():
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                if f"RANK={rank}".encode() in environ:
                    return int(pid)
        time.sleep(0.1)
    raise AssertionError(f"rank {rank} never started")


@pytest.mark.parametrize("args, message", [
    (("--engine", "numpy", "--nproc", "2"), "--nproc trains data-parallel on the torch engine"),
    (("--nproc", "0"), "--nproc must be a number of processes from 1 to 64"),
])
def test_bad_nproc_is_refused_before_any_rank_starts(cli, tmp_path, args, message):
    result = cli("train", "--dataset", "digits", "--out-dir", tmp_path, *args)
    assert result.code == 2 and result.err.startswith(f"striate: error: {message}")
    assert not any(tmp_path.iterdir())


def test_numpy_engine_refuses_torchrun(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    result = cli("train", "--dataset", "digits", "--engine", "numpy", "--model", "mlp",
                 "--out-dir", tmp_path)
    assert result.code == 2 and "the numpy engine trains in one process" in result.err
