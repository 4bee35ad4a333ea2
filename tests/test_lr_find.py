"""`striate lr-find`: the learning-rate range test on digits, its files, and its bad flags."""

import csv
import json
import shlex

import pytest

from helpers import tree_snapshot
from striate.cli import build_parser
from striate.cli.flags import config_from_args
from striate.lr_find import DIVERGENCE, learning_rates

SWEEP = ("lr-find", "--dataset", "digits", "--model", "mlp", "--model-arg", "hidden=32",
         "--progress", "off")


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_lr_find_on_digits_falls_then_rises_and_suggests_a_rate_inside_the_sweep(cli, tmp_path,
                                                                                engine):
    start, end, steps = 1e-5, 10.0, 60
    result = cli(*SWEEP, "--out-dir", tmp_path, "--start-lr", start, "--end-lr", end,
                 "--steps", steps, "--engine", engine)
    assert result.code == 0, result.err
    [folder] = tmp_path.iterdir()
    assert folder.name.startswith("lr-find-")
    assert {p.name for p in folder.iterdir()} == {"lr_find.csv", "lr_find.json", "lr_find.png"}
    assert (folder / "lr_find.png").read_bytes().startswith(b"\x89PNG")
    with open(folder / "lr_find.csv") as handle:
        rows = [{key: float(value) for key, value in row.items()}
                for row in csv.DictReader(handle)]
    smoothed = [row["smoothed"] for row in rows]
    lowest = smoothed.index(min(smoothed))
    assert min(smoothed) < 0.5 * smoothed[0]                  # it falls ...
    assert smoothed[-1] > DIVERGENCE * min(smoothed)          # ... then rises, and stops there
    assert all(s <= DIVERGENCE * min(smoothed[:i + 1]) for i, s in enumerate(smoothed[:-1]))
    assert [row["lr"] for row in rows] == pytest.approx(learning_rates(start, end,
                                                                       steps)[:len(rows)])

    summary = json.loads((folder / "lr_find.json").read_text())
    assert summary["stopped_by"] == "divergence"
    assert summary["suggested_lr"] == pytest.approx(rows[lowest]["lr"] / 10)
    assert start <= summary["suggested_lr"] < rows[-1]["lr"]     # inside, below divergence
    assert f"suggested lr {summary['suggested_lr']:.2g}" in result.out


def test_the_printed_train_command_repeats_the_settings_at_the_suggested_rate(cli, tmp_path):
    result = cli(*SWEEP, "--out-dir", tmp_path, "--steps", 40, "--optimizer", "adam",
                 "--model-arg", "hidden=16,8", "--no-channels-last")
    assert result.code == 0, result.err
    [line] = [line for line in result.out.splitlines() if line.startswith("train with: ")]
    words = shlex.split(line.removeprefix("train with: "))
    assert words[:2] == ["striate", "train"]
    trained, _ = config_from_args(build_parser().parse_args(words[1:]))
    summary = json.loads(next(tmp_path.glob("*/lr_find.json")).read_text())
    swept = summary["config"]
    assert trained.optim.lr == pytest.approx(summary["suggested_lr"], rel=0.05)
    trained.optim.lr = swept["optim"]["lr"]
    assert trained.to_dict() == swept
    assert swept["model"]["model_args"] == {"hidden": [16, 8]}


@pytest.mark.parametrize("args, message", [
    (("--start-lr", "1", "--end-lr", "0.1"), "--start-lr 1 must be below --end-lr 0.1"),
    (("--start-lr", "0.5", "--end-lr", "0.5"), "--start-lr 0.5 must be below --end-lr 0.5"),
    (("--steps", "1"), "--steps must be at least 2"),
    (("--start-lr", "0"), "--start-lr must be a positive learning rate"),
    (("--steps", "many"), "argument --steps: invalid int value"),
])
def test_bad_sweep_flags_exit_2_with_one_line(cli, tmp_path, args, message):
    result = cli(*SWEEP, "--out-dir", tmp_path, *args)
    assert result.code == 2 and message in result.err and result.err.count("\n") == 1
    assert result.err.startswith("striate: error: ")
    assert tree_snapshot(tmp_path) == {}


def test_the_rates_grow_by_one_factor_from_start_to_end():
    lrs = learning_rates(1e-6, 1.0, 7)
    assert lrs[0] == 1e-6 and lrs[-1] == pytest.approx(1.0)
    assert [b / a for a, b in zip(lrs, lrs[1:])] == pytest.approx([10.0] * 6)
