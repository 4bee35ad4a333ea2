"""A `striate tune` worker killed in the middle of a trial, on SQLite and on a real PostgreSQL
server: its trial is found stale by its missing heartbeat, marked FAIL and its grid point queued
again, so that after a rerun every point is done exactly once and nothing stays RUNNING.

The PostgreSQL server is Debian's `postgresql` package, started here on a free local port in a
temporary data directory (as the `postgres` user when the tests run as root, which the server
refuses to run as). Without the package the test is skipped, unless STRIATE_REQUIRE_POSTGRES=1
(CI installs the package and sets it) makes that a failure."""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_S = 1           # stale after 3 s without one (STALE_BEATS)
# Each trial trains ~3 s (200 epochs of logistic regression on the 8x8 digits), long enough
# to kill a worker in the middle of one.
WORKER = ("tune", "--dataset", "digits", "--model", "logreg", "--epochs", "200",
          "--progress", "off", "--threads", "1", "--pruner", "none", "--strategy", "grid",
          "--param", "lr=[0.01, 0.03, 0.1, 0.3]", "--study", "dead-worker",
          "--heartbeat", str(HEARTBEAT_S))
POINTS = [0.01, 0.03, 0.1, 0.3]


def postgres_program(name: str) -> str | None:
    """Debian keeps the server's programs out of PATH, in /usr/lib/postgresql/VERSION/bin."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = postgres_program("initdb"), postgres_program("pg_ctl")
    if initdb is None or pg_ctl is None:
        if os.environ.get("STRIATE_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is not installed (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    directory = Path(tempfile.mkdtemp(prefix="striate-postgres-"))
    as_server_user = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(directory, "postgres")
        as_server_user = ["runuser", "-u", "postgres", "--"]
    data, port = directory / "data", free_port()
    try:
        subprocess.run([*as_server_user, initdb, "-D", data, "-A", "trust", "-U", "striate",
                        "--no-sync"], check=True, capture_output=True)
        subprocess.run([*as_server_user, pg_ctl, "-D", data, "-l", directory / "server.log",
                        "-w", "-o", f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 "
                        "-c fsync=off", "start"], check=True, capture_output=True)
        yield f"postgresql://striate@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_server_user, pg_ctl, "-D", data, "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


def start_worker(storage: str, out_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "striate", *WORKER, "--storage", storage,
                             "--out-dir", str(out_dir)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def trials(storage: str) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="dead-worker", storage=storage).get_trials()


def wait_for_running(storage: str, count: int, workers: list, timeout_s: float = 120):
    """The RUNNING trials, once there are `count` of them."""
    from optuna.trial import TrialState

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert all(worker.poll() is None for worker in workers), "a worker ended early"
        with_study = [trial for trial in study_trials(storage)
                      if trial.state == TrialState.RUNNING]
        if len(with_study) == count:
            return with_study
        time.sleep(0.05)
    raise AssertionError(f"never {count} trials running at once")


def study_trials(storage: str) -> list:
    """The study's trials; none while the first worker is still creating it."""
    import optuna

    try:
        return trials(storage)
    except KeyError:  # no such study yet
        return []
    except optuna.exceptions.StorageInternalError:
        return []


def kill_a_worker_mid_trial_then_rerun(storage: str, out_dir: Path) -> None:
    from optuna.trial import TrialState

    workers = [start_worker(storage, out_dir)]
    wait_for_running(storage, 1, workers)  # the first creates the study and queues the grid
    workers.append(start_worker(storage, out_dir))
    running = wait_for_running(storage, 2, workers)
    killed_at = time.monotonic()
    workers[0].send_signal(signal.SIGKILL)
    survivor_out, survivor_err = workers[1].communicate(timeout=300)
    workers[0].wait()
    assert workers[1].returncode == 0, survivor_err
    time.sleep(max(0.0, killed_at + 3 * HEARTBEAT_S + 1.5 - time.monotonic()))  # now stale
    rerun = start_worker(storage, out_dir)
    rerun_out, rerun_err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, rerun_err

    final = trials(storage)
    states = [trial.state for trial in final]
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states, states
    done = sorted(trial.params["lr"] for trial in final if trial.state == TrialState.COMPLETE)
    assert done == POINTS  # every point exactly once
    failed = [trial for trial in final if trial.state == TrialState.FAIL]
    # The killed worker's trial is the one that failed: one of the two that were running.
    assert len(failed) == 1 and failed[0].number in {trial.number for trial in running}
    retried = [trial for trial in final if trial.system_attrs.get("failed_trial") is not None]
    assert [trial.system_attrs["failed_trial"] for trial in retried] == [failed[0].number]
    assert retried[0].state == TrialState.COMPLETE
    assert retried[0].params == failed[0].params
    assert "Traceback" not in survivor_err + rerun_err and "Warning" not in survivor_err + rerun_err


def test_a_killed_workers_trial_is_requeued_on_sqlite(tmp_path):
    kill_a_worker_mid_trial_then_rerun(f"sqlite:///{tmp_path / 'tune.db'}", tmp_path)


def test_a_killed_workers_trial_is_requeued_on_postgresql(postgres_url, tmp_path):
    kill_a_worker_mid_trial_then_rerun(postgres_url, tmp_path)


def test_a_stalled_worker_drops_the_trial_another_found_stale(tmp_path):
    """A worker that was only suspended past the grace period finds at its next epoch that its
    trial was failed (and its point queued again) by another worker: it stops that trial without
    a word, tells the study nothing, and takes the next point."""
    from optuna.trial import TrialState

    from striate.config import TrainConfig
    from striate.tune.search import open_tuning, search
    from striate.tune.space import parse_space

    base = TrainConfig()
    base.data.dataset, base.model.model, base.stop.epochs = "digits", "logreg", 3
    base.run.out_dir, base.run.progress = str(tmp_path), "off"
    space = parse_space(None, ["lr=[0.01, 0.1]"])
    tuning = open_tuning(base, space, "grid", 2, "none", "stalled",
                         f"sqlite:///{tmp_path / 'tune.db'}", heartbeat_s=1)
    storage = tuning.storage
    real_report = storage.set_trial_intermediate_value
    failed = []

    def found_stale_meanwhile(trial_id, step, value):  # what another worker's check would do
        if not failed:
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            failed.append(trial_id)
        return real_report(trial_id, step, value)

    storage.set_trial_intermediate_value = found_stale_meanwhile
    lines = []
    search(tuning, None, None, seed=0, progress=False, echo=lines.append)
    states = [trial.state for trial in tuning.study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.COMPLETE], states
    assert lines[0].startswith("trial 0 FAIL") and lines[1].startswith("trial 1 COMPLETE")
    assert len(failed) == 1
