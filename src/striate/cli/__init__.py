"""The `striate` command. One module per command family adds its subcommands with
`add_commands(subparsers)`; the flags they share are in flags.py. Handlers import the library
when they run, so that `striate --help` stays fast.

Every user-fixable problem ends in one line on stderr and exit status 2.
"""

import argparse
import os
import sys

from striate.cli import inference, info, knn, lr_find, train, tune, viz
from striate.cli.flags import Parser
from striate.errors import StriateError
from striate.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="striate", description="Deep-learning image classification, the "
                    "tutorials' way, fast.")
    parser.add_argument("--version", action="version", version=f"striate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    # The order of `striate --help`.
    for module in (train, inference, info, tune, lr_find, knn, viz):
        module.add_commands(commands)
    return parser


def main(argv=None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
        args = build_parser().parse_args(argv)
        args.argv = argv
        status = args.handler(args)
    except StriateError as error:
        print(f"striate: error: {error}", file=sys.stderr)
        return 2
    except MemoryError:
        print("striate: error: out of memory; use a smaller --image-size, --batch-size or "
              "data set", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        if os.environ.get("RANK", "0") == "0":   # rank 0 speaks for a data-parallel job
            print(f"striate: {str(interrupt) or 'interrupted'}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `striate models | head`: the reader left, which is not an error
        sys.stdout = open(os.devnull, "w")
        return 0
    return status or 0
