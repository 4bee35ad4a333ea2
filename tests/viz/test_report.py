"""`striate report`: one HTML file holding everything, with the run's numbers in it."""

import base64
import io
import json
import re
import shutil

import numpy as np
from PIL import Image

from helpers import train_run, tree_snapshot
from striate.viz.plots import Subject

RUN_PLOTS = 8  # loss, error, lr, filters, two feature-map layers, confusion, wrong


def links(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


def test_report_is_one_self_contained_file(cli, lenet_run, tmp_path):
    run = shutil.copytree(lenet_run, tmp_path / "run")
    before = tree_snapshot(run)
    result = cli("report", run)
    assert result.code == 0, result.err
    assert result.out.strip() == str(run / "report.html")
    assert tree_snapshot(run) == {**before, "report.html": tree_snapshot(run)["report.html"]}
    html = (run / "report.html").read_text()
    assert all(link.startswith("data:") for link in links(html))
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == RUN_PLOTS
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert image.format == "PNG" and min(image.size) >= 250
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"{metrics['test_accuracy']:.2%}" in html
    assert "model: lenet" in html and "dataset: digits" in html   # config.yaml


def test_per_class_table_matches_the_predictions(cli, lenet_run, tmp_path):
    assert cli("report", lenet_run, "--out", tmp_path / "r.html").code == 0
    html = (tmp_path / "r.html").read_text()
    table = html.split("Test accuracy per class</h2>")[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]*)</td><td class=number>(\d+)</td>"
                      r"<td class=number>(\d+)</td>", table)
    counts = Subject(lenet_run).predictions.confusion()
    assert [name for name, _, _ in rows] == [str(digit) for digit in range(10)]
    assert [int(total) for _, total, _ in rows] == list(counts.sum(axis=1))
    assert [int(right) for _, _, right in rows] == list(np.diag(counts))


def test_report_of_an_unfinished_run(cli, lenet_run, tmp_path):
    run = shutil.copytree(lenet_run, tmp_path / "run")
    (run / "metrics.json").unlink()
    (run / "model.safetensors").unlink()
    result = cli("report", run, "--out", tmp_path / "r.html")
    assert result.code == 0, result.err
    html = (tmp_path / "r.html").read_text()
    assert "has not finished" in html and "per class" not in html
    assert len(re.findall("<img ", html)) == 3                        # the curves only


def test_report_of_two_runs_compares_them(cli, tmp_path):
    runs = [train_run("--dataset", "digits", "--model", "logreg", "--progress", "off",
                      "--out-dir", tmp_path, "--name", name, *flags)
            for name, flags in (("a", ()), ("b", ("--lr", "0.2", "--epochs", "2")))]
    result = cli("report", *runs, "--out", tmp_path / "both.html")
    assert result.code == 0, result.err
    html = (tmp_path / "both.html").read_text()
    assert "<h1>a vs b</h1>" in html
    settings = html.split("Settings that differ")[1].split("</table>")[0]
    assert re.findall(r"<tr><th>([^<]*)</th><td>", settings) == [
        "optim.lr", "stop.epochs", "run.name"]
    assert "<td>0.05</td><td>0.2</td>" in settings
    table = html.split("Final metrics")[1].split("</table>")[0]
    accuracies = [f"{json.loads((run / 'metrics.json').read_text())['test_accuracy']:.2%}"
                  for run in runs]
    assert f"<tr><th>test_accuracy</th><td>{accuracies[0]}</td><td>{accuracies[1]}</td>" in table
    assert len(re.findall(r'<img src="data:image/png', html)) == 3   # loss, error, lr


def test_report_refuses_a_run_given_twice(cli, logreg_run, tmp_path):
    result = cli("report", logreg_run, logreg_run, "--out", tmp_path / "r.html")
    assert result.code == 2 and result.err.count("\n") == 1 and "given twice" in result.err
    assert not (tmp_path / "r.html").exists()
