"""Installed distributions and pip's list / freeze / show / check formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from tests.support.wheels import DistSpec, build_wheel

from torchup.install.interpreters import Interpreter
from torchup.install.site import (
    InstalledDistribution,
    check_requirements,
    format_check,
    format_freeze,
    format_list,
    format_show,
    scan_site_packages,
)
from torchup.install.wheel import install_wheel

SITE = Path("/env/lib/python3.12/site-packages")
LINUX = {
    "python_version": "3.12",
    "python_full_version": "3.12.1",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "implementation_version": "3.12.1",
    "platform_release": "",
    "platform_version": "",
}


def dist(name: str, version: str, *requires: str, **fields: object) -> InstalledDistribution:
    return InstalledDistribution(
        name=name,
        version=version,
        path=SITE / f"{name}-{version}.dist-info",
        requires=requires,
        **fields,  # type: ignore[arg-type]
    )


def index(*dists: InstalledDistribution) -> dict[str, InstalledDistribution]:
    return {d.canonical_name: d for d in dists}


REQUESTS = dist(
    "requests",
    "2.31.0",
    "idna<4,>=2.5",
    "urllib3<3,>=1.21.1",
    "PySocks!=1.5.7,>=1.5.6; extra == 'socks'",
    "win-inet-pton; sys_platform == 'win32'",
    summary="Python HTTP for Humans.",
    home_page="https://requests.readthedocs.io",
    author="Kenneth Reitz",
    author_email="me@kennethreitz.org",
    license="Apache 2.0",
)
IDNA = dist("idna", "3.6")
URLLIB3 = dist("urllib3", "1.20")
EDITABLE = dist(
    "my-project",
    "0.1",
    direct_url={"url": "file:///home/me/my-project", "dir_info": {"editable": True}},
    editable=True,
)
FROM_URL = dist(
    "Flask",
    "3.0.0",
    direct_url={"url": "https://example.com/flask-3.0.0-py3-none-any.whl", "archive_info": {}},
)
FROM_GIT = dist(
    "attrs",
    "23.1.0",
    direct_url={
        "url": "https://github.com/python-attrs/attrs",
        "vcs_info": {"vcs": "git", "commit_id": "abc123", "requested_revision": "main"},
        "subdirectory": "src",
    },
)


def test_list_columns() -> None:
    assert format_list([REQUESTS, IDNA, URLLIB3]) == (
        "Package  Version\n-------- -------\nidna     3.6\nrequests 2.31.0\nurllib3  1.20\n"
    )


def test_list_columns_with_an_editable() -> None:
    assert format_list([IDNA, EDITABLE]) == (
        "Package    Version Editable project location\n"
        "---------- ------- -------------------------\n"
        "idna       3.6\n"
        "my-project 0.1     /home/me/my-project\n"
    )


def test_list_json_and_freeze() -> None:
    assert json.loads(format_list([IDNA, EDITABLE], "json")) == [
        {"name": "idna", "version": "3.6"},
        {
            "name": "my-project",
            "version": "0.1",
            "editable_project_location": "/home/me/my-project",
        },
    ]
    assert format_list([IDNA, EDITABLE], "json").startswith('[{"name": "idna", "version": "3.6"}')
    assert format_list([URLLIB3, IDNA], "freeze") == "idna==3.6\nurllib3==1.20\n"
    assert format_list([]) == ""


def test_freeze() -> None:
    assert format_freeze([REQUESTS, EDITABLE, FROM_URL, FROM_GIT, IDNA]) == (
        "attrs @ git+https://github.com/python-attrs/attrs@abc123#subdirectory=src\n"
        "Flask @ https://example.com/flask-3.0.0-py3-none-any.whl\n"
        "idna==3.6\n"
        "-e file:///home/me/my-project\n"
        "requests==2.31.0\n"
    )
    assert format_freeze([IDNA, REQUESTS], exclude=["Requests"]) == "idna==3.6\n"


def test_show() -> None:
    text, missing = format_show(["requests", "nope"], index(REQUESTS, IDNA, URLLIB3), LINUX)
    assert missing == ["nope"]
    assert text == (
        "Name: requests\n"
        "Version: 2.31.0\n"
        "Summary: Python HTTP for Humans.\n"
        "Home-page: https://requests.readthedocs.io\n"
        "Author: Kenneth Reitz\n"
        "Author-email: me@kennethreitz.org\n"
        "License: Apache 2.0\n"
        f"Location: {SITE}\n"
        "Requires: idna, urllib3\n"
        "Required-by: \n"
    )


def test_show_several_and_required_by() -> None:
    text, _ = format_show(["IDNA", "my_project"], index(REQUESTS, IDNA, EDITABLE), LINUX)
    first, second = text.split("\n---\n")
    assert "Required-by: requests" in first
    assert "Editable project location: /home/me/my-project" in second
    assert second.index("Location:") < second.index("Editable project location:")


def test_check_missing_and_conflicting() -> None:
    problems = check_requirements(index(REQUESTS, URLLIB3), LINUX)
    assert format_check(problems) == (
        "requests 2.31.0 requires idna, which is not installed.\n"
        "requests 2.31.0 has requirement urllib3<3,>=1.21.1, but you have urllib3 1.20.\n"
    )


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (LINUX, "No broken requirements found.\n"),
        (
            {**LINUX, "sys_platform": "win32"},
            "requests 2.31.0 requires win-inet-pton, which is not installed.\n",
        ),
    ],
)
def test_check_evaluates_markers_in_the_environment(
    environment: dict[str, str], expected: str
) -> None:
    ok = index(REQUESTS, IDNA, dist("urllib3", "2.1.0"))
    assert format_check(check_requirements(ok, environment)) == expected


def test_check_accepts_prereleases() -> None:
    installed = index(dist("a", "1.0", "b>=1.0"), dist("b", "2.0rc1"))
    assert check_requirements(installed, LINUX) == []


def test_scan_reads_what_install_wrote(tmp_path: Path, venv: Interpreter) -> None:
    spec = DistSpec(
        "Demo_Pkg",
        "1.2",
        requires_dist=("idna>=3",),
        summary="A demo",
        files={"demo_pkg/__init__.py": ""},
    )
    direct = {"url": "file:///src/demo", "dir_info": {"editable": True}}
    install_wheel(
        build_wheel(spec, tmp_path / "w"),
        venv.scheme,
        interpreter=venv.executable,
        requested=True,
        direct_url=direct,
    )
    install_wheel(
        build_wheel(DistSpec("idna", "3.6"), tmp_path / "w"),
        venv.scheme,
        interpreter=venv.executable,
    )
    found = scan_site_packages(venv.site_packages)
    assert sorted(found) == ["demo-pkg", "idna"]
    demo = found[canonicalize_name("demo-pkg")]
    assert demo.name == "Demo_Pkg" and demo.version == "1.2"
    assert demo.requires == ("idna>=3",)
    assert demo.installer == "torchup" and demo.requested
    assert demo.editable and demo.editable_project_location == "/src/demo"
    assert demo.summary == "A demo"
    assert demo.location == venv.scheme.purelib
    assert not found[canonicalize_name("idna")].requested
    assert check_requirements(found, venv.markers) == []


def test_scan_first_path_wins_and_skips_garbage(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for site, version in ((first, "1.0"), (second, "2.0")):
        info = site / f"pkg-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: pkg\nVersion: {version}\n")
    (second / "broken-1.0.dist-info").mkdir()
    found = scan_site_packages([first, second, tmp_path / "missing"])
    assert {k: v.version for k, v in found.items()} == {"pkg": "1.0"}


def test_scan_lists_a_distribution_whose_metadata_is_not_utf8(tmp_path: Path) -> None:
    """A damaged METADATA (bytes that are not UTF-8) stopped every command that scans the
    environment with an internal error; its name and version are still readable."""
    info = tmp_path / "pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_bytes(b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\nSummary: caf\xe9\n")
    (found,) = scan_site_packages([tmp_path]).values()
    assert (found.name, found.version, found.summary) == ("pkg", "1.0", "caf\ufffd")


def _importlib_view(info: Path) -> dict[str, str | None] | None:
    """What the scan read before it parsed METADATA itself: importlib.metadata's view."""
    from importlib.metadata import PathDistribution

    meta = PathDistribution(info).metadata
    if not meta.get("Name") or not meta.get("Version"):
        return None
    home = meta.get("Home-page") or next(
        (
            url.strip()
            for label, _, url in (u.partition(",") for u in meta.get_all("Project-URL") or [])
            if label.strip().lower() == "homepage"
        ),
        "",
    )
    installer = PathDistribution(info).read_text("INSTALLER")
    return {
        "name": meta.get("Name"),
        "version": meta.get("Version"),
        "requires": "|".join(meta.get_all("Requires-Dist") or []),
        "summary": meta.get("Summary") or "",
        "home_page": home,
        "author": meta.get("Author") or "",
        "author_email": meta.get("Author-email") or "",
        "license": meta.get("License-Expression") or meta.get("License") or "",
        "installer": installer.strip() if installer else None,
    }


@pytest.mark.parametrize(
    ("files"),
    [
        {"METADATA": "Metadata-Version: 2.1\nName: plain\nVersion: 1.0\n"},
        {
            # folded (RFC 822 continuation) values, a body, repeated keys, non-ASCII text
            "METADATA": (
                "Metadata-Version: 2.1\nName: folded\nVersion: 2.0\n"
                "Summary: one line\n        and its continuation\n"
                "License: BSD 3-Clause\n        \n        Copyright (c) Jöns\n"
                "          indented more\n"
                "Author: Ünïcode Person\nAuthor-email: a@b.c\n"
                "Project-URL: Docs, https://docs.example\nProject-URL: Homepage, https://ex.example\n"
                "Requires-Dist: idna>=3\nRequires-Dist: six; extra == 'x'\n"
                "\nThe long description.\n"
            ),
            "INSTALLER": "pip\n",
        },
        {"PKG-INFO": "Metadata-Version: 1.0\nName: legacy\nVersion: 0.1\nHome-page: https://h\n"},
        {"METADATA": "", "PKG-INFO": "Metadata-Version: 1.0\nName: fallback\nVersion: 3\n"},
        {"METADATA": "Metadata-Version: 2.4\nName: lic\nVersion: 1\nLicense-Expression: MIT\n"},
        {"INSTALLER": "uv"},
        {},
    ],
)
def test_scan_reads_metadata_as_importlib_metadata_does(
    tmp_path: Path, files: dict[str, str]
) -> None:
    info = tmp_path / "site" / "pkg-1.0.dist-info"
    info.mkdir(parents=True)
    for name, text in files.items():
        (info / name).write_text(text, encoding="utf-8")
    expected = _importlib_view(info)
    found = scan_site_packages([tmp_path / "site"])
    if expected is None:
        assert found == {}
        return
    (dist,) = found.values()
    assert {key: getattr(dist, key) for key in expected if key != "requires"} == {
        key: value for key, value in expected.items() if key != "requires"
    }
    assert "|".join(dist.requires) == expected["requires"]
