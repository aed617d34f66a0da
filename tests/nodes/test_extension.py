"""The pack as a ComfyUI V3 extension (nodes/extension.py): every node once, each input and output documented."""

from __future__ import annotations

import asyncio

import nst_nodes

from nst_comfy import NODE_IDS


def test_entrypoint_gives_all_nodes_once(comfy):
    extension = asyncio.run(nst_nodes.comfy_entrypoint())
    asyncio.run(extension.on_load())
    classes = asyncio.run(extension.get_node_list())
    ids = [cls.GET_SCHEMA().node_id for cls in classes]
    assert sorted(ids) == sorted(NODE_IDS)


def test_every_node_input_and_output_is_documented(comfy):
    extension = asyncio.run(nst_nodes.comfy_entrypoint())
    for cls in asyncio.run(extension.get_node_list()):
        schema = cls.GET_SCHEMA()
        assert schema.node_id.startswith("NST_") and schema.display_name.endswith("(NST)"), schema.node_id
        assert len(schema.description) > 40, schema.node_id
        for item in [*schema.inputs, *schema.outputs]:
            assert item.tooltip and len(item.tooltip) > 15, f"{schema.node_id}.{item.id}"


def test_every_node_takes_exactly_its_inputs_by_name(comfy):
    """ComfyUI calls execute(**inputs) by input id: the signature must name each input, no more and no
    less, so that no widget reaches the engine through an unchecked **kwargs."""
    import inspect

    extension = asyncio.run(nst_nodes.comfy_entrypoint())
    for cls in asyncio.run(extension.get_node_list()):
        schema = cls.GET_SCHEMA()
        parameters = inspect.signature(cls.execute).parameters.values()
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters), schema.node_id
        assert {p.name for p in parameters} == {item.id for item in schema.inputs}, schema.node_id


def test_each_settings_field_a_node_sets_is_named_by_its_input(comfy):
    """The tables that name engine fields by node inputs list real fields and real inputs."""
    from dataclasses import fields

    from nst_nodes.core.settings import RunSettings, SearchSettings
    from nst_nodes.core.video import VideoSettings

    for node, table, kind in (
        (comfy.optimize.Optimize, comfy.optimize.RUN_INPUTS, RunSettings),
        (comfy.video.StylizeVideo, comfy.optimize.RUN_INPUTS, RunSettings),
        (comfy.video.StylizeVideo, comfy.video.VIDEO_INPUTS, VideoSettings),
        (comfy.search.RotationDESearch, comfy.search.SEARCH_INPUTS, SearchSettings),
    ):
        inputs = {item.id for item in node.GET_SCHEMA().inputs}
        assert set(table) <= {field.name for field in fields(kind)}, node
        assert {name for names in table.values() for name in names.split(", ")} <= inputs, node
