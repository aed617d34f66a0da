"""Jobs on ComfyUI servers (client/jobs.py): safe output names kept in --out, jobs shared out and a lost server's retried."""

from __future__ import annotations

import threading

import pytest

from nst_nodes.client import jobs
from nst_nodes.client.server import Server
from nst_nodes.core.errors import InputError


@pytest.mark.parametrize(
    "name, safe",
    [("nst_00001_.png", "nst_00001_.png"), ("../../etc/passwd", "passwd"), ("..\\..\\x.png", "x.png"),
     (".hidden", "hidden"), ("..", "output"), ("a b/c?d*.png", "c_d_.png"), ("", "output")],
)  # fmt: skip
def test_safe_name(name, safe):
    assert jobs.safe_name(name) == safe


class FakeServer:
    """Stands in for a Server where only /view is needed."""

    url = "http://fake:1"

    def view(self, filename: str, subfolder: str, kind: str) -> bytes:
        return f"{subfolder}|{filename}|{kind}".encode()


def test_outputs_never_leave_the_out_folder(tmp_path):
    out = tmp_path / "out"
    history = {"outputs": {
        "7": {"images": [{"filename": "../../evil.png", "subfolder": "../..", "type": "output"}]},
        "9": {"images": [{"filename": "evil.png", "subfolder": "", "type": "output"},
                         {"filename": "ComfyUI_temp_abc_00001_.png", "subfolder": "", "type": "temp"}],
              "text": ['{"a": 1}']},
    }}  # fmt: skip
    prompt = {"9": {"class_type": "X", "inputs": {}, "_meta": {"title": "../Loss curves"}}}
    written = jobs.save_outputs(FakeServer(), history, prompt, out, overwrite=False)
    assert sorted(p.name for p in written) == ["Loss_curves-2.png", "Loss_curves.json", "evil-9.png", "evil.png"]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(p.name for p in written)
    assert all(p.parent == out.resolve() for p in written)
    with pytest.raises(InputError, match="already exists; pass --overwrite"):
        jobs.save_outputs(FakeServer(), history, prompt, out, overwrite=False)


def test_jobs_go_to_free_servers_and_a_lost_servers_job_is_retried(monkeypatch, tmp_path):
    servers = [Server("http://a:1"), Server("http://b:2")]
    queued = [jobs.Job(name=f"j{i}", prompt={}, uploads=[], out_dir=tmp_path / f"j{i}") for i in range(5)]
    taken: list[tuple[str, str]] = []
    a_lost = threading.Event()

    def fake_run_job(server, job, position=0, overwrite=False, timeout=0):
        taken.append((server.url, job.name))
        if server.url == "http://a:1":  # a dies during its first job
            a_lost.set()
            return jobs.JobResult(job=job, server=server.url, error="server http://a:1: cannot reach it", server_lost=True)
        a_lost.wait(60)  # b stays busy until then, so a surely takes a job
        return jobs.JobResult(job=job, server=server.url)

    monkeypatch.setattr(jobs, "run_job", fake_run_job)
    results = jobs.run_jobs(servers, queued)
    assert [r.job.name for r in results] == [j.name for j in queued]
    assert all(r.error is None and r.server == "http://b:2" for r in results)
    (lost,) = [name for url, name in taken if url == "http://a:1"]  # a took no job after it was lost
    assert ("http://b:2", lost) in taken  # its job was run again elsewhere


def test_jobs_left_when_every_server_is_lost(monkeypatch, tmp_path):
    def lost(server, job, position=0, overwrite=False, timeout=0):
        return jobs.JobResult(job=job, server=server.url, error="server x: cannot reach it", server_lost=True)

    monkeypatch.setattr(jobs, "run_job", lost)
    queued = [jobs.Job(name="j", prompt={}, uploads=[], out_dir=tmp_path)]
    (result,) = jobs.run_jobs([Server("http://a:1")], queued)
    assert result.error == "not run: no server was left to take it (server x: cannot reach it)"
