"""Who may import whom: the engine in core/ never imports ComfyUI nor the doors above it, no module
imports itself round a circle, importing the package does no work, and each test file is named after its module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from paths import REPO

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


PACKAGE_DIRS = ("core", "nodes", "cli", "client")
# What each layer may import from the pack: the doors stand on the engine, never the reverse.
ALLOWED = {"core": {"core"}, "client": {"core", "client"}, "cli": {"core", "client", "cli"}, "nodes": {"core", "nodes"}}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def pack_imports(root: Path) -> dict[str, set[str]]:
    """module -> the pack's modules it imports (relative and absolute `nst_nodes.` imports, at any depth)."""
    modules = {_module_name(path, root): path for folder in PACKAGE_DIRS for path in (root / folder).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                    target = ".".join([*base, *([node.module] if node.module else [])])
                elif node.module and node.module.startswith("nst_nodes."):
                    target = node.module[len("nst_nodes.") :]
                else:
                    continue
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name[len("nst_nodes.") :] for a in node.names if a.name.startswith("nst_nodes.")]
            else:
                continue
            found.update(c for c in candidates if c in modules and c != name)
        graph[name] = found
    return graph


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None (a package's __init__ importing its own modules is no circle)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for child in sorted(graph[name]):
            if name.startswith(child + ".") or child.startswith(name + "."):
                continue  # a module and its own package
            if state.get(child) == 1:
                return path[path.index(child) :] + [child]
            if child not in state and (cycle := visit(child)):
                return cycle
        path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def test_no_import_circle():
    assert import_cycle(pack_imports(REPO)) is None


def test_layers_import_only_downwards():
    wrong = {
        name: sorted(t for t in targets if t.split(".")[0] not in ALLOWED[name.split(".")[0]])
        for name, targets in pack_imports(REPO).items()
    }
    assert {k: v for k, v in wrong.items() if v} == {}


def test_circle_detector_sees_a_late_import(tmp_path):
    """A circle hidden by an import inside a function (as core/rotation.py once had) is still a circle."""
    for folder in PACKAGE_DIRS:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "core" / "style.py").write_text("from .rotation import Spec\n")
    (tmp_path / "core" / "rotation.py").write_text("def f():\n    from .style import weights\n")
    assert import_cycle(pack_imports(tmp_path)) == ["core.rotation", "core.style", "core.rotation"]
    (tmp_path / "core" / "rotation.py").write_text("from nst_nodes.cli import main\n")
    assert pack_imports(tmp_path)["core.rotation"] == {"cli"}


def test_detector_catches_an_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import folder_paths\nfrom comfy.utils import ProgressBar\n")
    assert _imported_roots(sample) & COMFY_MODULES == {"folder_paths", "comfy"}


def test_import_is_cheap_and_comfy_free():
    """Outside ComfyUI, importing the package, its node package, client and CLI imports no ComfyUI,
    loads no node module and no heavy or network library, and leaves ComfyUI's V3 entry point usable."""
    code = (
        "import sys, inspect, nst_nodes, nst_nodes.core, nst_nodes.nodes, nst_nodes.client.jobs, nst_nodes.client.workflow, nst_nodes.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in %r or m.startswith('nst_nodes.nodes.'))\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('torchvision', 'scipy', 'safetensors')))\n"
        "lazy = sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'websocket'))\n"
        "print(bad, heavy, lazy, inspect.iscoroutinefunction(nst_nodes.comfy_entrypoint),"
        " hasattr(nst_nodes, 'NODE_CLASS_MAPPINGS'))\n" % (COMFY_MODULES,)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    # NODE_CLASS_MAPPINGS would make ComfyUI ignore comfy_entrypoint.
    assert out.stdout.strip() == "[] [] [] True False"


# Where test files live: the tests of a package's modules (PACKAGE_DIRS), then the rest.
TEST_DIRS = (*PACKAGE_DIRS, "comfy", "project", "benchmarks")


def _tested_modules(folder: str, name: str) -> list[Path]:
    """The modules tests/<folder>/test_<name>.py may be named after."""
    candidates = [REPO / folder / f"{name}.py"]
    if folder == "nodes":
        candidates.append(REPO / folder / f"_{name}.py")
    if folder == "cli" and name == "main":
        candidates.append(REPO / folder / "__init__.py")
    return candidates


def test_each_test_file_is_named_after_what_it_tests():
    """tests/core/test_<name>.py tests core/<name>.py, and likewise nodes/ (also nodes/_<name>.py), cli/
    (test_main.py: cli/__init__.py) and client/; test files live only in the layout's folders, none in tests/."""
    tests = REPO / "tests"
    assert sorted(path.name for path in tests.glob("test_*.py")) == []
    misplaced = [
        str(path.relative_to(tests)) for path in sorted(tests.rglob("test_*.py"))
        if len(path.relative_to(tests).parts) != 2 or path.relative_to(tests).parts[0] not in TEST_DIRS
    ]  # fmt: skip
    assert misplaced == []
    unnamed = [
        f"{folder}/{path.name}" for folder in PACKAGE_DIRS for path in sorted((tests / folder).glob("test_*.py"))
        if not any(module.is_file() for module in _tested_modules(folder, path.stem.removeprefix("test_")))
    ]  # fmt: skip
    assert unnamed == []
