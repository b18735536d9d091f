"""Index strategies (pure) and the Finder over real pages from the local server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.server import IndexServer

from torchup.cache import Cache
from torchup.index.client import HttpClient
from torchup.index.finder import Finder, IndexSource, IndexStrategy, select_files
from torchup.index.simple import DistFile

MakeWheel = Callable[..., Path]


def _f(name: str, version: str, index: str) -> DistFile:
    filename = f"{name}-{version}-py3-none-any.whl"
    return DistFile(filename, f"https://{index}/{filename}", index=f"https://{index}")


TORCH = IndexSource("https://torch", name="pytorch")
EXTRA = IndexSource("https://extra")
PYPI = IndexSource("https://pypi", name="pypi", default=True)
FLAT = IndexSource("https://flat", kind="find-links")


# --- select_files: the strategies as a table --------------------------------------------------
#
#   pytorch: numpy 1.0, 2.0          (an old mirror, like download.pytorch.org)
#   extra:   (no numpy)
#   pypi:    numpy 2.0, 2.1
#   flat:    numpy 3.0.dev0           (find-links: always a candidate)

PAGES: list[tuple[IndexSource, list[DistFile] | None]] = [
    (TORCH, [_f("numpy", "1.0", "torch"), _f("numpy", "2.0", "torch")]),
    (EXTRA, None),
    (PYPI, [_f("numpy", "2.0", "pypi"), _f("numpy", "2.1", "pypi")]),
    (FLAT, [_f("numpy", "3.0.dev0", "flat")]),
]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("first-index", ["torch 1.0", "torch 2.0", "flat 3.0.dev0"]),
        (
            "unsafe-first-match",
            ["torch 1.0", "torch 2.0", "pypi 2.0", "pypi 2.1", "flat 3.0.dev0"],
        ),
        # 2.0 exists on both indexes: only the first index's files of it are kept.
        ("unsafe-best-match", ["torch 1.0", "torch 2.0", "pypi 2.1", "flat 3.0.dev0"]),
    ],
)
def test_select_files(strategy: IndexStrategy, expected: list[str]) -> None:
    got = select_files(PAGES, strategy)
    assert [f"{f.url.split('/')[2]} {f.version}" for f in got] == expected


def test_select_files_nothing_anywhere() -> None:
    assert select_files([(TORCH, None), (PYPI, [])], "first-index") == []


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="unknown index strategy"):
        select_files(PAGES, "best")  # type: ignore[arg-type]


def test_index_source() -> None:
    src = IndexSource("https://u:tok@example.org/simple/", name=None)
    assert src.label == "https://u:****@example.org/simple/"
    assert src.key == "https://example.org/simple/"
    assert src.project_url("Foo_Bar") == "https://u:tok@example.org/simple/foo-bar/"


# --- Finder against the server ----------------------------------------------------------------


@pytest.fixture
def world(index_server: IndexServer, make_wheel: MakeWheel) -> IndexServer:
    """whl/cpu (403 for missing, like download.pytorch.org): torch 2.5.1+cpu, numpy 1.0.
    pypi: torch 2.5.1, numpy 2.0, idna 3.10."""
    index_server.configure("whl/cpu", missing_status=403, json=False)
    index_server.publish(
        "whl/cpu",
        [
            make_wheel("torch", "2.5.1+cpu", tags="cp311-cp311-linux_x86_64"),
            make_wheel("numpy", "1.0"),
        ],
    )
    index_server.publish(
        "pypi",
        [make_wheel("torch", "2.5.1"), make_wheel("numpy", "2.0"), make_wheel("idna", "3.10")],
    )
    return index_server


def _finder(server: IndexServer, tmp_path: Path, **kwargs: object) -> Finder:
    sources = [
        IndexSource(server.index_url("pypi"), name="pypi", default=True),
        IndexSource(server.index_url("whl/cpu"), name="pytorch"),
    ]
    client = HttpClient(Cache(tmp_path / "cache"), backoff=0.0)
    return Finder(client, sources, **kwargs)  # type: ignore[arg-type]


def _versions(files: list[DistFile]) -> list[str]:
    return [str(f.version) for f in files]


def test_first_index_takes_the_first_index_that_has_the_project(
    world: IndexServer, tmp_path: Path
) -> None:
    finder = _finder(world, tmp_path)
    # The default index (pypi) is consulted last even though it was given first.
    assert [s.name for s in finder.sources] == ["pytorch", "pypi"]
    world.reset_stats()
    numpy = finder.files("NumPy")
    # The stale mirror wins under first-index: uv's default, and why seed 004 fails there.
    assert _versions(numpy) == ["1.0"]
    assert numpy[0].index == world.index_url("whl/cpu")
    assert [r.path for r in world.requests] == ["/whl/cpu/numpy/"]  # pypi never asked
    # Missing on the first index (403): fall through to the next.
    idna = finder.files("idna")
    assert _versions(idna) == ["3.10"] and idna[0].index == world.index_url("pypi")
    assert finder.source_for(idna[0]) is finder.sources[1]
    assert finder.files("nothing-anywhere") == []


def test_best_match_unions(world: IndexServer, tmp_path: Path) -> None:
    finder = _finder(world, tmp_path, strategy="unsafe-best-match")
    assert sorted(_versions(finder.files("numpy"))) == ["1.0", "2.0"]
    assert sorted(_versions(finder.files("torch"))) == ["2.5.1", "2.5.1+cpu"]


def test_explicit_sources_only_when_named(world: IndexServer, tmp_path: Path) -> None:
    pytorch = IndexSource(world.index_url("whl/cpu"), name="pytorch", explicit=True)
    pypi = IndexSource(world.index_url("pypi"), name="pypi", default=True)
    client = HttpClient(Cache(tmp_path / "c"), backoff=0.0)
    finder = Finder(client, [pytorch, pypi])
    assert finder.default_sources() == (pypi,)
    assert _versions(finder.files("numpy")) == ["2.0"]
    assert _versions(finder.files("torch", [pytorch])) == ["2.5.1+cpu"]


def test_find_links_are_always_candidates(
    world: IndexServer, tmp_path: Path, make_wheel: MakeWheel
) -> None:
    flat_dir = tmp_path / "wheels"
    flat_dir.mkdir()
    local = make_wheel("numpy", "9.0")
    (flat_dir / local.name).write_bytes(local.read_bytes())
    (flat_dir / "README.txt").write_text("not a dist")
    client = HttpClient(Cache(tmp_path / "c"), backoff=0.0)
    finder = Finder(
        client,
        [
            IndexSource(world.index_url("whl/cpu")),
            IndexSource(str(flat_dir), kind="find-links", name="local"),
        ],
    )
    assert sorted(_versions(finder.files("numpy"))) == ["1.0", "9.0"]
    assert _versions(finder.files("idna")) == []


def test_prefetch_fetches_concurrently_and_files_reuses(world: IndexServer, tmp_path: Path) -> None:
    finder = _finder(world, tmp_path, strategy="unsafe-best-match")
    world.reset_stats()
    with finder:
        finder.prefetch(["torch", "numpy", "idna"])
        assert sorted(_versions(finder.files("torch"))) == ["2.5.1", "2.5.1+cpu"]
        finder.files("numpy")
        finder.files("idna")
    assert len(world.requests) == 6  # 3 projects x 2 indexes, each page once
    assert sorted(r.path for r in world.requests) == sorted(
        f"/{i}/{p}/" for i in ("pypi", "whl/cpu") for p in ("idna", "numpy", "torch")
    )


def test_prefetch_under_first_index_asks_only_the_first_index(
    world: IndexServer, tmp_path: Path
) -> None:
    finder = _finder(world, tmp_path)
    world.reset_stats()
    finder.prefetch(["torch", "numpy"])
    finder.files("torch")
    finder.files("numpy")
    finder.close()
    assert sorted(r.path for r in world.requests) == ["/whl/cpu/numpy/", "/whl/cpu/torch/"]


def test_network_errors_surface_from_files(world: IndexServer, tmp_path: Path) -> None:
    from torchup.errors import NetworkError

    world.fail("/whl/cpu/torch/", status=500, times=10)
    client = HttpClient(Cache(tmp_path / "c"), backoff=0.0, retries=0)
    finder = Finder(client, [IndexSource(world.index_url("whl/cpu"))])
    finder.prefetch(["torch"])
    with pytest.raises(NetworkError, match="HTTP 500"):
        finder.files("torch")


@pytest.mark.parametrize("strategy", ["first-index", "unsafe-first-match", "unsafe-best-match"])
def test_file_groups_group_the_files(
    world: IndexServer, tmp_path: Path, make_wheel: MakeWheel, strategy: IndexStrategy
) -> None:
    """file_groups (what the resolver reads) holds files()' files, grouped by version, for
    JSON pages (pypi), HTML pages (whl/cpu) and find-links, and fetches each page once."""
    world.publish("pypi", [make_wheel("numpy", "2.0", tags="cp311-cp311-linux_x86_64")])
    world.yank("pypi", "numpy-2.0-py3-none-any.whl", "broken")
    flat_dir = tmp_path / "wheels"
    flat_dir.mkdir()
    local = make_wheel("numpy", "2.0", tags="py2-none-any")
    (flat_dir / local.name).write_bytes(local.read_bytes())
    client = HttpClient(Cache(tmp_path / "c"), backoff=0.0)
    finder = Finder(
        client,
        [
            IndexSource(world.index_url("pypi"), name="pypi", default=True),
            IndexSource(world.index_url("whl/cpu"), name="pytorch"),
            IndexSource(str(flat_dir), kind="find-links", name="local"),
        ],
        strategy=strategy,
    )
    world.reset_stats()
    for project in ("numpy", "torch", "idna", "nothing"):
        groups = finder.file_groups(project)
        files = finder.files(project)
        by_version: dict[object, list[DistFile]] = {}
        for f in files:
            by_version.setdefault(f.version, []).append(f)
        assert list(groups) == list(by_version)
        for version, group in groups.items():
            assert list(group.files) == by_version[version]
            assert group.yanked == all(f.is_yanked for f in by_version[version])
    paths = [r.path for r in world.requests]
    assert len(paths) == len(set(paths))  # each page fetched once, for both views


def test_prefetch_asks_for_the_biggest_cached_pages_first(
    index_server: IndexServer, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    """The provider orders a batch of prefetches by the size each page had when last cached
    (Finder.biggest_first): big pages take longest to read, and their projects' wheels
    longest to stage. Unknown pages keep the order they were asked in."""
    from torchup.resolver.provider import IndexProvider, Pkg
    from torchup.target import Target

    index_server.publish(
        "pypi",
        [make_wheel("small", "1.0")]
        + [make_wheel("big", f"1.{i}") for i in range(12)]
        + [make_wheel("mid", f"1.{i}") for i in range(4)],
    )

    def requested_order(cache_dir: Path) -> list[str]:
        # refresh: revalidate every page (this server's pages are fresh for 10 minutes), so
        # each prefetch shows as a request.
        client = HttpClient(Cache(cache_dir), backoff=0.0, refresh=True)
        # One page worker and one provider worker: requests go out in prefetch order.
        finder = Finder(
            client, [IndexSource(index_server.index_url("pypi"), default=True)], max_workers=1
        )
        provider = IndexProvider(Target.for_platform("3.12", "linux"), finder, None, workers=1)  # type: ignore[arg-type]
        index_server.reset_stats()
        try:
            provider.prefetch([Pkg("small"), Pkg("mid"), Pkg("never-seen"), Pkg("big")])
            for name in ("small", "mid", "never-seen", "big"):
                provider._universe(name)
        finally:
            provider.close()
            finder.close()
        return [r.path.strip("/").split("/")[-1] for r in index_server.requests]

    cache = tmp_path / "cache"
    # Nothing cached yet: asked in the given order.
    assert requested_order(cache) == ["small", "mid", "never-seen", "big"]
    finder = Finder(HttpClient(Cache(cache)), [IndexSource(index_server.index_url("pypi"))])
    sizes = {n: finder.cached_page_size(n) for n in ("small", "mid", "big", "never-seen")}
    assert sizes["big"] > sizes["mid"] > sizes["small"] > 0 and sizes["never-seen"] == 0
    # Then biggest first; the project no index has (404, not cached) keeps its place last.
    assert requested_order(cache) == ["big", "mid", "small", "never-seen"]
