"""What a ComfyUI user sees: the bundled workflows in ComfyUI's real frontend, in headless Chromium.

The frontend is the one ComfyUI 0.3.75's requirements install (comfyui-frontend-package);
the server is the suite's real ComfyUI with this pack and a random-weight VGG19 under
torchvision's file name, so the workflows run unchanged. Each workflow is opened from the
Templates dialog and run from the Run button, as a user does. Screenshots of every graph
before and after its run are written to out/browser/ (git-ignored) for people to look at.

One painting workflow runs at its bundled settings; the others, whose layouts are what is new
in them, have Optimize's and Stylize Video's steps typed down first (a run of a few previews is
what the layout checks need, and a full run costs minutes on a 2-core CPU).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from PIL import Image

from browser_harness import BrowserUnavailable, Frontend, ensure_chromium, errors_from, overlapping
from comfy_harness import REPO_ROOT, ComfyServer
from nst_comfy import NODE_IDS, UI_WORKFLOWS, nst_server

SCREENSHOTS = REPO_ROOT / "out" / "browser"
NAMES = [path.stem for path in UI_WORKFLOWS]
RUN_TIMEOUT = 900
# What names this pack in a browser message: its node ids, its template folder, its module.
OUR_WORDS = ("NST_", "nst-nodes", "nst_nodes")
# Nodes that show a picture once their workflow has run.
PICTURE_NODES = ("SaveImage", "PreviewImage")
# The workflow run exactly as bundled, and the steps the others' painting nodes run with: two live previews
# each (Stylize Video's later frames then take a third of them).
AS_BUNDLED = "basic_style_transfer"
QUICK_STEPS = 20
PAINTERS = ("NST_Optimize", "NST_StylizeVideo")
QUICK_VIDEO_SIZE = 96


@pytest.fixture(scope="module")
def server(comfy_server_factory, tmp_path_factory) -> ComfyServer:
    return nst_server(comfy_server_factory, tmp_path_factory)


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    try:
        return ensure_chromium()
    except BrowserUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def frontend(server: ComfyServer, chromium: tuple[str, str]) -> Iterator[Frontend]:
    browser = Frontend(server.url, *chromium)
    try:
        browser.open()
        yield browser
    finally:
        browser.close()


def test_every_template_card_shows_its_thumbnail(frontend: Frontend):
    frontend.open_templates()
    cards = frontend.template_cards()
    frontend.screenshot(SCREENSHOTS / "templates.png")
    assert sorted(cards) == sorted(NAMES)
    fetched = frontend.fetched_files()
    for name, card in cards.items():
        thumbnail = REPO_ROOT / "workflows" / f"{name}.jpg"
        assert fetched.get(f"{frontend.url}/api/workflow_templates/nst-nodes/{name}.jpg") == 200, name
        assert "default-template" not in card["src"] and card["loaded"], card  # the frontend's placeholder
        assert tuple(card["size"]) == Image.open(thumbnail).size, card
    frontend.close_dialogs()


@pytest.mark.parametrize("name", NAMES)
def test_workflow_opens_and_runs_from_the_run_button_without_overlaps(frontend: Frontend, name: str):
    frontend.load_template(name)
    assert frontend.missing_node_dialogs() == []
    assert frontend.unregistered_types() == []
    before = frontend.boxes()
    frontend.screenshot(SCREENSHOTS / f"{name}-before.png")
    assert overlapping(before) == [], "nodes overlap as loaded"
    if name != AS_BUNDLED:
        for painter in PAINTERS:
            frontend.set_widgets(painter, "steps", QUICK_STEPS)
        frontend.set_widgets("NST_StylizeVideo", "size", QUICK_VIDEO_SIZE)  # every frame of the clip is a run

    during = frontend.run(RUN_TIMEOUT)
    frontend.screenshot(SCREENSHOTS / f"{name}-after.png")
    assert frontend.last_status()["status_str"] == "success"
    for boxes in during:  # live previews grow nodes while the run goes on
        assert overlapping(boxes) == [], "nodes overlap during or after the run"

    graph = json.loads((REPO_ROOT / "workflows" / f"{name}.json").read_text())
    kinds = {node["id"]: node["type"] for node in graph["nodes"]}
    shown = frontend.shown()
    for node_id, kind in kinds.items():
        if kind in PICTURE_NODES:
            assert shown[node_id]["images"] >= 1, f"node {node_id} ({kind}) shows no picture"
        if kind == "PreviewAny":
            assert shown[node_id]["text"].strip(), f"node {node_id} shows no text"
    assert errors_from(frontend.browser_log(), frontend.url, OUR_WORDS) == []


def test_the_missing_node_check_sees_a_missing_node(frontend: Frontend):
    """The check above can fail: a graph naming a node type nobody installed raises the dialog."""
    graph = json.loads((REPO_ROOT / "workflows" / "basic_style_transfer.json").read_text())
    graph["nodes"][0]["type"] = "NST_NotInstalled"
    frontend.load_graph(graph, "missing-node-check")
    try:
        (dialog,) = frontend.missing_node_dialogs()
        assert "NST_NotInstalled" in dialog
        assert frontend.unregistered_types() == ["NST_NotInstalled"]
    finally:
        frontend.close_dialogs()


def test_node_search_lists_every_node_of_the_pack(frontend: Frontend, server: ComfyServer):
    info = server.api.object_info()
    listed = frontend.node_search("NST")
    assert {info[node_id]["display_name"] for node_id in NODE_IDS} <= set(listed), listed


def test_learning_rate_says_that_zero_means_auto(frontend: Frontend):
    frontend.load_template("basic_style_transfer")
    assert frontend.widget_label("NST_Optimize", "learning_rate") == "learning_rate (0 = auto)"
