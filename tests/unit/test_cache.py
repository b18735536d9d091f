"""The cache: buckets, atomic writes, page entries, maintenance, and concurrent processes."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

from torchup.cache import BUCKETS, Cache, PageEntry


def test_read_write_roundtrip(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    assert cache.dir == tmp_path / "c"
    assert cache.persistent
    assert cache.read("metadata-v1", "sha256:abc") is None
    path = cache.write("metadata-v1", "sha256:abc", b"Metadata-Version: 2.1\n")
    assert path == cache.path("metadata-v1", "sha256:abc")
    assert path.is_relative_to(tmp_path / "c" / "metadata-v1")
    assert cache.read("metadata-v1", "sha256:abc") == b"Metadata-Version: 2.1\n"
    # Buckets are separate namespaces.
    assert cache.read("simple-v1", "sha256:abc") is None
    cache.write("metadata-v1", "sha256:abc", b"new")
    assert cache.read("metadata-v1", "sha256:abc") == b"new"
    assert cache.remove("metadata-v1", "sha256:abc")
    assert not cache.remove("metadata-v1", "sha256:abc")
    assert cache.read("metadata-v1", "sha256:abc") is None


def test_keys_may_be_any_string(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    keys = ["https://u:p@h/simple/x/", "../../etc/passwd", "a" * 1000, "ünïcode/\\:*?"]
    for i, key in enumerate(keys):
        cache.write("simple-v1", key, str(i).encode())
    for i, key in enumerate(keys):
        assert cache.read("simple-v1", key) == str(i).encode()
        assert cache.path("simple-v1", key).is_relative_to(tmp_path / "simple-v1")


def test_unknown_bucket_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown cache bucket"):
        Cache(tmp_path).bucket("simple-v0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown cache bucket"):
        Cache(tmp_path).path("simple-v0", "k")  # type: ignore[arg-type]


def test_reads_create_nothing_and_writes_make_what_they_need(tmp_path: Path) -> None:
    """Entry paths are pure: a read (hit or miss) makes no directory, so a warm run does not
    pay a failing mkdir() per cache read; every writer makes its directories, even after
    the bucket was removed under it (`torchup cache clean` from another process)."""
    cache = Cache(tmp_path / "c")
    assert cache.read("metadata-v1", "k") is None
    assert cache.read_page("https://pypi.org/simple/six/") is None
    assert not (tmp_path / "c").exists()
    cache.write("metadata-v1", "k", b"1")
    import shutil

    shutil.rmtree(tmp_path / "c" / "metadata-v1")
    assert cache.read("metadata-v1", "k") is None
    cache.write("metadata-v1", "k", b"2")
    assert cache.read("metadata-v1", "k") == b"2"
    shutil.rmtree(tmp_path / "c")
    assert cache.entry_dir("wheels-v1", "sha256:1").is_dir()
    with cache.lock("archives-v1", "x"):
        assert cache.path("archives-v1", "x").parent.is_dir()


def test_entry_dir(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    d = cache.entry_dir("wheels-v1", "sha256:1")
    assert d.is_dir() and d == cache.entry_dir("wheels-v1", "sha256:1")


def test_temporary_cache_is_removed(tmp_path: Path) -> None:
    cache = Cache(None)
    assert not cache.persistent
    cache.write("simple-v1", "k", b"v")
    assert cache.read("simple-v1", "k") == b"v"
    root = cache.dir
    assert root.is_dir()
    cache.close()
    assert not root.exists()


def test_atomic_path_failure_leaves_old_entry_and_no_temp(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    target = cache.write("archives-v1", "k", b"old")
    with pytest.raises(RuntimeError), cache.atomic_path(target) as tmp:
        tmp.write_bytes(b"half-written")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".tmp-")] == []


# --- page entries ---------------------------------------------------------------------------


def test_page_entry_roundtrip(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    entry = PageEntry(
        url="https://pypi.org/simple/torch/",
        body=b"<html>\n\x00binary\n</html>",
        content_type="text/html",
        etag='"abc"',
        last_modified="Mon, 01 Jan 2024 00:00:00 GMT",
        cache_control="max-age=600, public",
        fetched_at=1234.5,
    )
    cache.write_page("https://pypi.org/simple/torch/", entry)
    assert cache.read_page("https://pypi.org/simple/torch/") == entry
    assert cache.read_page("https://pypi.org/simple/numpy/") is None


@pytest.mark.parametrize(
    "data", [b"", b"garbage", b"torchup-page-v1\n", b"torchup-page-v1\n{not json}\nbody"]
)
def test_corrupt_page_entries_are_misses(data: bytes) -> None:
    assert PageEntry.from_bytes(data) is None


# --- maintenance ----------------------------------------------------------------------------


def test_prune_removes_old_buckets_stale_temps_and_unused_entries(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    keep = cache.write("metadata-v1", "fresh", b"x")
    old = cache.write("simple-v1", "old", b"y" * 10)
    (tmp_path / "simple-v0" / "aa").mkdir(parents=True)
    (tmp_path / "simple-v0" / "aa" / "entry").write_bytes(b"z" * 100)
    stale_tmp = keep.parent / ".tmp-stale"
    stale_tmp.write_bytes(b"t")
    live_tmp = keep.parent / ".tmp-live"  # a writer that may still be running
    live_tmp.write_bytes(b"t")
    scratch = cache.bucket("archives-v1") / ".tmp-metadata-x"  # a killed process's scratch dir
    scratch.mkdir()
    (scratch / "big.whl").write_bytes(b"w" * 1000)
    now = time.time()
    long_ago = now - 10 * 86400
    for path in (stale_tmp, old, scratch):
        os.utime(path, (long_ago, long_ago))

    stats = cache.prune(now=now)
    assert not (tmp_path / "simple-v0").exists()
    assert not stale_tmp.exists() and live_tmp.exists()
    assert not scratch.exists()
    assert old.exists()  # without older_than, entries stay
    assert stats.files == 3 and stats.bytes == 1101

    stats = cache.prune(older_than=86400, now=now)
    assert not old.exists() and keep.exists()
    assert stats.files == 1


def test_clean(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    for bucket in BUCKETS:
        cache.write(bucket, "k", b"123")
    stats = cache.clean("wheels-v1")
    assert stats.files >= 1 and cache.read("wheels-v1", "k") is None
    assert cache.read("metadata-v1", "k") == b"123"
    cache.clean()
    assert list(tmp_path.iterdir()) == []


# --- concurrent processes -------------------------------------------------------------------

_SIZE = 256 * 1024


def _writer(root: str, marker: int, rounds: int) -> None:
    cache = Cache(Path(root))
    payload = bytes([marker]) * _SIZE
    for _ in range(rounds):
        cache.write("simple-v1", "https://example.org/simple/shared/", payload)
        cache.write_page(
            "page", PageEntry(url="u", body=payload, etag=str(marker), fetched_at=marker)
        )


def test_concurrent_processes_never_leave_a_torn_entry(tmp_path: Path) -> None:
    """Four processes overwrite the same two entries while this one keeps reading them."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), m, 40)) for m in (1, 2, 3, 4)]
    for p in procs:
        p.start()
    cache = Cache(tmp_path)
    seen: set[int] = set()
    reads = 0
    while any(p.is_alive() for p in procs) or reads == 0:
        data = cache.read("simple-v1", "https://example.org/simple/shared/")
        if data is not None:
            assert len(data) == _SIZE and data == bytes([data[0]]) * _SIZE
            seen.add(data[0])
            reads += 1
        page = cache.read_page("page")
        if page is not None:
            marker = int(page.fetched_at)
            assert page.etag == str(marker) and page.body == bytes([marker]) * _SIZE
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    final = cache.read("simple-v1", "https://example.org/simple/shared/")
    assert final is not None and final[0] in {1, 2, 3, 4}
    leftovers = [p for p in tmp_path.rglob(".tmp-*")]
    assert leftovers == []


# --- the page cache: an unchanged page is not rewritten --------------------------------------


def _entry(body: bytes, **kwargs: Any) -> PageEntry:
    return PageEntry(url="https://pypi.org/simple/foo/", body=body, **kwargs)


def test_write_page_skips_an_unchanged_entry_but_renews_its_mtime(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    key = "https://pypi.org/simple/foo/"
    first = _entry(b"{}" * 1000, content_type="application/json", fetched_at=1.0)
    cache.write_page(key, first)
    path = cache.path("simple-v1", key)
    os.utime(path, (1000, 1000))
    inode = path.stat().st_ino
    # Only fetched_at differs: touched, not rewritten (the same inode, a new mtime).
    cache.write_page(
        key, _entry(first.body, content_type=first.content_type, fetched_at=2.0), previous=first
    )
    assert path.stat().st_ino == inode and path.stat().st_mtime > 1000
    assert cache.read_page(key) == first
    # Anything else differs: rewritten.
    for changed in (
        _entry(b"[]", content_type=first.content_type, fetched_at=3.0),
        _entry(first.body, content_type=first.content_type, etag='"e"', fetched_at=3.0),
        _entry(first.body, content_type="text/html", fetched_at=3.0),
    ):
        current = cache.read_page(key)
        cache.write_page(key, changed, previous=current)
        assert cache.read_page(key) == changed
    # Without previous (a max-age page, whose fetched_at matters): always written.
    last = cache.read_page(key)
    assert last is not None
    renewed = _entry(last.body, content_type=last.content_type, etag=last.etag, fetched_at=9.0)
    cache.write_page(key, renewed)
    assert cache.read_page(key) == renewed


def test_write_page_writes_when_the_entry_vanished(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    entry = _entry(b"x")
    cache.write_page("k", entry)
    cache.remove("simple-v1", "k")
    cache.write_page("k", entry, previous=entry)
    assert cache.read_page("k") == entry
