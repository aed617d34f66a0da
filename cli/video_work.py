"""The work folder of `nst stylize-video`: each frame kept as it is finished, so that a stopped run resumes where it stopped.

Beside --out (`out.mp4.frames/`): NNNNNN.png, the finished frame as the
video will show it (8-bit, lossless), NNNNNN.json, its line of the
metrics, and run.json, the recipe the frames were made with (every setting
and a stamp of every input file). A frame is finished when both its files
are there; each is written whole or not at all (core/files.write_atomic),
so a run stopped at any moment leaves only finished frames behind. The
folder goes once the result is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import InputError
from ..core.files import write_atomic

if TYPE_CHECKING:
    import torch

    from ..core.video import FrameResult

RECIPE = "run.json"
# What the folder holds: the frames and their lines, and a write_atomic's temporary file that a killed run left.
_OURS = re.compile(r"\d{6}\.(png|json)|\.(\d{6}\.(png|json)|run\.json)\..+\.part")


class WorkFolder:
    """The finished frames of one --out, and the recipe they were made with."""

    def __init__(self, out: str | Path) -> None:
        out = Path(out)
        self.path = out.with_name(f"{out.name}.frames")

    def png(self, index: int) -> Path:
        return self.path / f"{index:06d}.png"

    def _line(self, index: int) -> Path:
        return self.path / f"{index:06d}.json"

    def recipe(self) -> dict[str, Any] | None:
        """The recipe the frames here were made with; None where there is no work folder.

        A folder that is not one (no run.json, or files of other names) is
        refused rather than ever deleted.
        """
        if not self.path.exists():
            return None
        strangers = [p.name for p in self.path.iterdir() if p.name != RECIPE and not _OURS.fullmatch(p.name)]
        try:
            recipe = json.loads((self.path / RECIPE).read_text()) if not strangers else None
        except (OSError, ValueError):
            recipe = None
        if not isinstance(recipe, dict):
            raise InputError(f"out: {self.path} is in the way of the work folder and is not one of nst stylize-video's; move it away")
        return recipe

    def finished(self) -> int:
        """How many frames from the first on are finished (a frame is finished when its PNG and its line are there)."""
        count = 0
        while self.png(count).is_file() and self._line(count).is_file():
            count += 1
        return count

    def start(self, recipe: dict[str, Any]) -> None:
        """Make the folder and write the recipe, unless it is there already (a resumed run)."""
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / RECIPE).is_file():
            write_atomic(self.path / RECIPE, (json.dumps(recipe, indent=2) + "\n").encode(), overwrite=True, what="work folder")

    def save(self, frame: "FrameResult") -> None:
        """Keep one finished frame: its line first, then the PNG that marks it finished."""
        from ..core.images import save_image

        line = {"frame": frame.summary(), "params": frame.metrics.params}
        write_atomic(self._line(frame.index), (json.dumps(line) + "\n").encode(), overwrite=True, what="work folder")
        save_image(frame.image, self.png(frame.index), overwrite=True)

    def lines(self, count: int) -> list[dict[str, Any]]:
        """The metrics lines of frames 0 .. count - 1: {"frame": FrameResult.summary(), "params": its run's params}."""
        return [json.loads(self._line(index).read_text()) for index in range(count)]

    def result(self, index: int) -> "torch.Tensor":
        """A finished frame as the next frame continues from it: the PNG, exactly as written."""
        from ..core.images import load_image

        return load_image(self.png(index), f"the work folder's {self.png(index).name}")

    def clear(self) -> None:
        """Delete the folder: the frames, their lines and the recipe, nothing else (a stranger's file stays, and the folder with it)."""
        if not self.path.is_dir():
            return
        for path in self.path.iterdir():
            if path.name == RECIPE or _OURS.fullmatch(path.name):
                path.unlink()
        if not any(self.path.iterdir()):
            self.path.rmdir()
