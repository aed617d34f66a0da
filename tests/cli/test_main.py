"""The `nst` command (cli/__init__.py): its console script, and Ctrl-C during a run."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from helpers import stylize_args


def test_console_script_installed():
    script = Path(sys.executable).parent / "nst"
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "stylize" in proc.stdout


def test_ctrl_c_during_a_run_writes_nothing(tmp_path, cli_inputs, vgg_path):
    """SIGINT while the progress bar runs: exit 130, one line, no result and no temporary file."""
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    args = stylize_args(*cli_inputs, out_dir / "out.png", vgg_path)
    args[args.index("--steps") + 1] = "100000"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 0-column tty hides tqdm
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 120
        while b"step" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                seen += os.read(master, 4096)
        assert b"step" in seen, seen
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        rest = b""
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            rest += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    os.close(master)
    assert proc.returncode == 130
    assert b"interrupted; no result was written" in rest
    assert b"Traceback" not in rest
    assert list(out_dir.iterdir()) == []
