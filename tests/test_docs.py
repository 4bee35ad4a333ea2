"""The commands in README.md and docs/ must be real: every `striate ...` line parses and its
settings validate (training itself is exercised by the other tests). A line shown with the
`striate: error:` it produces must fail with that error."""

import re
import shlex
from pathlib import Path

import pytest

from striate.cli import build_parser
from striate.cli.flags import config_from_args

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def fenced_blocks(text: str, languages=("", "sh")):
    """The contents of ``` blocks whose language is one of `languages`, fence by fence (a regex
    over the whole page would pair one block's closing fence with the next one's opening)."""
    block, language = None, None
    for line in text.splitlines():
        if line.startswith("```") and block is None:
            block, language = [], line[3:].strip()
        elif line.startswith("```"):
            if language in languages:
                yield "\n".join(block) + "\n"
            block = None
        elif block is not None:
            block.append(line)


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


def test_yaml_examples_load_as_configs(tmp_path):
    from striate.config import config_from_yaml
    blocks = [block for page in PAGES
              for block in fenced_blocks(page.read_text(), ("yaml",))]
    assert blocks
    for index, block in enumerate(blocks):
        path = tmp_path / f"{index}.yaml"
        path.write_text(block)
        config_from_yaml(path).resolve()


def test_python_examples_run(capsys):
    """Each page's ```python blocks run in order, in one namespace, as a reader would."""
    for page in PAGES:
        blocks = list(fenced_blocks(page.read_text(), ("python",)))
        namespace = {}
        for block in blocks:
            exec(compile(block, f"{page.name} example", "exec"), namespace)
