"""`striate evaluate RUN RUN ...` (striate.inference.evaluate_ensemble): the runs' class
probabilities averaged, each run reading the raw images through its own preprocessing, checked
against each run's own striate.load(...).predict; runs of other data refused in one line."""

import numpy as np
import pytest
from helpers import metrics_of, train_run

import striate
from striate.inference import evaluate_ensemble

QUICK = ("--dataset", "digits", "--epochs", "2", "--progress", "off", "--device", "cpu")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two digits runs that differ in everything but the data: model, engine, preprocessing
    (so inputs of different shapes: 1x8x8 pixels and 20 PCA scores) and seed; and one run on the
    same images stored as an .npz file, which is another data set."""
    out_dir = tmp_path_factory.mktemp("ensemble")
    digits = striate.load_dataset("digits")
    npz = out_dir / "digits.npz"
    np.savez(npz, x_train=digits.train.images, y_train=digits.train.labels,
             x_test=digits.test.images, y_test=digits.test.labels)
    return {
        "mlp": train_run(*QUICK, "--model", "mlp", "--model-arg", "hidden=32",
                         "--out-dir", out_dir, "--name", "mlp"),
        "pca": train_run(*QUICK, "--model", "logreg", "--engine", "numpy", "--preprocess", "pca",
                         "--pca-components", "20", "--seed", "1", "--out-dir", out_dir,
                         "--name", "pca"),
        "npz": train_run("--dataset", "npz", "--data-dir", npz, "--model", "logreg",
                         "--epochs", "1", "--progress", "off", "--out-dir", out_dir,
                         "--name", "npz"),
    }


def test_the_ensemble_averages_each_runs_own_probabilities(runs):
    test = striate.load_dataset("digits").test
    members = [runs["mlp"], runs["pca"]]
    result = evaluate_ensemble(members, device="cpu")
    # Each run's own predict applies its own preprocessing to the raw images.
    each = [striate.load(run, device="cpu").predict(test.images) for run in members]
    expected = np.mean(each, axis=0)                                     # (359, 10)
    assert result.probabilities.shape == (359, 10) and result.examples == 359
    np.testing.assert_allclose(result.probabilities, expected, rtol=1e-6, atol=1e-9)
    assert not np.allclose(each[0], each[1], atol=1e-3)   # two different models were averaged
    right = int((expected.argmax(axis=1) == test.labels).sum())
    assert result.error == (359 - right) / 359 and result.accuracy == 1 - result.error
    true_class = expected[np.arange(359), test.labels]
    assert result.loss == pytest.approx(-np.log(true_class).mean(), rel=1e-6)
    assert [member["accuracy"] for member in result.members] == \
        [metrics_of(run)["test_accuracy"] for run in members]


def test_the_command_prints_each_run_and_the_ensemble(runs, cli):
    members = [runs["mlp"], runs["pca"]]
    result = cli("evaluate", *members, "--device", "cpu")
    assert result.code == 0, result.err
    ensemble = evaluate_ensemble(members, device="cpu")
    lines = result.out.splitlines()
    assert [line.split(": test:")[0] for line in lines] == [str(run) for run in members] + \
        ["ensemble of 2"]
    for line, run in zip(lines, members):
        assert line.endswith(f"accuracy {metrics_of(run)['test_accuracy']:.2%}")
    assert lines[2] == (f"ensemble of 2: test: 359 examples, loss {ensemble.loss:.4f}, error "
                        f"{ensemble.error:.2%}, accuracy {ensemble.accuracy:.2%}")
    one = cli("evaluate", runs["mlp"], "--device", "cpu")  # one run: as before, no ensemble
    assert one.out == lines[0].removeprefix(f"{runs['mlp']}: ") + "\n"


def test_a_run_on_another_data_set_is_refused_in_one_line(runs, cli):
    result = cli("evaluate", runs["mlp"], runs["pca"], runs["npz"], "--device", "cpu")
    assert result.code == 2 and result.out == ""
    assert result.err == (f"striate: error: {runs['npz']} differs from {runs['mlp']} in its data "
                          "set: npz against digits; an ensemble's runs must share their data "
                          "set and classes\n")


def test_validation_splits_carved_by_other_seeds_are_refused(runs, cli):
    result = cli("evaluate", runs["mlp"], runs["pca"], "--split", "valid", "--device", "cpu")
    assert result.code == 2
    assert result.err == (f"striate: error: {runs['pca']}'s valid split holds other images than "
                          f"{runs['mlp']}'s (another seed or size carved it); evaluate the "
                          "ensemble on --split test\n")


def test_an_ensemble_needs_a_list_of_runs(runs):
    with pytest.raises(striate.StriateError, match="must be a list of run directories"):
        evaluate_ensemble(str(runs["mlp"]))
