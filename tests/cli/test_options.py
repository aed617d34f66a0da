"""The options `nst` subcommands share (cli/options.py): each --mask goes with the --style before it."""

from __future__ import annotations

import pytest

from nst_nodes.cli import build_parser


def test_cli_pairs_each_mask_with_the_style_before_it():
    args = build_parser().parse_args(
        ["stylize", "--content", "c", "--out", "o", "--style", "a", "--mask", "ma", "--style", "b", "--style", "c2", "--style-mask", "sc"]
    )
    assert args.style == ["a", "b", "c2"] and args.mask == ["ma", None, None] and args.style_mask == [None, None, "sc"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["stylize", "--content", "c", "--out", "o", "--mask", "m", "--style", "a"])


BASE = ["stylize", "--content", "c", "--style", "s", "--out", "o"]


@pytest.mark.parametrize(
    "alias, name, dest, value",
    [
        ("--mix-weights", "--style-weights", "style_weights", "1,3"),
        ("--style-loss-weight", "--style-weight", "style_weight", "2.5"),
        ("--content-loss-weight", "--content-weight", "content_weight", "0.5"),
        ("--tv-loss-weight", "--tv-weight", "tv_weight", "0.25"),
        ("--vgg-weights", "--weights", "weights", "my-vgg.pth"),
    ],
)
def test_a_clearer_alias_sets_what_the_first_name_sets(alias, name, dest, value):
    parser = build_parser()
    by_alias, by_name = (vars(parser.parse_args([*BASE, flag, value])) for flag in (alias, name))
    assert by_alias == by_name
    assert by_alias[dest] != vars(parser.parse_args(BASE))[dest]


def _flags(command: str) -> set[str]:
    parser = build_parser()._subparsers._group_actions[0].choices[command]
    return {option for action in parser._actions for option in action.option_strings}


def test_every_setting_a_flag_sets_is_named_by_that_flag_in_errors():
    """flag_name names each engine field by the flag that sets it: a renamed field or flag shows up here."""
    from dataclasses import fields

    from nst_nodes.cli.options import flag_name
    from nst_nodes.core.settings import LossSettings, RunSettings, SearchSettings

    # Fields no flag sets: the history's spacing and the proxy runs' step size.
    unset = {"history_every", "proxy_lr"}
    for command, types in (("stylize", (RunSettings, LossSettings)), ("search-rotation", (RunSettings, LossSettings, SearchSettings))):
        flags = _flags(command)
        for kind in types:
            for field in fields(kind):
                if field.name not in unset:
                    assert flag_name(field.name, None) in flags, (command, kind.__name__, field.name)
    style_fields = ("style", "style_weights", "mix", "style_scale", "mask", "style_mask")
    assert {flag_name(name, None) for name in style_fields} <= _flags("stylize")
