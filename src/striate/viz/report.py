"""`striate report`: one self-contained HTML page, to keep, mail or open anywhere: of one run
(config, metrics, every plot, per-class accuracy), or comparing several (their curves overlaid,
the settings that differ between them, their metrics side by side).

Everything is inside the file (pictures as data: URIs, the style sheet inline), so the page
needs no server, no network and no other file.
"""

import base64
import json
from html import escape
from pathlib import Path

from striate.files import atomic_write_text
from striate.runs import CONFIG, METRICS_JSON, RUN_INFO, RunDir
from striate.viz.curves import error_figure, loss_figure, lr_figure, read_curves
from striate.viz.figures import png_bytes
from striate.viz.plots import Subject, draw, select

STYLE = """
body { font-family: sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
td, th { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5rem 0; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; }
"""


def write_report(subjects: list[Subject], out: Path) -> Path:
    """The page of one run, or the comparison of several, written to `out`."""
    html = report_html(subjects[0]) if len(subjects) == 1 else comparison_html(subjects)
    atomic_write_text(out, html)
    return out


def report_html(subject: Subject) -> str:
    run = subject.path
    config = (run / CONFIG).read_text()
    sections = [f"<h1>{escape(run.name)}</h1>", run_summary(run),
                "<h2>Final metrics</h2>", final_metrics(run)]
    drawn = draw(subject, select(subject, None))
    if drawn:
        sections.append("<h2>Plots</h2>")
        sections += [figure_html(plot.summary, stem, png) for plot, stem, png in drawn]
    if subject.checkpoint is not None:
        sections += ["<h2>Test accuracy per class</h2>", per_class_table(subject)]
    sections += [f"<h2>Config ({CONFIG})</h2>", f"<pre>{escape(config)}</pre>"]
    return page(run.name, sections)


def comparison_html(subjects: list[Subject]) -> str:
    names = run_names([subject.path for subject in subjects])
    curves = [read_curves(subject.path, name) for subject, name in zip(subjects, names)]
    configs = [flat_settings(RunDir(subject.path).config().to_dict()) for subject in subjects]
    metrics = [RunDir(subject.path).metrics() for subject in subjects]
    sections = [f"<h1>{escape(' vs '.join(names))}</h1>",
                f"<h2>Settings that differ ({CONFIG})</h2>", settings_table(names, configs),
                f"<h2>Final metrics ({METRICS_JSON})</h2>", metrics_table(names, metrics),
                "<h2>Curves</h2>"]
    sections += [figure_html(summary, stem, png_bytes(make(curves))) for stem, summary, make in (
        ("loss", "training and validation loss per epoch", loss_figure),
        ("error", "training and validation error per epoch", error_figure),
        ("lr", "learning rate at every step", lr_figure))]
    return page(" vs ".join(names), sections)


def run_names(paths: list[Path]) -> list[str]:
    """Folder names, or the paths as given where two runs' folders share a name."""
    names = [path.name for path in paths]
    return names if len(set(names)) == len(names) else [str(path) for path in paths]


def flat_settings(config: dict) -> dict:
    """config.yaml's {section: {setting: value}} as {"section.setting": value}."""
    return {f"{section}.{name}": value for section, settings in config.items()
            for name, value in settings.items()}


def settings_table(names: list[str], configs: list[dict]) -> str:
    differ = [setting for setting in configs[0]
              if any(config[setting] != configs[0][setting] for config in configs)]
    if not differ:
        return "<p>None: the runs were trained with the same settings.</p>"
    return columns_table("setting", names, [(setting, [config[setting] for config in configs])
                                            for setting in differ])


def metrics_table(names: list[str], metrics: list[dict]) -> str:
    """One row per metric any run has; "-" where a run has not finished or lacks it."""
    keys = list(dict.fromkeys(key for figures in metrics for key in figures))
    return columns_table("metric", names, [(key, [format_value(key, figures[key])
                                                  if key in figures else "-"
                                                  for figures in metrics]) for key in keys])


def columns_table(what: str, names: list[str], rows) -> str:
    """rows: (row name, one value per run); a column per run."""
    header = f"<tr><th>{escape(what)}</th>" + "".join(f"<th>{escape(name)}</th>"
                                                     for name in names) + "</tr>"
    body = "".join(f"<tr><th>{escape(str(key))}</th>"
                   + "".join(f"<td>{escape(str(value))}</td>" for value in values) + "</tr>"
                   for key, values in rows)
    return f"<table>{header}{body}</table>"


def page(title: str, sections: list[str]) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            # An empty icon: without one, browsers ask the file system for favicon.ico.
            f'<link rel="icon" href="data:,">\n'
            f"<title>striate report: {escape(title)}</title>\n<style>{STYLE}</style>\n"
            f"</head>\n<body>\n" + "\n".join(sections) + "\n</body>\n</html>\n")


def run_summary(run: Path) -> str:
    try:
        info = json.loads((run / RUN_INFO).read_text())
    except (OSError, ValueError):
        return f"<p>No readable {RUN_INFO} in this run.</p>"
    command = " ".join(str(word) for word in info.get("command", []))
    versions = ", ".join(f"{name} {version}" for name, version in info.get("versions", {}).items())
    return table([("started", info.get("started", "")), ("host", info.get("host", "")),
                  ("seed", info.get("seed", "")), ("command", command), ("versions", versions)])


def final_metrics(run: Path) -> str:
    try:
        metrics = json.loads((run / METRICS_JSON).read_text())
    except (OSError, ValueError):
        return (f"<p>No {METRICS_JSON}: the run has not finished (or was interrupted); the "
                "curves below show its completed epochs.</p>")
    return table([(name, format_value(name, value)) for name, value in metrics.items()])


def per_class_table(subject: Subject) -> str:
    rows = subject.predictions.per_class()
    header = "<tr><th>class</th><th>test images</th><th>correct</th><th>accuracy</th></tr>"
    body = "".join(f"<tr><td>{escape(row['class'])}</td>"
                   f"<td class=number>{row['examples']}</td>"
                   f"<td class=number>{row['correct']}</td>"
                   f"<td class=number>{row['accuracy']:.2%}</td></tr>" for row in rows)
    return f"<table>{header}{body}</table>"


def figure_html(summary: str, stem: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(stem)}">'
            f"<figcaption>{escape(summary)} ({escape(stem)}.png)</figcaption></figure>")


def table(rows) -> str:
    body = "".join(f"<tr><th>{escape(str(name))}</th><td>{escape(str(value))}</td></tr>"
                   for name, value in rows)
    return f"<table>{body}</table>"


def format_value(name: str, value) -> str:
    """Errors and accuracies as percentages, other floats to 4 significant digits."""
    if isinstance(value, float) and name.endswith(("error", "accuracy")):
        return f"{value:.2%}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
