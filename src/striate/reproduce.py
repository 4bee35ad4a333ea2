"""`striate reproduce`: run recipes and set striate's figures beside the tutorials' own.

The published figures were measured on MNIST and CIFAR-10; striate measures on whatever data set
it is given. The table keeps the two apart in separate columns, each naming its data, and a row
that could not run says why instead of showing a number.
"""

import json
import time
from pathlib import Path

from striate.errors import StriateError
from striate.files import atomic_write_text
from striate.recipes import RECIPES, get_recipe, recipe_config

COLUMNS = ("recipe", "published (tutorial's data)", "measured by striate", "data",
           "epochs (iterations)", "best at iteration", "wall time")


def run_recipe(name: str, dataset: str, data_dir: str | None, quick: bool, out_dir: Path,
               seed: int, echo) -> dict:
    """Train one recipe; the row for the table (status 'measured' or 'not run: <why>')."""
    from striate.training.session import train

    recipe = get_recipe(name)
    config = recipe_config(name)
    config.data.dataset, config.data.data_dir = dataset, data_dir
    config.run.out_dir, config.run.name, config.run.progress = str(out_dir), name, "off"
    config.run.seed = seed
    if quick:
        config.stop.epochs = recipe.quick_epochs
    row = {"recipe": name, "published": recipe.published.describe() if recipe.published else None,
           "dataset": dataset, "quick": quick}
    started = time.perf_counter()
    try:
        outcome = train(config.resolve(), echo=echo)
        run, metrics = outcome.run, outcome.metrics
    except StriateError as error:
        return {**row, "status": f"not run: {error}"}
    return {**row, "status": "measured", "run": str(run.path),
            "test_accuracy": metrics["test_accuracy"],
            "valid_accuracy": metrics["best_valid_accuracy"], "epochs": metrics["epochs"],
            "iterations": metrics["iterations"], "best_iteration": metrics["best_iteration"],
            "stopped_by": metrics["stopped_by"],
            "wall_time_s": round(time.perf_counter() - started, 1)}


def measured_text(row: dict) -> str:
    if row["status"] != "measured":
        return row["status"]
    return (f"{row['test_accuracy']:.2%} test, {row['valid_accuracy']:.2%} validation"
            + (" (--quick)" if row["quick"] else ""))


def table(rows: list[dict]) -> str:
    """A markdown table: published and measured figures side by side, each with its data."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        measured = row["status"] == "measured"
        cells = (row["recipe"], row["published"] or "(striate's own recipe)", measured_text(row),
                 row["dataset"],
                 f"{row['epochs']} ({row['iterations']:,}, {row['stopped_by']})" if measured
                 else "-",
                 f"{row['best_iteration']:,}" if measured else "-",
                 f"{row['wall_time_s']:.1f} s" if measured else "-")
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def recipes_for(dataset: str) -> list[str]:
    """The recipes that name `dataset` (MNIST: the tutorials' three and striate's own four), or
    every recipe when none does; never the time-to-accuracy recipes, whose figures are means
    over seeds that `make bench` measures."""
    reproducible = {name: recipe for name, recipe in RECIPES.items() if recipe.target is None}
    own = [name for name, recipe in reproducible.items()
           if recipe.settings.get("data", {}).get("dataset") == dataset]
    return own or list(reproducible)


def reproduce(names: list[str] | None, dataset: str, data_dir: str | None, quick: bool,
              out_dir: str, seed: int = 0, echo=print) -> tuple[Path, list[dict]]:
    """Run the recipes (default: those written for `dataset`, else all) into
    OUT_DIR/reproduce-<time>/, write the table there as reproduce.md and reproduce.json, and
    return (that directory, the rows)."""
    names = names or recipes_for(dataset)
    for name in names:
        get_recipe(name)  # an unknown name fails before anything runs
    target = Path(out_dir) / time.strftime("reproduce-%Y%m%d-%H%M%S")
    try:
        target.mkdir(parents=True, exist_ok=False)
    except OSError as error:
        raise StriateError(f"cannot create {target}: {error.strerror}; pass a writable "
                           "--out-dir") from None
    rows = []
    for name in names:
        echo(f"== {name}")
        rows.append(run_recipe(name, dataset, data_dir, quick, target, seed, echo))
        atomic_write_text(target / "reproduce.json", json.dumps(rows, indent=2) + "\n")
    atomic_write_text(target / "reproduce.md", table(rows) + "\n")
    return target, rows
