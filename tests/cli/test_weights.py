"""`nst weights` (cli/weights.py): where weights are looked for, which file a run would use, no download offline."""

from __future__ import annotations

from helpers import nst


def test_weights_command(tmp_path, vgg_path):
    hub = tmp_path / "torchhome"
    proc = nst("weights", "--offline", cwd=tmp_path, env_extra={"TORCH_HOME": str(hub)})
    assert proc.returncode == 1 and "[missing]" in proc.stdout and "nst weights --download" in proc.stdout
    proc = nst("weights", "--weights", str(vgg_path), cwd=tmp_path, env_extra={"TORCH_HOME": str(hub)})
    assert proc.returncode == 0 and f"using {vgg_path}" in proc.stdout
    proc = nst("weights", "--download", "--offline", cwd=tmp_path, env_extra={"TORCH_HOME": str(hub)})
    assert proc.returncode == 2 and "downloading is off" in proc.stderr
