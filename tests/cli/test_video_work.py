"""stylize-video's work folder (cli/video_work.py): finished frames kept whole, found again, never a stranger's folder deleted."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nst_nodes.cli.video_work import WorkFolder
from nst_nodes.core.errors import InputError
from nst_nodes.core.metrics import RunMetrics
from nst_nodes.core.video import FrameResult


def finished(index: int) -> FrameResult:
    image = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(index))
    metrics = RunMetrics(steps=3, seconds=0.5, final={"total": 1.0}, params={"frame": index})
    return FrameResult(index=index, image=image, mask=torch.zeros(1, 1, 12, 16), metrics=metrics, restarted=index == 0)


def test_it_sits_beside_out_whatever_its_spelling():
    assert WorkFolder("out.mp4").path == Path("out.mp4.frames")
    assert WorkFolder("results/").path == Path("results.frames")


def test_frames_are_found_again_in_order_and_exactly(tmp_path):
    work = WorkFolder(tmp_path / "out.mp4")
    assert work.recipe() is None and work.finished() == 0
    work.start({"steps": 3})
    frames = [finished(index) for index in range(3)]
    for frame in frames:
        work.save(frame)
    assert work.recipe() == {"steps": 3} and work.finished() == 3
    lines = work.lines(3)
    assert [line["frame"]["index"] for line in lines] == [0, 1, 2] and lines[1]["params"] == {"frame": 1}
    assert (work.result(2) - frames[2].image).abs().max() <= 0.5 / 255 + 1e-6  # the 8-bit PNG as written
    work.start({"steps": 99})  # a resumed run keeps the recipe its frames were made with
    assert work.recipe() == {"steps": 3}


def test_a_frame_without_its_png_is_not_finished(tmp_path):
    work = WorkFolder(tmp_path / "out.mp4")
    work.start({})
    for index in range(3):
        work.save(finished(index))
    work.png(1).unlink()  # stopped between its line and its PNG
    assert work.finished() == 1


def test_a_stranger_folder_is_refused_and_never_emptied(tmp_path):
    work = WorkFolder(tmp_path / "out.mp4")
    work.path.mkdir()
    (work.path / "holiday.png").write_bytes(b"mine")
    with pytest.raises(InputError, match="not one of nst stylize-video's"):
        work.recipe()
    work.clear()
    assert (work.path / "holiday.png").read_bytes() == b"mine"


def test_clear_takes_its_files_and_what_a_killed_write_left(tmp_path):
    work = WorkFolder(tmp_path / "out.mp4")
    work.start({})
    work.save(finished(0))
    (work.path / ".000001.png.k3j2.part").write_bytes(b"half")
    assert work.recipe() == {}
    work.clear()
    assert not work.path.exists()
