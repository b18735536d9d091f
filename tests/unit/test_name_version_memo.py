"""index/simple.py ``_name_version_of``: the memoised fast path gives what packaging's filename
parsers give (sdists: ``parse_sdist_filename``; wheels: name and version of
``parse_wheel_filename`` for every filename whose shape it accepts), first call and memoised."""

from __future__ import annotations

import itertools

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from torchup.index import simple

NAMES = ["foo", "Foo_Bar", "foo.bar", "python-dateutil", "a", "", "x-", "-x", "ünï"]
VERSIONS = ["1.0", "1.0.post1", "2!1.0", "1.0rc1", "1.0+cpu", "1.0.dev3", "abc", "", "1..0", "v1"]
WHEEL_TAILS = ["py3-none-any", "1-py3-none-any", "cp311-cp311-manylinux_2_28_x86_64", "py3--any", "none-any"]


def _sdist_reference(filename: str) -> tuple[str, object] | None:
    try:
        name, version = parse_sdist_filename(filename)
    except InvalidSdistFilename:
        return None
    return name, version


def _wheel_shape_ok(filename: str) -> bool:
    parts = filename[:-4].split("-")
    return len(parts) in (5, 6) and all(parts)


def _wheel_reference(filename: str) -> tuple[str, object] | None:
    if not _wheel_shape_ok(filename):
        return None
    try:
        name, version, _build, _tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    return name, version


def test_sdists_match_packaging() -> None:
    simple._NAME_VERSION_MEMO.clear()
    checked = 0
    for name, version, ext in itertools.product(NAMES, VERSIONS, [".tar.gz", ".zip", ".tar.bz2", ".whl.zip"]):
        filename = f"{name}-{version}{ext}"
        expected = _sdist_reference(filename) if ext in (".tar.gz", ".zip", ".whl.zip") else None
        for _ in range(2):  # computed, then memoised
            assert simple._name_version_of(filename) == expected, filename
        checked += 1
    assert checked == len(NAMES) * len(VERSIONS) * 4


def test_wheels_match_packaging_where_the_shape_is_valid() -> None:
    simple._NAME_VERSION_MEMO.clear()
    agreed = 0
    for name, version, tail in itertools.product(NAMES, VERSIONS, WHEEL_TAILS):
        filename = f"{name}-{version}-{tail}.whl"
        got = [simple._name_version_of(filename) for _ in range(2)]
        assert got[0] == got[1], filename
        expected = _wheel_reference(filename)
        if expected is not None:
            # packaging is stricter about names and build tags; where it accepts, we agree.
            assert got[0] == expected, filename
            agreed += 1
        if not _wheel_shape_ok(filename):
            assert got[0] is None, filename
    assert agreed > 50


def test_memo_is_bounded() -> None:
    simple._NAME_VERSION_MEMO.clear()
    for i in range(simple._MEMO_LIMIT + 10):
        simple._name_version_of(f"p-{i}.0.tar.gz")
    assert len(simple._NAME_VERSION_MEMO) <= simple._MEMO_LIMIT
    assert simple._name_version_of("p-3.0.tar.gz") == _sdist_reference("p-3.0.tar.gz")

