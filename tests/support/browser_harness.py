"""ComfyUI's real frontend in headless Chromium, driven the way a user drives it (plain helpers, no tests here).

Chromium and its driver come from Debian (`chromium`, `chromium-driver`);
:func:`ensure_chromium` installs them with apt-get when they are missing and
this process may (root), so a fresh machine needs nothing done by hand.
Selenium (PyPI, the test extra) talks to the driver. :class:`Frontend` opens
the server's page and reads the graph through the page's own `window.app`:
node bounds as the frontend lays them out, what each node shows, the dialogs
it raised, and what the browser logged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

PACKAGES = ("chromium", "chromium-driver")
# A common laptop screen less the browser's own bars; the bundled workflows are laid out for it.
WINDOW = (1600, 1000)
PACK = "nst-nodes"


class BrowserUnavailable(RuntimeError):
    """Chromium or its driver is missing and cannot be installed here."""


def ensure_chromium() -> tuple[str, str]:
    """Paths of Debian's chromium and chromedriver, installing both with apt-get if missing and allowed."""
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if all(found):
        return found  # type: ignore[return-value]
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BrowserUnavailable(f"chromium and chromedriver are needed: run `apt-get install {' '.join(PACKAGES)}` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise BrowserUnavailable(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if not all(found):
        raise BrowserUnavailable(f"apt-get installed {' '.join(PACKAGES)} but chromium/chromedriver are not on PATH")
    return found  # type: ignore[return-value]


@dataclass(frozen=True)
class NodeBox:
    """A node as the frontend lays it out: graph units, title bar included."""

    id: int
    title: str
    type: str
    x: float
    y: float
    width: float
    height: float

    def overlaps(self, other: NodeBox) -> bool:
        return (self.x < other.x + other.width and other.x < self.x + self.width
                and self.y < other.y + other.height and other.y < self.y + self.height)  # fmt: skip


def overlapping(boxes: Sequence[NodeBox]) -> list[tuple[str, str]]:
    """Titles of every pair of nodes whose boxes intersect."""
    return [(a.title, b.title) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]


_BOXES = """
return window.app.graph._nodes.map(node => {
    const [x, y, width, height] = node.getBounding();
    return {id: node.id, title: node.title, type: node.type, x, y, width, height};
});
"""
_SHOWN = """
return window.app.graph._nodes.map(node => ({
    id: node.id,
    images: (node.imgs || []).filter(img => img.complete && img.naturalWidth > 0).length,
    text: (node.widgets || []).filter(w => w.type === 'MARKDOWN' || w.name === 'preview')
                              .map(w => String(w.value || '')).join(''),
}));
"""
_DIALOGS = "return Array.from(document.querySelectorAll('[role=dialog]')).map(e => e.innerText)"


def _leaf_with_text(text: str) -> str:
    """XPath of the innermost elements whose text contains `text` (the frontend nests spans)."""
    return f"//*[contains(normalize-space(.), '{text}') and not(*[contains(normalize-space(.), '{text}')])]"


class Frontend:
    """One headless Chromium on one ComfyUI server's page."""

    def __init__(self, url: str, chromium: str, chromedriver: str) -> None:
        options = Options()
        options.binary_location = chromium
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         f"--window-size={WINDOW[0]},{WINDOW[1]}"):  # fmt: skip
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.url = url
        self.driver = webdriver.Chrome(service=Service(chromedriver), options=options)
        self.log: list[dict[str, Any]] = []

    def close(self) -> None:
        self.driver.quit()

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def wait_for(self, condition: str, what: str, timeout: float = 60.0) -> Any:
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.script(f"return {condition}")
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"the frontend did not {what} within {timeout:.0f} s")

    def open(self) -> None:
        """Load the page and wait until the app and its graph are up."""
        self.driver.get(self.url + "/")
        self.script("performance.setResourceTimingBufferSize(100000)")  # the default 250 fill up at start
        self.wait_for("!!(window.app && window.app.graph && window.app.vueAppReady && window.LiteGraph)", "start")

    def browser_log(self) -> list[dict[str, Any]]:
        """Everything the browser logged so far (kept: the driver hands each entry out once)."""
        self.log += self.driver.get_log("browser")
        return self.log

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path

    # -- templates

    def open_templates(self) -> None:
        """The Templates dialog on this pack's category (it opens by itself on a fresh server's first visit)."""
        if not any("Templates" in text for text in self.script(_DIALOGS)):
            button = self.driver.find_element(By.XPATH, "//*[normalize-space(text())='Templates']")
            self.script("arguments[0].closest('button').click()", button)
        self.wait_for(f"document.evaluate(\"{_leaf_with_text(PACK)}\", document).iterateNext()", "list template categories")
        category = self.driver.find_element(By.XPATH, _leaf_with_text(PACK))
        self.script("arguments[0].click()", category)
        names = json.dumps(self.pack_templates())
        self.wait_for(f"(t => t.length > 0 && t.every(n => {names}.includes(n)))"
                      "(Array.from(document.querySelectorAll('h3[title]')).map(h => h.title))", "show the pack's templates")

    def pack_templates(self) -> list[str]:
        """The pack's template names, as the server lists them to the frontend."""
        with urllib.request.urlopen(self.url + "/api/workflow_templates", timeout=30) as response:
            return json.load(response)[PACK]

    def template_cards(self) -> dict[str, dict[str, Any]]:
        """Each card on show: its title and its picture (where it came from, whether it loaded).

        The frontend adds a card's picture only once it has fetched it, so this waits until every card has one
        that finished loading (or failed to).
        """
        cards = self.wait_for("""(cards => cards.length > 0 && cards.every(card => card.complete) && cards)(
            Array.from(document.querySelectorAll('h3[title]')).map(h => {
                let box = h.parentElement;
                while (box && !box.querySelector('img')) box = box.parentElement;
                const img = box && box.querySelector('img');
                return {title: h.title, src: img ? img.src : '', complete: !!img && img.complete,
                        loaded: !!img && img.complete && img.naturalWidth > 0,
                        size: img ? [img.naturalWidth, img.naturalHeight] : [0, 0]};
            }))""", "load the card pictures")  # fmt: skip
        return {card["title"]: card for card in cards}

    def fetched_files(self) -> dict[str, int]:
        """URL -> HTTP status of everything the page fetched (the frontend shows pictures through blob URLs)."""
        return {entry["name"]: entry["status"] for entry in self.script(
            "return performance.getEntriesByType('resource').map(e => ({name: e.name, status: e.responseStatus}))")}

    def load_template(self, name: str) -> None:
        """Open `name` from the Templates dialog, as a user does, and wait until its graph is on the canvas."""
        self.open_templates()
        card = self.driver.find_element(By.XPATH, f"//h3[@title='{name}']")
        self.script("arguments[0].closest('div').click()", card)
        self.wait_for(f"window.app.graph._nodes.length > 0 && !document.evaluate(\"//h3[@title='{name}']\", document).iterateNext()",
                      f"load {name}")  # fmt: skip
        time.sleep(1.0)  # the frontend sizes nodes and widgets in the frames after loading

    def load_graph(self, graph: dict[str, Any], name: str) -> None:
        """Load a UI-format graph through the page's own app (what drag and drop does)."""
        self.script("return window.app.loadGraphData(arguments[0], true, true, arguments[1])", graph, name)
        time.sleep(1.0)

    # -- the graph

    def boxes(self) -> list[NodeBox]:
        return [NodeBox(**box) for box in self.script(_BOXES)]

    def missing_node_dialogs(self) -> list[str]:
        return [text for text in self.script(_DIALOGS) if "missing nodes" in text.lower()]

    def unregistered_types(self) -> list[str]:
        return self.script("return window.app.graph._nodes.map(n => n.type).filter(t => !LiteGraph.registered_node_types[t])")

    def widget_label(self, node_type: str, widget: str) -> str:
        return self.script("""
            const node = window.app.graph._nodes.find(n => n.type === arguments[0]);
            const w = node && node.widgets.find(w => w.name === arguments[1]);
            return w ? (w.label || w.name) : null;""", node_type, widget)  # fmt: skip

    def set_widgets(self, node_type: str, widget: str, value: Any) -> int:
        """Set a widget of every node of a type, as a user typing into it does; how many were set."""
        return self.script("""
            const nodes = window.app.graph._nodes.filter(n => n.type === arguments[0]);
            for (const node of nodes) {
                const w = node.widgets.find(w => w.name === arguments[1]);
                w.value = arguments[2];
                if (w.callback) w.callback(w.value);
            }
            window.app.graph.setDirtyCanvas(true, true);
            return nodes.length;""", node_type, widget, value)  # fmt: skip

    def shown(self) -> dict[int, dict[str, Any]]:
        """Per node: how many loaded pictures it shows, and the text of its preview widget."""
        return {entry["id"]: entry for entry in self.script(_SHOWN)}

    def run(self, timeout: float, poll: float = 0.5) -> list[list[NodeBox]]:
        """Press Run and wait for the queue to empty; the node boxes seen while it ran."""
        button = self.driver.find_element(By.XPATH, "//button[.//*[normalize-space(text())='Run']]")
        before = self.script("return fetch('/api/history?max_items=1000').then(r => r.json()).then(h => Object.keys(h).length)")
        self.script("arguments[0].click()", button)
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen.append(self.boxes())
            state = self.script("""return Promise.all([fetch('/api/queue').then(r => r.json()),
                                   fetch('/api/history?max_items=1000').then(r => r.json())])
                                   .then(([q, h]) => ({busy: q.queue_running.length + q.queue_pending.length,
                                                      done: Object.keys(h).length}))""")  # fmt: skip
            if state["done"] > before and not state["busy"]:
                time.sleep(1.0)  # let the last results arrive over the websocket and be drawn
                seen.append(self.boxes())
                return seen
            time.sleep(poll)
        raise TimeoutError(f"the run did not finish within {timeout:.0f} s")

    def last_status(self) -> dict[str, Any]:
        """The status of the newest prompt in the server's history."""
        return self.script("""return fetch('/api/history?max_items=1').then(r => r.json())
                              .then(h => Object.values(h)[0].status)""")  # fmt: skip

    def close_dialogs(self) -> None:
        """Close every open dialog with its own close button, as a user would."""
        self.script("""document.querySelectorAll('[role=dialog]').forEach(d => {
            const close = d.querySelector('button[aria-label=Close], .p-dialog-close-button, .p-dialog-header-close')
                          || Array.from(d.querySelectorAll('button')).find(b => b.querySelector('.pi-times, [class*=lucide--x]'));
            if (close) close.click(); });""")  # fmt: skip
        self.wait_for("document.querySelectorAll('[role=dialog]').length === 0", "close its dialogs", timeout=10)

    def node_search(self, query: str) -> list[str]:
        """Display names the node search box lists for `query` (opened by a double click on the empty canvas)."""
        canvas = self.driver.find_element(By.ID, "graph-canvas")
        ActionChains(self.driver).move_to_element_with_offset(canvas, 300, 200).double_click().perform()
        self.wait_for("document.querySelector(\"input[placeholder='Search Nodes...']\")", "open the node search", timeout=10)
        box = self.driver.find_element(By.XPATH, "//input[@placeholder='Search Nodes...']")
        box.send_keys(query)
        time.sleep(1.5)  # the search runs as one types
        names = self.script("return Array.from(document.querySelectorAll('[role=option]')).map(e => e.innerText.split('\\n')[0])")
        box.send_keys(Keys.ESCAPE)
        return [name.replace("\xa0", " ").strip() for name in names if name.strip()]


def errors_from(entries: Iterable[dict[str, Any]], server_url: str, words: Sequence[str]) -> list[str]:
    """Severe browser messages that name one of `words`, less failed requests to hosts other than the server.

    The test machines reach no internet: the frontend's lookups at api.comfy.org
    fail there whatever the pack does, and name our node ids in their URLs.
    """
    found = []
    for entry in entries:
        message = entry.get("message", "")
        if entry.get("level") != "SEVERE" or not any(word.lower() in message.lower() for word in words):
            continue
        if entry.get("source") == "network" and not message.startswith(server_url):
            continue
        found.append(message)
    return found
