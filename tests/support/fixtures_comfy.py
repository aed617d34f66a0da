"""pytest fixtures for tests that need a real ComfyUI server (a pytest plugin module).

Register from ``tests/conftest.py`` with ``pytest_plugins = ["fixtures_comfy"]``
(``tests/support/`` is on ``sys.path`` through pyproject's ``pythonpath``, so the
module is imported by its bare name).

ComfyUI tests are skipped only when ``NST_SKIP_COMFYUI=1``; otherwise a failure to
build ComfyUI fails them, so CI cannot pass without really running them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from comfy_harness import (
    SKIP_ENV_VAR,
    ComfyBuildError,
    ComfyServer,
    ensure_comfyui,
    skip_requested,
)


class ComfyServerFactory:
    """Starts servers in fresh base directories; the fixture stops them all at the end."""

    def __init__(self, comfy_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.comfy_dir = comfy_dir
        self._tmp = tmp_path_factory
        self.servers: list[ComfyServer] = []

    def __call__(
        self,
        vgg_files: Mapping[str, Path | bytes] | None = None,
        *,
        cache_none: bool = True,
        extra_args: Sequence[str] = (),
        name: str = "comfy",
        **kwargs: Any,
    ) -> ComfyServer:
        """Start a server with ``vgg_files`` in ``models/vgg/`` and wait until it is ready.

        ``cache_none`` defaults to True so the same graph runs again on every queue;
        other keyword arguments go to :class:`ComfyServer` (``env``, ``cpu``...).
        """
        server = ComfyServer(self.comfy_dir, self._tmp.mktemp(name), vgg_files=vgg_files,
                             cache_none=cache_none, extra_args=extra_args, **kwargs)
        self.servers.append(server)
        return server.start()

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            server.stop()


@pytest.fixture(scope="session")
def comfyui_dir() -> Path:
    """The cached ComfyUI 0.3.75 folder, built on first use (``.cache/comfyui/``)."""
    if skip_requested():
        pytest.skip(f"{SKIP_ENV_VAR}=1: ComfyUI tests skipped")
    try:
        return ensure_comfyui()
    except ComfyBuildError as exc:
        pytest.fail(f"could not build ComfyUI (set {SKIP_ENV_VAR}=1 to skip): {exc}", pytrace=False)


@pytest.fixture(scope="session")
def comfy_server_factory(
    comfyui_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComfyServerFactory]:
    """``factory(vgg_files=None, *, cache_none=True, extra_args=(), name=..., **kw)``."""
    factory = ComfyServerFactory(comfyui_dir, tmp_path_factory)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def comfy_server(comfy_server_factory: ComfyServerFactory) -> ComfyServer:
    """One shared server (``--cache-none``, empty ``models/vgg/``) for read-mostly tests."""
    return comfy_server_factory(name="comfy-shared")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the ComfyUI log tail to a failing test's report: the cause is usually there."""
    report = yield
    if report.failed:
        for server in _servers_of(item):
            report.sections.append((f"ComfyUI log ({server.log_path})", server.log_tail()))
    return report


def _servers_of(item: pytest.Item) -> list[ComfyServer]:
    servers: list[ComfyServer] = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, ComfyServer):
            servers.append(value)
        elif isinstance(value, ComfyServerFactory):
            servers.extend(value.servers)
    return list(dict.fromkeys(servers))
