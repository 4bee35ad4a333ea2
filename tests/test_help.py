"""`striate COMMAND --help` describes every option and positional once, with its default once:
walked over the parser the command line itself builds."""

import argparse
import re

import pytest

from striate.cli import build_parser, main


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [commands] = [action for action in parser._actions
                  if isinstance(action, argparse._SubParsersAction)]
    return dict(commands.choices)


COMMANDS = subcommands()
SHOWN_BY_ARGPARSE = (argparse._HelpAction, argparse._VersionAction)


def arguments(parser: argparse.ArgumentParser):
    """(name, action, help as --help prints it) of each option and positional."""
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, SHOWN_BY_ARGPARSE):
            continue
        name = "/".join(action.option_strings) or action.metavar or action.dest
        yield name, action, formatter._expand_help(action) if action.help else ""


def required_positional(action: argparse.Action) -> bool:
    return not action.option_strings and action.nargs not in ("?", "*")


def test_the_walk_sees_every_command():
    assert {"train", "check", "evaluate", "predict", "datasets", "download", "models",
            "recipes", "reproduce", "tune", "cv", "lr-find", "knn", "plot",
            "report"} <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_argument_is_described_with_its_default_once(command):
    undescribed, defaults_not_once = [], []
    for name, action, text in arguments(COMMANDS[command]):
        if not text.strip():
            undescribed.append(name)
        # A required positional has no default to give; every other argument says its default
        # exactly once, as "(default: X)" or in words ("default for pca-whiten: all").
        expected = 0 if required_positional(action) else 1
        if len(re.findall(r"\bdefault\b", text)) != expected:
            defaults_not_once.append(f"{name}: {text}")
    assert undescribed == []
    assert defaults_not_once == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_no_help_says_default_none(command):
    """None is Python's word for an unset option: the help says what being unset means."""
    said = [name for name, _, text in arguments(COMMANDS[command]) if "(default: None)" in text]
    assert said == []


def printed_help(*words: str, capsys) -> str:
    """What `striate WORDS... --help` prints, its lines joined (argparse wraps a help, so a
    default may span two lines); the command must exit 0 and write nothing to stderr."""
    with pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    printed = capsys.readouterr()
    assert done.value.code == 0 and printed.err == ""
    return " ".join(printed.out.split())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_help_exits_0_and_shows_no_default_twice(command, capsys):
    text = printed_help(command, capsys=capsys)
    assert text.startswith(f"usage: striate {command}")
    assert not re.search(r"\(default: [^)]*\)\s*\(default: ", text)


def test_the_top_level_help_lists_the_commands_and_the_version_flag(capsys):
    text = printed_help(capsys=capsys)
    assert "--version" in text and all(command in text for command in COMMANDS)


def test_models_and_recipes_help_say_what_they_list(capsys):
    assert "Every model either engine builds, by the name --model takes" in \
        printed_help("models", capsys=capsys)
    assert "The named recipes --recipe NAME starts from" in \
        printed_help("recipes", capsys=capsys)
