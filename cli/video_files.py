"""The files of `nst stylize-video`: frames read from a video or a folder of images, the result written as either.

A video is read and written with PyAV (FFmpeg's libraries), imported only
when a video file is read or written, so a folder of frames in and a folder
out need nothing beyond the pack. Frames are read one at a time, never the
whole clip, and the written video is encoded from the finished frames' PNGs
(video_work.py's work folder) one at a time, so memory does not grow with the
clip. Every failure to read names --content, every failure to write --out.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from ..core.errors import InputError, NSTError
from ..core.files import refuse_existing

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# --out suffix -> FFmpeg's container format; each takes H.264 and MPEG-4 Part 2.
VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# The audio codecs an MP4 or MOV holds as they are; Matroska holds any.
MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})
# A folder of frames has no frame rate of its own; a video written from one gets this unless --fps says.
DEFAULT_FPS = 24
# The encoder where this FFmpeg has it (PyAV's wheels bundle it), and the one every FFmpeg has.
ENCODER, FALLBACK_ENCODER = "libx264", "mpeg4"
# H.264's constant-quality setting: visually lossless for painted frames, a fraction of the PNGs' size.
X264_CRF = "18"
# MPEG-4 Part 2 (the fallback where FFmpeg has no libx264) has no CRF: bits per pixel per frame.
MPEG4_BITS_PER_PIXEL = 0.3


class MissingPyAV(NSTError):
    """A video file is read or written and PyAV is not installed."""


def _av(flag: str) -> ModuleType:
    """PyAV, imported on first use; its absence is an error naming the flag whose file needs it and what to install."""
    try:
        import av
    except ImportError as error:
        raise MissingPyAV(
            f"{flag}: reading and writing video files needs PyAV: pip install 'nst-nodes[video]' (or give a folder "
            f"of frames); importing av failed: {error}"
        ) from None
    return av


def file_stamp(path: str | os.PathLike) -> str:
    """A file's resolved path, size and modification time: what a work folder's frames were made from."""
    path = Path(path).resolve()
    stat = path.stat()
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


@dataclass(frozen=True)
class FrameSource:
    """The clip --content names: a video file or a folder of frames, read lazily.

    fps: the video's own rate (average, else FFmpeg's guess), or the rate a
    folder's frames are given. count: frames, or None where the video does
    not say. files: a folder's frames in name order. audio: a video's audio
    codecs, one per stream.
    """

    path: Path
    fps: Fraction
    count: int | None
    files: tuple[Path, ...] = ()
    audio: tuple[str, ...] = ()

    @property
    def is_video(self) -> bool:
        return not self.files

    def stamp(self) -> str:
        """What the frames are: the video's file stamp, or a digest of every frame file's."""
        if self.is_video:
            return file_stamp(self.path)
        digest = hashlib.sha256("\n".join(file_stamp(path) for path in self.files).encode()).hexdigest()
        return f"{self.path.resolve()}|{len(self.files)} frames|{digest}"

    def frame_name(self, index: int) -> str:
        """How errors name frame `index`: its number from 1, and a folder's file."""
        name = f"frame {index + 1}"
        return f"{name} ({self.files[index].name})" if index < len(self.files) else name

    def frames(self, start: int = 0) -> Iterator[torch.Tensor]:
        """The frames from index `start` on, each [1, 3, H, W] float32 in [0, 1]; those before are skipped, not kept."""
        if not self.is_video:
            from ..core.images import load_image

            for index in range(start, len(self.files)):
                yield load_image(self.files[index], f"--content {self.frame_name(index)}")
            return
        yield from _decoded(self.path, start)


def _decoded(path: Path, start: int) -> Iterator[torch.Tensor]:
    """A video's frames from `start` on, decoded to RGB one at a time."""
    av = _av("--content")
    index = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if index >= start:
                    rgb = frame.to_ndarray(format="rgb24")
                    yield torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float().div(255)
                index += 1
    except av.error.FFmpegError as error:
        raise InputError(f"--content: {path} could not be decoded at frame {index + 1} ({error}); the file may be truncated or corrupt") from None


def open_source(path: str | os.PathLike, folder_fps: float | None) -> FrameSource:
    """The clip at `path`, checked before any work: a readable video with a video stream, or a folder with frames."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"--content: not found: {path}")
    if path.is_dir():
        files = tuple(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".")))
        if not files:
            raise InputError(f"--content: {path} holds no frames ({', '.join(FRAME_SUFFIXES)} files, taken in name order)")
        source = FrameSource(path, Fraction(folder_fps or DEFAULT_FPS).limit_denominator(1001), len(files), files)
        _check_sizes(source)
        return source
    if path.suffix.lower() in FRAME_SUFFIXES:
        raise InputError(f"--content: {path} is one image; give a video file or a folder of frames (nst stylize paints one image)")
    return _probe_video(path)


def _check_sizes(source: FrameSource) -> None:
    """Every frame of a folder the first one's size, read from the files' headers before any work (the engine checks again)."""
    from PIL import Image, UnidentifiedImageError

    first: tuple[int, int] | None = None
    for index, file in enumerate(source.files):
        try:
            with Image.open(file) as image:
                size = image.size
        except (UnidentifiedImageError, OSError) as error:
            raise InputError(f"--content {source.frame_name(index)}: not an image Pillow can read ({error})") from None
        first = first or size
        if size != first:
            raise InputError(
                f"--content {source.frame_name(index)}: is {size[0]}x{size[1]} px but the first frame is "
                f"{first[0]}x{first[1]} px; every frame of a clip needs one size"
            )


def _probe_video(path: Path) -> FrameSource:
    av = _av("--content")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"--content: {path} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
            audio = tuple(s.codec_context.name for s in container.streams.audio)
            return FrameSource(path, Fraction(rate), stream.frames or None, audio=audio)
    except av.error.FFmpegError as error:
        raise InputError(f"--content: {path} is not a video FFmpeg can read ({error}); give a video file or a folder of frames") from None


def out_is_folder(path: str | os.PathLike) -> bool:
    """Whether --out names a folder of PNGs (an existing folder, or a name without a suffix) rather than a video file."""
    path = Path(path)
    return path.is_dir() or not path.suffix


def check_out(path: str | os.PathLike, overwrite: bool) -> None:
    """--out refused before any work: an unknown suffix, or (without --overwrite) a video that exists or a folder with files in it."""
    path = Path(path)
    if out_is_folder(path):
        if path.exists() and not path.is_dir():
            raise InputError(f"--out: {path} is a file; name a folder for PNG frames, or a video ({', '.join(VIDEO_FORMATS)})")
        if not overwrite and path.is_dir() and any(path.iterdir()):
            raise InputError(f"out: {path} is a folder with files in it; pass --overwrite to write the frames into it or choose another name")
        return
    if path.suffix.lower() in FRAME_SUFFIXES:
        raise InputError(f"--out: {path} is one image; a clip's result is a video ({', '.join(VIDEO_FORMATS)}) or a folder of PNG frames")
    if path.suffix.lower() not in VIDEO_FORMATS:
        raise InputError(f"--out: unknown video suffix {path.suffix!r}; use {', '.join(VIDEO_FORMATS)}, or a folder for PNG frames")
    _av("--out")
    if not overwrite:
        refuse_existing(path, "out")


def audio_fits(out: str | os.PathLike, codec: str) -> bool:
    """Whether an audio stream of `codec` can be copied into the video --out names."""
    return VIDEO_FORMATS[Path(out).suffix.lower()] == "matroska" or codec in MP4_AUDIO


def _rgb_even(png: Path) -> np.ndarray:
    """A frame's PNG as H x W x 3 uint8, grown to an even width and height by repeating its last column and row.

    yuv420p, the pixel format every player decodes, halves the colour's
    resolution in both directions and needs even sizes; repeating one edge
    pixel keeps the whole picture, where cropping would lose a line.
    """
    from PIL import Image

    with Image.open(png) as image:
        rgb = np.asarray(image.convert("RGB"))
    height, width = rgb.shape[:2]
    return np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def _video_stream(av: ModuleType, output: Any, fps: Fraction, width: int, height: int) -> Any:
    """H.264 (libx264, at CRF 18) where this FFmpeg has it, else MPEG-4 Part 2 at a generous bit rate; yuv420p."""
    try:
        av.codec.Codec(ENCODER, "w")
        codec = ENCODER
    except (ValueError, av.error.FFmpegError):  # UnknownCodecError is a ValueError
        codec = FALLBACK_ENCODER
    stream = output.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.time_base = 1 / fps
    if codec == FALLBACK_ENCODER:
        stream.bit_rate = int(width * height * float(fps) * MPEG4_BITS_PER_PIXEL)
    else:
        stream.options = {"crf": X264_CRF}
    return stream


class _AudioCopy:
    """The input's audio streams copied packet by packet (no re-encoding), interleaved with the video as it is written."""

    def __init__(self, av: ModuleType, source: Path, output: Any, out: Path, stack: ExitStack) -> None:
        container = stack.enter_context(av.open(str(source)))
        streams = [s for s in container.streams.audio if audio_fits(out, s.codec_context.name)]
        add = getattr(output, "add_stream_from_template", None) or (lambda template: output.add_stream(template=template))
        self._to = {stream.index: add(stream) for stream in streams}
        video = container.streams.video[0]
        # The video is written from time 0: move the audio by the input video's start, to keep them in step.
        self._start = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
        self._packets = container.demux(*streams) if streams else iter(())
        self._next: Any = None
        self._output = output

    def mux_until(self, seconds: float | None) -> None:
        """Write the audio packets that start before `seconds` into the video (None: all that are left)."""
        while True:
            if self._next is None:
                self._next = next((p for p in self._packets if p.dts is not None), None)
                if self._next is None:
                    return
            packet = self._next
            at = float(packet.pts * packet.time_base) - self._start if packet.pts is not None else 0.0
            if seconds is not None and at >= seconds:
                return
            shift = round(self._start / packet.time_base)
            packet.pts = None if packet.pts is None else packet.pts - shift
            packet.dts = packet.dts - shift
            packet.stream = self._to[packet.stream.index]
            self._output.mux(packet)
            self._next = None


def write_video(frames: Sequence[Path], out: str | os.PathLike, fps: Fraction, audio_from: Path | None, overwrite: bool) -> tuple[int, int]:
    """Encode the frames' PNGs as the video `out` at `fps`, with `audio_from`'s audio copied; returns (width, height) written.

    Written to a hidden file beside `out` and moved into place when whole,
    so an interrupted encode leaves no half-written video. Odd sizes grow
    by one repeated edge pixel (see _rgb_even).
    """
    av, out = _av("--out"), Path(out)
    part = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        with ExitStack() as stack:
            output = stack.enter_context(av.open(str(part), "w", format=VIDEO_FORMATS[out.suffix.lower()]))
            first = _rgb_even(frames[0])
            stream = _video_stream(av, output, fps, first.shape[1], first.shape[0])
            audio = _AudioCopy(av, audio_from, output, out, stack) if audio_from is not None else None
            for index, png in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(first if index == 0 else _rgb_even(png), format="rgb24")
                frame.pts, frame.time_base = index, stream.codec_context.time_base
                output.mux(stream.encode(frame.reformat(format="yuv420p")))
                if audio is not None:
                    audio.mux_until((index + 1) / float(fps))
            output.mux(stream.encode(None))
            if audio is not None:
                audio.mux_until(None)
        _move_into_place(part, out, overwrite)
    except av.error.FFmpegError as error:
        raise InputError(f"--out: {out} could not be written ({error})") from None
    finally:
        part.unlink(missing_ok=True)
    return first.shape[1], first.shape[0]


def _move_into_place(part: Path, out: Path, overwrite: bool) -> None:
    """`part` becomes `out`; without `overwrite` an `out` that appeared meanwhile is left as it is, and the call fails."""
    if overwrite:
        os.replace(part, out)
        return
    try:
        os.link(part, out)
    except FileExistsError:
        refuse_existing(out, "out")


def write_folder(frames: Sequence[Path], out: str | os.PathLike, overwrite: bool) -> tuple[int, int]:
    """The frames' PNGs in the folder `out` under their names (NNNNNN.png); returns (width, height).

    Each is a hard link to the work folder's file (a copy where the file
    system has none), so the work folder stays whole until the caller
    clears it: a run stopped here loses no frame. With `overwrite`, the
    NNNNNN.png files an earlier run left in `out` go first, so that it
    holds this clip's frames and no stale ones; other files are left alone.
    """
    from PIL import Image

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for old in out.glob("[0-9]" * 6 + ".png"):
            old.unlink()
    for png in frames:
        target = out / png.name
        try:
            os.link(png, target)
        except FileExistsError:
            refuse_existing(target, "out")
        except OSError:  # no hard links here: copy (keeping the time stamps)
            shutil.copy2(png, target)
    with Image.open(out / frames[0].name) as image:
        return image.size
