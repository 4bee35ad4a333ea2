"""The commands in README.md and docs/ must be real: every `striate ...` line parses and its
settings validate (training itself is exercised by the other tests). A line shown with the
`striate: error:` it produces must fail with that error. The YAML examples load as the settings
they write, and the Python examples print the figures their page gives."""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from striate.cli import build_parser
from striate.cli.flags import config_from_args

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def fences(text: str):
    """(language, contents, first line, last line) of each ``` block, fence by fence (a regex
    over the whole page would pair one block's closing fence with the next one's opening); the
    lines are the indices of the opening and the closing fence in text.splitlines()."""
    lines, opening = text.splitlines(), None
    for index, line in enumerate(lines):
        if line.startswith("```") and opening is None:
            opening, language = index, line[3:].strip()
        elif line.startswith("```"):
            yield language, "\n".join(lines[opening + 1:index]) + "\n", opening, index
            opening = None


def fenced_blocks(text: str, languages=("", "sh")):
    """The contents of the ``` blocks whose language is one of `languages`."""
    for language, block, _, _ in fences(text):
        if language in languages:
            yield block


def documented_commands():
    for page in PAGES:
        for block in fenced_blocks(page.read_text()):
            lines = block.replace("\\\n", " ").splitlines() + [""]
            for line, after in zip(lines, lines[1:]):
                line = line.split(" #")[0].strip().removeprefix("$ ")
                if line.startswith("striate "):
                    error = after[len("striate: error: "):] if after.startswith("striate: error: ") \
                        else None
                    yield pytest.param(line, error, id=f"{page.name}: {line[:60]}")


@pytest.mark.parametrize("line, error", list(documented_commands()))
def test_documented_command_parses(line, error, cli, tmp_path):
    if error is None:
        parse_and_validate(line)
    else:  # run it for real: the page shows exactly what the user sees
        result = cli(*shlex.split(line)[1:], *(("--out-dir", tmp_path) if " train " in line
                                                 else ()))
        assert result.code == 2 and result.err == f"striate: error: {error}\n"


def parse_and_validate(line):
    words = [w.replace("<run>", "RUN") for w in shlex.split(line)[1:]]
    if "--config" in words:   # the file is the reader's own; check the rest of the line
        index = words.index("--config")
        del words[index:index + 2]
    try:
        args = build_parser().parse_args(words)
    except SystemExit as done:  # --help
        assert done.code == 0 and "--help" in words
        return
    if args.command == "train" and not args.resume:
        config_from_args(args)   # resolves the settings: a refused one raises


def test_docs_have_commands():
    assert len(list(documented_commands())) >= 20


def test_docs_hold_no_placeholders():
    for page in PAGES:
        assert not re.search(r"\b[A-Z]+(_[A-Z]+)*_RESULT\b", page.read_text()), page.name


def test_yaml_examples_load_as_configs_holding_their_settings(tmp_path):
    import yaml

    from striate.config import config_from_yaml
    blocks = [block for page in PAGES
              for block in fenced_blocks(page.read_text(), ("yaml",))]
    assert blocks
    for index, block in enumerate(blocks):
        path = tmp_path / f"{index}.yaml"
        path.write_text(block)
        resolved = config_from_yaml(path).resolve().to_dict()
        for section, settings in yaml.safe_load(block).items():   # each as the block wrote it
            assert {key: resolved[section][key] for key in settings} == settings, block


def python_examples(text: str):
    """(code, output) for each ```python block of a page; output is the plain ``` block that
    follows it with nothing but blank lines between (the whole of what the code prints), or
    None."""
    lines, blocks = text.splitlines(), list(fences(text))
    for (language, code, _, closing), after in zip(blocks, [*blocks[1:], None]):
        if language == "python":
            shown_after = after is not None and after[0] == "" and \
                not any(line.strip() for line in lines[closing + 1:after[2]])
            yield code, after[1] if shown_after else None


def assert_stated_figures(code: str, printed: str):
    """Each print line of `code` says in its comment the figure it prints: its first number
    ("86.1% here, in about 2 s": the line prints exactly 86.1%), or one the page gives "about"
    (within a factor of 10). The line printed is the one that starts with the f-string's text
    before its first {field}; the figure printed is the first word after that text."""
    for line in code.splitlines():
        statement, _, comment = line.partition("  # ")
        opening = re.match(r'\s*print\(f?"([^"{]*)', statement)
        if not opening:
            continue
        stated = re.match(r"(about )?([-+]?\d[\d.]*(?:e[-+]?\d+)?%?)", comment.strip())
        assert stated, f"{line.strip()}: its comment must say what it prints"
        about, figure = stated.groups()
        [shown] = [text for text in printed.splitlines() if text.startswith(opening[1])]
        value = shown.removeprefix(opening[1]).split()[0]
        if about:
            ratio = float(value.rstrip("%")) / float(figure.rstrip("%"))
            assert 0.1 <= ratio <= 10, f"{shown!r}, where the page says about {figure}"
        else:
            assert value == figure, f"{shown!r}, where the page says {figure}"


PYTHON_PAGES = [page for page in PAGES if any(python_examples(page.read_text()))]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=[page.name for page in PYTHON_PAGES])
def test_python_examples_print_what_the_page_says(page, capsys, tmp_path, monkeypatch):
    """A page's ```python blocks run in order, in one namespace, as a reader's script would
    (as __main__, so a class it defines is __main__:Class), and print what the page says they
    print. They run in an empty working directory, so the runs they write (runs/...) land there
    and never in the repository. np.random is seeded first (and restored after), so that an
    example drawing from it prints the same figures every time."""
    monkeypatch.chdir(tmp_path)
    namespace, state = {"__name__": "__main__"}, np.random.get_state()
    np.random.seed(0)
    try:
        for code, output in python_examples(page.read_text()):
            exec(compile(code, f"{page.name} example", "exec"), namespace)
            printed = capsys.readouterr().out
            if output is None:
                assert_stated_figures(code, printed)
            else:
                assert printed == output
    finally:
        np.random.set_state(state)


def test_the_python_examples_state_what_they_print():
    """The check above has something to check: the pages' examples print figures they state."""
    stated = [line for page in PYTHON_PAGES for code, output in python_examples(page.read_text())
              for line in code.splitlines() if "print(" in line and (output or "  # " in line)]
    assert len(stated) >= 6
