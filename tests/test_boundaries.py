"""The engine in core/ must never import ComfyUI, and importing the package does no work."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMFY_MODULES = {"comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths", "server", "nodes", "execution", "latent_preview"}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_has_no_comfyui_imports():
    offenders = {
        str(path.relative_to(REPO)): sorted(_imported_roots(path) & COMFY_MODULES)
        for path in (REPO / "core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_detector_catches_an_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import folder_paths\nfrom comfy.utils import ProgressBar\n")
    assert _imported_roots(sample) & COMFY_MODULES == {"folder_paths", "comfy"}


def test_import_is_cheap_and_comfy_free():
    """Outside ComfyUI, importing the package, its node package, client and CLI imports no ComfyUI,
    loads no node module and no heavy or network library, and leaves ComfyUI's V3 entry point usable."""
    code = (
        "import sys, inspect, nst_nodes, nst_nodes.core, nst_nodes.nodes, nst_nodes.client, nst_nodes.workflow, nst_nodes.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in %r or m.startswith('nst_nodes.nodes.'))\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('torchvision', 'scipy', 'safetensors')))\n"
        "lazy = sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'websocket'))\n"
        "print(bad, heavy, lazy, inspect.iscoroutinefunction(nst_nodes.comfy_entrypoint),"
        " hasattr(nst_nodes, 'NODE_CLASS_MAPPINGS'))\n" % (COMFY_MODULES,)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    # NODE_CLASS_MAPPINGS would make ComfyUI ignore comfy_entrypoint.
    assert out.stdout.strip() == "[] [] [] True False"
