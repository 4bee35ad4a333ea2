"""--threads: striate computes with the cores this process may use, not the machine's count."""

import json
import os
import subprocess
import sys

import pytest
import torch

import striate
from striate.threads import cpu_quota, default_threads, usable_cores, use_threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_usable_cores_follow_the_affinity():
    """A process pinned to one CPU (taskset -c 0) counts one core, whatever the machine has."""
    code = ("import os; os.sched_setaffinity(0, {0}); "
            "from striate.threads import usable_cores; print(usable_cores())")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert child.stdout.strip() == "1"
    assert 1 <= usable_cores() <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize("text, cpus", [("200000 100000", 2), ("150000 100000", 2),
                                        ("50000 100000", 1), ("max 100000", None), ("", None)])
def test_a_cgroup_quota_caps_the_cores(tmp_path, text, cpus):
    (tmp_path / "cpu.max").write_text(text)
    assert cpu_quota(tmp_path / "cpu.max") == cpus
    assert cpu_quota(tmp_path / "missing") is None


def test_omp_num_threads_is_the_users_choice_and_ranks_share_the_rest(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("striate.threads.usable_cores", lambda: 8)
    assert (default_threads(), default_threads(2), default_threads(3), default_threads(16)) == \
        (8, 4, 2, 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads(2) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    assert default_threads() == 8


def test_use_threads_sets_torch_and_blas(restore_threads):
    from threadpoolctl import threadpool_info

    assert use_threads(1) == 1 and torch.get_num_threads() == 1
    assert all(pool["num_threads"] == 1 for pool in threadpool_info()
               if pool["user_api"] == "blas")


def test_training_runs_with_the_threads_asked_for(restore_threads, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    seen = []

    def train(threads):
        return striate.train("logreg", "digits", epochs=2, threads=threads, progress="off",
                             run_dir=tmp_path / str(threads), callbacks=[
                                 lambda row: seen.append(torch.get_num_threads())])

    trained = train(threads=1)
    assert "threads: 1" in (trained.run_dir / "config.yaml").read_text()
    train(threads=None)   # OMP_NUM_THREADS's
    assert seen == [1, 1, 2, 2]


@pytest.mark.parametrize("argv, message", [
    (["train", "--dataset", "digits", "--threads", "0"], "--threads must be a number of threads"),
    (["evaluate", "runs/x", "--threads", "two"], "must be a number of threads from 1 to"),
    (["knn", "--threads", "-1"], "must be a number of threads from 1 to"),
])
def test_a_bad_thread_count_is_one_line(cli, argv, message, tmp_path):
    result = cli(*argv, *(["--out-dir", tmp_path] if argv[0] == "train" else []))
    assert result.code == 2 and message in result.err and len(result.err.splitlines()) == 1


def test_each_data_parallel_rank_gets_its_share(monkeypatch):
    """--nproc 2 on 4 usable cores: 2 threads a rank; with --threads 1, 1 each."""
    from striate.torch import distributed

    started = []

    class Finished:
        def __init__(self, argv, env, **options):
            started.append(env["OMP_NUM_THREADS"])

        def poll(self):
            return 0

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("striate.threads.usable_cores", lambda: 4)
    monkeypatch.setattr(distributed.subprocess, "Popen", Finished)
    assert distributed.launch(["train"], 2) == 0
    assert distributed.launch(["train"], 2, threads=1) == 0
    assert started == ["2", "2", "1", "1"]


def test_evaluate_uses_the_threads_asked_for(cli, restore_threads, tmp_path):
    run = striate.train("logreg", "digits", epochs=1, run_dir=tmp_path / "run",
                        progress="off").run_dir
    torch.set_num_threads(2)
    result = cli("evaluate", run, "--threads", "1", "--json")
    assert result.code == 0 and json.loads(result.out)["examples"] > 0
    assert torch.get_num_threads() == 1
