"""The parsed-page cache: a JSON page whose body is unchanged is rebuilt from its stored groups
(``simple-parsed-v1``) instead of being decoded and grouped again, and gives exactly what a
fresh parse gives; any other stored blob (another body, URL or project, damaged, of another
format or shape) is a miss, never an error.

Pages are served by the real local index server (a fault rule sends the chosen body, with no
validators, as PyPI does); hits are told from misses by counting the client's ``json.loads``.
"""

from __future__ import annotations

import json
import marshal
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.support.faults import FaultInjector
from tests.support.server import IndexServer
from tests.unit.test_simple_fastpath import _ENTRY, _PAGE_URLS, SETTINGS, _everything

from torchup.cache import BUCKETS, Cache
from torchup.errors import IndexError_
from torchup.index import client as client_mod
from torchup.index.client import HttpClient
from torchup.index.simple import _GROUPS_MAGIC, JsonGroups, PageFiles

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
BUCKET = "simple-parsed-v1"


def _page(*extra: object) -> bytes:
    """foo's page: two spellings of 1.0 (and its files interleaved with other versions'), a
    fully yanked 1.5, a partly yanked 2.0, PEP 658 fields, relative and absolute URLs, a local
    version, odd values; plus a file of another project and entries that are skipped."""
    files: list[object] = [
        {"filename": "foo-1.0.tar.gz", "url": "../../files/foo-1.0.tar.gz#sha256=AA"},
        {
            "filename": "foo-1.0.0-py3-none-any.whl",
            "url": "/files/foo-1.0.0-py3-none-any.whl",
            "hashes": {"SHA256": "BB"},
            "core-metadata": {"sha256": "CC"},
            "requires-python": " >=3.8 ",
            "size": 123,
            "upload-time": "2024-01-01T00:00:00Z",
        },
        {
            "filename": "foo-2.0-py3-none-any.whl",
            "url": "https://files.example/foo-2.0-py3-none-any.whl",
            "yanked": "broken build",
            "dist-info-metadata": True,
            "size": 2**70,
        },
        {"filename": "foo-1.5.tar.gz", "url": "foo-1.5.tar.gz", "yanked": True},
        {"filename": "foo-2.0.tar.gz", "url": "foo-2.0.tar.gz", "size": 1.5, "yanked": False},
        {"filename": "foo-1.5.zip", "url": "foo-1.5.zip", "yanked": ""},
        {"filename": "foo-1.0.zip", "url": "./foo-1.0.zip", "upload-time": "2024\ud800"},
        {"filename": "Foo-1.0.0RC1-py3-none-any.whl", "url": "rc/Foo-1.0.0RC1-py3-none-any.whl"},
        {"filename": "foo-3.0+cpu-py3-none-any.whl", "url": "foo-3.0%2Bcpu-py3-none-any.whl"},
        {"filename": "bar-1.0.tar.gz", "url": "bar-1.0.tar.gz"},
        {"filename": "foo-bad!-py3-none-any.whl", "url": "x.whl"},
        {"filename": "foo-4.0.exe", "url": "foo-4.0.exe"},
        {"filename": "foo-5.0.tar.gz"},
        "not an entry",
        *extra,
    ]
    return json.dumps({"meta": {"api-version": "1.1"}, "name": "foo", "files": files}).encode()


class _CountingJson:
    """Stands in for the client module's ``json``: counts decodes (a miss decodes the page)."""

    def __init__(self) -> None:
        self.calls = 0

    def loads(self, data: bytes) -> Any:
        self.calls += 1
        return json.loads(data)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> _CountingJson:
    counting = _CountingJson()
    monkeypatch.setattr(client_mod, "json", counting)
    return counting


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


@pytest.fixture
def faults(index_server: IndexServer) -> Iterator[FaultInjector]:
    with FaultInjector(index_server) as injector:
        yield injector


@pytest.fixture
def url(index_server: IndexServer) -> str:
    return index_server.index_url() + "/foo/"


def _serve(faults: FaultInjector, body: bytes, path: str = "/simple/foo/") -> None:
    faults.clear()
    faults.body(path, body, content_type=JSON_TYPE, times=-1)


def _first_run(cache: Cache, faults: FaultInjector, url: str, body: bytes) -> None:
    """Serve ``body`` and read it once: the run that stores its parse."""
    _serve(faults, body)
    _fetch(cache, url)


def _fetch(cache: Cache, url: str, project: str = "foo", **kwargs: Any) -> PageFiles:
    # A new client each time, as each command makes one.
    page = HttpClient(cache, backoff=0.0, **kwargs).fetch_page_files(
        url, project=project, index="i"
    )
    assert page is not None
    return page


def _snapshot(page: PageFiles) -> tuple[object, ...]:
    """Everything a PageFiles shows: versions in order (with their spelling), yanked flags,
    every field of every file by group and in page order."""
    groups = [
        (str(v), str(g.version), g.yanked, [_everything(f) for f in g.files])
        for v, g in page.groups.items()
    ]
    return groups, [_everything(f) for f in page.files()]


def _fresh(body: bytes, page_url: str, project: str = "foo") -> tuple[object, ...]:
    return _snapshot(PageFiles.from_json(json.loads(body), page_url, project=project, index="i"))


def _blobs(cache: Cache) -> list[Path]:
    root = cache.dir / BUCKET
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def _one_blob(cache: Cache) -> Path:
    [blob] = _blobs(cache)
    return blob


def _is_one_object(page: PageFiles) -> bool:
    """Each file is one object whether read by group or in page order."""
    return {id(f) for f in page.files()} == {id(f) for g in page.groups.values() for f in g.files}


# --- hits and misses through the client ------------------------------------------------------


def test_the_page_fixture_covers_what_it_claims(url: str) -> None:
    groups, in_order = _fresh(_page(), url)
    assert [(v, yanked) for v, _version, yanked, _files in groups] == [
        ("1.0", False),
        ("2.0", False),
        ("1.5", True),
        ("1.0.0rc1", False),
        ("3.0+cpu", False),
    ]
    assert [len(files) for *_rest, files in groups] == [3, 2, 2, 1, 1]
    assert len(in_order) == 9  # bar's file and four unusable entries are not among them


def test_an_unchanged_page_is_rebuilt_from_its_stored_parse(
    cache: Cache, faults: FaultInjector, url: str, decodes: _CountingJson
) -> None:
    body = _page()
    _serve(faults, body)
    first = _fetch(cache, url)
    assert decodes.calls == 1
    blob = _one_blob(cache)
    stored = blob.read_bytes()
    mtime = blob.stat().st_mtime_ns

    again = _fetch(cache, url)
    assert decodes.calls == 1  # not decoded: read from the stored parse
    assert blob.read_bytes() == stored and blob.stat().st_mtime_ns == mtime
    assert _snapshot(again) == _snapshot(first) == _fresh(body, url)
    assert _is_one_object(again)
    # Read in page order first, then by group: the same objects.
    later = _fetch(cache, url)
    assert [_everything(f) for f in later.files()] == _fresh(body, url)[1]
    assert _is_one_object(later)


def test_the_full_page_parser_does_not_use_stored_parses(
    cache: Cache, faults: FaultInjector, url: str, decodes: _CountingJson
) -> None:
    _first_run(cache, faults, url, _page())
    page = HttpClient(cache).fetch_page(url)
    assert page is not None and decodes.calls == 2
    assert {f.project for f in page.files} == {"foo", "bar"}


def test_a_changed_page_is_parsed_again_and_its_parse_replaced(
    cache: Cache, faults: FaultInjector, url: str, decodes: _CountingJson
) -> None:
    _first_run(cache, faults, url, _page())
    old = _one_blob(cache).read_bytes()

    changed = _page({"filename": "foo-6.0.tar.gz", "url": "foo-6.0.tar.gz"})
    _serve(faults, changed)
    page = _fetch(cache, url)
    assert decodes.calls == 2
    assert _snapshot(page) == _fresh(changed, url)
    assert "6.0" in {str(v) for v in page.groups}
    assert _one_blob(cache).read_bytes() != old

    assert _snapshot(_fetch(cache, url)) == _fresh(changed, url)
    assert decodes.calls == 2  # the new parse is used from now on


def test_a_page_served_from_the_http_cache_uses_the_stored_parse(
    cache: Cache, faults: FaultInjector, url: str, decodes: _CountingJson
) -> None:
    body = _page()
    _first_run(cache, faults, url, body)
    faults.clear()
    faults.status("/simple/foo/", 503, times=-1)  # offline never asks
    assert _snapshot(_fetch(cache, url, offline=True)) == _fresh(body, url)
    assert decodes.calls == 1


def test_a_parse_stored_for_another_final_url_is_not_used(
    cache: Cache, faults: FaultInjector, url: str, index_server: IndexServer, decodes: _CountingJson
) -> None:
    """Relative links resolve against the URL a page was served from: the same body behind a
    redirect is another page."""
    body = _page()
    _first_run(cache, faults, url, body)
    faults.clear()
    faults.redirect("/simple/foo/", "/mirror/foo/")
    faults.body("/mirror/foo/", body, content_type=JSON_TYPE, times=-1)
    page = _fetch(cache, url)
    assert decodes.calls == 2
    mirrored = index_server.url + "/mirror/foo/"
    assert _snapshot(page) == _fresh(body, mirrored) != _fresh(body, url)
    assert page.groups[next(iter(page.groups))].files[2].url == mirrored + "foo-1.0.zip"


def test_a_parse_stored_for_another_project_is_not_used(
    cache: Cache, faults: FaultInjector, url: str, decodes: _CountingJson
) -> None:
    body = _page()
    _first_run(cache, faults, url, body)
    foo_blob = _one_blob(cache)
    _fetch(cache, url, project="bar")
    [bar_blob] = [p for p in _blobs(cache) if p != foo_blob]
    shutil.copyfile(foo_blob, bar_blob)  # foo's groups where bar's should be

    page = _fetch(cache, url, project="bar")
    assert decodes.calls == 3
    assert _snapshot(page) == _fresh(body, url, "bar")
    assert [str(v) for v in page.groups] == ["1.0"]


def _truncated(blob: bytes) -> bytes:
    return blob[: len(blob) // 2]


def _flipped(blob: bytes) -> bytes:
    return blob[:-10] + bytes([blob[-10] ^ 1]) + blob[-9:]


def _old_format(blob: bytes) -> bytes:
    return blob.replace(b"-groups-1\n", b"-groups-0\n", 1)


def _no_checksum(blob: bytes) -> bytes:
    return _GROUPS_MAGIC + blob[len(_GROUPS_MAGIC) + 4 :]


def _groups_as_lists(blob: bytes) -> bytes:
    """Valid checksum and format, but each group's entries decoded (lists, not bytes)."""
    stamp, url, name, groups, order = marshal.loads(blob[len(_GROUPS_MAGIC) + 4 :])
    decoded = [(v, y, marshal.loads(e)) for v, y, e in groups]
    return _stored((stamp, url, name, decoded, order))


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: b"",
        lambda blob: b"\x00" * 64,
        lambda blob: json.dumps({"files": []}).encode(),
        _truncated,
        _flipped,
        _old_format,
        _no_checksum,
        _groups_as_lists,
    ],
    ids=["empty", "zeros", "json", "truncated", "flipped", "old-format", "no-crc", "shape"],
)
def test_a_damaged_stored_parse_is_a_miss_and_is_replaced(
    cache: Cache, faults: FaultInjector, url: str, decodes: _CountingJson, damage: Any
) -> None:
    body = _page()
    _first_run(cache, faults, url, body)
    blob = _one_blob(cache)
    blob.write_bytes(damage(blob.read_bytes()))

    assert _snapshot(_fetch(cache, url)) == _fresh(body, url)
    assert decodes.calls == 2
    # Parsed again and stored again: the next run reads the new parse.
    assert _snapshot(_fetch(cache, url)) == _fresh(body, url)
    assert decodes.calls == 2


# --- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [b'{"files": [', b'{"files": {}}', b"[]"])
def test_a_page_that_fails_to_parse_stores_no_parse(
    cache: Cache, faults: FaultInjector, url: str, bad: bytes
) -> None:
    _serve(faults, bad)
    with pytest.raises(IndexError_):
        _fetch(cache, url)
    assert _blobs(cache) == []


def test_an_html_page_stores_no_parse(
    cache: Cache, index_server: IndexServer, make_wheel: Any
) -> None:
    index_server.json = False
    index_server.publish("simple", [make_wheel("foo", "1.0")])
    page = _fetch(cache, index_server.index_url() + "/foo/")
    assert [str(v) for v in page.groups] == ["1.0"]
    assert _blobs(cache) == []


def test_without_a_persistent_cache_nothing_is_stored(faults: FaultInjector, url: str) -> None:
    body = _page()
    _serve(faults, body)
    cache = Cache(None)
    try:
        assert _snapshot(_fetch(cache, url)) == _fresh(body, url)
        assert _blobs(cache) == []
    finally:
        cache.close()


def test_a_parsed_page_bucket_that_cannot_be_read_is_no_error(
    cache: Cache, faults: FaultInjector, url: str, decodes: _CountingJson
) -> None:
    body = _page()
    _serve(faults, body)
    cache.dir.mkdir(parents=True)
    (cache.dir / BUCKET).write_bytes(b"a file where the bucket should be")
    for _ in range(2):
        assert _snapshot(_fetch(cache, url)) == _fresh(body, url)
    assert decodes.calls == 2


def test_a_parse_that_cannot_be_stored_is_no_error(
    cache: Cache, faults: FaultInjector, url: str, decodes: _CountingJson
) -> None:
    body = _page()
    _first_run(cache, faults, url, body)
    entry_dir = _one_blob(cache).parent
    shutil.rmtree(entry_dir)
    entry_dir.write_bytes(b"a file where the entry's directory should be")
    for _ in range(2):
        assert _snapshot(_fetch(cache, url)) == _fresh(body, url)
    assert decodes.calls == 3 and entry_dir.is_file()


def test_prune_keeps_stored_parses(cache: Cache, faults: FaultInjector, url: str) -> None:
    assert BUCKET in BUCKETS
    _first_run(cache, faults, url, _page())
    cache.prune()
    assert len(_blobs(cache)) == 1


# --- JsonGroups blobs, without a server ---------------------------------------------------------

URL = "https://pypi.org/simple/foo/"
ENTRY = {"filename": "foo-1.0.tar.gz", "url": "foo-1.0.tar.gz"}
ENTRIES = marshal.dumps([ENTRY], 4)


def _stored(value: object) -> bytes:
    """A blob with the current magic and a valid checksum around any marshalled value."""
    body = marshal.dumps(value, 4)
    return _GROUPS_MAGIC + zlib.crc32(body).to_bytes(4, "big") + body


def _valid(**changes: object) -> tuple[object, ...]:
    fields: dict[str, object] = {
        "stamp": b"digest",
        "url": URL,
        "project": "foo",
        "groups": [("1.0", False, ENTRIES), ("2.0", True, ENTRIES)],
        "order": [0, 1],
    }
    fields.update(changes)
    return tuple(fields.values())


def _load(blob: bytes) -> JsonGroups | None:
    return JsonGroups.from_bytes(blob, source=b"digest", page_url=URL, project="Foo")


def test_a_well_formed_blob_loads() -> None:
    loaded = _load(_stored(_valid()))
    assert loaded is not None and loaded.project == "foo" and loaded.order == [0, 1]
    page = PageFiles.from_groups(loaded)
    assert [(str(v), g.yanked, len(g.files)) for v, g in page.groups.items()] == [
        ("1.0", False, 1),
        ("2.0", True, 1),
    ]


@pytest.mark.parametrize(
    "value",
    [
        _valid(stamp=b"another body"),
        _valid(stamp="digest"),
        _valid(url=URL + "x/"),
        _valid(project="bar"),
        _valid(project=b"foo"),
        _valid(groups=(("1.0", False, ENTRIES), ("2.0", True, ENTRIES))),
        _valid(groups=[["1.0", False, ENTRIES], ("2.0", True, ENTRIES)]),
        _valid(groups=[("1.0", False), ("2.0", True, ENTRIES)]),
        _valid(groups=[(1.0, False, ENTRIES), ("2.0", True, ENTRIES)]),
        _valid(groups=[("not a version", False, ENTRIES), ("2.0", True, ENTRIES)]),
        _valid(groups=[("9" * 5000, False, ENTRIES), ("2.0", True, ENTRIES)]),
        _valid(groups=[("1.0", False, ENTRIES), ("1.0.0", True, ENTRIES)]),
        _valid(groups=[("1.0", 0, ENTRIES), ("2.0", True, ENTRIES)]),
        _valid(groups=[("1.0", False, [ENTRY]), ("2.0", True, ENTRIES)]),
        _valid(order=[0, 1.0]),
        _valid(order=[0, True]),
        _valid(order=[0, 2]),
        _valid(order=[0, -1]),
        _valid(order=[0, 0]),
        _valid(order=[0, 1, 2]),
        _valid(order=[0, [1]]),
        _valid(order=(0, 1)),
        _valid()[:4],
        list(_valid()),
        None,
    ],
)
def test_a_blob_of_another_page_or_shape_is_a_miss(value: object) -> None:
    assert _load(_stored(value)) is None


def test_damaged_blobs_are_misses() -> None:
    good = _stored(_valid())
    for cut in range(len(good)):
        assert _load(good[:cut]) is None
    for at in range(len(good)):
        assert _load(good[:at] + bytes([good[at] ^ 0x10]) + good[at + 1 :]) is None


@SETTINGS
@given(entries=st.lists(_ENTRY, max_size=10), page_url=_PAGE_URLS)
def test_stored_groups_give_what_a_fresh_parse_gives(entries: list[Any], page_url: str) -> None:
    data = {"name": "foo", "files": entries}
    fresh = JsonGroups.from_json(data, page_url, "Foo")
    loaded = JsonGroups.from_bytes(
        fresh.to_bytes(b"digest"), source=b"digest", page_url=page_url, project="foo"
    )
    assert loaded is not None
    want = PageFiles.from_json(data, page_url, project="Foo", index="i")
    got = PageFiles.from_groups(loaded, "i")
    assert _snapshot(got) == _snapshot(want)
    assert _is_one_object(got)
