"""The fast paths of page parsing give exactly what the general code gives.

``_LinkResolver`` skips urllib for the usual link shapes, ``DistFile._from_page`` skips the
dataclass ``__init__``, ``PageFiles`` / ``FileGroup`` / ``select_groups`` /
``choices_from_groups`` build files only when read, and the provider orders versions without
a key object. Each is checked here
against the straightforward code it replaces (written out below as the reference), on tricky
hand-picked inputs and on generated ones.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import urldefrag, urljoin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.version import Version

from torchup.index.finder import IndexSource, select_files, select_groups
from torchup.index.simple import (
    DistFile,
    PageFiles,
    _LinkResolver,
    is_distribution_filename,
    parse_html_page,
    parse_json_page,
)
from torchup.resolver.candidates import choices_from_groups, group_candidates
from torchup.resolver.provider import IndexProvider, ProviderOptions
from torchup.target import Target

SETTINGS = settings(
    max_examples=int(os.environ.get("TORCHUP_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

# --- links: _LinkResolver against urldefrag(urljoin(...)) -------------------------------------

BASES = [
    "https://pypi.org/simple/foo/",
    "https://pypi.org/simple/foo",
    "https://u:p%40ss@host.example:8443/simple/foo/",
    "http://host/a//b/./c/",
    "https://download.pytorch.org/whl/cpu/torch/",
    "file:///tmp/find-links/",
    "file:/tmp/x/",
    "http://[::1]:8080/simple/x/",
    "http://[::1/simple/x/",  # urllib rejects it: every join raises
    "HTTPS://Host/Simple/",
    "ftp://mirror/pub/",
    "https://h",
    "https://h?q=1",
    "relative/base/",
    "/absolute/path/",
    "",
]

HREFS = [
    "https://files.pythonhosted.org/packages/ab/cd/foo-1.0-py3-none-any.whl",
    "https://files.pythonhosted.org/packages/ab/cd/foo-1.0.tar.gz#sha256=AbC123",
    "https://h/torch-2.5.1%2Bcpu-cp311-cp311-linux_x86_64.whl#sha256=00",
    "http://h/foo-1.0.tar.gz",
    "https://u:secret@h:8080/foo-1.0.tar.gz",
    "https://[::1]/foo-1.0.tar.gz",
    "https://[::1/foo-1.0.tar.gz",
    "https://h]/foo-1.0.tar.gz",
    "https://[v1.x]/foo-1.0.tar.gz",
    "https://exa\u2100mple.org/foo-1.0.tar.gz",  # NFKC turns it into "a/c": rejected
    "https://ex\u00e4mple.org/foo-1.0.tar.gz",
    "https:///foo-1.0.tar.gz",
    "https://",
    "https://h",
    "https://h?",
    "https://h/foo-1.0.tar.gz?",
    "https://h/foo-1.0.tar.gz?a?",
    "https://h/foo-1.0.tar.gz?x=1#sha256=ab",
    "https://h/foo-1.0.tar.gz#",
    "https://h/foo-1.0.tar.gz##x",
    "https://h/a;b/foo-1.0.tar.gz",
    "https://h/foo-1.0.tar.gz;",
    "https://h/foo-1.0.tar.gz;p=1",
    "https://h/f\too-1.0.tar.gz",
    "https://h/foo-1.0.tar.gz#sha256=a\nb",
    "https://h/foo 1.0.tar.gz",
    "https://h/./foo-1.0.tar.gz",
    "https://h/a/../foo-1.0.tar.gz",
    "HTTPS://h/foo-1.0.tar.gz",
    "file:///srv/foo-1.0.tar.gz",
    "ftp://h/foo-1.0.tar.gz",
    "/whl/cpu/torch-2.5.1%2Bcpu-cp311-cp311-linux_x86_64.whl#sha256=ab",
    "/whl/cpu/torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl",
    "/a/./foo-1.0.tar.gz",
    "/a/../foo-1.0.tar.gz",
    "/a/.hidden/foo-1.0.tar.gz",
    "/a//foo-1.0.tar.gz",
    "//cdn.example/foo-1.0.tar.gz",
    "/",
    "/?q",
    "/foo-1.0.tar.gz?",
    "/a:b/foo-1.0.tar.gz",
    "/a;b/foo-1.0.tar.gz",
    "/[x]/foo-1.0.tar.gz",
    "/\u00e9/foo-1.0.tar.gz",
    "../../packages/foo-1.0.tar.gz#md5=00",
    "./foo-1.0.tar.gz",
    "foo-1.0.tar.gz",
    "foo:1.0.tar.gz",
    "?q=1",
    "#sha256=ab",
    "",
    " https://h/foo-1.0.tar.gz",
    "\x00https://h/foo-1.0.tar.gz",
]


def _reference(base: str, href: str) -> tuple[str, str] | type[ValueError]:
    try:
        absolute, fragment = urldefrag(urljoin(base, href))
    except ValueError:
        return ValueError
    return absolute, fragment


def _fast(base: str, href: str) -> tuple[str, str] | type[ValueError]:
    try:
        return _LinkResolver(base).resolve(href)
    except ValueError:
        return ValueError


@pytest.mark.parametrize("base", BASES)
def test_link_resolver_matches_urljoin_on_tricky_links(base: str) -> None:
    for href in HREFS:
        assert _fast(base, href) == _reference(base, href), (base, href)


def test_the_fast_path_is_taken_for_the_usual_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyPI's absolute links and download.pytorch.org's root-relative ones skip urllib."""
    import torchup.index.simple as simple

    def boom(*args: object) -> object:
        raise AssertionError("urljoin called")

    monkeypatch.setattr(simple, "urljoin", boom)
    pypi = _LinkResolver("https://pypi.org/simple/foo/")
    url = "https://files.pythonhosted.org/packages/ab/foo-1.0-py3-none-any.whl"
    assert pypi.resolve(url) == (url, "")
    torch = _LinkResolver("https://download.pytorch.org/whl/cpu/torch/")
    assert torch.resolve("/whl/cpu/torch-2.5.1%2Bcpu.whl#sha256=ab") == (
        "https://download.pytorch.org/whl/cpu/torch-2.5.1%2Bcpu.whl",
        "sha256=ab",
    )


_URL_PIECES = st.sampled_from(
    [
        "https://", "http://", "HTTP://", "file://", "file:", "ftp://", "//", "/", "./", "../",
        ".", "..", "h", "host.example", "u:p@", ":8080", "[::1]", "[", "]", "@", ":", ";", ";p",
        "?", "?q=1", "#", "#sha256=ab", "%2B", "%", " ", "\t", "\n", "\r", "\x00", "\u00e9",
        "\u2100", "a", "b", "foo-1.0.tar.gz", "x-1.0-py3-none-any.whl",
    ]
)  # fmt: skip
_URLS = st.lists(_URL_PIECES, max_size=8).map("".join) | st.text(max_size=30)


@SETTINGS
@given(base=st.sampled_from(BASES) | _URLS, href=_URLS)
def test_link_resolver_matches_urljoin_on_generated_links(base: str, href: str) -> None:
    assert _fast(base, href) == _reference(base, href)


# --- JSON pages: the parser against the straightforward loop it replaced ---------------------


def _reference_json_files(
    data: Mapping[str, Any], page_url: str, index: str | None
) -> list[DistFile]:
    """parse_json_page's file loop as it was written before the fast paths (the reference)."""
    files = []
    for entry in data.get("files") or ():
        if not isinstance(entry, Mapping):
            continue
        filename, url = entry.get("filename"), entry.get("url")
        if not isinstance(filename, str) or not isinstance(url, str):
            continue
        if not is_distribution_filename(filename):
            continue
        try:
            absolute, fragment = urldefrag(urljoin(page_url, url))
        except ValueError:
            continue
        hashes_raw = entry.get("hashes")
        hashes = (
            {str(k).lower(): str(v).lower() for k, v in hashes_raw.items()}
            if isinstance(hashes_raw, Mapping)
            else {}
        )
        if not hashes and fragment:
            algo, sep, digest = fragment.partition("=")
            if sep and algo and digest:
                hashes = {algo.strip().lower(): digest.strip().lower()}
        yanked_raw = entry.get("yanked", False)
        yanked = yanked_raw if isinstance(yanked_raw, str) else ("" if yanked_raw else None)
        core_raw = (
            entry["core-metadata"]
            if "core-metadata" in entry
            else entry.get("dist-info-metadata", False)
        )
        if isinstance(core_raw, Mapping):
            core: Mapping[str, str] | bool = {
                str(k).lower(): str(v).lower() for k, v in core_raw.items()
            }
        else:
            core = bool(core_raw)
        size = entry.get("size")
        upload_time = entry.get("upload-time")
        requires_python = entry.get("requires-python")
        files.append(
            DistFile(
                filename=filename,
                url=absolute,
                hashes=hashes,
                requires_python=requires_python.strip() or None
                if isinstance(requires_python, str)
                else None,
                yanked=yanked,
                core_metadata=core,
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                upload_time=upload_time if isinstance(upload_time, str) else None,
                index=index,
            )
        )
    return files


def _everything(f: DistFile) -> tuple[object, ...]:
    """Every field, plus what is derived from the filename (equality ignores the mappings)."""
    core = f.core_metadata if isinstance(f.core_metadata, bool) else dict(f.core_metadata)
    return (
        repr(f),
        dict(f.hashes),
        core,
        f.project,
        f.version,
        str(f.version),
        f.is_wheel,
        f.is_sdist,
        hash(f),
    )


_FILENAMES = st.sampled_from(
    [
        "foo-1.0-py3-none-any.whl", "foo-1.0.0-py3-none-any.whl", "Foo_Bar-2.0-cp311-cp311-linux_x86_64.whl",
        "foo-1.0.tar.gz", "foo-1.0.zip", "foo-2.0rc1.tar.gz", "foo-1.0-1-py3-none-any.whl",
        "foo-bad!-py3-none-any.whl", "foo-1.0.exe", "foo-1.0-py3-none.whl", "bar-1.0.tar.gz",
        "foo-1.0-py3--any.whl", "foo.tar.gz", "-1.0.tar.gz", "torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl",
    ]
)  # fmt: skip
_VALUES = st.none() | st.booleans() | st.integers(-5, 10**9) | st.text(max_size=12)
_ENTRY = st.fixed_dictionaries(
    {"filename": _FILENAMES | _VALUES, "url": _URLS | _VALUES},
    optional={
        "hashes": st.dictionaries(st.sampled_from(["sha256", "SHA256", "md5"]), st.text(max_size=6))
        | _VALUES,
        "requires-python": st.sampled_from([">=3.8", " >=3.9 ", "", "garbage"]) | _VALUES,
        "yanked": _VALUES,
        "core-metadata": st.dictionaries(st.just("sha256"), st.just("AB")) | _VALUES,
        "dist-info-metadata": st.dictionaries(st.just("sha256"), st.just("cd")) | _VALUES,
        "size": _VALUES,
        "upload-time": _VALUES,
    },
)
_PAGE_URLS = st.sampled_from(
    ["https://pypi.org/simple/foo/", "https://h/whl/foo/", "file:///srv/idx/foo/", "http://[::1/x/"]
)


@SETTINGS
@given(entries=st.lists(_ENTRY | _VALUES, max_size=8), page_url=_PAGE_URLS)
def test_json_page_files_are_those_of_the_reference_loop(entries: list[Any], page_url: str) -> None:
    data = {"name": "foo", "files": entries}
    got = parse_json_page(data, page_url, index="idx").files
    want = _reference_json_files(data, page_url, "idx")
    assert [_everything(f) for f in got] == [_everything(f) for f in want]


@SETTINGS
@given(entries=st.lists(_ENTRY, max_size=10), page_url=_PAGE_URLS)
def test_page_files_group_what_the_parser_lists(entries: list[Any], page_url: str) -> None:
    """PageFiles.from_json = parse_json_page's files of the project, grouped lazily."""
    data = {"name": "foo", "files": entries}
    listed = [f for f in parse_json_page(data, page_url, index="i").files if f.project == "foo"]
    page = PageFiles.from_json(data, page_url, project="Foo", index="i")
    assert bool(page) == bool(listed)
    grouped: dict[Version, list[DistFile]] = {}
    for f in listed:
        grouped.setdefault(f.version, []).append(f)
    assert list(page.groups) == list(grouped)
    for version, group in page.groups.items():
        assert group.yanked == all(f.yanked is not None for f in grouped[version])
        assert [_everything(f) for f in group.files] == [_everything(f) for f in grouped[version]]
    # In page order too, and each file is one object whichever way it is read.
    assert [_everything(f) for f in page.files()] == [_everything(f) for f in listed]
    by_id = {id(f) for g in page.groups.values() for f in g.files}
    assert {id(f) for f in page.files()} == by_id


def test_from_page_builds_what_the_constructor_builds() -> None:
    page = parse_json_page(
        {
            "files": [
                {
                    "filename": "Foo_Bar-1.0-py3-none-any.whl",
                    "url": "https://h/Foo_Bar-1.0-py3-none-any.whl",
                    "hashes": {"SHA256": "AB"},
                    "requires-python": ">=3.8",
                    "yanked": "broken",
                    "core-metadata": {"sha256": "CD"},
                    "size": 12,
                    "upload-time": "2024-01-01T00:00:00Z",
                }
            ]
        },
        "https://pypi.org/simple/foo-bar/",
        index="https://pypi.org/simple",
    )
    [fast] = page.files
    slow = DistFile(
        filename="Foo_Bar-1.0-py3-none-any.whl",
        url="https://h/Foo_Bar-1.0-py3-none-any.whl",
        hashes={"sha256": "ab"},
        requires_python=">=3.8",
        yanked="broken",
        core_metadata={"sha256": "cd"},
        size=12,
        upload_time="2024-01-01T00:00:00Z",
        index="https://pypi.org/simple",
    )
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert (fast.project, fast.version, fast.wheel_tags) == (
        slow.project,
        slow.version,
        slow.wheel_tags,
    )
    with pytest.raises(AttributeError):
        fast.url = "x"  # type: ignore[misc]  # still frozen


def test_html_page_files_carry_name_and_version() -> None:
    page = parse_html_page(
        '<a href="/whl/torch-2.5.1%2Bcpu-cp311-cp311-linux_x86_64.whl#sha256=AB">t</a>'
        '<a href="../x/foo-1.0.tar.gz">f</a><a href="not-a-dist.txt">n</a>',
        "https://download.pytorch.org/whl/cpu/torch/",
    )
    assert [(f.url, f.project, str(f.version), dict(f.hashes)) for f in page.files] == [
        (
            "https://download.pytorch.org/whl/torch-2.5.1%2Bcpu-cp311-cp311-linux_x86_64.whl",
            "torch",
            "2.5.1+cpu",
            {"sha256": "ab"},
        ),
        ("https://download.pytorch.org/whl/cpu/x/foo-1.0.tar.gz", "foo", "1.0", {}),
    ]


# --- strategies and candidates over groups ---------------------------------------------------

SOURCES = [
    IndexSource("https://torch", name="pytorch"),
    IndexSource("https://extra"),
    IndexSource("https://pypi", name="pypi", default=True),
    IndexSource("https://pypi"),  # the same key as pypi: files of both count as one index's
    IndexSource("https://flat", kind="find-links"),
]


def _dist(host: str, version: str, build: int, yanked: bool) -> DistFile:
    filename = f"numpy-{version}-{build}-py3-none-any.whl"
    return DistFile(
        filename,
        f"https://{host}/{filename}",
        index=f"https://{host}",
        yanked="" if yanked else None,
    )


_PAGE = st.lists(
    st.tuples(st.sampled_from(["1.0", "1.0.0", "2.0", "2.1", "3.0.dev0"]), st.booleans()),
    max_size=5,
)


@SETTINGS
@given(
    pages=st.lists(st.tuples(st.sampled_from(range(len(SOURCES))), _PAGE | st.none()), max_size=5),
    strategy=st.sampled_from(["first-index", "unsafe-first-match", "unsafe-best-match"]),
)
def test_select_groups_groups_what_select_files_selects(
    pages: list[tuple[int, list[tuple[str, bool]] | None]], strategy: Any
) -> None:
    listed: list[tuple[IndexSource, list[DistFile] | None]] = []
    for i, (source_index, page) in enumerate(pages):
        source = SOURCES[source_index]
        host = source.url.split("/")[2]
        files = None if page is None else [_dist(host, v, i, y) for v, y in page]
        listed.append((source, files))
    flat = select_files(listed, strategy)
    groups = select_groups(
        [(s, PageFiles.from_files(fs) if fs else None) for s, fs in listed], strategy
    )
    target = Target.for_platform("3.12", "linux")
    want = group_candidates(flat, target)
    got = choices_from_groups(groups, target)
    assert list(got) == list(want)
    for version, choice in got.items():
        assert choice.files == want[version].files
        assert choice.yanked == want[version].yanked
        assert (choice.best, choice.unavailable) == (want[version].best, want[version].unavailable)


# --- provider order --------------------------------------------------------------------------


class _Neg:
    def __init__(self, v: Version) -> None:
        self.v = v

    def __lt__(self, other: _Neg) -> bool:
        return self.v > other.v


@pytest.mark.parametrize("resolution", ["highest", "lowest", "lowest-direct"])
def test_preferred_first_is_the_yanked_then_version_order(resolution: Any) -> None:
    rng = random.Random(7)
    texts = [f"{a}.{b}{s}" for a in range(4) for b in range(6) for s in ("", "rc1", ".post1")]
    target = Target.for_platform("3.12", "linux")
    for _ in range(20):
        picked = rng.sample(texts, rng.randint(1, len(texts)))
        files = [_dist("h", t, 0, rng.random() < 0.2) for t in picked]
        choices = group_candidates(files, target)
        pref = {"numpy": Version(rng.choice(picked))} if rng.random() < 0.5 else {}
        options = ProviderOptions(
            resolution=resolution, preferences=pref, direct_names=frozenset({"numpy"})
        )
        provider = IndexProvider(target, finder=None, fetcher=None, options=options)  # type: ignore[arg-type]
        try:
            got = provider._preferred_first("numpy", list(choices), choices)
        finally:
            provider.close()
        lowest = resolution != "highest"
        want = sorted(
            choices,
            key=lambda v: (choices[v].yanked, v if lowest else _Neg(v)),  # type: ignore[return-value]
        )
        if pref:
            want.remove(pref["numpy"])
            want.insert(0, pref["numpy"])
        assert got == want
