"""PEP 503 / 691 / find-links parsing, against recorded real pages and hand-written edge cases.

``tests/fixtures/pages/{torch,numpy,idna,certifi}.html`` and ``{torch,idna}.json`` were recorded
from https://pypi.org/simple/<name>/ (torch and numpy trimmed to a few releases);
``download.pytorch.org_whl_cpu_torch.html`` is hand-written in download.pytorch.org's format
(relative hrefs, ``%2B``, PEP 658 attributes on some files, a nightly without a hash).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.tags import Tag
from packaging.version import Version

from torchup.index.simple import (
    DistFile,
    parse_filename,
    parse_find_links,
    parse_html_page,
    parse_json_page,
    parse_project_list_html,
    parse_project_list_json,
)

PAGES = Path(__file__).parents[1] / "fixtures" / "pages"
PYPI = "https://pypi.org/simple"


def _html(name: str) -> str:
    return (PAGES / f"{name}.html").read_text(encoding="utf-8")


def _json(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((PAGES / f"{name}.json").read_text(encoding="utf-8"))
    return data


# --- recorded PyPI pages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "count", "skipped"),
    [("torch", 106, 0), ("numpy", 313, 34), ("idna", 75, 0), ("certifi", 142, 0)],
)
def test_recorded_pypi_html_pages_parse_every_file(name: str, count: int, skipped: int) -> None:
    text = _html(name)
    page = parse_html_page(text, f"{PYPI}/{name}/")
    assert page.name == name
    assert len(page.files) == count
    # numpy's page still lists Windows .exe installers from 2008-2013: skipped, not fatal.
    assert text.count("<a ") - count == skipped == text.count(".exe</a>")
    for f in page.files:
        assert f.project == name
        assert f.url.startswith("https://files.pythonhosted.org/packages/")
        assert "#" not in f.url
        assert len(f.hashes["sha256"]) == 64
        assert f.core_metadata is False  # this PyPI does not advertise PEP 658 (NOTES.md)
        assert f.is_wheel or f.is_sdist


def test_recorded_torch_page_values() -> None:
    page = parse_html_page(_html("torch"), f"{PYPI}/torch/")
    by_name = {f.filename: f for f in page.files}
    f = by_name["torch-2.9.1-cp311-cp311-manylinux_2_28_x86_64.whl"]
    assert f.version == Version("2.9.1")
    assert f.requires_python == ">=3.10"  # decoded from &gt;=3.10
    assert f.yanked is None
    assert Tag("cp311", "cp311", "manylinux_2_28_x86_64") in f.wheel_tags
    assert f.sha256 == "d033ff0ac3f5400df862a51bdde9bad83561f3739ea0046e68f5401ebfa67c1b"
    # Files of old releases carry no data-requires-python.
    old = by_name["torch-1.0.0-cp37-cp37m-manylinux1_x86_64.whl"]
    assert old.requires_python is None


def test_recorded_yanked_with_reason() -> None:
    page = parse_html_page(_html("certifi"), f"{PYPI}/certifi/")
    yanked = {f.filename: f.yanked for f in page.files if f.is_yanked}
    assert (
        yanked["certifi-2022.5.18-py3-none-any.whl"] == "Incorrectly claims to support Python 3.5."
    )
    assert all(f.yanked is None for f in page.files if "2024" in f.filename)


def test_recorded_json_matches_html_for_the_same_files() -> None:
    html_page = parse_html_page(_html("torch"), f"{PYPI}/torch/")
    json_page = parse_json_page(_json("torch"), f"{PYPI}/torch/")
    assert json_page.name == "torch"
    html_files = {f.filename: f for f in html_page.files}
    common = [f for f in json_page.files if f.filename in html_files]
    assert len(common) >= 40
    for f in common:
        twin = html_files[f.filename]
        assert (f.url, dict(f.hashes), f.requires_python, f.yanked) == (
            twin.url,
            dict(twin.hashes),
            twin.requires_python,
            twin.yanked,
        )
        assert f.size is not None and f.size > 0
        assert f.upload_time is not None and f.upload_time.endswith("Z")


def test_recorded_idna_json_has_sdists_and_wheels() -> None:
    page = parse_json_page(_json("idna"), f"{PYPI}/idna/")
    assert {f.is_wheel for f in page.files} == {True, False}
    assert Version("3.10") in {f.version for f in page.files}


# --- download.pytorch.org style -----------------------------------------------------------


def test_pytorch_style_page() -> None:
    url = "https://download.pytorch.org/whl/cpu/torch/"
    page = parse_html_page(_html("download.pytorch.org_whl_cpu_torch"), url)
    by_name = {f.filename: f for f in page.files}
    cpu = by_name["torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl"]
    # %2B decoded in the filename, kept in the (absolute) URL.
    assert cpu.url == (
        "https://download.pytorch.org/whl/cpu/torch-2.5.1%2Bcpu-cp311-cp311-linux_x86_64.whl"
    )
    assert cpu.version == Version("2.5.1+cpu")
    assert cpu.metadata_url == cpu.url + ".metadata"
    assert isinstance(cpu.core_metadata, dict) and set(cpu.core_metadata) == {"sha256"}
    assert cpu.has_core_metadata
    # data-core-metadata without a legacy twin, and the bare "true" form.
    assert by_name["torch-2.9.1+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"].core_metadata_hashes
    assert by_name["torch-2.9.1+cpu-cp311-cp311-manylinux_2_28_aarch64.whl"].core_metadata is True
    # No PEP 658 for older files; no hash for the nightly.
    assert by_name["torch-2.4.1+cpu-cp311-cp311-linux_x86_64.whl"].core_metadata is False
    nightly = by_name["torch-2.10.0.dev20251010+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"]
    assert dict(nightly.hashes) == {} and nightly.sha256 is None
    assert nightly.version.is_prerelease
    # macOS wheels on /whl/cpu carry no local label.
    assert by_name["torch-2.5.1-cp311-none-macosx_11_0_arm64.whl"].version == Version("2.5.1")


# --- hand-written edge cases ----------------------------------------------------------------


EDGE_PAGE = """<!DOCTYPE html><html><head>
<base href="https://files.example.org/base/dir/">
<title>Links for Foo.Bar</title></head><body>
<a href="foo_bar-1.0-py3-none-any.whl#sha256=AAAA" data-requires-python="&gt;=3.8,&lt;4"
   data-yanked>foo_bar-1.0-py3-none-any.whl</a>
<a href="../other/Foo.Bar-1.1.tar.gz#md5=abcd" data-yanked="broken &amp; bad">Foo.Bar-1.1.tar.gz</a>
<a href="foo_bar-1.2.zip" data-dist-info-metadata="sha256=beef">foo_bar-1.2.zip</a>
<a href="foo_bar-1.3-py3-none-any.whl" data-core-metadata="true" data-requires-python="">x</a>
<a href="foo_bar-1.4-py3-none-any.whl" data-core-metadata data-dist-info-metadata="false">y</a>
<a href="foo-bar-1.0.tar.bz2">ignored: not a supported sdist</a>
<a href="foo_bar-1.0-py2.7.egg">ignored: egg</a>
<a href="foo_bar-1.0.win32.exe">ignored: exe</a>
<a href="foo_bar-not.a.version-py3-none-any.whl">ignored: bad version</a>
<a href="foo_bar-1.0-py3-none-any.whl.metadata">ignored: not a dist</a>
<a>no href</a>
<a href="https://abs.example.org/p/foo_bar-2.0-cp311-cp311-linux_x86_64.whl">abs</a>
</body></html>
"""


def test_edge_page() -> None:
    page = parse_html_page(EDGE_PAGE, "https://index.example.org/simple/foo-bar/")
    assert page.name == "foo-bar"
    files = {f.filename: f for f in page.files}
    assert list(files) == [
        "foo_bar-1.0-py3-none-any.whl",
        "Foo.Bar-1.1.tar.gz",
        "foo_bar-1.2.zip",
        "foo_bar-1.3-py3-none-any.whl",
        "foo_bar-1.4-py3-none-any.whl",
        "foo_bar-2.0-cp311-cp311-linux_x86_64.whl",
    ]
    w10 = files["foo_bar-1.0-py3-none-any.whl"]
    assert w10.url == "https://files.example.org/base/dir/foo_bar-1.0-py3-none-any.whl"
    assert dict(w10.hashes) == {"sha256": "aaaa"}
    assert w10.requires_python == ">=3.8,<4"
    assert w10.yanked == ""  # bare attribute: yanked without a reason
    sdist = files["Foo.Bar-1.1.tar.gz"]
    assert sdist.url == "https://files.example.org/base/other/Foo.Bar-1.1.tar.gz"
    assert dict(sdist.hashes) == {"md5": "abcd"}
    assert sdist.yanked == "broken & bad"
    assert sdist.project == "foo-bar" and sdist.wheel_tags == frozenset()
    assert files["foo_bar-1.2.zip"].core_metadata == {"sha256": "beef"}  # legacy attribute
    assert files["foo_bar-1.3-py3-none-any.whl"].core_metadata is True
    assert files["foo_bar-1.3-py3-none-any.whl"].requires_python is None  # empty attribute
    # data-core-metadata wins over the legacy attribute.
    assert files["foo_bar-1.4-py3-none-any.whl"].core_metadata is True


def test_relative_links_without_base_resolve_against_page_url() -> None:
    html = '<a href="../../files/x-1.0-py3-none-any.whl#sha256=ab">x</a>'
    page = parse_html_page(html, "http://h:8080/root/simple/x/")
    assert page.files[0].url == "http://h:8080/root/files/x-1.0-py3-none-any.whl"


def test_json_page_edge_cases() -> None:
    data = {
        "meta": {"api-version": "1.1"},
        "name": "Foo.Bar",
        "files": [
            {
                "filename": "foo_bar-1.0-py3-none-any.whl",
                "url": "../../files/foo_bar-1.0-py3-none-any.whl",
                "hashes": {"SHA256": "ABC"},
                "requires-python": ">=3.8",
                "yanked": "security issue",
                "core-metadata": {"sha256": "def"},
                "size": 123,
                "upload-time": "2025-01-01T00:00:00Z",
            },
            {
                "filename": "foo_bar-1.1-py3-none-any.whl",
                "url": "https://x/foo_bar-1.1-py3-none-any.whl",
                "hashes": {},
                "yanked": True,
                "dist-info-metadata": True,
            },
            {"filename": "foo_bar-1.2.tar.gz", "url": "f.tar.gz", "yanked": False},
            {"filename": "foo_bar-1.0.egg", "url": "e.egg"},
            {"url": "missing-filename.whl"},
            "not a mapping",
        ],
    }
    page = parse_json_page(data, "https://i/simple/foo-bar/")
    assert page.name == "foo-bar"
    a, b, c = page.files
    assert a.url == "https://i/files/foo_bar-1.0-py3-none-any.whl"
    assert dict(a.hashes) == {"sha256": "abc"}
    assert a.yanked == "security issue"
    assert a.core_metadata == {"sha256": "def"}
    assert (a.size, a.upload_time, a.requires_python) == (123, "2025-01-01T00:00:00Z", ">=3.8")
    assert (b.yanked, b.core_metadata) == ("", True)
    assert (c.yanked, c.core_metadata, c.is_sdist) == (None, False, True)


def test_project_lists() -> None:
    html = """<html><body>
    <a href="/simple/Foo.Bar/">Foo.Bar</a><a href="/simple/torch/">torch</a>
    <a href="/simple/foo-bar/">foo-bar</a><a href="/simple/numpy/"></a></body></html>"""
    assert parse_project_list_html(html) == ["foo-bar", "torch", "numpy"]
    data = {"meta": {}, "projects": [{"name": "Foo_Bar"}, {"name": "torch"}, {"x": 1}]}
    assert parse_project_list_json(data) == ["foo-bar", "torch"]


def test_find_links_html_and_directory_listing() -> None:
    html = """<a href="torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl">t</a>
    <a href="numpy-2.0.0.tar.gz">n</a><a href="README.txt">r</a>"""
    files = parse_find_links(html, "https://example.org/wheels/")
    assert [f.project for f in files] == ["torch", "numpy"]
    assert files[0].version == Version("2.5.1+cpu")
    listing = parse_find_links(
        ["torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl", "notes.txt", "a-1.0.zip"],
        "file:///srv/wheels",
        index="file:///srv/wheels",
    )
    assert [f.filename for f in listing] == [
        "a-1.0.zip",
        "torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl",
    ]
    assert listing[1].url == "file:///srv/wheels/torch-2.5.1%2Bcpu-cp311-cp311-linux_x86_64.whl"
    assert listing[1].index == "file:///srv/wheels"


# --- DistFile -------------------------------------------------------------------------------


def test_distfile_is_hashable_and_compares_by_value() -> None:
    a = DistFile("a-1.0-py3-none-any.whl", "https://x/a-1.0-py3-none-any.whl", {"sha256": "1"})
    b = DistFile("a-1.0-py3-none-any.whl", "https://x/a-1.0-py3-none-any.whl", {"sha256": "1"})
    c = DistFile("a-1.0-py3-none-any.whl", "https://x/a-1.0-py3-none-any.whl", {"sha256": "2"})
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2


def test_distfile_with_invalid_filename_raises_on_access() -> None:
    bad = DistFile("not-a-dist.txt", "https://x/not-a-dist.txt")
    assert not bad.is_wheel and not bad.is_sdist
    with pytest.raises(ValueError, match="not a wheel or sdist"):
        _ = bad.version


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl", ("torch", "2.5.1+cpu")),
        ("Foo_Bar-1.0-1-py3-none-any.whl", ("foo-bar", "1.0")),  # build tag
        ("foo-bar-1.0.tar.gz", ("foo-bar", "1.0")),
        ("foo-1.0.zip", ("foo", "1.0")),
        ("foo-1.0.tar.bz2", None),
        ("foo-1.0-py2.7.egg", None),
        ("foo-1.0.exe", None),
        ("foo-bad.version-py3-none-any.whl", None),
        ("", None),
    ],
)
def test_parse_filename(filename: str, expected: tuple[str, str] | None) -> None:
    parsed = parse_filename(filename)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert (parsed[0], str(parsed[1])) == expected


@given(st.text(max_size=80))
def test_parse_filename_never_raises(name: str) -> None:
    parse_filename(name)
    parse_filename(name + ".whl")
    parse_filename(name + ".tar.gz")


@given(st.text(max_size=300))
def test_html_parser_never_raises(text: str) -> None:
    parse_html_page(text, "https://x/simple/p/")
