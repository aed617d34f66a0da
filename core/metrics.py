"""What a run reports: timings, loss history and the settings it used."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

LOSS_KEYS = ("content", "style", "tv", "total")


@dataclass
class LossRecord:
    """Weighted loss terms of one image at one step (total = content + style + tv, + a video frame's temporal term)."""

    step: int
    content: float
    style: float
    tv: float
    total: float


@dataclass
class RunMetrics:
    """The metrics JSON of a run (`nst stylize --metrics`, the Optimize node's STRING)."""

    steps: int = 0
    seconds: float = 0.0
    seconds_per_step: float = 0.0
    device: str = "cpu"
    size: list[int] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    # Coarse-to-fine runs: per scale its size [H, W], steps, first step and seconds (one entry when off).
    scales: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)
