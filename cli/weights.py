"""`nst weights`: where VGG weights are looked for, which file a run would use and why, or a download."""

from __future__ import annotations

import argparse

from .model import byte_progress
from .options import add_weights_args


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("weights", help="show where VGG weights are looked for, or download them")
    parser.add_argument("--download", action="store_true", help="download the weights --model names if none are found")
    add_weights_args(parser)


def run(args: argparse.Namespace) -> int:
    from ..core.weights import WEIGHTS_FILE, candidates, locate_weights, resolve_convention

    found = None
    for candidate in candidates(args.weights, args.model):
        state = "found" if candidate.exists else "missing"
        print(f"{candidate.source:>18}: {candidate.path} [{state}]")
        if candidate.exists and found is None:
            found = candidate.path
    if args.download and found is None:
        found = locate_weights(args.weights, offline=args.offline, progress=byte_progress, model=args.model)
    if found is None:
        print(f"no weights found; run `nst weights --download` or put {WEIGHTS_FILE} at one of the places above")
        return 1
    convention, reason = resolve_convention(found, args.convention)
    print(f"using {found} ({convention.name} input convention: {reason})")
    return 0
