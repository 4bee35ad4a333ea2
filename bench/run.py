"""`make bench`: run every benchmark in bench/, print one JSON document and the tables, and write
each table into its section of docs/performance.md.

Benchmarks measure speed and memory; tests never do. Each bench module exposes
main(argv) -> dict and table(dict) -> str. --quick runs each with tiny repetition counts, to
check the harness in seconds; its figures mean nothing, so it leaves the page alone.

    python bench/run.py [--quick] [--only NAME ...]
"""

import argparse
import importlib
import json
import sys
from pathlib import Path

BENCHMARKS = ["bench_numpy_layers", "bench_engines", "bench_lenet", "bench_step_speed",
              "bench_time_to_accuracy"]
QUICK_ARGS = {"bench_numpy_layers": ["--repeat", "1", "--naive-repeat", "1"],
              "bench_engines": ["--repeat", "2"],
              "bench_lenet": ["--quick"],
              "bench_step_speed": ["--repeat", "2"],
              "bench_time_to_accuracy": ["--quick"]}
PAGE = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}: begin (written by make bench) -->", f"<!-- {name}: end -->"


def with_section(page: str, name: str, table: str) -> str:
    """`page` with the text between the markers of benchmark `name` replaced by `table`; a
    page without them is returned unchanged."""
    begin, end = markers(name)
    if begin not in page or end not in page:
        return page
    head, rest = page.split(begin, 1)
    return f"{head}{begin}\n{table}\n{end}{rest.split(end, 1)[1]}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny repetition counts, to check the harness; docs untouched")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=BENCHMARKS,
                        help="run only these benchmarks (default: all)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    results, tables = {}, {}
    for name in args.only:
        module = importlib.import_module(name)
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = module.main(QUICK_ARGS[name] if args.quick else [])
        tables[name] = module.table(results[name])
    print(json.dumps(results, indent=2))
    print("\n\n".join(f"## {name}\n\n{table}" for name, table in tables.items()))
    if not args.quick:
        page = PAGE.read_text()
        for name, table in tables.items():
            page = with_section(page, name, table)
        PAGE.write_text(page)


if __name__ == "__main__":
    main()
