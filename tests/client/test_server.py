"""One ComfyUI server (client/server.py): a rejected workflow is described in the server's own words."""

from __future__ import annotations

from nst_nodes.client.server import describe_rejection


def test_rejection_message_carries_the_servers_words():
    body = {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": ""},
            "node_errors": {"5": {"class_type": "NST_Optimize", "errors": [
                {"message": "Value -3 smaller than min of 1", "details": "steps"}]}}}  # fmt: skip
    assert describe_rejection(body) == (
        "Prompt outputs failed validation; node 5 (NST_Optimize): Value -3 smaller than min of 1: steps"
    )
