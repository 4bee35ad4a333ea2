"""Crash safety: SIGKILL at random moments, a full disk and a read-only directory.

Every killed run is resumed until it finishes, and must end with exactly the files of an
uninterrupted run of the same seed; at every kill point each file in the run directory must be
whole and loadable (atomic writes: temporary file, fsync, rename).
"""

import csv
import errno
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import striate
from helpers import train_run
from striate.checkpoint import load_state, load_weights
from striate.config import config_from_yaml
from striate.runs import TRAIN_STATE

ARGS = ("--dataset", "digits", "--model", "mlp", "--model-arg", "hidden=64", "--epochs", "4",
        "--batch-size", "32", "--validation-frequency", "10", "--seed", "7", "--progress", "off")
EPOCHS, VALIDATIONS_PER_EPOCH = 4, 4   # 41 minibatches of the 1294 training digits per epoch
CHAINS, KILLS_PER_CHAIN = 2, 5        # each chain resumes one run until it finishes
PLAN_SEED = 20261129                  # a failure names its chain and kill, and reproduces

# Runs `striate train ARGS` in this process and SIGKILLs it at the COUNT-th call of PHASE:
# "evaluate" (inside the learner's evaluation) or "write" (an atomic write whose temporary file
# holds half its bytes). Test-side only: striate itself has no such hook.
KILLER = textwrap.dedent("""
    import os, pathlib, signal, sys
    from striate.cli import main
    from striate.torch.learner import TorchLearner

    phase, count, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    calls = 0
    real_evaluate, real_write_bytes = TorchLearner.evaluate, pathlib.Path.write_bytes

    def counted():
        global calls
        calls += 1
        return calls == count

    def evaluate(self, split):
        result = real_evaluate(self, split)
        if counted():
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def write_bytes(self, data):
        if self.name.endswith(".tmp") and counted():
            real_write_bytes(self, data[:len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write_bytes(self, data)

    if phase == "evaluate":
        TorchLearner.evaluate = evaluate
    else:
        pathlib.Path.write_bytes = write_bytes
    sys.exit(main(argv))
""")


def child_env() -> dict:
    """One thread, as in the in-process reference run, and this checkout's striate."""
    source = str(Path(striate.__file__).parents[1])
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}


def without_clock(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


def csv_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as handle:
        return without_clock(list(csv.DictReader(handle)))


def finished_run(run: Path) -> dict:
    return {"metrics": json.loads((run / "metrics.json").read_text()), "rows": csv_rows(run),
            "history": without_clock(load_state(run / TRAIN_STATE)["loop"]["history"]),
            "weights": load_weights(run)[0]}


def epochs_saved_intact(run: Path, whole: dict) -> int:
    """Check that every file a killed run left is whole, loads, and agrees with the
    uninterrupted run so far; return the epochs its train state commits (0: none)."""
    if (run / "config.yaml").exists():
        config_from_yaml(run / "config.yaml")
    if (run / "run.json").exists():
        json.loads((run / "run.json").read_text())
    rows = csv_rows(run) if (run / "metrics.csv").exists() else []
    assert rows == whole["rows"][:len(rows)]
    if (run / "model.safetensors").exists():
        assert all(np.isfinite(array).all() for array in load_weights(run)[0].values())
    if (run / "metrics.json").exists():
        assert json.loads((run / "metrics.json").read_text()) == whole["metrics"]
    if not (run / TRAIN_STATE).exists():
        return 0
    state = load_state(run / TRAIN_STATE)
    history = without_clock(state["loop"]["history"])
    assert history == whole["history"][:len(history)]
    assert len(rows) in (len(history), len(history) + 1)  # metrics.csv is written first
    return state["loop"]["epoch"]


def epochs_written(run: Path) -> int:
    rows = run / "metrics.csv"
    return len(rows.read_text().splitlines()) - 1 if rows.exists() else 0


def partial_writes(run: Path) -> list[Path]:
    return list(run.glob(".*.tmp"))


class Chain:
    """One run killed KILLS_PER_CHAIN times, at seeded random points, and resumed after each
    kill until it finishes. A kill before the first epoch's checkpoint leaves nothing to
    resume: the chain then starts a new run, and records the abandoned one."""

    def __init__(self, index: int, out_dir: Path, whole: dict, loop_seconds: float):
        self.name, self.out_dir, self.whole = f"chain{index}", out_dir, whole
        self.loop_seconds = loop_seconds     # an uninterrupted run's training time
        self.rng = random.Random(PLAN_SEED + index)
        self.kills, self.started_over, self.attempts, self.run = [], [], 0, None

    def phases(self) -> list[str]:
        phases = ["write", "evaluate", "time"]
        phases += self.rng.choices(phases, k=KILLS_PER_CHAIN - len(phases))
        self.rng.shuffle(phases)
        if self.name == "chain0":
            phases[0] = "first write"   # config.yaml, before the run holds anything
        return phases

    def committed_epochs(self) -> int:
        return epochs_saved_intact(self.run, self.whole) if self.run else 0

    def next_command(self) -> list[str]:
        """The next process's arguments: resume the run, or start a new one."""
        if self.committed_epochs():
            return ["train", "--resume", str(self.run)]
        if self.run is not None:
            self.started_over.append(self.run)
        self.attempts += 1
        self.run = self.out_dir / f"{self.name}-{self.attempts}"
        return ["train", *ARGS, "--out-dir", str(self.out_dir), "--name", self.run.name]

    def go(self) -> "Chain":
        for phase in self.phases():
            if phase == "time":
                self.kill_at_a_random_time()
            else:
                self.kill_inside(phase)
            epochs_saved_intact(self.run, self.whole)
        done = subprocess.run([sys.executable, "-m", "striate", *self.next_command()],
                              capture_output=True, text=True, env=child_env(), timeout=300)
        assert done.returncode == 0, done.stderr
        return self

    def kill_inside(self, phase: str) -> None:
        done = self.committed_epochs()
        fresh, remaining = done == 0, EPOCHS - done
        if phase == "first write":
            phase, count = "write", 1
        elif phase == "evaluate" and remaining:
            count = self.rng.randint(1, VALIDATIONS_PER_EPOCH * remaining)
        else:  # at least two writes per epoch (metrics.csv, the train state), three at the end
            phase = "write"
            count = self.rng.randint(1, 2 * fresh + 2 * remaining + 3 * (remaining == 0))
        done = subprocess.run([sys.executable, "-c", KILLER, phase, str(count),
                               *self.next_command()],
                              capture_output=True, text=True, env=child_env(), timeout=300)
        where = f"{self.name}: kill at {phase} {count}"
        assert done.returncode == -signal.SIGKILL, f"{where}: {done.stderr}"
        if phase == "write":
            assert partial_writes(self.run), f"{where} left no half-written temporary file"
        self.kills.append(f"{phase} {count}")

    def kill_at_a_random_time(self) -> None:
        """A real `striate train` killed from outside at a random time: once a random number of
        the epochs left are written, a random part of an epoch later."""
        done = self.committed_epochs()
        epochs_to_wait = self.rng.randint(0, max(EPOCHS - 1 - done, 0))
        delay = self.rng.uniform(0, 0.8) * self.loop_seconds / EPOCHS
        process = subprocess.Popen([sys.executable, "-m", "striate", *self.next_command()],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=child_env())
        while not process.stdout.readline().startswith("training"):  # the loop starts next
            assert process.poll() is None, process.stderr.read()
        while epochs_written(self.run) < done + epochs_to_wait and process.poll() is None:
            time.sleep(0.002)
        time.sleep(delay)
        process.kill()
        process.communicate(timeout=300)
        if process.returncode == -signal.SIGKILL:   # else it finished first: no kill to count
            self.kills.append(f"time {done + epochs_to_wait}+{delay:.2f} s")


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_run(cli, tmp_path):
    reference = train_run(*ARGS, "--out-dir", tmp_path, "--name", "whole")
    whole = finished_run(reference)
    loop_seconds = json.loads((reference / "run.json").read_text())["training_time_s"]

    with ThreadPoolExecutor(CHAINS) as pool:
        chains = list(pool.map(lambda i: Chain(i, tmp_path, whole, loop_seconds).go(),
                               range(CHAINS)))

    for chain in chains:
        finished = finished_run(chain.run)
        assert finished["metrics"] == whole["metrics"], chain.kills
        assert finished["rows"] == whole["rows"] and finished["history"] == whole["history"]
        for name, array in whole["weights"].items():
            np.testing.assert_array_equal(finished["weights"][name], array)
        assert not partial_writes(chain.run)   # the resume removed what the kills left
    for abandoned in (run for chain in chains for run in chain.started_over):
        result = cli("train", "--resume", abandoned)
        assert result.code == 2 and "start a new run" in result.err
    kills = [kill for chain in chains for kill in chain.kills]
    print(f"{len(kills)} kills ({', '.join(kills)}), "
          f"{sum(len(chain.started_over) for chain in chains)} before the first checkpoint; "
          f"{len(chains)} of {len(chains)} resumed runs identical")
    assert len(kills) >= 10
    assert {kill.split()[0] for kill in kills} == {"write", "evaluate", "time"}
    assert any(chain.started_over for chain in chains)


def fail_second_state_write(monkeypatch, failure: str) -> None:
    """The second train state write fails: with ENOSPC half-way through writing its
    temporary file (a full disk), or with EROFS when creating it (a read-only directory)."""
    calls = []
    if failure == "full disk":
        real_write_bytes = Path.write_bytes

        def write_bytes(path, data):
            if path.name.startswith(f".{TRAIN_STATE}."):
                calls.append(path)
                if len(calls) == 2:
                    real_write_bytes(path, data[:len(data) // 2])
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write_bytes(path, data)

        monkeypatch.setattr(Path, "write_bytes", write_bytes)
    else:
        real_mkstemp = tempfile.mkstemp

        def mkstemp(*args, prefix=None, **kwargs):
            if prefix == f".{TRAIN_STATE}.":
                calls.append(prefix)
                if len(calls) == 2:
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS))
            return real_mkstemp(*args, prefix=prefix, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.parametrize("failure, reason", [("full disk", "No space left on device"),
                                             ("read-only", "Read-only file system")])
def test_a_failed_checkpoint_write_keeps_the_last_good_one(cli, tmp_path, monkeypatch, failure,
                                                          reason):
    args = (*ARGS, "--epochs", "3", "--out-dir", tmp_path)
    whole = finished_run(train_run(*args, "--name", "whole"))
    run = tmp_path / "failed"

    fail_second_state_write(monkeypatch, failure)
    result = cli("train", *args, "--name", "failed")
    monkeypatch.undo()
    assert result.code == 2 and result.err.count("\n") == 1 and "Traceback" not in result.err
    assert result.err.startswith("striate: error: cannot write")
    assert reason in result.err and f"continue with `striate train --resume {run}`" in result.err
    assert load_state(run / TRAIN_STATE)["loop"]["epoch"] == 1
    assert load_weights(run)[0].keys() == whole["weights"].keys()
    assert not partial_writes(run)

    train_run("--resume", run)
    assert finished_run(run)["metrics"] == whole["metrics"]
    assert finished_run(run)["rows"] == whole["rows"]
