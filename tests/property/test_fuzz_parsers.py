"""Fuzzing torchup's parsers of untrusted input: nothing but torchup's own errors may escape.

Targets: PEP 503 HTML pages and root pages, find-links pages, PEP 691 JSON pages and root pages
(from raw bytes, the way the client decodes them, and from arbitrary JSON values), core
METADATA (``parse_metadata``), METADATA located in a zip (the range and the streaming paths), whole wheel
archives (``unpack_wheel``), requirement strings and requirements files, pyproject.toml
(``ProjectConfig.from_pyproject``), pylock.toml (``loads_lock``) and wheel / sdist filenames.

Inputs mix random text/bytes with structured near-misses (valid documents with one part swapped,
truncated or garbled), which reach much deeper than random bytes.

Example counts are small by default so the suite stays fast; ``FUZZ_EXAMPLES=N`` (or the older
``TORCHUP_FUZZ_EXAMPLES``) sets the examples per target. ``FUZZ_REPORT=path`` appends one JSON
line per target with the number of inputs tried and crashes found (used for docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchup.errors import TorchupError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or os.environ.get("TORCHUP_FUZZ_EXAMPLES") or "60")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    database=None,
)
_TRIED: dict[str, int] = {}


def _call(target: str, fn: Callable[..., Any], *args: Any, allowed: tuple[type[BaseException], ...] = ()) -> Any:
    """Run ``fn``; TorchupError (and ``allowed``) is fine, anything else fails the test."""
    _TRIED[target] = _TRIED.get(target, 0) + 1
    try:
        return fn(*args)
    except TorchupError:
        return None
    except allowed:
        return None


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    path = os.environ.get("FUZZ_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            for target, count in sorted(_TRIED.items()):
                fh.write(json.dumps({"target": target, "inputs": count, "crashes": 0}) + "\n")


# -- building blocks ----------------------------------------------------------------------------

_NAMES = st.from_regex(r"\A[A-Za-z][A-Za-z0-9._-]{0,10}\Z")
_VERSIONS = st.one_of(
    st.from_regex(r"\A[0-9]{1,3}(\.[0-9]{1,3}){0,3}([ab]|rc|\.post|\.dev)?[0-9]?(\+[a-z0-9.]{1,8})?\Z"),
    st.text(max_size=8),
)
_TAGS = st.sampled_from(
    ["py3-none-any", "cp312-cp312-manylinux_2_28_x86_64", "cp311-abi3-win_amd64", "py2.py3-none-any",
     "cp312-cp312-macosx_11_0_arm64", "x-y", "-none-any", "py3-none-", "1-2-3-4"]
)
_WEIRD = st.sampled_from(
    ["", " ", "\x00", "\ud800", "%", "%ZZ", "%2B", "+", "#", "#sha256=", "#md5", "?", "..", "../", "/",
     "//", "\\", "http://[::1", "http://[", "https://", "file:", "javascript:x", "\n", "&gt;", "&#0;",
     "&#x110000;", "<", ">", '"', "'", "=", "\u202e", "\uffff"]
)


def _garble(text: str) -> st.SearchStrategy[str]:
    """A text with random cuts / insertions (structured near-misses)."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        out = text
        for _ in range(draw(st.integers(0, 3))):
            i = draw(st.integers(0, len(out)))
            op = draw(st.sampled_from(["cut", "insert", "truncate"]))
            if op == "cut":
                j = draw(st.integers(i, min(len(out), i + 20)))
                out = out[:i] + out[j:]
            elif op == "insert":
                out = out[:i] + draw(st.one_of(_WEIRD, st.text(max_size=6))) + out[i:]
            else:
                out = out[:i]
        return out

    return build()


@st.composite
def _filenames(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["wheel", "sdist", "random"]))
    if kind == "random":
        return draw(st.one_of(st.text(max_size=30), _WEIRD))
    name = draw(st.one_of(_NAMES, _WEIRD))
    version = draw(_VERSIONS)
    if kind == "sdist":
        return f"{name}-{version}{draw(st.sampled_from(['.tar.gz', '.zip', '.tar', '']))}"
    build = draw(st.sampled_from(["", "-1", "-1abc", "-x", "--"]))
    return f"{name}-{version}{build}-{draw(_TAGS)}.whl"


# -- PEP 503 / PEP 691 ----------------------------------------------------------------------------


@st.composite
def _html_pages(draw: st.DrawFn) -> str:
    anchors = []
    for _ in range(draw(st.integers(0, 5))):
        href = draw(st.one_of(_filenames(), _WEIRD, st.text(max_size=20)))
        if draw(st.booleans()):
            href = draw(st.sampled_from(["", "/", "../", "http://x/", "https://[::1]/", "//h/"])) + href
        if draw(st.booleans()):
            href += "#" + draw(st.sampled_from(["sha256=", "sha256=ab", "md5=x", "=", "x", ""]))
        attrs = [f'href="{href}"']
        for attr in draw(st.lists(st.sampled_from(
            ["data-requires-python", "data-yanked", "data-core-metadata", "data-dist-info-metadata"]
        ), max_size=3)):
            value = draw(st.one_of(st.sampled_from(["", "true", "false", "sha256=abc", "=", "&gt;=3.8", ">=3"]), st.text(max_size=8)))
            attrs.append(f'{attr}="{value}"' if draw(st.booleans()) else attr)
        anchors.append(f"<a {' '.join(attrs)}>{draw(st.text(max_size=10))}</a>")
    base = draw(st.sampled_from(["", '<base href="/other/">', '<base href="http://[">', "<base>"]))
    page = f"<html><head>{base}</head><body>{''.join(anchors)}</body></html>"
    return draw(st.one_of(st.just(page), _garble(page)))


@FUZZ
@given(text=st.one_of(st.text(), _html_pages()), url=st.sampled_from(
    ["http://127.0.0.1/simple/app/", "https://x.org/simple/", "file:///tmp/x/", "", "http://[::1]/s/"]
))
def test_html_pages(text: str, url: str) -> None:
    from torchup.index.simple import parse_find_links, parse_html_page, parse_project_list_html

    page = _call("PEP 503 project page", parse_html_page, text, url)
    if page is not None:
        for f in page.files:  # every file a parser returns has a usable name and version
            assert f.project is not None and f.version is not None
    _call("PEP 503 root page", parse_project_list_html, text)
    _call("find-links page", parse_find_links, text, url or "http://x/")


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def _json_pages(draw: st.DrawFn) -> Any:
    files = []
    for _ in range(draw(st.integers(0, 3))):
        entry: dict[str, Any] = {
            "filename": draw(_filenames()),
            "url": draw(st.one_of(_filenames(), _WEIRD)),
            "hashes": {"sha256": "ab" * 32},
            "requires-python": ">=3.8",
            "yanked": False,
            "core-metadata": {"sha256": "cd" * 32},
            "size": 10,
            "upload-time": "2024-01-01T00:00:00Z",
        }
        for key in draw(st.lists(st.sampled_from(sorted(entry)), max_size=3)):
            entry[key] = draw(_JSON)  # swap a value for anything
        files.append(entry)
    doc: dict[str, Any] = {"meta": {"api-version": "1.1"}, "name": draw(_NAMES), "files": files}
    for key in draw(st.lists(st.sampled_from(["meta", "name", "files", "versions"]), max_size=2)):
        doc[key] = draw(_JSON)
    return doc


@FUZZ
@given(data=st.one_of(_JSON, _json_pages()))
def test_json_pages(data: Any) -> None:
    from torchup.index.simple import parse_json_page, parse_project_list_json

    page = _call("PEP 691 project page (JSON value)", parse_json_page, data, "http://127.0.0.1/simple/app/")
    if page is not None:
        for f in page.files:
            assert f.project is not None and f.version is not None
    _call("PEP 691 root page (JSON value)", parse_project_list_json, data)


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), _json_pages().map(lambda d: json.dumps(d).encode()).flatmap(
    lambda b: st.one_of(st.just(b), _garble(b.decode()).map(lambda t: t.encode("utf-8", "surrogatepass")))
)))
def test_json_page_bytes_through_the_client(body: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The client's own path: bytes from the wire -> json.loads -> parser (a local .json file)."""
    from torchup.index.client import HttpClient

    directory = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    path = directory / "page.json"
    path.write_bytes(body)
    client = HttpClient()
    _call("PEP 691 page bytes via HttpClient", client.fetch_page, path.as_uri())


# -- METADATA ----------------------------------------------------------------------------------

_HEADERS = ["Metadata-Version", "Name", "Version", "Requires-Dist", "Requires-Python",
            "Provides-Extra", "Summary", "Dynamic", "License-Expression", "Classifier"]


@st.composite
def _metadata(draw: st.DrawFn) -> bytes:
    lines = ["Metadata-Version: 2.1", "Name: app", "Version: 1.0", "Requires-Dist: dep>=1"]
    for _ in range(draw(st.integers(0, 4))):
        header = draw(st.sampled_from(_HEADERS))
        value = draw(st.one_of(
            st.sampled_from(["", "dep", "dep>=1; extra == 'x'", "dep @ http://x", "(>=1", ">=3.8,<", "1.0",
                             "2!1.0.post1.dev2+abc", "foo[bar", "x; python_version >", "\udcff"]),
            st.text(max_size=15),
        ))
        lines.insert(draw(st.integers(0, len(lines))), f"{header}: {value}")
    text = "\n".join(lines) + "\n\n" + draw(st.text(max_size=20))
    raw = text.encode("utf-8", "surrogatepass")
    return draw(st.one_of(st.just(raw), _garble(text).map(lambda t: t.encode("utf-8", "surrogatepass"))))


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), _metadata()), filename=_filenames())
def test_core_metadata(data: bytes, filename: str) -> None:
    from torchup.index.metadata import parse_metadata
    from torchup.index.simple import DistFile, parse_filename

    _call("METADATA", parse_metadata, data)
    if parse_filename(filename) is not None:
        dist = DistFile(filename=filename, url=f"http://127.0.0.1/simple/{filename}")
        _call("METADATA vs filename", parse_metadata, data, dist)


def _wheel_bytes(metadata: bytes = b"Metadata-Version: 2.1\nName: app\nVersion: 1.0\n\n") -> bytes:
    from tests.support.wheels import DistSpec, build_wheel

    directory = Path(tempfile.mkdtemp())
    path = build_wheel(DistSpec("app", "1.0", requires_dist=("dep>=1",)), directory)
    return path.read_bytes()


_VALID_WHEEL = _wheel_bytes()


@st.composite
def _mutated_zips(draw: st.DrawFn) -> bytes:
    data = bytearray(_VALID_WHEEL)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "truncate", "splice"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[i] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del data[i : i + draw(st.integers(1, 40))]
        elif op == "truncate":
            del data[i:]
        else:
            data[i:i] = draw(st.binary(min_size=1, max_size=30))
    return bytes(data)


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), _mutated_zips()))
def test_metadata_in_zip(data: bytes) -> None:
    """The range path's zip reader: any failure must be its format error (a MetadataError for
    the user), never struct.error / IndexError / zlib.error."""
    from torchup.index.metadata import (
        _ChunkReader,
        _NeedFullFile,
        _stream_metadata,
        _ZipFormatError,
        find_metadata_in_zip,
    )

    _call("METADATA located in a zip", find_metadata_in_zip, data, "app", allowed=(_ZipFormatError,))
    # the streaming path (no Range): local headers read front to back, in uneven chunks
    chunks = [data[i : i + 97] for i in range(0, len(data), 97)]
    _call(
        "METADATA streamed from a zip",
        lambda: _stream_metadata(_ChunkReader(iter(chunks)), "app"),
        allowed=(_ZipFormatError, _NeedFullFile),
    )


@FUZZ
@given(data=_mutated_zips())
def test_unpack_mutated_wheels(data: bytes) -> None:
    """A damaged wheel is an InvalidWheelError, and unpacking never writes outside ``dest``."""
    from torchup.install.wheel import unpack_wheel

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        wheel = root / "in" / "app-1.0-py3-none-any.whl"
        wheel.parent.mkdir()
        wheel.write_bytes(data)
        dest = root / "out" / "tree"
        _call("wheel archive (unpack_wheel)", unpack_wheel, wheel, dest)
        assert sorted(p.name for p in root.iterdir()) == ["in", "out"] or not (root / "out").exists()


# -- filenames ---------------------------------------------------------------------------------


@FUZZ
@given(filename=_filenames())
def test_filenames(filename: str) -> None:
    from torchup.index.simple import DistFile, parse_filename
    from torchup.target import Target

    parsed = parse_filename(filename)  # documented never to raise
    _TRIED["wheel/sdist filename"] = _TRIED.get("wheel/sdist filename", 0) + 1
    if parsed is not None:
        dist = DistFile(filename=filename, url="http://x/" + filename)
        assert dist.project == parsed[0] and dist.version == parsed[1]
    rank = Target.for_platform("3.12", "linux").wheel_rank(filename)
    assert rank is None or isinstance(rank, int)
    from torchup.install.wheel import _check_identity

    _call("wheel filename vs .dist-info", _check_identity, "app-1.0.dist-info", filename)


# -- requirements, pyproject, pylock -----------------------------------------------------------


@st.composite
def _requirement_lines(draw: st.DrawFn) -> str:
    name = draw(st.one_of(_NAMES, _WEIRD))
    extras = draw(st.sampled_from(["", "[x]", "[x,y]", "[", "[]", "[x"]))
    spec = draw(st.sampled_from(["", "==1.0", ">=1,<2", "~=1", "===x", "==", "@ https://x/a.whl",
                                 "@ file:///tmp/x", "@", "==1.0.*", "!=1.*,>=", "(>=1)"]))
    marker = draw(st.sampled_from(["", "; python_version >= '3.8'", ";", "; extra == 'x'", "; os_name =="]))
    option = draw(st.sampled_from(["", " --hash=sha256:" + "a" * 64, " --hash", " --hash=md5:x", " -e",
                                   " --index-url http://x", " # comment"]))
    line = f"{name}{extras}{spec}{marker}{option}"
    return draw(st.one_of(st.just(line), _garble(line)))


@FUZZ
@given(line=st.one_of(st.text(max_size=60), _requirement_lines()))
def test_requirement_strings(line: str) -> None:
    from torchup.requirements import parse_requirement_string

    _call("requirement string", parse_requirement_string, line, "command line")


@FUZZ
@given(lines=st.lists(st.one_of(
    _requirement_lines(),
    st.sampled_from(["-r other.txt", "-c c.txt", "--index-url", "--extra-index-url http://[",
                     "-f ./wheels", "--no-index", "--pre", "-e .", "\\", "--hash=sha256:ab \\",
                     "--only-binary :all:", "--trusted-host x", "-i", "--unknown-option"]),
    st.text(max_size=30),
), max_size=8))
def test_requirements_files(lines: list[str]) -> None:
    from torchup.requirements import parse_requirements_text

    text = "\n".join(lines)
    _call("requirements file", parse_requirements_text, text, "requirements.txt")


@st.composite
def _pyprojects(draw: st.DrawFn) -> str:
    deps = draw(st.lists(_requirement_lines(), max_size=3))
    body = (
        "[project]\n"
        f"name = {json.dumps(draw(st.one_of(_NAMES, _WEIRD)))}\n"
        f"version = {json.dumps(draw(_VERSIONS))}\n"
        f"requires-python = {json.dumps(draw(st.sampled_from(['>=3.10', '>=', '3', ''])))}\n"
        f"dependencies = {json.dumps(deps)}\n"
        "[project.optional-dependencies]\n"
        f"x = {json.dumps(draw(st.lists(_requirement_lines(), max_size=2)))}\n"
        "[dependency-groups]\n"
        f"dev = {json.dumps(draw(st.lists(st.one_of(_requirement_lines(), st.just({'include-group': 'dev'})), max_size=2)))}\n"
        "[tool.torchup]\n"
        f"torch-backend = {json.dumps(draw(st.sampled_from(['cu128', 'auto', 'cpu', 'nope', ''])))}\n"
        "[tool.uv]\n"
        f"index = [{{ name = {json.dumps(draw(_NAMES))}, url = {json.dumps(draw(st.sampled_from(['https://x/simple', 'http://[', ''])))} }}]\n"
        f"sources = {{ torch = {{ index = {json.dumps(draw(_NAMES))} }} }}\n"
    )
    return draw(st.one_of(st.just(body), _garble(body)))


@FUZZ
@given(text=st.one_of(st.text(max_size=200), _pyprojects()))
def test_pyproject(text: str) -> None:
    from torchup.config import ProjectConfig

    _call("pyproject.toml", ProjectConfig.from_pyproject, text)


def _valid_lock_text() -> str:
    from torchup.lock import Lock, LockedFile, LockedPackage, LockMetadata, dumps_lock

    return dumps_lock(
        Lock(
            packages=(
                LockedPackage(
                    name="app",
                    version="1.0",
                    index="https://x/simple",
                    wheels=(LockedFile(name="app-1.0-py3-none-any.whl", url="https://x/app-1.0-py3-none-any.whl",
                                       hashes={"sha256": "ab" * 32}, size=10),),
                ),
            ),
            requires_python=">=3.10",
            meta=LockMetadata(),
        )
    )


try:
    _LOCK_TEXT = _valid_lock_text()
except Exception:  # noqa: BLE001 - the lock model changed shape: fuzz raw text only
    _LOCK_TEXT = 'lock-version = "1.0"\ncreated-by = "torchup"\n[[packages]]\nname = "app"\nversion = "1.0"\n'


@FUZZ
@given(text=st.one_of(st.text(max_size=200), _garble(_LOCK_TEXT), _garble(_LOCK_TEXT).map(
    lambda t: t.replace('"1.0"', "1.0").replace("sha256", "md5")
)))
def test_pylock(text: str) -> None:
    from torchup.lock import loads_lock

    _call("pylock.toml", loads_lock, text)


# -- optional: atheris (coverage-guided) ---------------------------------------------------------
#
#   pip install atheris   # not a dependency of torchup
#   python tests/property/test_fuzz_parsers.py -atheris_runs=200000
#
# Feeds the same parsers coverage-guided bytes (libFuzzer). The first byte picks the target; any
# exception other than TorchupError (and a target's documented format error) is a crash.


def _atheris_main() -> None:  # pragma: no cover - manual tool
    import sys

    import atheris

    with atheris.instrument_imports():
        from torchup.config import ProjectConfig
        from torchup.index import metadata as md
        from torchup.index import simple
        from torchup.lock import loads_lock
        from torchup.requirements import parse_requirement_string, parse_requirements_text

    def one_input(data: bytes) -> None:
        if not data:
            return
        which, body = data[0] % 9, data[1:]
        text = body.decode("utf-8", "surrogateescape")
        try:
            if which == 0:
                simple.parse_html_page(text, "http://127.0.0.1/simple/app/")
            elif which == 1:
                try:
                    value = json.loads(body)
                except ValueError:
                    return  # the client turns this into IndexError_
                simple.parse_json_page(value, "http://127.0.0.1/simple/app/")
                simple.parse_project_list_json(value)
            elif which == 2:
                md.parse_metadata(body)
            elif which == 3:
                md.find_metadata_in_zip(body, "app")
            elif which == 4:
                parse_requirement_string(text, "command line")
            elif which == 5:
                parse_requirements_text(text, "requirements.txt")
            elif which == 6:
                ProjectConfig.from_pyproject(text)
            elif which == 7:
                loads_lock(text)
            else:
                simple.parse_filename(text)
                simple.parse_find_links(text, "http://x/")
        except TorchupError:
            pass
        except md._ZipFormatError:
            pass

    runs = [a for a in sys.argv[1:] if a.startswith("-atheris_runs=")]
    argv = [sys.argv[0], *(a for a in sys.argv[1:] if not a.startswith("-atheris_runs="))]
    if runs:
        argv.append("-runs=" + runs[0].split("=", 1)[1])
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":  # pragma: no cover
    _atheris_main()
