"""What is here and what striate knows: `datasets`, `download`, `models`, `recipes`, and
`reproduce` (the recipes run beside their published figures)."""

from dataclasses import asdict

from striate.cli.flags import add_json_flag, print_json


def cmd_datasets(args) -> None:
    from striate.data import describe_datasets

    rows = describe_datasets(args.data_dir)
    if args.json:
        print_json({"datasets": rows})
        return
    for row in rows:
        status = f"available  {row['where']}" if row["available"] else f"missing    {row['how']}"
        print(f"{row['name']:<14} {status}")


def cmd_download(args) -> None:
    from striate.data import fetch_dataset

    print(f"{args.name}: {fetch_dataset(args.name, args.data_dir)}")


def cmd_models(args) -> None:
    from striate.registry import describe_models

    specs = describe_models()
    if args.json:
        print_json({"models": [{"name": spec.name, "description": spec.description,
                                "engines": list(spec.engines), "options": spec.options}
                               for spec in specs]})
        return
    for spec in specs:
        options = ", ".join(f"{key}={value!r}" for key, value in spec.options.items())
        print(f"{spec.name:<10} {spec.description}\n{'':<10} engines: "
              f"{', '.join(spec.engines)}; options: {options or 'none'}")


def cmd_recipes(args) -> None:
    from striate.recipes import RECIPES

    if args.json:
        print_json({"recipes": [recipe_json(recipe) for recipe in RECIPES.values()]})
        return
    for recipe in RECIPES.values():
        settings = "; ".join(f"{section}: " + ", ".join(f"{k}={v}" for k, v in values.items())
                             for section, values in recipe.settings.items())
        published = recipe.published.describe() if recipe.published else "striate's own"
        target = f"\n{'':<16} target: {recipe.target.describe()}" if recipe.target else ""
        print(f"{recipe.name:<16} {recipe.summary}\n{'':<16} published: {published}{target}\n"
              f"{'':<16} settings: {settings}")


def recipe_json(recipe) -> dict:
    published = asdict(recipe.published) if recipe.published else None
    target = asdict(recipe.target) if recipe.target else None
    return {"name": recipe.name, "summary": recipe.summary, "settings": recipe.settings,
            "published": published, "target": target}


def cmd_reproduce(args) -> None:
    from striate.reproduce import reproduce, table

    names = [name.strip() for name in args.recipes.split(",")] if args.recipes else None
    target, rows = reproduce(names, args.dataset, args.data_dir, args.quick, args.out_dir,
                             args.seed, echo=lambda text: print(text, flush=True))
    print(table(rows))
    print(f"table and runs in {target}")


def add_commands(commands) -> None:
    """Add `datasets`, `download`, `models`, `recipes` and `reproduce` to the `striate` parser's
    subparsers."""
    datasets = commands.add_parser("datasets", help="which data sets are here and how to get "
                                   "the others")
    datasets.add_argument("--data-dir", default=None, help="look in this folder instead (default: "
                          "the usual places: $STRIATE_DATA, the user cache, "
                          "/usr/share/datasets)")
    add_json_flag(datasets, '{"datasets": [{"name", "available", "where" (a path or null), '
                            '"how" (to get it)} per data set]}')
    datasets.set_defaults(handler=cmd_datasets)

    download = commands.add_parser("download", help="fetch a data set's files (checked by "
                                   "their digests)")
    download.add_argument("name", help="the data set: mnist, fashion-mnist or cifar10")
    download.add_argument("--data-dir", default=None, help="where to put it (default: "
                          "$STRIATE_DATA if set, else the user cache, e.g. ~/.cache/striate)")
    download.set_defaults(handler=cmd_download)

    models = commands.add_parser("models", help="the models and their options",
                                 description="Every model either engine builds, by the name "
                                 "--model takes: its engines, and its options with their "
                                 "defaults (set with --model-arg KEY=VALUE).")
    add_json_flag(models, '{"models": [{"name", "description", "engines", "options" '
                          '({option: its value when --model-arg leaves it out})} per model]}')
    models.set_defaults(handler=cmd_models)

    recipes = commands.add_parser("recipes", help="the named recipes and their settings",
                                  description="The named recipes --recipe NAME starts from: "
                                  "the settings each sets, and the figure its source published "
                                  "(`striate reproduce` measures them).")
    add_json_flag(recipes, '{"recipes": [{"name", "summary", "settings" ({section: {option: '
                           'value}}), "published" ({"accuracy", "split", "dataset", "source", '
                           '"at_least"} or null), "target" ({"accuracy", "seconds"} or '
                           'null)} per recipe]}')
    recipes.set_defaults(handler=cmd_recipes)

    reproduce = commands.add_parser("reproduce", help="run recipes and print the tutorials' "
                                    "published figures beside striate's measured ones")
    reproduce.add_argument("--recipes", default=None, metavar="A,B",
                           help="comma-separated recipe names (default: the recipes written "
                                "for --dataset, e.g. the tutorials' three and striate's four "
                                "for mnist; all of them for a data set none names)")
    reproduce.add_argument("--dataset", default="fashion-mnist",
                           help="data set to measure on (the published figures are MNIST's "
                                "and CIFAR-10's)")
    reproduce.add_argument("--data-dir", default=None, help="where the data set is (default: "
                           "the usual places, as `striate datasets` shows)")
    reproduce.add_argument("--quick", action="store_true",
                           help="a few epochs per recipe: checks the pipeline, not the figures")
    reproduce.add_argument("--seed", type=int, default=0, help="random seed of every run")
    reproduce.add_argument("--out-dir", default="runs", help="parent of the reproduce-<time> "
                           "directory holding the table and the runs")
    reproduce.set_defaults(handler=cmd_reproduce)
