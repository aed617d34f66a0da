"""README's promises: the CI runs its test command, and every CLI flag is documented."""

from __future__ import annotations

import re
from pathlib import Path

from nst_nodes.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def _setup_commands() -> list[str]:
    section = README.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_exactly_two_setup_commands_and_ci_runs_the_test_one():
    commands = _setup_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    main_job, test_command = commands
    assert "nst stylize" in main_job and "samples/" in main_job
    assert "pytest" in test_command
    assert test_command in (REPO / ".ci" / "run").read_text()


def test_main_job_uses_bundled_files():
    main_job = _setup_commands()[0]
    for path in re.findall(r"samples/[\w.]+", main_job):
        assert (REPO / path).is_file(), path


def test_every_stylize_flag_in_the_knob_table():
    parser = build_parser()
    stylize = parser._subparsers._group_actions[0].choices["stylize"]
    flags = {opt for action in stylize._actions for opt in action.option_strings if opt.startswith("--")} - {"--help"}
    missing = [flag for flag in sorted(flags) if f"`{flag}" not in README]
    assert missing == []


def test_comfyui_requirements_match_the_package_without_torch():
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (REPO / "requirements.txt").read_text().splitlines()
    listed = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert sorted(listed) == sorted(d for d in declared if not d.startswith(("torch", "torchvision")))
    assert not any(line.lower().startswith("torch") for line in listed)
