"""render_tree's parts that the integration tests compare with uv only indirectly: size
text, and a graph holding one package at two versions (`torchup tree --universal`)."""

from __future__ import annotations

from packaging.utils import NormalizedName

from torchup.install.tree import TreeEdge, TreeOptions, human_bytes, node_of, render_tree


def test_human_bytes_is_uvs_size_text() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1024, 73_113, 1_258_291, 3 << 30)] == [
        "0B", "1023B", "1.0KiB", "71.4KiB", "1.2MiB", "3.0GiB",
    ]


def test_a_package_at_two_versions_is_two_nodes() -> None:
    app, old, new = NormalizedName("app"), node_of("NumPy", "1.26.4"), node_of("numpy", "2.2.0")
    versions = {app: "1.0", old: "1.26.4", new: "2.2.0"}
    edges = [TreeEdge(app, new), TreeEdge(app, old)]
    options = TreeOptions(
        sizes={old: 18_000_000, app: 1_000}, latest={"numpy": "2.3.0"}, packages=("app",)
    )
    # by name, then by version (not as text: "10.0" after "9.0"); the size before the newest
    # version; --package and --prune speak of names
    assert render_tree(versions, edges, options) == (
        "app v1.0 (1000B)\n"
        "├── numpy v1.26.4 (17.2MiB) (latest: v2.3.0)\n"
        "└── numpy v2.2.0 (latest: v2.3.0)\n"
    )
    assert render_tree(versions, edges, TreeOptions(prune=("NumPy",))) == "app v1.0\n"
    assert render_tree(versions, edges, TreeOptions(packages=("numpy",))) == (
        "numpy v1.26.4\nnumpy v2.2.0\n"
    )
