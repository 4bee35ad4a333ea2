"""The NumPy engine needs no torch: train, resume, evaluate, predict and check where importing
torch fails, as it does where torch is not installed, with the same figures as with torch."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

import striate
from helpers import train_run
from striate.checkpoint import load_weights
from striate.runs import TRAIN_STATE

ARGS = ("--engine", "numpy", "--model", "mlp", "--dataset", "digits", "--progress", "off")

# Runs each `striate` command line of argv (a JSON list of lists) in one process in which every
# `import torch` fails, then prints the names whose import was refused (none, for a pass).
WITHOUT_TORCH = textwrap.dedent("""
    import json, sys

    refused = []

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                refused.append(name)
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, NoTorch())
    from striate.cli import main

    for argv in json.loads(sys.argv[1]):
        print("exit", main(argv), flush=True)
    print(json.dumps({"refused": refused, "imported": "torch" in sys.modules}))
""")


def run_without_torch(*commands: list) -> tuple[list[str], dict, str]:
    """(each command's output lines, what the child says of torch, its stderr)."""
    source = str(Path(striate.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    argv = json.dumps([[str(word) for word in command] for command in commands])
    child = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, argv], env=env,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    *lines, torch = child.stdout.splitlines()
    return lines, json.loads(torch), child.stderr


def train_and_resume(run: Path) -> list[list]:
    """Two epochs, then the run resumed and extended to three."""
    return [["train", *ARGS, "--epochs", "2", "--out-dir", run.parent, "--name", run.name],
            ["train", "--resume", run, "--epochs", "3"]]


def test_numpy_engine_runs_without_torch(tmp_path):
    run = tmp_path / "notorch" / "run"
    image = tmp_path / "digit.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4).save(image)

    lines, torch, _ = run_without_torch(*train_and_resume(run), ["evaluate", run],
                                        ["predict", run, image], ["check", *ARGS],
                                        ["lr-find", *ARGS, "--out-dir", tmp_path / "lr"],
                                        ["plot", run, "--out", tmp_path / "plots"])

    # Each command only looked for torch (to set its threads; `plot` for the feature maps too),
    # and went on without it.
    assert set(torch["refused"]) == {"torch"} and not torch["imported"]
    assert [line for line in lines if line.startswith("exit")] == ["exit 0"] * 7
    # every plot but the feature maps, which torch's forward hooks catch
    assert {path.stem for path in (tmp_path / "plots").iterdir()} == {
        "loss", "error", "lr", "filters", "confusion", "wrong"}
    assert len(list(tmp_path.glob("lr/lr-find-*/lr_find.png"))) == 1
    assert {"model.safetensors", "metrics.json", TRAIN_STATE} <= {p.name for p in run.iterdir()}
    # The oracle: the same commands in this process, where torch is importable.
    oracle = tmp_path / "torch" / "run"
    for command in train_and_resume(oracle):
        assert command[0] == "train" and train_run(*command[1:]) == oracle
    metrics = json.loads((oracle / "metrics.json").read_text())
    assert json.loads((run / "metrics.json").read_text()) == metrics
    weights, expected = load_weights(run)[0], load_weights(oracle)[0]
    assert weights.keys() == expected.keys()
    assert all(np.array_equal(weights[name], expected[name]) for name in expected)
    assert f"error {metrics['test_error']:.2%}" in "\n".join(lines)
    assert f"{image}\t" in "\n".join(lines)


def test_without_torch_the_torch_engine_and_models_say_what_is_missing(tmp_path):
    """`striate models` lists every model from the shared vocabulary; the torch engine, asked
    for, is a one-line error naming the fix (exit 2), not an ImportError."""
    lines, torch, err = run_without_torch(["models"], ["train", "--dataset", "digits",
                                                       "--out-dir", tmp_path])
    assert [line for line in lines if line.startswith("exit")] == ["exit 0", "exit 2"]
    assert any(line.startswith("resnet ") for line in lines)
    assert torch["imported"] is False
    assert err == ("striate: error: the torch engine needs PyTorch, which is not installed: "
                   "`pip install torch`, or use --engine numpy\n")
    assert not any(tmp_path.iterdir())
