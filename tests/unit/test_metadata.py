"""The metadata fast path: PEP 658, Range reads of the zip, streaming, full download, cache.

Server tests use a 600 MB sparse wheel (``payload_bytes``): reading its METADATA must cost
kilobytes when the server honours Range, and shows the price when it does not.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.version import Version
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, build_sdist, build_wheel, metadata_text

from torchup.cache import Cache
from torchup.errors import HashMismatchError, MetadataError
from torchup.index.client import HttpClient, RangeNotSupported, SuffixResult
from torchup.index.metadata import MetadataFetcher, find_metadata_in_zip, parse_metadata
from torchup.index.simple import DistFile, ProjectPage

MakeWheel = Callable[..., Path]
BIG = 600_000_000


def _page(server: IndexServer, client: HttpClient, project: str) -> ProjectPage:
    page = client.fetch_page(f"{server.index_url()}/{project}/")
    assert page is not None
    return page


def _fetcher(tmp_path: Path, **kwargs: object) -> MetadataFetcher:
    cache = Cache(tmp_path / "cache")
    return MetadataFetcher(HttpClient(cache, backoff=0.0), cache, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def big_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = DistSpec(
        "torch",
        "2.5.1+cpu",
        requires_dist=("filelock", "sympy==1.13.1", 'opt-einsum>=3.3; extra == "opt-einsum"'),
        requires_python=">=3.8.0",
        tags="cp311-cp311-manylinux_2_28_x86_64",
        payload_bytes=BIG,
    )
    return build_wheel(spec, tmp_path_factory.mktemp("big"))


# --- against the server ---------------------------------------------------------------------


def test_range_reads_a_600mb_wheel_for_kilobytes(
    index_server: IndexServer, big_wheel: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index_server.pep658 = False
    index_server.publish("simple", [big_wheel])
    fetcher = _fetcher(tmp_path)
    [dist] = _page(index_server, fetcher.client, "torch").files
    assert dist.size is not None and dist.size > BIG and not dist.has_core_metadata
    index_server.reset_stats()
    with caplog.at_level(logging.INFO, logger="torchup.metadata"):
        metadata = fetcher.fetch(dist)
    assert metadata is not None
    assert (metadata.name, metadata.version) == ("torch", Version("2.5.1+cpu"))
    assert [str(r) for r in metadata.requires_dist or []] == [
        "filelock",
        "sympy==1.13.1",
        'opt-einsum>=3.3; extra == "opt-einsum"',
    ]
    assert metadata.provides_extra == ["opt-einsum"]
    assert str(metadata.requires_python) == ">=3.8.0"
    assert index_server.bytes_sent() < 1_000_000
    assert all(r.headers.get("Range") for r in index_server.requests)
    assert fetcher.stats()["range"] == 1
    assert "METADATA via range" in caplog.text


def test_without_range_support_the_wheel_is_streamed(
    index_server: IndexServer,
    make_wheel: MakeWheel,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The fallback works, and costs the whole body (METADATA sits at the end of a wheel)."""
    payload = 20_000_000
    wheel = make_wheel("torch", "2.5.1+cpu", tags="cp311-cp311-linux_x86_64", payload_bytes=payload)
    index_server.pep658 = False
    index_server.range = False
    index_server.publish("simple", [wheel])
    fetcher = _fetcher(tmp_path)
    [dist] = _page(index_server, fetcher.client, "torch").files
    index_server.reset_stats()
    with caplog.at_level(logging.INFO, logger="torchup.metadata"):
        metadata = fetcher.fetch(dist)
    assert metadata is not None and metadata.name == "torch"
    assert fetcher.stats()["stream"] == 1
    streamed = [
        r for r in index_server.requests if r.method == "GET" and not r.headers.get("Range")
    ]
    assert len(streamed) == 1 and streamed[0].bytes_sent > payload
    assert "ignores HTTP Range" in caplog.text and "METADATA via stream" in caplog.text
    # The host is remembered: the next wheel there skips the Range attempt.
    index_server.publish("simple", [make_wheel("foo", "1.0")])
    [foo] = _page(index_server, fetcher.client, "foo").files
    index_server.reset_stats()
    assert fetcher.fetch(foo) is not None
    assert [r.headers.get("Range") for r in index_server.requests] == [None]


def test_pep658_fetches_only_the_metadata_file(
    index_server: IndexServer, big_wheel: Path, tmp_path: Path
) -> None:
    index_server.publish("simple", [big_wheel])
    fetcher = _fetcher(tmp_path)
    [dist] = _page(index_server, fetcher.client, "torch").files
    assert dist.core_metadata_hashes
    index_server.reset_stats()
    metadata = fetcher.fetch(dist)
    assert metadata is not None and metadata.version == Version("2.5.1+cpu")
    [request] = index_server.requests
    assert request.path.endswith(".whl.metadata")
    assert fetcher.stats()["pep658"] == 1


def test_unadvertised_pep658_is_not_guessed(
    index_server: IndexServer, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    """Like the PyPI these machines reach: .metadata exists but pages do not say so."""
    index_server.pep658 = "unadvertised"
    index_server.publish("simple", [make_wheel("foo", "1.0")])
    fetcher = _fetcher(tmp_path)
    [dist] = _page(index_server, fetcher.client, "foo").files
    index_server.reset_stats()
    assert fetcher.fetch(dist) is not None
    assert not any(r.path.endswith(".metadata") for r in index_server.requests)


def test_pep658_hash_mismatch(
    index_server: IndexServer, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    index_server.publish("simple", [make_wheel("foo", "1.0")])
    fetcher = _fetcher(tmp_path)
    [dist] = _page(index_server, fetcher.client, "foo").files
    forged = DistFile(dist.filename, dist.url, dist.hashes, core_metadata={"sha256": "0" * 64})
    with pytest.raises(HashMismatchError):
        fetcher.fetch(forged)


def test_missing_advertised_metadata_falls_back_to_range(
    index_server: IndexServer, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    index_server.pep658 = False
    index_server.publish("simple", [make_wheel("foo", "1.0")])
    fetcher = _fetcher(tmp_path)
    [dist] = _page(index_server, fetcher.client, "foo").files
    claimed = DistFile(dist.filename, dist.url, dist.hashes, core_metadata=True)
    assert fetcher.fetch(claimed) is not None
    assert fetcher.stats()["range"] == 1


def test_metadata_is_cached_forever_by_hash(
    index_server: IndexServer, big_wheel: Path, tmp_path: Path
) -> None:
    index_server.pep658 = False
    index_server.publish("simple", [big_wheel])
    first = _fetcher(tmp_path)
    [dist] = _page(index_server, first.client, "torch").files
    expected = first.fetch(dist)
    index_server.reset_stats()
    second = _fetcher(tmp_path)  # a new run, same cache directory
    again = second.fetch(dist)
    assert again is not None and expected is not None
    assert (again.name, again.version, again.requires_dist) == (
        expected.name,
        expected.version,
        expected.requires_dist,
    )
    assert index_server.requests == []
    assert second.stats()["cache"] == 1
    assert second.cache.read("metadata-v1", f"sha256:{dist.sha256}") is not None


def test_name_or_version_mismatch_is_an_error(
    index_server: IndexServer, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    wheel = make_wheel("foo", "1.0")
    renamed = wheel.with_name("bar-1.0-py3-none-any.whl")
    wheel.rename(renamed)
    index_server.pep658 = False
    index_server.publish("simple", [renamed])
    fetcher = _fetcher(tmp_path)
    [dist] = _page(index_server, fetcher.client, "bar").files
    with pytest.raises(MetadataError, match="foo 1.0, not for bar 1.0"):
        fetcher.fetch(dist)


def test_sdist_needs_a_build(index_server: IndexServer, tmp_path: Path) -> None:
    sdist = build_sdist(DistSpec("foo", "1.0"), tmp_path / "sd")
    index_server.publish("simple", [sdist])
    fetcher = _fetcher(tmp_path)
    [dist] = _page(index_server, fetcher.client, "foo").files
    index_server.reset_stats()
    assert fetcher.fetch(dist) is None
    assert index_server.requests == []


def test_fetch_many_concurrently_and_once_per_file(
    index_server: IndexServer, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    index_server.pep658 = False
    names = [f"pkg{i}" for i in range(16)]
    index_server.publish("simple", [make_wheel(n, "1.0", requires_dist=["foo>=1"]) for n in names])
    fetcher = _fetcher(tmp_path)
    dists = [_page(index_server, fetcher.client, n).files[0] for n in names]
    index_server.reset_stats()
    results = fetcher.fetch_many(dists + dists)  # duplicates are fetched once
    assert len(results) == 16
    for dist, metadata in results.items():
        assert not isinstance(metadata, Exception) and metadata is not None
        assert metadata.name == dist.project
    assert len(index_server.requests) == 16  # one suffix read each: small wheels fit the tail


def test_concurrent_fetches_of_one_file_share_the_work(
    index_server: IndexServer, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    index_server.pep658 = False
    index_server.publish("simple", [make_wheel("foo", "1.0")])
    fetcher = _fetcher(tmp_path)
    [dist] = _page(index_server, fetcher.client, "foo").files
    index_server.reset_stats()
    barrier = threading.Barrier(8)
    results = []

    def run() -> None:
        barrier.wait()
        results.append(fetcher.fetch(dist))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert len(index_server.requests) == 1


def test_fetch_many_returns_errors_when_asked(
    index_server: IndexServer, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    index_server.pep658 = False
    index_server.publish("simple", [make_wheel("foo", "1.0")])
    fetcher = _fetcher(tmp_path)
    [good] = _page(index_server, fetcher.client, "foo").files
    bad = DistFile("foo-2.0-py3-none-any.whl", good.url)  # says 2.0, contains 1.0
    results = fetcher.fetch_many([good, bad], return_exceptions=True)
    assert results[good] is not None and isinstance(results[bad], MetadataError)
    with pytest.raises(MetadataError):
        fetcher.fetch_many([good, bad])


# --- the zip reader, over an in-memory "server" --------------------------------------------


class BytesClient:
    """Serves one file from memory with the HttpClient methods MetadataFetcher uses."""

    def __init__(self, data: bytes, *, ranges: bool = True, cache: Cache | None = None) -> None:
        self.data = data
        self.ranges = ranges
        self.cache = cache or Cache(None)
        self.requests: list[tuple[str, int]] = []  # (kind, bytes)

    def get_suffix(self, url: str, n: int) -> SuffixResult:
        if not self.ranges:
            self.requests.append(("suffix-refused", 0))
            raise RangeNotSupported("no", url=url, status=200)
        start = max(0, len(self.data) - n)
        self.requests.append(("suffix", len(self.data) - start))
        return SuffixResult(self.data[start:], start, len(self.data))

    def get_range(self, url: str, start: int, end: int) -> bytes:
        assert self.ranges
        self.requests.append(("range", min(end, len(self.data)) - start))
        return self.data[start:end]

    def head(self, url: str) -> object:
        self.requests.append(("head", 0))

        class Head:
            accept_ranges = self.ranges
            size = len(self.data)

        return Head()

    @contextlib.contextmanager
    def stream(self, url: str) -> Iterator[Iterator[bytes]]:
        self.requests.append(("stream", 0))
        yield (self.data[i : i + 1000] for i in range(0, len(self.data), 1000))

    def download(self, url: str, dest: Path, hashes: object = None) -> object:
        self.requests.append(("download", len(self.data)))
        Path(dest).write_bytes(self.data)

        class Result:
            size = len(self.data)

        return Result()

    def fetch_bytes(self, url: str) -> bytes | None:
        raise AssertionError("not used")


def _zip(
    members: list[tuple[str, bytes]],
    *,
    method: int = zipfile.ZIP_DEFLATED,
    stream: bool = False,
    comment: bytes = b"",
) -> bytes:
    buf = io.BytesIO()
    target: io.RawIOBase | io.BytesIO = buf
    if stream:

        class Unseekable(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: bytes) -> int:  # type: ignore[override]
                return buf.write(b)

        target = Unseekable()
    with zipfile.ZipFile(target, "w", compression=method) as zf:  # type: ignore[arg-type]
        for name, data in members:
            zf.writestr(name, data)
        zf.comment = comment
    return buf.getvalue()


META = metadata_text(DistSpec("demo", "1.0", requires_dist=("idna>=3",))).encode()


def _wheel_members(
    n_files: int, dist_info_first: bool = False, name_len: int = 40
) -> list[tuple[str, bytes]]:
    files = [(f"demo/{'m' * name_len}{i}.py", b"x = %d\n" % i) for i in range(n_files)]
    info = [("demo-1.0.dist-info/METADATA", META), ("demo-1.0.dist-info/RECORD", b"")]
    return info + files if dist_info_first else files + info


def _dist() -> DistFile:
    return DistFile(
        "demo-1.0-py3-none-any.whl", "https://example.invalid/demo-1.0-py3-none-any.whl"
    )


def _fetch_with(client: BytesClient, tail: int = 64 * 1024) -> bytes:
    fetcher = MetadataFetcher(client, tail_bytes=tail)  # type: ignore[arg-type]
    metadata = fetcher.fetch(_dist())
    assert metadata is not None and metadata.name == "demo"
    return META


def test_partial_central_directory_is_enough_for_wheels() -> None:
    """A big central directory (torch: 1.1 MB) is not read whole when dist-info is last."""
    data = _zip(_wheel_members(3000))
    cd_size = struct.unpack_from("<I", data, len(data) - 22 + 12)[0]
    assert cd_size > 100_000
    client = BytesClient(data)
    _fetch_with(client, tail=16 * 1024)
    assert [kind for kind, _ in client.requests] == ["suffix", "range"]
    assert sum(n for _, n in client.requests) < 20_000


def test_dist_info_first_reads_the_whole_directory() -> None:
    data = _zip(_wheel_members(3000, dist_info_first=True))
    client = BytesClient(data)
    _fetch_with(client, tail=16 * 1024)
    assert [kind for kind, _ in client.requests] == ["suffix", "range", "range"]


def test_suffix_refused_but_ranges_served_after_head() -> None:
    data = _zip(_wheel_members(10))

    class NoSuffix(BytesClient):
        def get_suffix(self, url: str, n: int) -> SuffixResult:
            self.requests.append(("suffix-refused", 0))
            raise RangeNotSupported("416", url=url, status=416)

    client = NoSuffix(data)
    _fetch_with(client)
    assert [kind for kind, _ in client.requests] == ["suffix-refused", "head", "range"]


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_streaming_without_ranges(method: int) -> None:
    client = BytesClient(_zip(_wheel_members(50), method=method), ranges=False)
    _fetch_with(client)
    assert [kind for kind, _ in client.requests] == ["suffix-refused", "head", "stream"]


def test_streaming_through_data_descriptors() -> None:
    """Zips written to a pipe have sizes after the data; deflate streams still end themselves."""
    data = _zip(_wheel_members(50), stream=True)
    assert struct.unpack_from("<H", data, 6)[0] & 0x08  # the data-descriptor flag is set
    client = BytesClient(data, ranges=False)
    _fetch_with(client)
    assert client.requests[-1][0] == "stream"


def test_stored_members_with_descriptors_need_the_whole_file() -> None:
    data = _zip(_wheel_members(5), method=zipfile.ZIP_STORED, stream=True)
    client = BytesClient(data, ranges=False)
    _fetch_with(client)
    assert [kind for kind, _ in client.requests][-2:] == ["stream", "download"]


def _force_zip64(data: bytes) -> bytes:
    """Rewrite a small zip so its end records use ZIP64 (as >4 GiB or >65535-entry zips do)."""
    eocd = len(data) - 22
    sig, d1, d2, n1, n2, cd_size, cd_offset, clen = struct.unpack_from("<4s4H2LH", data, eocd)
    zip64_eocd = struct.pack(
        "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, n1, n2, cd_size, cd_offset
    )
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, eocd, 1)
    new_eocd = struct.pack("<4s4H2LH", sig, d1, d2, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, clen)
    return data[:eocd] + zip64_eocd + locator + new_eocd


def test_zip64_end_records() -> None:
    data = _force_zip64(_zip(_wheel_members(20)))
    assert zipfile.ZipFile(io.BytesIO(data)).read("demo-1.0.dist-info/METADATA") == META
    assert find_metadata_in_zip(data, "demo") == META
    client = BytesClient(data)
    _fetch_with(client)


def test_zip64_record_outside_the_tail_is_fetched() -> None:
    data = _force_zip64(_zip(_wheel_members(400)))
    client = BytesClient(data)
    _fetch_with(client, tail=200)  # the tail holds the EOCD and locator only
    assert client.requests[1][0] == "range"


def test_archive_comment_containing_the_eocd_signature() -> None:
    data = _zip(_wheel_members(3), comment=b"PK\x05\x06 fake end record inside a comment")
    assert find_metadata_in_zip(data, "demo") == META


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a zip at all", "end-of-central-directory"),
        (_zip([("demo/__init__.py", b"")]), "no \\*.dist-info/METADATA"),
    ],
    # Explicit ids: the zip bytes embed the build time, and xdist workers must collect the
    # same test ids (bytes-derived ids differ between workers that collect a second apart).
    ids=["not-a-zip", "no-metadata"],
)
def test_malformed_archives(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        find_metadata_in_zip(data)
    with pytest.raises(MetadataError, match=message):
        MetadataFetcher(BytesClient(data)).fetch(_dist())  # type: ignore[arg-type]


def test_corrupt_member_fails_crc() -> None:
    data = bytearray(_zip(_wheel_members(1), method=zipfile.ZIP_STORED))
    pos = data.find(b"Metadata-Version")
    data[pos] ^= 0xFF
    with pytest.raises(ValueError, match="CRC"):
        find_metadata_in_zip(bytes(data))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_files=st.integers(0, 200),
    name_len=st.integers(1, 120),
    dist_info_first=st.booleans(),
    method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
    tail=st.integers(22, 70_000),
    zip64=st.booleans(),
    ranges=st.booleans(),
)
def test_any_layout_any_tail_size(
    n_files: int,
    name_len: int,
    dist_info_first: bool,
    method: int,
    tail: int,
    zip64: bool,
    ranges: bool,
) -> None:
    data = _zip(_wheel_members(n_files, dist_info_first, name_len), method=method)
    if zip64:
        data = _force_zip64(data)
    client = BytesClient(data, ranges=ranges)
    _fetch_with(client, tail=tail)
    # No byte is read twice (a suffix larger than the file is the whole file once).
    assert sum(n for _, n in client.requests) <= len(data)


# --- parse_metadata -------------------------------------------------------------------------


def test_parse_metadata_is_lenient_where_it_can_be() -> None:
    text = (
        b"Metadata-Version: 9.9\n"  # unknown version: not an error for a resolver
        b"Name: Foo_Bar\n"
        b"Version: 1.0\n"
        b"Classifier: not a real classifier\n"
        b"License-Expression: ???\n"
        b"Requires-Python: >=3.6.*\n"  # invalid, seen in old wheels: ignored
        b"Provides-Extra: Dev_Tools\n"
        b"Requires-Dist: idna (>=2.5) ; python_version >= '3'\n"
        b"Unknown-Field: whatever\n\n"
    )
    dist = DistFile("foo_bar-1.0-py3-none-any.whl", "https://x/foo_bar-1.0-py3-none-any.whl")
    metadata = parse_metadata(text, dist)
    assert metadata.requires_dist == [Requirement("idna>=2.5; python_version >= '3'")]
    assert metadata.requires_python is None
    assert metadata.provides_extra == ["dev-tools"]


def test_parse_metadata_rejects_broken_requirements() -> None:
    text = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: idna >>= 2\n\n"
    with pytest.raises(MetadataError, match="invalid core metadata"):
        parse_metadata(text)


def test_parse_metadata_requires_name_and_version() -> None:
    with pytest.raises(MetadataError):
        parse_metadata(b"Metadata-Version: 2.1\nName: foo\n\n")


def test_cached_garbage_is_refetched(tmp_path: Path) -> None:
    data = _zip(_wheel_members(3))
    cache = Cache(tmp_path)
    dist = _dist()
    cache.write("metadata-v1", MetadataFetcher.cache_key(dist), b"garbage")
    client = BytesClient(data, cache=cache)
    fetcher = MetadataFetcher(client, cache)  # type: ignore[arg-type]
    assert fetcher.fetch(dist) is not None
    assert fetcher.stats()["range"] == 1
    assert cache.read("metadata-v1", MetadataFetcher.cache_key(dist)) == META


def test_real_wheel_built_by_the_support_builder(tmp_path: Path) -> None:
    wheel = build_wheel(DistSpec("Foo.Bar", "2.0", requires_dist=("numpy",)), tmp_path)
    assert b"Name: Foo.Bar" in find_metadata_in_zip(wheel.read_bytes(), "foo-bar")


def test_without_range_a_600mb_wheel_costs_the_whole_file(
    index_server: IndexServer, big_wheel: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's comparison on the same >= 500 MB wheel: with Range off the fallback works,
    and its cost is the whole file (METADATA is at the end of a wheel), against < 1 MB above."""
    index_server.pep658 = False
    index_server.range = False
    index_server.publish("simple", [big_wheel])
    fetcher = _fetcher(tmp_path)
    [dist] = _page(index_server, fetcher.client, "torch").files
    index_server.reset_stats()
    with caplog.at_level(logging.INFO, logger="torchup.metadata"):
        metadata = fetcher.fetch(dist)
    assert metadata is not None and metadata.version == Version("2.5.1+cpu")
    assert fetcher.stats()["stream"] == 1
    assert index_server.bytes_sent() >= BIG
    assert "METADATA via stream" in caplog.text
