"""The layers of src/striate, held by the import graph: no module imports one from a layer above
its own, and no two modules import each other, directly or round a circle. Every import counts,
the ones inside functions too: a lazy import is still a dependency."""

import ast
from pathlib import Path

import striate

SOURCE = Path(striate.__file__).parent

# Bottom to top. A module may import its own layer and the ones below.
LAYERS = [
    ("errors", "files", "version", "threads"),             # leaves
    ("config", "registry"),                                # settings, the model vocabulary
    ("checkpoint", "runs", "data"),                        # files on disk, data sets
    ("training", "engines"),                               # the loop and the engine boundary
    ("torch", "numpy", "dlt", "knn"),                      # the engines; the tutorials' classes
    ("checks", "inference", "export", "recipes", "reproduce", "tune"),  # on the boundary
    ("viz", "lr_find"),                                    # pictures (lr-find draws its curve)
    ("api",),                                              # striate.train, load, Trained
    ("cli", "__main__", "__init__"),                       # the command line
]


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, package: str) -> set[str]:
    """The striate modules a module's source imports (from x import y: x.y if that is a
    module, else x)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names |= {f"{base}.{alias.name}" for alias in node.names} | {base}
    return {name for name in names if name.split(".")[0] == "striate"}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(SOURCE.rglob("*.py"))
    modules = {module_name(path): path for path in paths}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = {target for target in imported(ast.parse(path.read_text()), package)
                   if target in modules and target != name}
        graph[name] = targets
    return graph


def layer_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else "__init__"
    for index, members in enumerate(LAYERS):
        if part in members:
            return index
    raise AssertionError(f"{module} is in no layer of tests/test_architecture.py; add it")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each strongly connected group of two or more modules (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_lazy_imports():
    """The helper itself: an import inside a function is an edge."""
    tree = ast.parse("def f():\n    from striate.data import pipeline\n")
    assert imported(tree, "striate") == {"striate.data", "striate.data.pipeline"}


def test_the_cycle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_module_imports_another_round_a_circle():
    assert cycles(import_graph()) == []


def test_no_module_imports_from_a_layer_above_its_own():
    upward = sorted(f"{module} -> {target}" for module, targets in import_graph().items()
                    for target in targets if layer_of(target) > layer_of(module))
    assert upward == []


def test_every_engine_independent_module_stays_out_of_the_engines():
    """data, training and the modules below them never import torch or NumPy-engine code, so
    that both engines share them (the engine is chosen at run time through striate.engines)."""
    engines = {"torch", "numpy"}
    shared = [module for module in import_graph() if layer_of(module) < layer_of("striate.torch")]
    reached = {module: {target for target in import_graph()[module]
                        if target.split(".")[1:2] and target.split(".")[1] in engines}
               for module in shared}
    assert {module: targets for module, targets in reached.items() if targets} == {}
