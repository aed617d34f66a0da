"""Exceptions the engine raises on purpose.

Every message names the input at fault and what to do about it, so that the
command line can print it as one line and ComfyUI can show it in the graph.
An `InputError` about a settings field carries the field's engine name
(`content_weight`, `weights` of a `StyleSpec`, ...) apart from the problem,
so that each door can name the input the user actually set (`--style-weights`,
the node input `weight_2`) with `inputs_named`, and the rules stay written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

# A door's name for an engine field: (field, index of the item in a list field or None) -> name.
FieldNamer = Callable[[str, "int | None"], str]


class NSTError(Exception):
    """Base class: an expected failure with a message meant for the user."""


class InputError(NSTError, ValueError):
    """A user-supplied value (image, number, layer name, ...) is unusable.

    field: the engine name(s) of the setting at fault, or None when the
    message already names its input. index: which item of a list setting
    (the second style weight is index 1), or None for the list as a whole.
    """

    def __init__(self, problem: str, field: str | Sequence[str] | None = None, index: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fields: tuple[str, ...] = (field,) if isinstance(field, str) else tuple(field or ())
        self.index = index
        self.names = [name.replace("_", " ") + ("" if index is None else f" {index + 1}") for name in self.fields]

    def __str__(self) -> str:
        return f"{', '.join(self.names)}: {self.problem}" if self.names else self.problem

    def renamed(self, name_of: FieldNamer) -> "InputError":
        """The same error, its fields named as a door calls them."""
        error = InputError(self.problem, self.fields, self.index)
        error.names = list(dict.fromkeys(name_of(field, self.index) for field in self.fields))
        return error


@contextmanager
def inputs_named(name_of: FieldNamer) -> Iterator[None]:
    """Re-raise field errors from the engine under the door's names for those fields."""
    try:
        yield
    except InputError as error:
        if not error.fields:
            raise
        raise error.renamed(name_of) from None


class WeightsError(NSTError):
    """The VGG weights are missing, unreadable or not a VGG16 or VGG19 state dict."""


class NonFiniteLossError(NSTError):
    """The loss became NaN or infinite; the run stops instead of returning garbage."""


class OutOfMemoryError(NSTError):
    """The device ran out of memory; the run was abandoned and memory released."""


class StopRequested(NSTError):
    """The caller asked the run to stop (Ctrl-C, ComfyUI's interrupt)."""
