"""HttpClient against the real local index server: negotiation, caching, ranges, downloads,
retries, credentials, proxies, file:// indexes."""

from __future__ import annotations

import base64
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.support.server import IndexServer
from tests.support.wheels import file_sha256

from torchup.cache import Cache, PageEntry
from torchup.errors import HashMismatchError, NetworkError
from torchup.index import client as client_mod
from torchup.index.client import (
    ACCEPT_SIMPLE,
    HttpClient,
    OfflineError,
    RangeNotSupported,
    path_to_url,
    redact_url,
    strip_credentials,
)

MakeWheel = Callable[..., Path]


class Clock:
    """A settable clock for page freshness."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


@pytest.fixture
def published(index_server: IndexServer, make_wheel: MakeWheel) -> IndexServer:
    """``simple`` holds foo 1.0 (wheel) and torch 2.5.1+cpu."""
    index_server.publish(
        "simple",
        [
            make_wheel("foo", "1.0", requires_python=">=3.8"),
            make_wheel("torch", "2.5.1+cpu", tags="cp311-cp311-linux_x86_64"),
        ],
    )
    return index_server


def _fast(cache: Cache, **kwargs: object) -> HttpClient:
    kwargs.setdefault("backoff", 0.0)
    return HttpClient(cache, **kwargs)  # type: ignore[arg-type]


# --- pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("json_on", [True, False])
def test_fetch_page_negotiates_json_or_html(
    published: IndexServer, cache: Cache, json_on: bool
) -> None:
    published.json = json_on
    page = _fast(cache).fetch_page(published.index_url() + "/torch/")
    assert page is not None
    assert page.name == "torch"
    [f] = page.files
    assert f.filename == "torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl"
    assert f.url == published.index_url() + "/torch-2.5.1%2Bcpu-cp311-cp311-linux_x86_64.whl"
    assert f.hashes["sha256"] == file_sha256(published.root_dir / "simple" / f.filename)
    assert (f.size is not None) is json_on  # size comes with JSON only
    [request] = published.requests
    assert request.headers["Accept"] == ACCEPT_SIMPLE


def test_redirect_to_normalized_name_resolves_links_against_final_url(
    published: IndexServer, cache: Cache
) -> None:
    published.json = False
    page = _fast(cache).fetch_page(published.index_url() + "/Foo")
    assert page is not None and page.url == published.index_url() + "/foo/"
    assert page.files[0].url.startswith(published.index_url() + "/foo-1.0")
    assert page.files[0].requires_python == ">=3.8"


@pytest.mark.parametrize("status", [404, 403])
def test_missing_project_is_none(published: IndexServer, cache: Cache, status: int) -> None:
    published.configure("simple", missing_status=status)
    assert _fast(cache).fetch_page(published.index_url() + "/nope/") is None
    assert published.requests[-1].status == status


def test_cached_page_is_fresh_then_revalidated_with_etag(
    published: IndexServer, cache: Cache
) -> None:
    clock = Clock()
    url = published.index_url() + "/foo/"
    first = _fast(cache, clock=clock).fetch_page(url)
    assert [r.status for r in published.requests] == [200]

    # Within max-age=600 (the server's Cache-Control): no request at all.
    clock.now += 300
    assert _fast(cache, clock=clock).fetch_page(url) == first
    assert len(published.requests) == 1

    # Stale: a conditional request, answered 304, reuses the cached body.
    clock.now += 600
    published.reset_stats()
    assert _fast(cache, clock=clock).fetch_page(url) == first
    [request] = published.requests
    assert request.status == 304 and request.bytes_sent == 0
    assert request.headers["If-None-Match"].startswith('"')
    assert "If-Modified-Since" in request.headers
    # The 304 renewed the entry's age: fresh again.
    published.reset_stats()
    assert _fast(cache, clock=clock).fetch_page(url) == first
    assert published.requests == []


def test_refresh_revalidates_and_a_change_is_seen(
    published: IndexServer, cache: Cache, make_wheel: MakeWheel
) -> None:
    url = published.index_url() + "/foo/"
    assert len(_fast(cache).fetch_page(url).files) == 1  # type: ignore[union-attr]
    published.publish("simple", [make_wheel("foo", "2.0")])
    # Fresh by max-age: the stale copy is served (as pip and uv do)...
    assert len(_fast(cache).fetch_page(url).files) == 1  # type: ignore[union-attr]
    # ...until --refresh: the ETag no longer matches, so a 200 brings the new page.
    published.reset_stats()
    assert len(_fast(cache, refresh=True).fetch_page(url).files) == 2  # type: ignore[union-attr]
    assert [r.status for r in published.requests] == [200]


def test_offline_serves_cache_only(published: IndexServer, cache: Cache) -> None:
    url = published.index_url() + "/foo/"
    online = _fast(cache).fetch_page(url)
    published.reset_stats()
    offline = _fast(cache, offline=True, clock=lambda: 1e12)  # long stale: still served
    assert offline.fetch_page(url) == online
    with pytest.raises(OfflineError, match="offline"):
        offline.fetch_page(published.index_url() + "/torch/")
    with pytest.raises(OfflineError):
        offline.get_suffix(online.files[0].url, 10)  # type: ignore[union-attr]
    assert published.requests == []


@pytest.mark.parametrize(
    ("cache_control", "age", "fresh"),
    [
        ("max-age=600, public", 10, True),
        ("max-age=600", 601, False),
        ("no-cache, max-age=600", 1, False),
        ("no-store", 1, False),
        (None, 1, False),  # no freshness information: always revalidate
        ("max-age=abc", 1, False),
    ],
)
def test_freshness_rules(cache_control: str | None, age: float, fresh: bool) -> None:
    entry = PageEntry(url="u", body=b"", cache_control=cache_control, fetched_at=100.0)
    assert client_mod._is_fresh(entry, 100.0 + age) is fresh


def test_project_list(published: IndexServer, cache: Cache) -> None:
    for json_on in (True, False):
        published.json = json_on
        client = _fast(cache, refresh=True)
        assert sorted(client.fetch_project_list(published.index_url() + "/")) == ["foo", "torch"]


# --- file:// and find-links -----------------------------------------------------------------


def test_file_index_and_plain_directory(
    tmp_path: Path, make_wheel: MakeWheel, cache: Cache
) -> None:
    wheel = make_wheel("torch", "2.5.1+cpu", tags="cp311-cp311-linux_x86_64")
    project_dir = tmp_path / "idx" / "simple" / "torch"
    project_dir.mkdir(parents=True)
    (project_dir / wheel.name).write_bytes(wheel.read_bytes())
    client = _fast(cache)
    # A directory without index.html is listed like a find-links page.
    page = client.fetch_page(path_to_url(project_dir))
    assert page is not None and [f.filename for f in page.files] == [wheel.name]
    assert page.files[0].url.endswith("torch-2.5.1%2Bcpu-cp311-cp311-linux_x86_64.whl")
    # With an index.html, that page is served.
    href = "torch-2.5.1%2Bcpu-cp311-cp311-linux_x86_64.whl#sha256=" + file_sha256(wheel)
    (project_dir / "index.html").write_text(f'<a href="{href}">x</a>')
    page = client.fetch_page(path_to_url(project_dir))
    assert page is not None and page.files[0].sha256 == file_sha256(wheel)
    assert client.fetch_page(path_to_url(tmp_path / "idx" / "simple") + "missing/") is None
    # find-links: a plain directory, by URL or by path.
    flat = client.fetch_find_links(str(project_dir), index="local")
    assert [f.filename for f in flat] == [wheel.name] and flat[0].index == "local"
    # Range reads and downloads work on file:// URLs too.
    url = page.files[0].url
    assert client.get_range(url, 0, 4) == b"PK\x03\x04"
    assert client.get_suffix(url, 22).total == wheel.stat().st_size
    assert client.head(url).size == wheel.stat().st_size
    out = client.download(url, tmp_path / "out.whl", hashes={"sha256": file_sha256(wheel)})
    assert out.path.read_bytes() == wheel.read_bytes()


def test_find_links_page_over_http(published: IndexServer, cache: Cache) -> None:
    published.json = False
    files = _fast(cache).fetch_find_links(published.index_url() + "/torch/")
    assert [f.project for f in files] == ["torch"]
    assert _fast(cache).fetch_find_links(published.index_url() + "/nope/") == []


# --- ranges, HEAD, downloads ----------------------------------------------------------------


def _wheel_url(server: IndexServer) -> tuple[str, Path]:
    path = server.root_dir / "simple" / "torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl"
    return server.file_url("simple", path.name), path


def test_ranges_and_head(published: IndexServer, cache: Cache) -> None:
    url, path = _wheel_url(published)
    data = path.read_bytes()
    client = _fast(cache)
    assert client.get_range(url, 10, 30) == data[10:30]
    suffix = client.get_suffix(url, 100)
    assert (suffix.data, suffix.start, suffix.total) == (data[-100:], len(data) - 100, len(data))
    whole = client.get_suffix(url, 10 * len(data))
    assert (whole.data, whole.start) == (data, 0)
    head = client.head(url)
    assert head.size == len(data) and head.accept_ranges
    assert [r.headers.get("Range") for r in published.requests] == [
        "bytes=10-29",
        "bytes=-100",
        f"bytes=-{10 * len(data)}",
        None,
    ]


def test_range_read_retried_after_a_broken_connection(published: IndexServer, cache: Cache) -> None:
    url, path = _wheel_url(published)
    published.truncate("torch-2.5.1", after_bytes=5, times=1)
    assert _fast(cache, retries=1).get_range(url, 0, 50) == path.read_bytes()[:50]
    assert [r.status for r in published.requests] == [206, 206]


def test_missing_local_file_is_a_404(tmp_path: Path, cache: Cache) -> None:
    with pytest.raises(NetworkError) as info:
        _fast(cache).get_suffix(path_to_url(tmp_path / "nope.whl"), 10)
    assert info.value.status == 404


def test_range_ignored_raises_without_reading(published: IndexServer, cache: Cache) -> None:
    published.range = False
    url, _path = _wheel_url(published)
    client = _fast(cache)
    with pytest.raises(RangeNotSupported):
        client.get_suffix(url, 100)
    with pytest.raises(RangeNotSupported):
        client.get_range(url, 0, 10)
    assert not client.head(url).accept_ranges


def test_download_verifies_hash_while_streaming(
    published: IndexServer, cache: Cache, tmp_path: Path
) -> None:
    url, path = _wheel_url(published)
    progress: list[tuple[int, int | None]] = []
    result = _fast(cache).download(
        url,
        tmp_path / "d" / "w.whl",
        hashes={"sha256": file_sha256(path)},
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert result.path.read_bytes() == path.read_bytes()
    assert result.hashes["sha256"] == file_sha256(path)
    assert progress[-1] == (path.stat().st_size, path.stat().st_size)


def test_download_hash_mismatch_leaves_nothing(
    published: IndexServer, cache: Cache, tmp_path: Path
) -> None:
    url, _path = _wheel_url(published)
    dest = tmp_path / "d" / "w.whl"
    with pytest.raises(HashMismatchError) as info:
        _fast(cache).download(url, dest, hashes={"sha256": "0" * 64})
    assert info.value.expected == "0" * 64
    assert list(dest.parent.iterdir()) == []


def test_download_restarts_after_a_broken_connection(
    published: IndexServer, cache: Cache, tmp_path: Path
) -> None:
    url, path = _wheel_url(published)
    published.truncate("torch-2.5.1", after_bytes=100, times=2)
    result = _fast(cache, retries=2).download(
        url, tmp_path / "w.whl", hashes={"sha256": file_sha256(path)}
    )
    assert result.size == path.stat().st_size
    assert len([r for r in published.requests if r.method == "GET"]) == 3


# --- retries and errors ---------------------------------------------------------------------


def test_retries_5xx_then_succeeds(published: IndexServer, cache: Cache) -> None:
    published.fail("/foo/", status=503, times=2)
    assert _fast(cache, retries=2).fetch_page(published.index_url() + "/foo/") is not None
    assert [r.status for r in published.requests] == [503, 503, 200]


def test_retries_429(published: IndexServer, cache: Cache) -> None:
    published.fail("/foo/", status=429, times=1)
    assert _fast(cache, retries=1).fetch_page(published.index_url() + "/foo/") is not None
    assert [r.status for r in published.requests] == [429, 200]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0", 0.0), ("-5", 0.0), (None, None), ("soon", None), ("", None)],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert client_mod._retry_after(value) == expected


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert client_mod._retry_after("Mon, 01 Jan 2024 00:00:00 GMT") == 0.0


def test_gives_up_with_a_readable_error(published: IndexServer, cache: Cache) -> None:
    published.fail("/foo/", status=502, times=5)
    url = published.url.replace("http://", "http://user:s3cret@") + "/simple/foo/"
    with pytest.raises(NetworkError) as info:
        _fast(cache, retries=1).fetch_page(url)
    text = str(info.value)
    assert "HTTP 502" in text and "user:****@" in text and "s3cret" not in text
    assert info.value.status == 502
    assert len(published.requests) == 2


def test_connection_refused_is_a_network_error(cache: Cache) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the with block ends: nothing listens
    with pytest.raises(NetworkError) as info:
        _fast(cache, retries=1).fetch_page(f"http://127.0.0.1:{port}/simple/foo/")
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "refused" in str(info.value).lower()
    assert "tried 2 times" in str(info.value)


def test_bad_ssl_cert_file(published: IndexServer, cache: Cache, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(NetworkError, match="bad.pem"):
        _fast(cache, ssl_cert_file=bad).fetch_page(published.index_url() + "/foo/")


# --- credentials ----------------------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_url_credentials_are_sent_and_reused_for_the_host(
    published: IndexServer, cache: Cache
) -> None:
    published.json = False
    url = published.url.replace("http://", "http://alice:pa%40ss@") + "/simple/torch/"
    client = _fast(cache)
    page = client.fetch_page(url)
    assert page is not None and "alice" not in page.files[0].url
    client.get_range(page.files[0].url, 0, 4)  # a file URL without credentials
    assert [r.headers.get("Authorization") for r in published.requests] == [
        _basic("alice", "pa@ss")
    ] * 2
    # The cache key and stored URL carry no credentials.
    assert cache.read_page(strip_credentials(url)) is not None


def test_netrc_credentials(published: IndexServer, cache: Cache, tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login bob password hunter2\n")
    netrc.chmod(0o600)
    _fast(cache, netrc_path=netrc).fetch_page(published.index_url() + "/foo/")
    assert published.requests[0].headers.get("Authorization") == _basic("bob", "hunter2")


@pytest.mark.parametrize(
    ("url", "redacted", "stripped"),
    [
        ("https://u:p@h/x", "https://u:****@h/x", "https://h/x"),
        ("https://token@h:8080/x", "https://****@h:8080/x", "https://h:8080/x"),
        ("https://h/x?a=b", "https://h/x?a=b", "https://h/x?a=b"),
        ("file:///tmp/x", "file:///tmp/x", "file:///tmp/x"),
    ],
)
def test_redact_and_strip(url: str, redacted: str, stripped: str) -> None:
    assert redact_url(url) == redacted
    assert strip_credentials(url) == stripped


# --- proxies --------------------------------------------------------------------------------


def test_requests_go_through_the_proxy(published: IndexServer, cache: Cache) -> None:
    # The test server resolves absolute-form request targets by path, so it can stand in for
    # a forward proxy: the host name below is never resolved by the client.
    client = _fast(cache, proxy_url=published.url, retries=0)
    page = client.fetch_page("http://index.invalid/simple/foo/")
    assert page is not None and page.files
    assert published.requests[0].path == "http://index.invalid/simple/foo/"


def test_no_proxy_bypasses_the_proxy(published: IndexServer, cache: Cache) -> None:
    client = _fast(cache, proxy_url="http://127.0.0.1:9", no_proxy="localhost,127.0.0.1")
    assert client.fetch_page(published.index_url() + "/foo/") is not None


@pytest.mark.parametrize(
    ("host", "no_proxy", "bypass"),
    [
        ("pypi.org", ["pypi.org"], True),
        ("files.pypi.org", [".pypi.org"], True),
        ("files.pypi.org", ["pypi.org"], True),
        ("notpypi.org", ["pypi.org"], False),
        ("anything", ["*"], True),
        ("pypi.org", [], False),
    ],
)
def test_no_proxy_matching(host: str, no_proxy: list[str], bypass: bool) -> None:
    assert client_mod._no_proxy_matches(host, no_proxy) is bypass


# --- concurrency ----------------------------------------------------------------------------


def test_concurrent_use_from_threads(
    index_server: IndexServer, make_wheel: MakeWheel, cache: Cache
) -> None:
    names = [f"pkg{i}" for i in range(24)]
    index_server.publish("simple", [make_wheel(n, "1.0") for n in names])
    client = _fast(cache)
    barrier = threading.Barrier(8)

    def fetch(name: str) -> str:
        if names.index(name) < 8:
            barrier.wait()
        page = client.fetch_page(f"{index_server.index_url()}/{name}/")
        assert page is not None
        return page.files[0].filename

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(fetch, names))
    assert got == [f"{n}-1.0-py3-none-any.whl" for n in names]


class _Response:
    """Just what HttpClient._get_page reads of a urllib3 response."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.data = body
        self.headers = headers
        self.url = None


def test_an_unchanged_page_without_validators_is_not_rewritten(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyPI's JSON pages come without ETag, Last-Modified or max-age, so every run downloads
    them again; a byte-identical page is not written again (the entry is only touched)."""
    url = "https://pypi.example/simple/foo/"
    bodies = [b'{"files": []}', b'{"files": []}', b'{"files": [], "name": "foo"}']
    client = _fast(cache)
    headers = {"Content-Type": "application/vnd.pypi.simple.v1+json"}
    monkeypatch.setattr(
        client,
        "_request",
        lambda method, url, headers_=None: _Response(200, bodies.pop(0), headers),
    )
    writes: list[bytes] = []
    real_write = cache.write
    monkeypatch.setattr(
        cache,
        "write",
        lambda bucket, key, data: writes.append(data) or real_write(bucket, key, data),
    )
    client.fetch_page(url)
    path = cache.path("simple-v1", strip_credentials(url))
    os.utime(path, (1000, 1000))
    client.fetch_page(url)  # the same body: touched, not rewritten
    assert len(writes) == 1 and path.stat().st_mtime > 1000
    page = client.fetch_page(url)  # a changed body: rewritten
    assert len(writes) == 2 and page is not None and page.name == "foo"


def test_a_page_with_max_age_is_rewritten_to_renew_its_age(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    url = "https://pypi.example/simple/foo/"
    client = _fast(cache, clock=clock, refresh=True)
    headers = {"Content-Type": "text/html", "Cache-Control": "max-age=60"}
    monkeypatch.setattr(
        client, "_request", lambda method, url, headers_=None: _Response(200, b"<a>x</a>", headers)
    )
    client.fetch_page(url)
    clock.now += 100
    client.fetch_page(url)
    entry = cache.read_page(strip_credentials(url))
    assert entry is not None and entry.fetched_at == clock.now


def test_find_links_file_with_a_percent_in_its_name(tmp_path: Path) -> None:
    from torchup.cache import Cache
    from torchup.index.client import HttpClient, path_to_url

    odd = tmp_path / "a%41-1.0-py3-none-any.whl"
    odd.write_bytes(b"payload")
    client = HttpClient(Cache(None))
    assert client.fetch_bytes(path_to_url(odd)) == b"payload"
