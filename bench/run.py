"""`make bench`: run every benchmark in bench/, print one JSON document and the tables.

Benchmarks measure speed and memory; tests never do. Each bench module exposes
main(argv) -> dict and table(dict) -> str.
"""

import importlib
import json
import sys
from pathlib import Path

BENCHMARKS = ["bench_numpy_layers", "bench_engines"]


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    results, tables = {}, []
    for name in BENCHMARKS:
        module = importlib.import_module(name)
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = module.main([])
        tables.append(f"## {name}\n\n{module.table(results[name])}")
    print(json.dumps(results, indent=2))
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
