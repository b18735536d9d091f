"""Staging a wheel's files: the RECORD writer, the linking threads and the bulk claims must
leave exactly what installer doing every file leaves (see wheel._StagingDestination)."""

from __future__ import annotations

import base64
import csv
import errno
import hashlib
import io
import os
import threading
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from installer.records import Hash, RecordEntry
from installer.utils import construct_record_file
from tests.support.wheels import DistSpec, build_wheel

from torchup.errors import InvalidWheelError
from torchup.install import wheel as wheel_mod
from torchup.install.interpreters import Interpreter
from torchup.install.wheel import UnpackedFile, install_wheel, uninstall

from .conftest import snapshot

# -- RECORD text --------------------------------------------------------------------------------

# Fields csv.writer quotes (or, for NUL, refuses on some Python versions) and ones it leaves be.
TRICKY = [
    "plain/mod.py",
    "a,b.py",
    'q"uote.py',
    '"',
    ",",
    "new\nline.py",
    "carriage\rreturn.py",
    "crlf\r\n.py",
    " leading.py",
    "trailing.py ",
    " ",
    "tab\there.py",
    "semi;colon.py",
    "#hash.py",
    "'single'.py",
    "ünïcödé/ファイル.py",
    "line\u2028separator.py",
    "next\x85line.py",
    "form\x0cfeed.py",
    "",
]


def _csv_text(rows: list[tuple[str, str, str]]) -> str:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=",", quotechar='"', lineterminator="\n").writerows(rows)
    return out.getvalue()


def _written_or_error(write: Callable[[], str]) -> str:
    try:
        return write()
    except csv.Error as exc:
        return f"csv.Error: {exc}"


@pytest.mark.parametrize("field", TRICKY + ["nul\x00byte.py"], ids=repr)
@pytest.mark.parametrize("position", [0, 1, 2])
def test_record_text_is_what_csv_writer_writes(field: str, position: int) -> None:
    row = ["dir/file.py", "sha256=abc", "12"]
    row[position] = field
    rows = [("b", "b.py", "sha256=x", "1"), ("a", *row), ("c", "c.py", "", "")]
    expected = _written_or_error(lambda: _csv_text([r[1:] for r in sorted(rows)]))  # type: ignore[misc]
    assert _written_or_error(lambda: wheel_mod._record_text(list(rows))) == expected


def test_record_text_of_plain_rows_takes_no_csv_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[tuple[str, str, str, str | int]] = [
        ("pkg/b.py", "pkg/b.py", "sha256=bb", 2),
        ("pkg/a.py", "pkg/a.py", "sha256=aa", "1"),
        ("x-1.0.dist-info/RECORD", "x-1.0.dist-info/RECORD", "", ""),
        ("ünï.py", "ünï.py", "sha256=u", 0),
    ]
    monkeypatch.setattr(csv, "writer", None)  # the fast path must not need it
    assert wheel_mod._record_text(rows) == (
        "pkg/a.py,sha256=aa,1\npkg/b.py,sha256=bb,2\n"
        "x-1.0.dist-info/RECORD,,\nünï.py,sha256=u,0\n"
    )


def test_record_text_sorts_stably_by_the_scheme_relative_path() -> None:
    # Rows of other schemes carry a prefix; they sort by the path below their scheme, and
    # rows with equal keys keep their order, as installer's sorted() leaves them.
    rows: list[tuple[str, str, str, str | int]] = [
        ("z.py", "z.py", "sha256=z", 1),
        ("tool", "../../../bin/tool", "sha256=t", 2),
        ("a.py", "a.py", "sha256=a", 3),
        ("tool", "tool", "sha256=u", 4),
    ]
    assert wheel_mod._record_text(rows) == (
        "a.py,sha256=a,3\n../../../bin/tool,sha256=t,2\ntool,sha256=u,4\nz.py,sha256=z,1\n"
    )


def test_record_text_matches_installers_construct_record_file() -> None:
    paths = [p for p in TRICKY if p] + ["pkg/__init__.py", "pkg/sub/mod.py"]
    records = [
        ("purelib", RecordEntry(p, Hash("sha256", f"h{i}"), i)) for i, p in enumerate(paths)
    ]
    records.append(("scripts", RecordEntry("tool", Hash("sha256", "t"), 7)))
    records.append(("purelib", RecordEntry("x-1.0.dist-info/RECORD", None, None)))

    def prefix(scheme: str) -> str | None:
        return "../../../bin/" if scheme == "scripts" else None

    with construct_record_file(records, prefix) as stream:  # type: ignore[arg-type]
        expected = stream.read().decode("utf-8")
    rows: list[tuple[str, str, str, str | int]] = [
        (r.path, *r.to_row(prefix(s))) for s, r in records
    ]
    assert wheel_mod._record_text(rows) == expected


def _file(path: str, i: int = 0) -> UnpackedFile:
    return UnpackedFile(path, f"sha256=h{i}", i, False)


_SCRIPTS_PREFIX = "../../../bin/"

# (installer's records as (scheme, path, hash, size), the root files staged in bulk):
# _record_text(rows, files) must write what installer's construct_record_file writes for the
# records followed by one per file (its stable sort by path, its csv.writer).
RECORD_MERGES: dict[str, tuple[list[tuple[str, str, str, int | None]], list[UnpackedFile]]] = {
    "files-only": ([], [_file("b.py", 1), _file("a.py", 2)]),
    "interleaved": (
        [
            ("purelib", "pkg-1.0.dist-info/RECORD", "", None),
            ("purelib", "pkg-1.0.dist-info/METADATA", "sha256=m", 9),
            ("purelib", "zz/last.py", "sha256=z", 3),
            ("scripts", "0first", "sha256=f", 4),
        ],
        [_file(f"pkg/m{i % 7}/f{i}.py", i) for i in range(40)] + [_file("aaa.py"), _file("zzz")],
    ),
    # Scripts named like a root file: they keep their place before it, in their order.
    "equal-paths": (
        [("scripts", "tool", "sha256=t", 2), ("scripts", "a", "sha256=u", 5),
         ("scripts", "tool", "sha256=v", 6)],
        [_file("tool", 1), _file("tool.py", 2), _file("a", 3)],
    ),
    "after-every-file": ([("purelib", "zzz", "sha256=z", 1)], [_file("b"), _file("a")]),
    "before-every-file": ([("purelib", "0", "sha256=z", 1)], [_file("b"), _file("a")]),
    "prefix-paths": (
        [("purelib", "a", "sha256=a", 1)],
        [_file("a+b"), _file("a/b"), _file("a-b"), _file("a b"), UnpackedFile("a0", "sha256=x", 0, True)],
    ),
    "needs-quoting": (
        [("purelib", "c,d.py", "sha256=c", 1), ("purelib", "pkg-1.0.dist-info/RECORD", "", None)],
        [_file('q"uote.py'), _file("a,b.py"), _file("new\nline.py"), _file("plain.py")],
    ),
}


@pytest.mark.parametrize("case", RECORD_MERGES)
def test_record_text_of_bulk_files_is_installers(case: str) -> None:
    records, files = RECORD_MERGES[case]
    entries = [
        (scheme, RecordEntry(path, Hash.parse(digest) if digest else None, size))
        for scheme, path, digest, size in records
    ] + [("purelib", RecordEntry(f.path, Hash.parse(f.hash), f.size)) for f in files]

    def prefix(scheme: str) -> str | None:
        return _SCRIPTS_PREFIX if scheme == "scripts" else None

    with construct_record_file(entries, prefix) as stream:  # type: ignore[arg-type]
        expected = stream.read().decode("utf-8")
    rows: list[tuple[str, str, str, str | int]] = [
        (r.path, *r.to_row(prefix(s))) for s, r in entries[: len(records)]
    ]
    assert wheel_mod._record_text(list(rows), files) == expected
    # The same as the files given as plain rows (the one sort of everything).
    as_rows: list[tuple[str, str, str, str | int]] = [
        *rows, *[(f.path, f.path, f.hash, f.size) for f in files]
    ]
    assert wheel_mod._record_text(as_rows) == expected


# -- which files are staged in bulk ---------------------------------------------------------------

ROOT_FILE_PATHS = [
    "pkg/__init__.py",
    "pkg-1.0.dist-info/METADATA",  # installer's
    "pkg-1.0.data/scripts/tool",  # installer's
    "pkg-1.0.dist-info.py",  # not in the .dist-info directory
    "pkg/__pycache__/mod.cpython-311.pyc",  # installer's (it skips these with a warning)
    "__pycache__/top.cpython-311.pyc",  # installer's
    "pkg/deep/__pycache__/x/y.pyc",  # installer's: __pycache__ anywhere above
    "pkg/not__pycache__/x.py",
    "pkg/__pycache__x/y.py",
    "pkg/__pycache__",  # a file of that name
    "pkg/line\n__pycache__/x.py",  # not a path component
    "ünï/__pycache__/ü.pyc",  # installer's
    "top.py",
]


@pytest.mark.parametrize(
    "paths",
    [ROOT_FILE_PATHS, [p for p in ROOT_FILE_PATHS if "__pycache__/" not in p], []],
    ids=["mixed", "no-pycache", "empty"],
)
def test_root_files_are_those_outside_dist_info_data_and_pycache(paths: list[str]) -> None:
    files = tuple(UnpackedFile(p, "sha256=x", i, False) for i, p in enumerate(paths))
    unpacked = wheel_mod.UnpackedWheel(Path("/t"), "pkg", "1.0", "pkg-1.0.dist-info", files)
    for_installer = [
        f.path.startswith(("pkg-1.0.dist-info/", "pkg-1.0.data/"))
        or "/__pycache__/" in "/" + f.path
        for f in files
    ]
    bulk, rest = wheel_mod._root_files(unpacked)
    assert bulk == [f for f, theirs in zip(files, for_installer, strict=True) if not theirs]
    assert rest == [f for f, theirs in zip(files, for_installer, strict=True) if theirs]


# -- whole installs -------------------------------------------------------------------------------


def _b64_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel_with_names(dest: Path, names: list[str]) -> Path:
    """A wheel whose RECORD is written by csv (names that need quoting stay readable)."""
    dist_info = "oddnames-1.0.dist-info"
    files = [(n, f"# {n!r}\n".encode()) for n in names] + [
        (f"{dist_info}/METADATA", b"Metadata-Version: 2.1\nName: oddnames\nVersion: 1.0\n"),
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
    ]
    rows = [(n, _b64_hash(d), str(len(d))) for n, d in files] + [(f"{dist_info}/RECORD", "", "")]
    files.append((f"{dist_info}/RECORD", _csv_text(rows).encode()))
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "oddnames-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    return path


def _install_and_look(
    wheel: Path, venv: Interpreter, cache: Path, link_mode: wheel_mod.LinkMode = "hardlink"
) -> tuple[dict[str, str], bytes, int, int]:
    """Install, take the tree (with modes), RECORD and link counts, uninstall."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # __pycache__ members
        result = install_wheel(
            wheel, venv.scheme, interpreter=venv.executable, unpacked_cache=cache,
            link_mode=link_mode,
        )
    record = (result.dist_info / "RECORD").read_bytes()
    tree = snapshot(venv.sys_prefix)
    modes = {
        f"mode:{rel}": oct(os.lstat(venv.sys_prefix / rel).st_mode)
        for rel, kind in tree.items()
        if kind != "dir"
    }
    uninstall(result.name, venv.scheme)
    return {**tree, **modes}, record, result.linked, result.copied


@pytest.mark.parametrize(
    "names",
    [
        ["odd/plain.py", "odd/sub/deeper/x.py"],
        ["odd/a,b.py", 'odd/q"uote.py', "odd/ sp ace .py", "odd/ünï.py", "odd/sub/x.py"],
    ],
    ids=["plain", "needs-quoting"],
)
def test_bulk_record_is_installers_byte_for_byte_with_odd_names(
    tmp_path: Path,
    venv: Interpreter,
    unpacked_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    names: list[str],
) -> None:
    wheel = _wheel_with_names(tmp_path / "w", names)
    monkeypatch.setattr(wheel_mod, "_LINK_ROOT_FILES_IN_BULK", True)
    bulk = _install_and_look(wheel, venv, unpacked_cache)
    monkeypatch.setattr(wheel_mod, "_LINK_ROOT_FILES_IN_BULK", False)
    plain = _install_and_look(wheel, venv, unpacked_cache)
    assert bulk == plain
    rows = list(csv.reader(io.StringIO(bulk[1].decode("utf-8"))))
    assert {row[0] for row in rows} >= set(names)


# Many files in nested directories (one big), a .data file, a script and a __pycache__ member:
# 72 root files, the .data one and 3 .dist-info files are linked.
MANY_LINKED = 76
MANY = DistSpec(
    "manyfiles",
    "1.0",
    files={
        **{f"many/big/m{i}.py": f"X = {i}\n" for i in range(40)},
        **{f"many/d{i % 5}/e{i % 3}/f{i}.py": f"Y = {i}\n" for i in range(30)},
        "many/__init__.py": "def main():\n    print('hi')\n",
        "top.py": "Z = 1\n",
        "many/__pycache__/stale.cpython-311.pyc": b"junk",
        "manyfiles-1.0.data/purelib/many_extra/x.py": "E = 1\n",
        "manyfiles-1.0.data/scripts/runme": "#!python\nprint('ran')\n",
    },
    entry_points={"console_scripts": {"many-hello": "many:main"}},
)


@pytest.mark.parametrize("link_mode", ["hardlink", "symlink"])
def test_staging_in_threads_matches_staging_inline(
    tmp_path: Path,
    venv: Interpreter,
    unpacked_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    link_mode: wheel_mod.LinkMode,
) -> None:
    """Link threads make their own directories (runs share some): the result is the same."""
    wheel = build_wheel(MANY, tmp_path / "w")
    monkeypatch.setattr(wheel_mod, "_LINK_THREADS", 1)
    inline = _install_and_look(wheel, venv, unpacked_cache, link_mode=link_mode)

    threads: set[str] = set()
    real = os.symlink if link_mode == "symlink" else os.link

    def spy(src: str, dst: str) -> None:
        threads.add(threading.current_thread().name)
        real(src, dst)

    monkeypatch.setattr(os, "symlink" if link_mode == "symlink" else "link", spy)
    monkeypatch.setattr(wheel_mod, "_LINK_THREADS", 3)
    monkeypatch.setattr(wheel_mod, "_LINKS_PER_THREAD", 1)
    threaded = _install_and_look(wheel, venv, unpacked_cache, link_mode=link_mode)
    assert threaded == inline
    assert threads and all(t.startswith("torchup-link") for t in threads)
    assert threaded[2] == inline[2] == MANY_LINKED


@pytest.mark.parametrize("threads", [1, 3])
def test_staging_falls_back_to_copies_in_every_thread(
    tmp_path: Path,
    venv: Interpreter,
    unpacked_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    threads: int,
) -> None:
    wheel = build_wheel(MANY, tmp_path / "w")
    monkeypatch.setattr(wheel_mod, "_LINKS_PER_THREAD", 1)
    monkeypatch.setattr(wheel_mod, "_LINK_THREADS", threads)
    linked_tree, _, _, _ = _install_and_look(wheel, venv, unpacked_cache)
    calls: list[str] = []

    def no_links(src: str, dst: str) -> None:
        calls.append(dst)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    tree, _, linked, copied = _install_and_look(wheel, venv, unpacked_cache)
    assert tree == linked_tree
    assert linked == 0 and copied >= MANY_LINKED
    assert 1 <= len(calls) <= threads  # each thread tries at most once, then copies


def test_too_many_links_copies_only_that_file(
    tmp_path: Path, venv: Interpreter, unpacked_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = build_wheel(MANY, tmp_path / "w")
    monkeypatch.setattr(wheel_mod, "_LINKS_PER_THREAD", 1)
    monkeypatch.setattr(wheel_mod, "_LINK_THREADS", 2)
    real = os.link

    def full(src: str, dst: str) -> None:
        if dst.endswith(("/big/m7.py", "/e1/f4.py")):
            raise OSError(errno.EMLINK, "Too many links")
        real(src, dst)

    monkeypatch.setattr(os, "link", full)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = install_wheel(
            wheel, venv.scheme, interpreter=venv.executable, unpacked_cache=unpacked_cache
        )
    assert result.linked == MANY_LINKED - 2
    site = venv.scheme.purelib / "many"
    assert (site / "big" / "m7.py").stat().st_nlink == 1
    assert (site / "big" / "m7.py").read_text() == "X = 7\n"
    assert (site / "big" / "m8.py").stat().st_nlink == 2


# -- claims ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "installer"])
def test_a_root_file_written_again_from_data_is_refused(
    tmp_path: Path,
    venv: Interpreter,
    unpacked_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    bulk: bool,
) -> None:
    spec = DistSpec(
        "twice",
        "1.0",
        files={"twice/x.py": "A = 1\n", "twice-1.0.data/purelib/twice/x.py": "B = 2\n"},
    )
    wheel = build_wheel(spec, tmp_path / "w")
    monkeypatch.setattr(wheel_mod, "_LINK_ROOT_FILES_IN_BULK", bulk)
    before = snapshot(venv.sys_prefix)
    with pytest.raises(InvalidWheelError, match="purelib/twice/x.py is written twice"):
        install_wheel(wheel, venv.scheme, interpreter=venv.executable, unpacked_cache=unpacked_cache)
    assert snapshot(venv.sys_prefix) == before


def test_add_root_files_refuses_a_path_twice(tmp_path: Path) -> None:
    destination = wheel_mod._StagingDestination(
        scheme_dict={"purelib": str(tmp_path / "site")},
        stage=tmp_path,
        interpreter="python",
        script_kind="posix",
        link_mode="hardlink",
        filename="x-1.0-py3-none-any.whl",
    )
    files = [
        UnpackedFile("x/a.py", "sha256=a", 1, False),
        UnpackedFile("x/b.py", "sha256=b", 1, False),
        UnpackedFile("x/a.py", "sha256=a", 1, False),
    ]
    with pytest.raises(InvalidWheelError, match="purelib/x/a.py is written twice"):
        destination.add_root_files("purelib", str(tmp_path / "tree") + "/", files)
