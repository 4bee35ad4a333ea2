"""--json: one JSON object on stdout and nothing else there, its figures those of the run's files
and of the command's human output; and `striate --version`."""

import json
import subprocess
import sys
from dataclasses import asdict

import pytest
from PIL import Image

import striate
from helpers import metrics_of, train_run

QUICK = ("--dataset", "digits", "--model", "mlp", "--epochs", "2", "--device", "cpu")


def only_json(out: str) -> dict:
    """stdout's one line, a JSON object."""
    [line] = out.splitlines()
    result = json.loads(line)
    assert isinstance(result, dict)
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs on digits, seeds 0 and 1."""
    out = tmp_path_factory.mktemp("json-runs")
    return [train_run(*QUICK, "--progress", "off", "--seed", seed, "--out-dir", out)
            for seed in (0, 1)]


def test_train_json_is_the_summary_with_metrics_json_and_other_lines_go_to_stderr(cli,
                                                                                  tmp_path):
    result = cli("train", *QUICK, "--out-dir", tmp_path, "--json")
    summary = only_json(result.out)
    [run] = tmp_path.iterdir()
    assert result.code == 0
    assert summary["run_dir"] == str(run)
    assert summary["metrics"] == metrics_of(run)
    assert summary["training_time_s"] == json.loads((run / "run.json").read_text())[
        "training_time_s"]
    assert summary["files"] == sorted(path.name for path in run.iterdir())
    assert result.err.splitlines()[0].startswith("training mlp on digits")
    assert [line.split(":")[0] for line in result.err.splitlines()[1:]] == \
        ["epoch 1/2", "epoch 2/2"]


def test_train_json_with_quiet_writes_nothing_else(cli, tmp_path):
    result = cli("train", *QUICK, "--out-dir", tmp_path, "--json", "-q")
    [run] = tmp_path.iterdir()
    assert result.code == 0 and result.err == ""
    assert only_json(result.out)["metrics"] == metrics_of(run)


def test_evaluate_json_holds_the_figures_of_the_run_and_of_the_human_line(cli, runs):
    human = cli("evaluate", runs[0])
    result = cli("evaluate", runs[0], "--json")
    figures = only_json(result.out)
    metrics = metrics_of(runs[0])
    assert result.code == 0 and result.err == ""
    assert figures["checkpoint"] == str(runs[0])
    assert figures["split"] == "test" and figures["examples"] == 359
    assert figures["error"] == pytest.approx(metrics["test_error"], abs=1e-12)
    assert figures["loss"] == pytest.approx(metrics["test_loss"], rel=1e-6)
    assert figures["accuracy"] == 1 - figures["error"]
    assert human.out == (f"test: 359 examples, loss {figures['loss']:.4f}, error "
                         f"{figures['error']:.2%}, accuracy {figures['accuracy']:.2%}\n")


def test_evaluate_json_of_an_ensemble_holds_each_member_and_the_average(cli, runs):
    human = cli("evaluate", *runs).out.splitlines()
    result = only_json(cli("evaluate", *runs, "--json").out)
    expected = striate.evaluate_ensemble([str(run) for run in runs], device="cpu")
    assert result["members"] == expected.members
    assert result["ensemble"] == {"split": "test", "examples": 359, "loss": expected.loss,
                                  "error": expected.error, "accuracy": expected.accuracy}
    for member, line in zip(result["members"], human):
        assert line == (f"{member['checkpoint']}: test: 359 examples, loss "
                        f"{member['loss']:.4f}, error {member['error']:.2%}, accuracy "
                        f"{member['accuracy']:.2%}")
    assert human[-1].startswith(f"ensemble of 2: test: 359 examples, loss "
                                f"{expected.loss:.4f}, error {expected.error:.2%}")


def test_predict_json_holds_the_rows_of_the_human_output(cli, runs, tmp_path):
    images = []
    for shade in (0, 255):
        images.append(tmp_path / f"shade-{shade}.png")
        Image.new("L", (8, 8), shade).save(images[-1])
    human = cli("predict", runs[0], *images).out.splitlines()
    result = only_json(cli("predict", runs[0], *images, "--json").out)
    assert [row["image"] for row in result["predictions"]] == [str(path) for path in images]
    assert human == [f"{row['image']}\t{row['class']}\t{row['probability']:.4f}"
                     for row in result["predictions"]]


def test_datasets_models_and_recipes_json_hold_what_the_library_describes(cli, tmp_path):
    from striate.recipes import RECIPES

    datasets = only_json(cli("datasets", "--data-dir", tmp_path, "--json").out)
    assert datasets == {"datasets": striate.describe_datasets(str(tmp_path))}
    models = only_json(cli("models", "--json").out)["models"]
    assert [model["name"] for model in models] == \
        [spec.name for spec in striate.describe_models()]
    mlp = next(model for model in models if model["name"] == "mlp")
    assert mlp["engines"] == ["torch", "numpy"]
    assert mlp["options"] == {"hidden": [500], "activation": "tanh"}
    recipes = only_json(cli("recipes", "--json").out)["recipes"]
    assert [recipe["name"] for recipe in recipes] == list(RECIPES)
    for recipe in recipes:
        published = RECIPES[recipe["name"]].published
        assert recipe["published"] == (asdict(published) if published else None)
        assert recipe["settings"] == json.loads(json.dumps(RECIPES[recipe["name"]].settings))


def test_a_refused_command_writes_no_json(cli, tmp_path):
    result = cli("evaluate", tmp_path / "missing", "--json")
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("striate: error: ") and len(result.err.splitlines()) == 1


def test_version_prints_striates_version():
    done = subprocess.run([sys.executable, "-m", "striate", "--version"], capture_output=True,
                          text=True)
    assert done.returncode == 0 and done.stdout == f"striate {striate.__version__}\n"
