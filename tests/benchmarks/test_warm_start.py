"""benchmarks/warm_start.py: when a warm run first reaches the default's picture, by each judge."""

from __future__ import annotations

import sys

from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import warm_start  # noqa: E402


def test_reach_needs_the_judges_distance_and_the_structure_both():
    slack = warm_start.STRUCTURE_SLACK
    # (seconds, step, Gram style distance, sliced distance, structure)
    points = [(1.0, 10, 0.5, 0.5, 0.9), (2.0, 20, 0.2, 0.4, 0.70 - 2 * slack), (3.0, 30, 0.2, 0.3, 0.70 - slack / 2)]
    reach = warm_start._reach(points, style=0.25, sliced=0.35, structure=0.70)
    assert reach["gram"] == {"seconds": 3.0, "step": 30}  # step 20 is as stylish but lost too much structure
    assert reach["sliced"] == {"seconds": 3.0, "step": 30}
    assert warm_start._reach(points, style=0.1, sliced=0.35, structure=0.70)["gram"] is None
