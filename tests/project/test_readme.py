"""README's promises: the CI runs its test command, and every CLI flag is documented."""

from __future__ import annotations

import re

from nst_nodes.cli import build_parser
from nst_nodes.core.settings import DEFAULT_LR, WARM_STEPS, LossSettings, RunSettings

from paths import REPO

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


def _knob_defaults() -> dict[str, str]:
    """`--flag` -> the default column of its row in the knob table (cells split at unescaped bars)."""
    defaults = {}
    for line in README.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)]
        if len(cells) == 6 and cells[1].startswith("`--"):
            defaults[cells[1].strip("`").split()[0]] = cells[3]
    return defaults


def test_knob_table_defaults_are_the_code_defaults():
    run, loss = RunSettings(), LossSettings()
    table = _knob_defaults()
    assert table["--optimizer"] == f"`{run.optimizer}`"
    assert table["--dtype"] == f"`{run.dtype}`" and table["--scales"] == f"`{run.scales}`"
    assert table["--size"] == str(run.size) and table["--steps"] == f"{run.steps}; {WARM_STEPS} with `--init fast`"
    assert table["--style-weight"] == f"{loss.style_weight:g}"
    assert table["--content-weight"] == f"{loss.content_weight:g}"
    adam_lr, lbfgs_lr = DEFAULT_LR["adam"], DEFAULT_LR["lbfgs"]
    assert table["--lr"].startswith(f"{adam_lr} (Adam), {lbfgs_lr} (L-BFGS)")


def test_comfyui_requirements_match_the_package_without_torch():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    # ComfyUI has no extras: the VGG16 fallback's extra is part of what the node pack needs
    declared = project["dependencies"] + project["optional-dependencies"]["vgg16"]
    lines = (REPO / "requirements.txt").read_text().splitlines()
    listed = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert sorted(listed) == sorted(d for d in declared if not d.startswith(("torch", "torchvision")))
    assert not any(line.lower().startswith("torch") for line in listed)


def _layout_table() -> dict[str, set[str]]:
    """folder -> the file names the README's layout table lists for it (a blank folder cell continues the row above)."""
    section = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed: dict[str, set[str]] = {}
    folder = ""
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) != 5 or cells[1] in ("folder", "---"):
            continue
        folder = cells[1].strip("`") or folder
        listed.setdefault(folder, set()).update(re.findall(r"`([\w.*]+\.py)`", cells[2]))
    return listed


def test_layout_section_matches_the_tree():
    """Every module is listed under its folder, and every module listed exists there."""
    listed = _layout_table()
    assert set(listed) == {"core/", "nodes/", "cli/", "client/", "tests/", "benchmarks/", "generators/"}
    for folder, names in listed.items():
        present = {path.name for path in (REPO / folder).glob("*.py")} - ({"__init__.py"} - names)  # package markers
        if folder == "tests/":
            names = {n for n in names if "*" not in n} | {p for p in present if p.startswith("test_")}
        assert names == present, (folder, sorted(names ^ present))
    roots = {path.name for path in REPO.glob("*.py")}
    assert roots == {"__init__.py", "__main__.py"}


def test_the_readmes_reach_and_halo_figures_are_the_codes():
    """The receptive field and tile halos the README states, from the architectures themselves."""
    from nst_nodes.core.tiles import TilePlan
    from nst_nodes.core.vgg import VGG16, VGG19

    field = {arch: 2 * arch.reach("relu5_1") + arch.stride("relu5_1") for arch in (VGG19, VGG16)}
    assert f"the receptive field of relu5_1 is {field[VGG19]} px in VGG19, {field[VGG16]} px in VGG16" in README
    halo = {arch: TilePlan.exact(arch, ["relu5_1"], 512).halo for arch in (VGG19, VGG16)}
    assert f"reach (relu5_1: {VGG19.reach('relu5_1')} px, rounded up to {halo[VGG19]} px" in README
    assert f"{halo[VGG16]} px for VGG16" in README
