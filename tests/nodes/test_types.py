"""The pack's shared socket types and schema (nodes/_types.py): search words where ComfyUI's Schema takes them."""

from __future__ import annotations

import asyncio
import dataclasses

import nst_nodes


def test_nodes_carry_search_words_where_the_schema_has_search_aliases(comfy, monkeypatch):
    """Newer ComfyUI's Schema has `search_aliases`; 0.3.75's has not, and there the nodes must still build."""
    from comfy_api.latest import io

    from nst_nodes.nodes import _types

    assert "search_aliases" not in {f.name for f in dataclasses.fields(io.Schema)}  # 0.3.75: left out

    @dataclasses.dataclass
    class NewerSchema(io.Schema):
        search_aliases: list[str] = dataclasses.field(default_factory=list)

    monkeypatch.setattr(_types.io, "Schema", NewerSchema)
    extension = asyncio.run(nst_nodes.comfy_entrypoint())
    for cls in asyncio.run(extension.get_node_list()):
        aliases = cls.define_schema().search_aliases
        assert {"style transfer", "neural style", "gatys", "vgg"} <= set(aliases), cls.__name__
        assert len(aliases) > len(_types.SEARCH_WORDS), f"{cls.__name__} has no words of its own"
