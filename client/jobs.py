"""Jobs on ComfyUI servers: upload, queue, follow, download; several servers share one queue of jobs.

With several servers, each takes the next job as soon as it is free: the
ComfyUI instances are the workers, and there is no scheduler beyond that
queue. Nothing is written outside a job's output folder (file names the
server reports are reduced to a plain base name first).
"""

from __future__ import annotations

import json
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import NSTError
from ..core.files import write_atomic
from .events import EventStream, StreamClosed, is_prompt_finished
from .server import Server, ServerError, ServerUnreachable, describe_failure
from .workflow import InputSlot, Prompt, set_uploaded

POLL_SECONDS = 2.0


def safe_name(name: str, fallback: str = "output") -> str:
    """A server-supplied file name reduced to a plain base name that cannot leave the folder."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")
    return base[:150] or fallback


def say(line: str, stream: Any) -> None:
    """Print a line without tearing the progress bars other threads are drawing."""
    from tqdm import tqdm

    tqdm.write(line, file=stream)
    stream.flush()


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


def _follow(server: Server, stream: EventStream | None, prompt_id: str, tracker: Tracker, deadline: float | None) -> dict[str, Any]:
    """Listen to the websocket until the prompt is done; return its history entry.

    The websocket drives the progress bar; /history is the record of the
    outcome and is also polled, so a lost connection costs only latency.
    """
    last_poll = time.monotonic()
    while True:
        if deadline is not None and time.monotonic() > deadline:
            server.cancel(prompt_id)
            raise ServerError(f"server {server.url}: the run took longer than --timeout; it was interrupted")
        event = None
        if stream is not None:
            try:
                event = stream.recv(POLL_SECONDS)
            except StreamClosed:
                stream = None  # fall back to polling /history
        if event is not None and "binary_type" not in event:  # binary frames (previews) are not followed
            data = event.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            kind = event.get("type")
            if kind == "progress":
                tracker.progress(data.get("value", 0), data.get("max", 1))
            elif kind == "executing":
                if is_prompt_finished(event, prompt_id):
                    entry = _wait_history(server, prompt_id)
                    if entry is not None:
                        return entry
                tracker.executing(data.get("node"))
            elif kind in ("execution_error", "execution_interrupted", "execution_success"):
                entry = _wait_history(server, prompt_id)
                if entry is not None:
                    return entry
            continue
        if stream is None or time.monotonic() - last_poll > POLL_SECONDS * 5:
            last_poll = time.monotonic()
            entry = server.history(prompt_id)
            if entry is not None and entry.get("status", {}).get("completed") is not None:
                return entry
            if stream is None:
                time.sleep(POLL_SECONDS)


def _wait_history(server: Server, prompt_id: str, attempts: int = 20) -> dict[str, Any] | None:
    """ComfyUI writes the history right before its final events; allow it a moment."""
    for _ in range(attempts):
        entry = server.history(prompt_id)
        if entry is not None:
            return entry
        time.sleep(0.1)
    return None


def save_outputs(server: Server, history: Mapping[str, Any], prompt: Prompt, out_dir: Path, overwrite: bool) -> list[Path]:
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
    prompt = json.loads(json.dumps(job.prompt))
    try:
        stream = server.events()  # connected before queueing, so no event is missed
    except ServerUnreachable as exc:
        result.error, result.server_lost = str(exc), True
        return result
    tracker = Tracker(server, position, job, prompt)
    try:
        for slot, path in job.uploads:
            set_uploaded(prompt, slot, server.upload(path))
        prompt_id = server.queue(prompt, stream.client_id)
        deadline = time.monotonic() + timeout if timeout > 0 else None
        history = _follow(server, stream, prompt_id, tracker, deadline)
        if history.get("status", {}).get("status_str") != "success":
            result.error = describe_failure(history, server)
            return result
        result.files = save_outputs(server, history, prompt, job.out_dir, overwrite)
    except NSTError as exc:
        result.error, result.server_lost = str(exc), isinstance(exc, ServerUnreachable)
    finally:
        tracker.close()
        stream.close()
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
                say(f"nst: warning: {result.error}; its job goes to another server", sys.stderr)
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
