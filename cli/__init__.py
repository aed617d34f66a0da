"""The `nst` command line: one module per subcommand; what they share in `options`, `inputs`, `model`, `outputs`.

All the work happens in `core` (and, for `run-workflow`, in `client`); these
modules parse arguments, read and write files, show progress and turn engine
errors into one line on stderr, naming the flag at fault, with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from . import inspect, run_workflow, search, stylize, video, weights
from .options import flag_name
from ..core.errors import NSTError, StopRequested, inputs_named

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# Subcommand -> its module (add_parser, run), in the order `nst --help` lists them.
COMMANDS = {
    "stylize": stylize,
    "stylize-video": video,
    "search-rotation": search,
    "weights": weights,
    "inspect": inspect,
    "run-workflow": run_workflow,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nst", description="Neural style transfer with VGG16 or VGG19 (Gatys et al.).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nst` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        with inputs_named(flag_name):
            return COMMANDS[args.command].run(args)
    except (KeyboardInterrupt, StopRequested):
        print("nst: interrupted; no result was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except NSTError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        return 1
