"""A ComfyUI server's websocket events (client/events.py): its binary frames decoded."""

from __future__ import annotations

import json
import struct

from nst_nodes.client.events import decode_binary_event


def test_decode_preview_frame() -> None:
    jpeg = b"\xff\xd8fake-jpeg"
    frame = struct.pack(">I", 1) + struct.pack(">I", 1) + jpeg
    assert decode_binary_event(frame) == {
        "type": "preview_image", "binary_type": 1, "format": "JPEG", "data": jpeg}


def test_decode_preview_with_metadata_frame() -> None:
    metadata = json.dumps({"node_id": "3", "prompt_id": "p", "image_type": "image/png"}).encode()
    frame = struct.pack(">I", 4) + struct.pack(">I", len(metadata)) + metadata + b"\x89PNG"
    event = decode_binary_event(frame)
    assert event["type"] == "preview_image_with_metadata"
    assert event["format"] == "PNG"
    assert event["metadata"]["node_id"] == "3"
    assert event["data"] == b"\x89PNG"


def test_decode_text_frame() -> None:
    frame = struct.pack(">I", 3) + struct.pack(">I", 2) + b"12" + b"hello"
    assert decode_binary_event(frame) == {
        "type": "text", "binary_type": 3, "node": "12", "data": b"hello"}
