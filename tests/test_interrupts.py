"""An interrupt ends a command with one line (or, on a data-parallel rank other than 0, none:
rank 0 speaks for the job) and exit status 130."""

import pytest

import striate.cli.info


@pytest.fixture
def interrupted_command(monkeypatch):
    """`striate models` interrupted as it starts, before it has anything to say."""
    def interrupt(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(striate.cli.info, "cmd_models", interrupt)


def test_an_interrupt_at_start_up_says_so(cli, interrupted_command, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    result = cli("models")
    assert (result.code, result.err) == (130, "striate: interrupted\n")


def test_only_rank_0_speaks_for_an_interrupted_job(cli, interrupted_command, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    assert (cli("models").code, cli("models").err) == (130, "")
    monkeypatch.setenv("RANK", "0")
    assert cli("models").err == "striate: interrupted\n"
