"""The command line sits on top of the library: nothing below it imports it, its command modules
share flags through cli/flags.py only, and `striate --help` loads none of the heavy libraries."""

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "striate"


def imported(path: Path) -> set[str]:
    """The modules a file imports, anywhere in it (handlers import theirs inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return names


def test_the_library_never_imports_the_cli():
    library = [p for p in SRC.rglob("*.py") if "cli" not in p.relative_to(SRC).parts
               and p.name != "__main__.py"]
    offenders = {str(p.relative_to(SRC)) for p in library
                 if any(name == "striate.cli" or name.startswith("striate.cli.")
                        for name in imported(p))}
    assert offenders == set()


def test_command_modules_import_flags_not_the_cli_package():
    commands = [p for p in (SRC / "cli").glob("*.py") if p.name != "__init__.py"]
    offenders = {p.name for p in commands if "striate.cli" in imported(p)}
    assert offenders == set()


def test_help_imports_no_heavy_library():
    code = ("import sys\nfrom striate.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\nprint(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'numpy', 'torch', 'matplotlib', 'optuna', 'sklearn', 'PIL', 'tqdm'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "[]"
