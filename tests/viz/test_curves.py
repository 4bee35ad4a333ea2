"""The curves of `striate plot` and the comparison report: the learning rate of every step is
the rate the loop used, Schedule.lr at that step; titles and legends name the runs."""

import math
from dataclasses import replace

from helpers import train_run
from striate.runs import RunDir
from striate.training.schedules import Schedule
from striate.viz.curves import loss_figure, lr_figure, lr_per_step, read_curves, read_history

TINY = ("--dataset", "digits", "--model", "logreg", "--progress", "off")


def line(figure, label):
    return next(line for line in figure.axes[0].get_lines() if line.get_label() == label)


def test_lr_is_drawn_at_every_step_as_the_schedule_gives_it(tmp_path):
    run = train_run(*TINY, "--epochs", "3", "--schedule", "cosine", "--warmup-epochs", "1",
                    "--out-dir", tmp_path, "--name", "warm-cosine")
    config, history = RunDir(run).config(), read_history(run)
    batches = history["iteration"][0]
    schedule = Schedule(config.schedule, config.optim.lr, 3, batches)
    expected = [schedule.lr(epoch + batch / batches)
                for epoch in range(3) for batch in range(batches)]
    figure = lr_figure([read_curves(run)])
    steps = line(figure, "per step")
    assert len(steps.get_xdata()) == 3 * batches == history["iteration"][-1]
    assert list(steps.get_ydata()) == expected        # the same float operations as the loop
    assert list(steps.get_xdata())[batches - 1::batches] == [1.0, 2.0, 3.0]
    assert figure.axes[0].get_yscale() == "linear"
    assert figure.axes[0].get_title() == "warm-cosine"
    assert max(expected) == expected[batches - 1]     # the warm-up peaks at the end of epoch 1


def test_plateau_rates_come_from_the_recorded_epochs(tmp_path):
    """The plateau rule's rate follows validation: each epoch's steps take its recorded rate."""
    run = train_run(*TINY, "--epochs", "4", "--schedule", "plateau", "--plateau-epochs", "1",
                    "--plateau-factor", "0.5", "--lr", "1", "--out-dir", tmp_path,
                    "--name", "plateau")
    history = read_history(run)
    batches = history["iteration"][0]
    _, rates = lr_per_step(RunDir(run).config(), history)
    assert rates == [rate for rate in history["lr"] for _ in range(batches)]


def test_rates_the_config_does_not_give_are_drawn_at_epoch_ends_only(tmp_path):
    """A cosine resumed with another --epochs: config.yaml holds the last, so recomputing
    would draw a curve the run never followed."""
    run = train_run(*TINY, "--epochs", "2", "--out-dir", tmp_path, "--name", "resumed")
    config, history = RunDir(run).config(), read_history(run)
    longer = replace(config, stop=replace(config.stop, epochs=4))
    assert lr_per_step(config, history) is not None
    assert lr_per_step(longer, history) is None
    curves = replace(read_curves(run), lr_steps=None)
    labels = [line.get_label() for line in lr_figure([curves]).axes[0].get_lines()]
    assert labels == ["at epoch end (metrics.csv)"]


def test_overlaid_curves_name_each_run(tmp_path):
    runs = [train_run(*TINY, "--epochs", "2", "--lr", lr, "--out-dir", tmp_path, "--name", name)
            for lr, name in (("0.05", "slow"), ("0.5", "fast"))]
    curves = [read_curves(run) for run in runs]
    figure = loss_figure(curves)
    assert figure.axes[0].get_title() == "slow vs fast"
    assert {line.get_label() for line in figure.axes[0].get_lines()} == {
        "slow: train loss", "slow: valid loss", "fast: train loss", "fast: valid loss"}
    fast = line(figure, "fast: valid loss")
    assert list(fast.get_ydata()) == read_history(runs[1])["valid_loss"]
    rates = lr_figure(curves)
    assert math.isclose(max(line(rates, "fast: per step").get_ydata()), 0.5, rel_tol=1e-3)
