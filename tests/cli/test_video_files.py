"""stylize-video's files (cli/video_files.py): clips read lazily from folders and videos, videos written from PNG frames."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

from nst_nodes.cli import video_files
from nst_nodes.cli.video_files import audio_fits, check_out, open_source, write_video
from nst_nodes.core.errors import InputError
from nst_nodes.core.images import load_image, save_image


def pngs(folder, count=5, hw=(35, 47), name="f{:02d}.png"):
    """`count` smooth random frames of size hw as PNGs in `folder`; their paths in order."""
    folder.mkdir(exist_ok=True)
    generator = torch.Generator().manual_seed(4)
    paths = []
    for index in range(count):
        frame = torch.nn.functional.avg_pool2d(torch.rand(1, 3, *hw, generator=generator), 7, 1, 3)
        paths.append(save_image(frame, folder / name.format(index)))
    return paths


def test_a_folder_is_read_in_name_order_from_any_frame(tmp_path):
    files = pngs(tmp_path / "clip")
    (tmp_path / "clip" / "notes.txt").write_text("not a frame")
    save_image(torch.zeros(1, 3, 8, 8), tmp_path / "clip" / ".hidden.png")
    source = open_source(tmp_path / "clip", 10)
    assert source.files == tuple(files) and source.count == 5 and source.fps == 10 and not source.is_video
    rest = list(source.frames(3))
    assert len(rest) == 2 and all(torch.equal(a, load_image(b)) for a, b in zip(rest, files[3:]))
    assert open_source(tmp_path / "clip", None).fps == video_files.DEFAULT_FPS


def test_a_folders_stamp_changes_with_any_frame(tmp_path):
    files = pngs(tmp_path / "clip")
    before = open_source(tmp_path / "clip", None).stamp()
    save_image(torch.ones(1, 3, 35, 47), files[2], overwrite=True)
    assert open_source(tmp_path / "clip", None).stamp() != before


def test_a_written_video_reads_back_at_its_rate_grown_to_even_sizes(tmp_path):
    files = pngs(tmp_path / "clip", count=6)
    out = tmp_path / "clip.mkv"
    assert write_video(files, out, Fraction(10), None, overwrite=False) == (48, 36)
    source = open_source(out, None)
    assert source.is_video and source.fps == 10 and source.audio == ()
    frames = list(source.frames())
    assert len(frames) == 6 and all(frame.shape == (1, 3, 36, 48) for frame in frames)
    original = load_image(files[0])
    assert (frames[0][..., :35, :47] - original).abs().mean() < 0.03  # H.264 at CRF 18: close to the PNG
    assert torch.allclose(frames[0][..., 35, :47], frames[0][..., 34, :47], atol=0.1)  # the repeated last row
    assert len(list(source.frames(4))) == 2


def test_without_libx264_the_video_is_mpeg4(tmp_path, monkeypatch):
    import av

    monkeypatch.setattr(video_files, "ENCODER", "libmissing")  # an FFmpeg built without it
    out = tmp_path / "clip.mp4"
    write_video(pngs(tmp_path / "clip", count=3), out, Fraction(25), None, overwrite=False)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
        assert sum(1 for _ in container.decode(video=0)) == 3


def test_an_encode_stopped_halfway_leaves_no_file(tmp_path, monkeypatch):
    files = pngs(tmp_path / "clip", count=4)
    real = video_files._rgb_even

    def stopping(png):
        if png == files[2]:
            raise KeyboardInterrupt
        return real(png)

    monkeypatch.setattr(video_files, "_rgb_even", stopping)
    with pytest.raises(KeyboardInterrupt):
        write_video(files, tmp_path / "clip.mp4", Fraction(25), None, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip"]


def test_an_existing_video_is_kept_unless_overwrite(tmp_path):
    files = pngs(tmp_path / "clip", count=2, hw=(16, 16))
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"user data")
    with pytest.raises(InputError, match="already exists"):
        write_video(files, out, Fraction(25), None, overwrite=False)
    assert out.read_bytes() == b"user data"
    write_video(files, out, Fraction(25), None, overwrite=True)
    assert out.read_bytes() != b"user data"


@pytest.mark.parametrize(
    "name, made, message",
    [
        ("res.webm", None, "unknown video suffix '.webm'"),
        ("res.png", None, "is one image"),
        ("res", "file", "is a file"),
        ("res.mp4", "file", "already exists"),
        ("res", "full", "is a folder with files in it"),
    ],
)
def test_an_out_that_cannot_be_written_is_refused(tmp_path, name, made, message):
    out = tmp_path / name
    if made == "file":
        out.write_bytes(b"x")
    elif made == "full":
        out.mkdir()
        (out / "mine.png").write_bytes(b"x")
    with pytest.raises(InputError, match=message):
        check_out(out, overwrite=False)


def test_an_empty_or_new_folder_and_a_new_video_are_fine_outs(tmp_path):
    (tmp_path / "empty").mkdir()
    for out in ("empty", "new", "new.mp4", "new.MKV"):
        check_out(tmp_path / out, overwrite=False)


def test_which_audio_each_container_takes():
    assert audio_fits("a.mp4", "aac") and audio_fits("a.mov", "mp3")
    assert not audio_fits("a.mp4", "pcm_s16le") and audio_fits("a.mkv", "pcm_s16le")


def test_odd_frames_grow_by_their_edge(tmp_path):
    Image.fromarray(np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)).save(tmp_path / "odd.png")
    grown = video_files._rgb_even(tmp_path / "odd.png")
    assert grown.shape == (4, 6, 3)
    assert (grown[3] == grown[2]).all() and (grown[:, 5] == grown[:, 4]).all()


def test_frames_written_as_a_folder_leave_the_work_folder_whole(tmp_path):
    files = pngs(tmp_path / "work", count=3, name="{:06d}.png")
    out = tmp_path / "res"
    out.mkdir()
    save_image(torch.zeros(1, 3, 4, 4), out / "000007.png")  # a frame of an earlier, longer run
    (out / "notes.txt").write_text("mine")
    assert video_files.write_folder(files, out, overwrite=True) == (47, 35)
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png", "000002.png", "notes.txt"]
    assert all(path.is_file() for path in files)
    assert (out / "000001.png").read_bytes() == files[1].read_bytes()
