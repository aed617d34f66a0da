"""Exceptions the engine raises on purpose.

Every message names the input at fault and what to do about it, so that the
command line can print it as one line and ComfyUI can show it in the graph.
"""

from __future__ import annotations


class NSTError(Exception):
    """Base class: an expected failure with a message meant for the user."""


class InputError(NSTError, ValueError):
    """A user-supplied value (image, number, layer name, ...) is unusable."""


class WeightsError(NSTError):
    """The VGG weights are missing, unreadable or not a VGG16 or VGG19 state dict."""


class NonFiniteLossError(NSTError):
    """The loss became NaN or infinite; the run stops instead of returning garbage."""


class OutOfMemoryError(NSTError):
    """The device ran out of memory; the run was abandoned and memory released."""


class StopRequested(NSTError):
    """The caller asked the run to stop (Ctrl-C, ComfyUI's interrupt)."""
