"""`nst run-workflow`: run a ComfyUI workflow headless on one or more ComfyUI servers.

The servers do all the work; this door only turns the command line into
jobs for `nst_nodes.client`: it reads a workflow (API format, or the UI
format converted through the server's `/object_info`), applies --set and
--input, makes one job per --batch image, and prints what each job wrote.
Only the servers named on the command line are contacted, and nothing is
written outside `--out`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..client.jobs import Job, JobResult, run_jobs, safe_name, say
from ..client.server import Server
from ..client.workflow import Prompt, api_prompt, apply_sets, is_ui_format, load_workflow, resolve_input, ui_to_api
from ..core.errors import InputError

EXIT_FAILED = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def add_parser(commands: Any) -> None:
    """Register `nst run-workflow` on the `nst` command's subparsers."""
    run = commands.add_parser(
        "run-workflow",
        help="run a ComfyUI workflow on ComfyUI server(s) and download its outputs",
        description=(
            "Queue a workflow (API or UI format) on ComfyUI servers, follow its progress and download the "
            "outputs. With --batch and several --server, the images are spread over the servers."
        ),
    )
    run.add_argument("workflow", metavar="WORKFLOW.json", help="the workflow, API format or the web UI's saved format")
    run.add_argument("--server", action="append", required=True, metavar="http://HOST:PORT", help="a ComfyUI server; repeat to use several")
    run.add_argument("--input", action="append", default=[], metavar="NAME=PATH",
                     help="upload an image for node NAME (id or title; NODE.INPUT for a given input); an image node without an upload is replaced by Load Image")  # fmt: skip
    run.add_argument("--set", action="append", default=[], dest="sets", metavar="NODE.INPUT=VALUE",
                     help="override an input; VALUE is read as JSON if it parses (50, 0.5, true), else as text")  # fmt: skip
    run.add_argument("--out", required=True, metavar="DIR", help="where the outputs are written (nothing is written elsewhere)")
    run.add_argument("--batch", metavar="DIR", help="run once per image in DIR, fed to --batch-input; outputs go to OUT/<image name>/")
    run.add_argument("--batch-input", default="content", metavar="NAME", help="the node --batch images go to (id or title; default: content)")
    run.add_argument("--timeout", type=float, default=0, metavar="SECONDS", help="interrupt a run that takes longer (default: no limit)")
    run.add_argument("--overwrite", action="store_true", help="replace output files that already exist")


def _split_pair(item: str, what: str) -> tuple[str, str]:
    name, eq, value = item.partition("=")
    if not eq or not name.strip() or not value.strip():
        raise InputError(f"{what}: {item!r} is not NAME=PATH")
    return name.strip(), value.strip()


def _image_file(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{what}: {path} is not a file")
    return path


def build_jobs(args: argparse.Namespace, prompt: Prompt, object_info: Mapping[str, Any] | None) -> list[Job]:
    """The single job, or one job per --batch image, each with its uploads and output folder."""
    apply_sets(prompt, args.sets)
    uploads = []
    for item in args.input:
        name, path = _split_pair(item, "input")
        uploads.append((resolve_input(prompt, name, object_info), _image_file(path, f"input {name}")))
    out = Path(args.out)
    if not args.batch:
        return [Job(name="", prompt=prompt, uploads=uploads, out_dir=out)]
    folder = Path(args.batch).expanduser()
    if not folder.is_dir():
        raise InputError(f"batch: {folder} is not a folder")
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise InputError(f"batch: {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    slot = resolve_input(prompt, args.batch_input, object_info)
    stems = [safe_name(p.stem, "image") for p in images]
    names = [stem if stems.count(stem) == 1 else safe_name(p.name, "image") for stem, p in zip(stems, images)]
    return [Job(name=name, prompt=prompt, uploads=[*uploads, (slot, image)], out_dir=out / name) for name, image in zip(names, images)]


def run(args: argparse.Namespace) -> int:
    """The `nst run-workflow` command; returns the exit code (1 if any job failed)."""
    data = load_workflow(args.workflow)
    servers = [Server(url) for url in dict.fromkeys(args.server)]
    object_info = servers[0].object_info()  # also checks that the first server answers
    prompt = ui_to_api(data, object_info) if is_ui_format(data) else api_prompt(data)
    jobs = build_jobs(args, prompt, object_info)

    def report(result: JobResult) -> None:
        if result.error is None:
            for path in result.files:
                say(str(path), sys.stdout)

    results = run_jobs(servers, jobs, overwrite=args.overwrite, timeout=args.timeout, on_done=report)
    failed = [r for r in results if r.error is not None]
    for result in failed:
        prefix = f"{result.job.name}: " if result.job.name else ""
        print(f"nst: error: {prefix}{result.error}", file=sys.stderr)
    if len(jobs) > 1:
        print(f"{len(jobs) - len(failed)} of {len(jobs)} jobs done on {len(servers)} server(s)", file=sys.stderr)
    return EXIT_FAILED if failed else 0
