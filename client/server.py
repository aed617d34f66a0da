"""One ComfyUI server over HTTP and its websocket, with failures as messages in the server's words.

Every request goes through `Server`, so a server that does not answer
always becomes `ServerUnreachable` (it should take no further jobs) and one
that answers with an error always becomes `ServerError` naming the server.
`requests` and `websocket-client` are imported only when a request is made.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import InputError, NSTError
from .events import EventStream
from .workflow import Prompt

if TYPE_CHECKING:
    import requests

HTTP_TIMEOUT = 60.0


class ServerError(NSTError):
    """A server refused or failed a job; the message is the server's own, with where it came from."""


class ServerUnreachable(ServerError):
    """A server did not answer at all; it takes no further jobs."""


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

    def close(self) -> None:
        """Drop the pooled connections."""
        self.session.close()

    def _send(self, method: str, path: str, failed: str, **kwargs: Any) -> requests.Response:
        """The response to one request; `failed` says in the message what did not happen if no answer came."""
        import requests

        try:
            return self.session.request(method, self.url + path, timeout=HTTP_TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise ServerUnreachable(f"server {self.url}: {failed} ({exc})") from None

    def _ok(self, response: requests.Response, what: str) -> requests.Response:
        if response.status_code != 200:
            raise ServerError(f"server {self.url}: {what} answered HTTP {response.status_code}: {response.text[:500]}")
        return response

    def _get(self, path: str, **params: Any) -> requests.Response:
        return self._ok(self._send("GET", path, "cannot reach it", params=params or None), f"GET {path}")

    def get_json(self, path: str, **params: Any) -> Any:
        """Any JSON endpoint, e.g. ``/system_stats``."""
        return self._get(path, **params).json()

    def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        """All node classes, or just one (``{}`` if the server does not know it)."""
        return self.get_json("/object_info" + (f"/{node_class}" if node_class else ""))

    def upload(self, path: Path) -> str:
        """Upload into the server's input folder; returns the name LoadImage expects."""
        try:
            with open(path, "rb") as handle:
                response = self._send(
                    "POST", "/upload/image", f"upload of {path.name} failed",
                    files={"image": (path.name, handle)}, data={"type": "input"},
                )  # fmt: skip
        except OSError as exc:
            raise InputError(f"input: cannot read {path} ({exc})") from None
        body = self._ok(response, f"upload of {path.name}").json()
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else body["name"]

    def post_prompt(self, prompt: Prompt, client_id: str | None = None) -> tuple[int, dict[str, Any]]:
        """POST an API-format graph; its HTTP status and body (200 with ``prompt_id``, 400 with ``node_errors``)."""
        body: dict[str, Any] = {"prompt": prompt}
        if client_id is not None:
            body["client_id"] = client_id
        response = self._send("POST", "/prompt", "cannot queue the workflow", json=body)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"error": {"message": response.text[:1000]}}

    def queue(self, prompt: Prompt, client_id: str) -> str:
        """Queue a graph for the event stream of `client_id`; its prompt id, or ServerError if it is rejected."""
        status, body = self.post_prompt(prompt, client_id)
        if status != 200:
            raise ServerError(f"server {self.url} rejected the workflow (HTTP {status}): {describe_rejection(body)}")
        return body["prompt_id"]

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The prompt's history entry (outputs and status), None while it has none."""
        return self.get_json(f"/history/{prompt_id}").get(prompt_id)

    def view(self, filename: str, subfolder: str, kind: str) -> bytes:
        """A file the server serves from its output, input or temp folder."""
        return self._get("/view", filename=filename, subfolder=subfolder, type=kind).content

    def interrupt(self, prompt_id: str | None = None) -> None:
        """Stop the running prompt (only if it is `prompt_id`, when given)."""
        body = {"prompt_id": prompt_id} if prompt_id else {}
        self._ok(self._send("POST", "/interrupt", "cannot interrupt", json=body), "interrupt")

    def cancel(self, prompt_id: str) -> None:
        """Stop our prompt if it runs and drop it from the queue if it waits; best effort, errors ignored."""
        with contextlib.suppress(ServerError):
            self.interrupt(prompt_id)
        with contextlib.suppress(ServerError):
            self._send("POST", "/queue", "cannot delete from the queue", json={"delete": [prompt_id]})

    def events(self, client_id: str | None = None, *, preview_metadata: bool = False) -> EventStream:
        """Open the websocket now, before queueing, so that no event of the prompt is missed."""
        import websocket

        client_id = client_id or uuid.uuid4().hex
        ws_url = "ws" + self.url[len("http") :] + f"/ws?clientId={client_id}"
        try:
            connection = websocket.create_connection(ws_url, timeout=HTTP_TIMEOUT)
        except (OSError, websocket.WebSocketException) as exc:
            raise ServerUnreachable(f"server {self.url}: cannot open its websocket ({exc})") from None
        return EventStream(connection, client_id, preview_metadata=preview_metadata)


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
