"""A ComfyUI server's websocket as a stream of events, JSON and binary frames alike.

The stream is opened before a prompt is queued (see `Server.events`), so
none of the prompt's events can be missed. JSON messages come back as
ComfyUI sends them, `{"type": ..., "data": {...}}`; binary frames (previews,
text) as the tagged dicts of `decode_binary_event`, whose `data` is bytes.
`websocket-client` is imported only when a frame is read.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any


class BinaryEventType:
    """Binary websocket frame types, as in ComfyUI's ``protocol.py``."""

    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2  # server-internal: goes out as PREVIEW_IMAGE
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4


_IMAGE_FORMATS = {1: "JPEG", 2: "PNG"}


class StreamClosed(Exception):
    """The websocket connection ended; the prompt's outcome is still in /history."""


def decode_binary_event(frame: bytes) -> dict[str, Any]:
    """Turn a binary websocket frame into a tagged event dict.

    Frames start with a 4-byte big-endian type (server.py ``encode_bytes``):
    1 = preview: 4-byte format (1 JPEG, 2 PNG) then the image bytes;
    4 = preview with metadata: 4-byte JSON length, JSON, image bytes (sent only to
    clients that announced ``supports_preview_metadata``);
    3 = text: 4-byte node-id length, node id, text.
    """
    if len(frame) < 4:
        raise ValueError(f"binary frame too short: {len(frame)} bytes")
    (kind,) = struct.unpack(">I", frame[:4])
    body = bytes(frame[4:])
    if kind == BinaryEventType.PREVIEW_IMAGE:
        (fmt,) = struct.unpack(">I", body[:4])
        return {"type": "preview_image", "binary_type": kind, "format": _IMAGE_FORMATS.get(fmt, str(fmt)), "data": body[4:]}
    if kind == BinaryEventType.PREVIEW_IMAGE_WITH_METADATA:
        (size,) = struct.unpack(">I", body[:4])
        metadata = json.loads(body[4 : 4 + size])
        fmt = "PNG" if metadata.get("image_type") == "image/png" else "JPEG"
        return {"type": "preview_image_with_metadata", "binary_type": kind, "format": fmt,
                "metadata": metadata, "data": body[4 + size :]}  # fmt: skip
    if kind == BinaryEventType.TEXT:
        (size,) = struct.unpack(">I", body[:4])
        return {"type": "text", "binary_type": kind, "node": body[4 : 4 + size].decode("utf-8"), "data": body[4 + size :]}
    return {"type": "binary", "binary_type": kind, "data": body}


def is_prompt_finished(event: Mapping[str, Any], prompt_id: str) -> bool:
    """ComfyUI's last word on a prompt: ``executing`` with ``node: None`` (after history is saved)."""
    data = event.get("data")
    return (
        event.get("type") == "executing" and isinstance(data, dict)
        and data.get("node") is None and data.get("prompt_id") == prompt_id
    )  # fmt: skip


class EventStream:
    """A live ``/ws?clientId=...`` connection; queue prompts with its `client_id` to hear their events."""

    def __init__(self, connection: Any, client_id: str, *, preview_metadata: bool = False) -> None:
        self.client_id = client_id
        self._ws = connection
        if preview_metadata:
            # Must be the first message; the server then sends type-4 preview frames.
            self._ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))

    def recv(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None if none arrives within `timeout` seconds; StreamClosed once the connection ends."""
        import websocket

        self._ws.settimeout(max(timeout, 0.001))
        try:
            opcode, payload = self._ws.recv_data()
        except websocket.WebSocketTimeoutException:
            return None
        except (websocket.WebSocketException, OSError) as exc:
            raise StreamClosed(str(exc)) from None
        if opcode == websocket.ABNF.OPCODE_TEXT:
            return json.loads(payload)
        if opcode == websocket.ABNF.OPCODE_BINARY:
            return decode_binary_event(payload)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise StreamClosed("the server closed the websocket")
        return None

    def close(self) -> None:
        self._ws.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
