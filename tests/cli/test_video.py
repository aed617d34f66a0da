"""`nst stylize-video` (cli/video.py, video_files.py, video_work.py) on tiny clips, run in-process through `main`."""

from __future__ import annotations

import hashlib
import json
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

import nst_nodes.core.video as engine
from nst_nodes.cli import build_parser, main
from nst_nodes.cli import video as video_cli
from nst_nodes.core.images import load_image, save_image

from helpers import stripes
from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from clips import pan_clip  # noqa: E402

FRAMES, HW, FPS = 6, (48, 64), 12


@pytest.fixture(scope="module")
def clip() -> list[torch.Tensor]:
    """Six footage-like frames of 48x64 px: a camera panning over a smooth random still."""
    still = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 120, 160, generator=torch.Generator().manual_seed(3)), 5, 1, 2)
    return pan_clip(still, FRAMES, HW)


@pytest.fixture
def frames_dir(tmp_path, clip):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(clip):
        save_image(frame, folder / f"f{index:02d}.png")
    return folder


@pytest.fixture
def style(tmp_path):
    path = tmp_path / "style.png"
    save_image(stripes(48, 48, 45.0, seed=2), path)
    return path


def write_clip(path, frames, fps=FPS, audio=True):
    """An H.264 video of `frames` at `fps` with, if asked, a mono AAC tone as long as the clip."""
    import av

    with av.open(str(path), "w") as output:
        video = output.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = frames[0].shape[-1], frames[0].shape[-2], "yuv420p"
        sound = output.add_stream("aac", rate=8000) if audio else None
        for index, frame in enumerate(frames):
            rgb = (frame[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            picture.pts = index
            output.mux(video.encode(picture))
        output.mux(video.encode(None))
        if sound is not None:
            t = np.arange(8000 * len(frames) // fps) / 8000
            tone = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="flt", layout="mono")
            tone.sample_rate, tone.pts = 8000, 0
            output.mux(sound.encode(tone))
            output.mux(sound.encode(None))
    return path


@pytest.fixture
def clip_mp4(tmp_path, clip):
    return write_clip(tmp_path / "clip.mp4", clip)


@pytest.fixture
def quick_model(monkeypatch, vgg_model):
    """The session's random VGG19 instead of loading vgg_path again in every run (the file still names the weights)."""
    monkeypatch.setattr(video_cli, "load_model_from_args", lambda args: vgg_model)


def cli(content, style, out, weights, *extra):
    return [
        "stylize-video", "--content", str(content), "--style", str(style), "--out", str(out), "--size", "48",
        "--steps", "4", "--optimizer", "adam", "--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1",
        "--weights", str(weights), "--device", "cpu", *extra,
    ]  # fmt: skip


def one_error_line(capsys, code, *parts):
    """The run failed with exit 2 and one line naming each of `parts`, no traceback."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("nst: error: ") and "Traceback" not in err, err
    for part in parts:
        assert part in err, err
    return err


def stopping_after(monkeypatch, last: int) -> None:
    """Ctrl-C once frame `last` is finished (and saved), as the engine reaches for the next."""
    real = engine.stylize_video

    def interrupted(*args, **kwargs):
        for frame in real(*args, **kwargs):
            yield frame
            if frame.index == last:
                raise KeyboardInterrupt

    monkeypatch.setattr(engine, "stylize_video", interrupted)


def spying(monkeypatch) -> dict:
    """Record what the engine was asked for (first_index, previous) and which frames it painted."""
    real, seen = engine.stylize_video, {"painted": []}

    def spy(*args, **kwargs):
        seen.update(first_index=kwargs["first_index"], previous=kwargs["previous"])
        for frame in real(*args, **kwargs):
            seen["painted"].append(frame.index)
            yield frame

    monkeypatch.setattr(engine, "stylize_video", spy)
    return seen


def digest(path) -> tuple[int, int, str]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ results


def test_a_folder_of_frames_becomes_a_folder_of_pngs_without_pyav(tmp_path, frames_dir, style, vgg_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # frames in, frames out: no video file, no PyAV
    out, metrics = tmp_path / "painted", tmp_path / "m.json"
    assert main(cli(frames_dir, style, out, vgg_path, "--metrics", str(metrics))) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(out) and len(lines) == 2 and lines[1].startswith(f"{FRAMES} frames") and "warping error" in lines[1]
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(FRAMES)]
    assert all(Image.open(p).size == (48, 36) for p in out.iterdir())
    assert not (tmp_path / "painted.frames").exists()
    data = json.loads(metrics.read_text())
    assert data["frames"] == FRAMES and len(data["per_frame"]) == FRAMES
    assert [f["index"] for f in data["per_frame"]] == list(range(FRAMES))
    first, *later = data["per_frame"]
    assert first["warping_error"] is None and first["restarted"]
    assert all(isinstance(f["warping_error"], float) and isinstance(f["content_warping_error"], float) for f in later)
    assert data["warping_error_ratio"] == pytest.approx(data["warping_error"] / data["content_warping_error"])
    assert data["params"]["video"] == {"temporal_weight": 10.0, "later_steps": 0, "scene_cut": 0.5, "stabilize": True}


def test_a_video_keeps_its_frame_rate_and_its_audio(tmp_path, clip_mp4, style, vgg_path, quick_model, capsys):
    import av

    out = tmp_path / "painted.mp4"
    assert main(cli(clip_mp4, style, out, vgg_path)) == 0
    assert f"at {FPS} fps" in capsys.readouterr().out
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.average_rate == FPS and (video.codec_context.width, video.codec_context.height) == (48, 36)
        assert audio.codec_context.name == "aac" and audio.codec_context.sample_rate == 8000
        decoded = sum(1 for _ in container.decode(video))
    with av.open(str(out)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert decoded == FRAMES
    assert samples == pytest.approx(8000 * FRAMES / FPS, abs=1024)
    assert not (tmp_path / "painted.mp4.frames").exists()


def test_a_folder_becomes_a_video_at_fps_grown_to_even_sizes(tmp_path, frames_dir, style, vgg_path, quick_model):
    import av

    out = tmp_path / "odd.mkv"
    args = cli(frames_dir, style, out, vgg_path, "--fps", "10", "--exact", "47x35")
    args.remove("--size"), args.remove("48")
    assert main(args) == 0
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert video.average_rate == Fraction(10) and not container.streams.audio and video.codec_context.name == "h264"
        sizes = {(frame.width, frame.height) for frame in container.decode(video)}
    assert sizes == {(48, 36)}  # 47x35 with its last column and row repeated (yuv420p needs even sizes)


# ------------------------------------------------------------------ stopping and going on


def test_a_stopped_run_goes_on_after_its_last_finished_frame(tmp_path, frames_dir, style, vgg_path, quick_model, capsys, monkeypatch):
    out, metrics = tmp_path / "painted", tmp_path / "m.json"
    args = cli(frames_dir, style, out, vgg_path, "--metrics", str(metrics))
    work = tmp_path / "painted.frames"
    with monkeypatch.context() as patch:
        stopping_after(patch, 2)
        assert main(args) == 130
    err = capsys.readouterr().err
    assert f"the 3 finished frames are kept in {work}" in err and "run the same command again" in err
    assert not out.exists() and not metrics.exists()
    kept = {i: digest(work / f"{i:06d}.png") for i in range(3)}
    lines = [json.loads((work / f"{i:06d}.json").read_text())["frame"] for i in range(3)]

    seen = spying(monkeypatch)
    assert main(args) == 0, capsys.readouterr().err
    assert seen["first_index"] == 3 and seen["painted"] == [3, 4, 5]
    previous = seen["previous"]
    assert torch.equal(previous.result, load_image(out / "000002.png"))  # the finished frame as written
    assert torch.equal(previous.content, load_image(frames_dir / "f02.png"))  # its content frame
    assert {i: digest(out / f"{i:06d}.png") for i in range(3)} == kept  # not painted or written again
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(FRAMES)]
    data = json.loads(metrics.read_text())
    assert data["frames"] == FRAMES and data["per_frame"][:3] == lines
    assert "3 from an earlier run" in capsys.readouterr().out
    assert not work.exists()


def test_a_work_folder_of_other_settings_is_refused_until_overwrite(tmp_path, frames_dir, style, vgg_path, quick_model, capsys, monkeypatch):
    out = tmp_path / "painted.mp4"
    with monkeypatch.context() as patch:
        stopping_after(patch, 0)
        assert main(cli(frames_dir, style, out, vgg_path)) == 130
    capsys.readouterr()
    work = tmp_path / "painted.mp4.frames"
    kept = digest(work / "000000.png")
    code = main(cli(frames_dir, style, out, vgg_path, "--steps", "5", "--temporal-weight", "25"))
    one_error_line(capsys, code, str(work), "--steps, --temporal-weight", "rerun with the flags", "--overwrite")
    assert digest(work / "000000.png") == kept and not out.exists()

    seen = spying(monkeypatch)
    assert main(cli(frames_dir, style, out, vgg_path, "--steps", "5", "--overwrite")) == 0
    assert seen["first_index"] == 0 and seen["previous"] is None and seen["painted"] == list(range(FRAMES))
    assert out.is_file() and not work.exists()


def test_a_work_folder_from_before_a_setting_existed_goes_on_at_that_settings_old_value(
    tmp_path, frames_dir, style, vgg_path, quick_model, capsys, monkeypatch
):
    out = tmp_path / "painted"
    with monkeypatch.context() as patch:
        stopping_after(patch, 0)
        assert main(cli(frames_dir, style, out, vgg_path)) == 130
    recipe_file = tmp_path / "painted.frames" / "run.json"
    recipe = json.loads(recipe_file.read_text())
    for key in video_cli.ADDED_TO_RECIPE:
        del recipe[key]  # as an earlier version wrote it
    recipe_file.write_text(json.dumps(recipe))
    capsys.readouterr()
    code = main(cli(frames_dir, style, out, vgg_path, "--padding", "replicate"))
    one_error_line(capsys, code, "--padding", "rerun with the flags")

    seen = spying(monkeypatch)
    assert main(cli(frames_dir, style, out, vgg_path)) == 0, capsys.readouterr().err
    assert seen["first_index"] == 1 and seen["painted"] == list(range(1, FRAMES))


def test_a_folder_in_the_work_folders_place_is_never_deleted(tmp_path, frames_dir, style, vgg_path, capsys):
    stranger = tmp_path / "painted.mp4.frames"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    code = main(cli(frames_dir, style, tmp_path / "painted.mp4", vgg_path, "--overwrite"))
    one_error_line(capsys, code, str(stranger), "not one of nst stylize-video's")
    assert (stranger / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("which", ["video", "folder", "metrics"])
def test_an_existing_output_is_refused_before_any_work(tmp_path, frames_dir, style, vgg_path, capsys, which):
    out = tmp_path / ("painted" if which == "folder" else "painted.mp4")
    metrics = tmp_path / "m.json"
    kept = {"video": out, "folder": out / "mine.png", "metrics": metrics}[which]
    kept.parent.mkdir(exist_ok=True)
    kept.write_bytes(b"user data")
    code = main(cli(frames_dir, style, out, vgg_path, "--metrics", str(metrics)))
    one_error_line(capsys, code, "already exists" if which != "folder" else "is a folder with files in it", "--overwrite")
    assert kept.read_bytes() == b"user data"
    assert not (tmp_path / f"{out.name}.frames").exists()


@pytest.mark.parametrize(
    "case, named",
    [
        ("corrupt", "is not a video FFmpeg can read"),
        ("truncated", "is not a video FFmpeg can read"),
        ("empty", "holds no frames"),
        ("mismatched", "--content frame 4 (f03.png): is 60x40 px but the first frame is 64x48 px"),
        ("no_cv2", "pip install 'nst-nodes[video]'"),
        ("no_av", "needs PyAV: pip install 'nst-nodes[video]'"),
        ("one_image", "is one image"),
    ],
)
def test_an_unusable_clip_is_one_line_naming_content(tmp_path, frames_dir, clip_mp4, style, vgg_path, capsys, monkeypatch, case, named):
    content = clip_mp4
    if case == "corrupt":
        content = tmp_path / "noise.mp4"
        content.write_bytes(np.random.default_rng(0).bytes(4000))
    elif case == "truncated":
        content = tmp_path / "cut.mp4"
        content.write_bytes(clip_mp4.read_bytes()[: clip_mp4.stat().st_size // 2])
    elif case == "empty":
        content = tmp_path / "nothing"
        content.mkdir()
        (content / "readme.txt").write_text("no frames here")
    elif case == "mismatched":
        content = frames_dir
        Image.new("RGB", (60, 40)).save(frames_dir / "f03.png")
    elif case == "no_cv2":
        monkeypatch.setitem(sys.modules, "cv2", None)
    elif case == "no_av":
        monkeypatch.setitem(sys.modules, "av", None)
    elif case == "one_image":
        content = frames_dir / "f00.png"
    out = tmp_path / "painted"
    code = main(cli(content, style, out, vgg_path))
    one_error_line(capsys, code, "nst: error: --content", named)
    assert not out.exists() and not (tmp_path / "painted.frames").exists()


def test_writing_a_video_without_pyav_names_out(tmp_path, frames_dir, style, vgg_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    code = main(cli(frames_dir, style, tmp_path / "painted.mp4", vgg_path))
    one_error_line(capsys, code, "--out: reading and writing video files needs PyAV")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--init", "STYLE"], "--init: a clip's frames start from their content or the previous result"),
        (["--plot", "loss.png"], "--plot: not for video"),
        (["--fast"], "--fast: not for video"),
        (["--method", "feedforward"], "--method: not for video"),
        (["--strength", "0.5"], "--strength: not for video"),
        (["--fps", "10"], "--fps: a video keeps its own frame rate"),
        (["--scene-cut", "2"], "--scene-cut: 2.0 is outside [0, 1]"),
        (["--temporal-weight=-1"], "--temporal-weight:"),
        (["--later-steps=-1"], "--later-steps:"),
        (["--steps", "0"], "--steps:"),
    ],
)
def test_what_makes_no_sense_for_a_clip_is_refused_by_its_flag(tmp_path, clip_mp4, style, vgg_path, capsys, extra, message):
    extra = [str(style) if item == "STYLE" else item for item in extra]
    out = tmp_path / "painted.mp4"
    one_error_line(capsys, main(cli(clip_mp4, style, out, vgg_path, *extra)), message)
    assert not out.exists()


def test_fps_is_refused_where_nothing_has_a_frame_rate(tmp_path, frames_dir, style, vgg_path, capsys):
    code = main(cli(frames_dir, style, tmp_path / "painted", vgg_path, "--fps", "10"))
    one_error_line(capsys, code, "--fps: a folder of PNG frames has no frame rate")


def test_the_video_flags_reach_the_video_settings():
    args = build_parser().parse_args(
        ["stylize-video", "--content", "c", "--style", "s", "--out", "o", "--temporal-weight", "5", "--later-steps", "2",
         "--scene-cut", "0.3", "--per-frame"]
    )  # fmt: skip
    settings = video_cli.video_settings_from_args(args)
    assert (settings.temporal_weight, settings.later_steps, settings.scene_cut, settings.stabilize) == (5.0, 2, 0.3, False)
    defaults = video_cli.video_settings_from_args(build_parser().parse_args(["stylize-video", "--content", "c", "--style", "s", "--out", "o"]))
    assert defaults == engine.VideoSettings()
