"""Placeholder being written now; registers no command yet."""


def add_commands(commands) -> None:
    """Add this module's subcommands to the `striate` parser's subparsers."""
