import os

import pytest
import torch

from striate.cli import main


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The tests train tiny models: a second intra-op thread only adds synchronisation (seconds
    per run on a busy machine), so the suite uses one and gives the setting back afterwards.
    OMP_NUM_THREADS is how a user chooses it for every command (striate.threads), child
    processes included."""
    threads, chosen = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    torch.set_num_threads(threads)
    if chosen is None:
        del os.environ["OMP_NUM_THREADS"]
    else:
        os.environ["OMP_NUM_THREADS"] = chosen


class CliResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def cli(capsys):
    """Run `striate ARGS...` in-process; returns exit code, stdout and stderr (this command's
    only: what was printed before it, by a helpers.train_run for one, is left out)."""
    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)
    return run
