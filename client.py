"""`nst run-workflow`: run a ComfyUI workflow headless on one or more ComfyUI servers.

The servers do all the work; this module only talks to them. It reads a
workflow (API format, or the UI format converted through the server's
`/object_info`, see workflow.py), uploads input images, queues the graph,
follows progress over the websocket, and downloads the outputs. With
several `--server`s and `--batch`, each server takes the next job as soon
as it is free: the ComfyUI instances are the workers, and there is no
scheduler beyond that queue.

Only the servers named on the command line are contacted, and nothing is
written outside `--out` (file names the server reports are reduced to a
plain base name first). `requests` and `websocket-client` are imported only
when the command runs, so `import nst_nodes.cli` stays cheap.
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.errors import InputError, NSTError
from .core.files import write_atomic
from .workflow import (
    InputSlot,
    Prompt,
    api_prompt,
    apply_sets,
    is_ui_format,
    load_workflow,
    resolve_input,
    set_uploaded,
    ui_to_api,
)

EXIT_FAILED = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
HTTP_TIMEOUT = 60.0
POLL_SECONDS = 2.0


class ServerError(NSTError):
    """A server refused or failed a job; the message is the server's own, with where it came from."""


class ServerUnreachable(ServerError):
    """A server did not answer at all; it takes no further jobs."""


def safe_name(name: str, fallback: str = "output") -> str:
    """A server-supplied file name reduced to a plain base name that cannot leave the folder."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")
    return base[:150] or fallback


# ------------------------------------------------------------------------ server


class Server:
    """One ComfyUI instance, over HTTP and its websocket."""

    def __init__(self, url: str) -> None:
        import requests

        url = url.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", url):
            raise InputError(f"server: {url!r} is not an http:// or https:// address, e.g. http://127.0.0.1:8188")
        self.url = url
        self.session = requests.Session()

    @property
    def name(self) -> str:
        return self.url.split("://", 1)[1]

    def _get(self, path: str, **params: Any) -> Any:
        import requests

        try:
            response = self.session.get(self.url + path, params=params or None, timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            raise ServerUnreachable(f"server {self.url}: cannot reach it ({exc})") from None
        if response.status_code != 200:
            raise ServerError(f"server {self.url}: GET {path} answered HTTP {response.status_code}: {response.text[:500]}")
        return response

    def object_info(self) -> dict[str, Any]:
        return self._get("/object_info").json()

    def upload(self, path: Path) -> str:
        """Upload into the server's input folder; returns the name LoadImage expects."""
        import requests

        try:
            with open(path, "rb") as handle:
                response = self.session.post(
                    self.url + "/upload/image", files={"image": (path.name, handle)},
                    data={"type": "input"}, timeout=HTTP_TIMEOUT,
                )  # fmt: skip
        except OSError as exc:
            raise InputError(f"input: cannot read {path} ({exc})") from None
        except requests.RequestException as exc:
            raise ServerUnreachable(f"server {self.url}: upload of {path.name} failed ({exc})") from None
        if response.status_code != 200:
            raise ServerError(f"server {self.url}: upload of {path.name} answered HTTP {response.status_code}: {response.text[:500]}")
        body = response.json()
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else body["name"]

    def queue(self, prompt: Prompt, client_id: str) -> str:
        import requests

        try:
            response = self.session.post(
                self.url + "/prompt", json={"prompt": prompt, "client_id": client_id}, timeout=HTTP_TIMEOUT
            )
        except requests.RequestException as exc:
            raise ServerUnreachable(f"server {self.url}: cannot queue the workflow ({exc})") from None
        try:
            body = response.json()
        except ValueError:
            body = {"error": {"message": response.text[:1000]}}
        if response.status_code != 200:
            raise ServerError(f"server {self.url} rejected the workflow (HTTP {response.status_code}): {describe_rejection(body)}")
        return body["prompt_id"]

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        return self._get(f"/history/{prompt_id}").json().get(prompt_id)

    def view(self, filename: str, subfolder: str, kind: str) -> bytes:
        return self._get("/view", filename=filename, subfolder=subfolder, type=kind).content

    def interrupt(self, prompt_id: str) -> None:
        """Stop our prompt if it runs, and drop it from the queue if it waits."""
        import requests

        for path, body in (("/interrupt", {"prompt_id": prompt_id}), ("/queue", {"delete": [prompt_id]})):
            try:
                self.session.post(self.url + path, json=body, timeout=HTTP_TIMEOUT)
            except requests.RequestException:
                pass

    def websocket(self, client_id: str) -> Any:
        import websocket

        ws_url = "ws" + self.url[len("http") :] + f"/ws?clientId={client_id}"
        try:
            connection = websocket.create_connection(ws_url, timeout=HTTP_TIMEOUT)
        except (OSError, websocket.WebSocketException) as exc:
            raise ServerUnreachable(f"server {self.url}: cannot open its websocket ({exc})") from None
        connection.settimeout(POLL_SECONDS)
        return connection


def describe_rejection(body: Mapping[str, Any]) -> str:
    """ComfyUI's 400 answer (error + node_errors) as one readable message."""
    error = body.get("error") or {}
    parts = [str(error.get("message") or error or "invalid workflow")]
    if error.get("details"):
        parts[0] += f": {error['details']}"
    for node_id, problem in (body.get("node_errors") or {}).items():
        for item in problem.get("errors", []):
            detail = f": {item['details']}" if item.get("details") else ""
            parts.append(f"node {node_id} ({problem.get('class_type', '?')}): {item.get('message', '')}{detail}")
    return "; ".join(parts)


def describe_failure(history: Mapping[str, Any], server: Server) -> str:
    """Why a prompt ended in error, in the server's words."""
    for kind, data in history.get("status", {}).get("messages", []):
        if kind == "execution_error":
            message = str(data.get("exception_message", "")).strip()
            return f"server {server.url}: node {data.get('node_id')} ({data.get('node_type')}) failed: {message}"
        if kind == "execution_interrupted":
            return f"server {server.url}: the run was interrupted at node {data.get('node_id')} ({data.get('node_type')})"
    return f"server {server.url}: the workflow ended with status {history.get('status', {}).get('status_str')!r}"


# -------------------------------------------------------------------------- jobs


@dataclass
class Job:
    """One run of the graph: its own uploads, its own output folder."""

    name: str
    prompt: Prompt
    uploads: list[tuple[InputSlot, Path]]
    out_dir: Path


@dataclass
class JobResult:
    job: Job
    server: str
    files: list[Path] = field(default_factory=list)
    error: str | None = None
    server_lost: bool = False


class Tracker:
    """tqdm progress of the node a server is running (value/max from ComfyUI's `progress` events)."""

    def __init__(self, server: Server, position: int, job: Job, prompt: Prompt) -> None:
        from tqdm import tqdm

        self.prompt = prompt
        self.label = f"{server.name}" + (f" {job.name}" if job.name else "")
        self.bar = tqdm(total=1, desc=self.label, position=position, leave=False, disable=None, unit="step")

    def executing(self, node: str | None) -> None:
        if node is not None:
            kind = self.prompt.get(node, {}).get("class_type", node)
            self.bar.set_description_str(f"{self.label}: {kind}", refresh=False)
            self.bar.reset(total=1)

    def progress(self, value: float, total: float) -> None:
        if self.bar.total != total:
            self.bar.reset(total=total)
        self.bar.n = value
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _follow(server: Server, ws: Any, prompt_id: str, tracker: Tracker, deadline: float | None) -> dict[str, Any]:
    """Listen to the websocket until the prompt is done; return its history entry.

    The websocket drives the progress bar; /history is the record of the
    outcome and is also polled, so a lost connection costs only latency.
    """
    import websocket

    last_poll = time.monotonic()
    while True:
        if deadline is not None and time.monotonic() > deadline:
            server.interrupt(prompt_id)
            raise ServerError(f"server {server.url}: the run took longer than --timeout; it was interrupted")
        message = None
        if ws is not None:
            try:
                opcode, payload = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    message = json.loads(payload)
            except websocket.WebSocketTimeoutException:
                pass
            except (websocket.WebSocketException, OSError):
                ws = None  # fall back to polling /history
        if isinstance(message, dict):
            data = message.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            kind = message.get("type")
            if kind == "progress":
                tracker.progress(data.get("value", 0), data.get("max", 1))
            elif kind == "executing":
                if data.get("node") is None and data.get("prompt_id") == prompt_id:
                    entry = _wait_history(server, prompt_id)
                    if entry is not None:
                        return entry
                tracker.executing(data.get("node"))
            elif kind in ("execution_error", "execution_interrupted", "execution_success"):
                entry = _wait_history(server, prompt_id)
                if entry is not None:
                    return entry
            continue
        if ws is None or time.monotonic() - last_poll > POLL_SECONDS * 5:
            last_poll = time.monotonic()
            entry = server.history(prompt_id)
            if entry is not None and entry.get("status", {}).get("completed") is not None:
                return entry
            if ws is None:
                time.sleep(POLL_SECONDS)


def _wait_history(server: Server, prompt_id: str, attempts: int = 20) -> dict[str, Any] | None:
    """ComfyUI writes the history right before its final events; allow it a moment."""
    for _ in range(attempts):
        entry = server.history(prompt_id)
        if entry is not None:
            return entry
        time.sleep(0.1)
    return None


def _save_outputs(server: Server, history: Mapping[str, Any], prompt: Prompt, out_dir: Path, overwrite: bool) -> list[Path]:
    """Download every image and text output of the run into out_dir (and nowhere else)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    root = out_dir.resolve()
    taken: set[str] = set()
    written: list[Path] = []

    def target(name: str, node_id: str) -> Path:
        if name in taken:
            stem, dot, suffix = name.rpartition(".")
            name = f"{stem}-{safe_name(node_id)}.{suffix}" if dot else f"{name}-{safe_name(node_id)}"
        taken.add(name)
        path = (root / name).resolve()
        if path.parent != root:
            raise ServerError(f"server {server.url}: refused the output name {name!r}")
        return path

    for node_id, output in sorted((history.get("outputs") or {}).items(), key=lambda item: _id_key(item[0])):
        title = safe_name(prompt.get(node_id, {}).get("_meta", {}).get("title") or "", f"node{node_id}")
        images = output.get("images") or []
        for index, image in enumerate(images):
            kind = image.get("type", "output")
            data = server.view(image["filename"], image.get("subfolder", ""), kind)
            if kind == "output":  # keep the name the workflow's Save node chose
                name = safe_name(image["filename"])
            else:  # previews have random temporary names: name them after their node
                suffix = Path(safe_name(image["filename"])).suffix or ".png"
                name = title + (f"-{index + 1}" if len(images) > 1 else "") + suffix
            written.append(write_atomic(target(name, node_id), data, overwrite=overwrite, what="out"))
        texts = output.get("text") or []
        for index, text in enumerate(texts):
            try:
                json.loads(text)
                suffix = ".json"
            except (TypeError, json.JSONDecodeError):
                suffix = ".txt"
            name = title + (f"-{index + 1}" if len(texts) > 1 else "") + suffix
            written.append(write_atomic(target(name, node_id), str(text).encode("utf-8"), overwrite=overwrite, what="out"))
    return written


def _id_key(node_id: str) -> tuple[int, str]:
    """Numeric ids in numeric order (2 before 10), others after."""
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)


def run_job(server: Server, job: Job, position: int = 0, overwrite: bool = False, timeout: float = 0) -> JobResult:
    """Upload, queue, follow and download one job on one server."""
    result = JobResult(job=job, server=server.url)
    client_id = uuid.uuid4().hex
    prompt = json.loads(json.dumps(job.prompt))
    try:
        ws = server.websocket(client_id)  # connected before queueing, so no event is missed
    except ServerUnreachable as exc:
        result.error, result.server_lost = str(exc), True
        return result
    tracker = Tracker(server, position, job, prompt)
    try:
        for slot, path in job.uploads:
            set_uploaded(prompt, slot, server.upload(path))
        prompt_id = server.queue(prompt, client_id)
        deadline = time.monotonic() + timeout if timeout > 0 else None
        history = _follow(server, ws, prompt_id, tracker, deadline)
        if history.get("status", {}).get("status_str") != "success":
            result.error = describe_failure(history, server)
            return result
        result.files = _save_outputs(server, history, prompt, job.out_dir, overwrite)
    except NSTError as exc:
        result.error, result.server_lost = str(exc), isinstance(exc, ServerUnreachable)
    finally:
        tracker.close()
        ws.close()
    return result


def run_jobs(servers: Sequence[Server], jobs: Sequence[Job], overwrite: bool = False, timeout: float = 0,
             on_done: Callable[[JobResult], None] | None = None) -> list[JobResult]:  # fmt: skip
    """Each server takes the next job when it is free; a server that cannot be reached stops taking jobs.

    A job whose server was lost before it finished goes back to the queue for
    the servers still answering.
    """
    pending: queue.Queue[Job] = queue.Queue()
    for job in jobs:
        pending.put(job)
    results: list[JobResult] = []
    lost: dict[str, str] = {}
    lock = threading.Lock()

    def worker(server: Server, position: int) -> None:
        while True:
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            result = run_job(server, job, position, overwrite, timeout)
            if result.server_lost:
                _say(f"nst: warning: {result.error}; its job goes to another server", sys.stderr)
                with lock:
                    lost[server.url] = result.error or "lost"
                pending.put(job)
                return
            with lock:
                results.append(result)
                if on_done is not None:
                    on_done(result)

    alive = list(servers)
    while alive and not pending.empty():
        threads = [threading.Thread(target=worker, args=(server, i), daemon=True) for i, server in enumerate(alive)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        alive = [server for server in alive if server.url not in lost]
    while not pending.empty():
        job = pending.get_nowait()
        reason = f" ({list(lost.values())[-1]})" if lost else ""
        results.append(JobResult(job=job, server="", error=f"not run: no server was left to take it{reason}"))
    order = {id(job): index for index, job in enumerate(jobs)}
    return sorted(results, key=lambda r: order[id(r.job)])


# --------------------------------------------------------------------------- CLI


def _say(line: str, stream: Any) -> None:
    """Print a line without tearing the progress bars other threads are drawing."""
    from tqdm import tqdm

    tqdm.write(line, file=stream)
    stream.flush()


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


def cmd_run_workflow(args: argparse.Namespace) -> int:
    """The `nst run-workflow` command; returns the exit code (1 if any job failed)."""
    data = load_workflow(args.workflow)
    servers = [Server(url) for url in dict.fromkeys(args.server)]
    object_info = servers[0].object_info()  # also checks that the first server answers
    prompt = ui_to_api(data, object_info) if is_ui_format(data) else api_prompt(data)
    jobs = build_jobs(args, prompt, object_info)

    def report(result: JobResult) -> None:
        if result.error is None:
            for path in result.files:
                _say(str(path), sys.stdout)

    results = run_jobs(servers, jobs, overwrite=args.overwrite, timeout=args.timeout, on_done=report)
    failed = [r for r in results if r.error is not None]
    for result in failed:
        prefix = f"{result.job.name}: " if result.job.name else ""
        print(f"nst: error: {prefix}{result.error}", file=sys.stderr)
    if len(jobs) > 1:
        print(f"{len(jobs) - len(failed)} of {len(jobs)} jobs done on {len(servers)} server(s)", file=sys.stderr)
    return EXIT_FAILED if failed else 0
