"""Installing and uninstalling wheels: scripts, links, atomicity and hostile archives."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import re
import stat
import subprocess
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from tests.support.wheels import DistSpec, build_wheel

from torchup.errors import InstallError, InvalidWheelError
from torchup.install import wheel as wheel_mod
from torchup.install.interpreters import Interpreter
from torchup.install.wheel import (
    UnpackedFile,
    UnpackedWheel,
    WheelLimits,
    _member_problem,
    commit_wheels,
    find_dist_info,
    install_wheel,
    prepare_wheel,
    uninstall,
    unpack_wheel,
    unpack_wheel_cached,
)

from .conftest import snapshot

HELLO = DistSpec(
    "Hello-World",
    "1.0",
    files={
        "hello/__init__.py": 'def main():\n    print("hello from hello")\n',
        "hello/sub/mod.py": "X = 1\n",
    },
    entry_points={"console_scripts": {"hello": "hello:main"}},
)


def _record_hash(data: bytes, algo: str = "sha256") -> str:
    digest = hashlib.new(algo, data).digest()
    return f"{algo}=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hostile_wheel(
    dest: Path,
    members: Sequence[tuple[str, bytes]],
    *,
    name: str = "evil",
    record: str | None = None,
    record_overrides: dict[str, str] | None = None,
    modes: dict[str, int] | None = None,
    dist_info: str | None = None,
    extra_dist_info: dict[str, bytes] | None = None,
) -> Path:
    """A wheel written by hand, so that it can be as wrong as a test needs."""
    dist_info = dist_info or f"{name}-1.0.dist-info"
    files = list(members) + [
        (f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()),
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
    ]
    files += [(f"{dist_info}/{k}", v) for k, v in (extra_dist_info or {}).items()]
    if record is None:
        rows = []
        for member, data in files:
            row = (record_overrides or {}).get(member)
            rows.append(row if row is not None else f"{member},{_record_hash(data)},{len(data)}")
        rows.append(f"{dist_info}/RECORD,,")
        record = "\n".join(rows) + "\n"
    files.append((f"{dist_info}/RECORD", record.encode()))
    path = dest / f"{name}-1.0-py3-none-any.whl"
    dest.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate-name case
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for member, data in files:
                info = zipfile.ZipInfo(member, (2024, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (modes or {}).get(member, 0o100644) << 16
                zf.writestr(info, data)
    return path


def run(exe: Path, *args: str) -> str:
    return subprocess.run([str(exe), *args], capture_output=True, text=True, check=True).stdout


# -- happy paths ----------------------------------------------------------------------------------


def test_console_script_runs_and_uninstall_leaves_nothing(
    tmp_path: Path, venv: Interpreter, unpacked_cache: Path
) -> None:
    before = snapshot(venv.sys_prefix)
    wheel = build_wheel(HELLO, tmp_path / "wheels")
    result = install_wheel(
        wheel, venv.scheme, interpreter=venv.executable, unpacked_cache=unpacked_cache
    )
    script = venv.scheme.scripts / "hello"
    assert run(script) == "hello from hello\n"
    assert result.dist_info == venv.scheme.purelib / "hello_world-1.0.dist-info"
    assert (result.dist_info / "INSTALLER").read_text() == "torchup\n"
    assert not (result.dist_info / "REQUESTED").exists()
    assert not any(p.name.startswith(".torchup-") for p in venv.scheme.purelib.iterdir())

    removed = uninstall("hello_world", venv.scheme)
    assert script in removed
    assert snapshot(venv.sys_prefix) == before


def test_hardlinks_from_the_unpacked_cache(
    tmp_path: Path, venv: Interpreter, unpacked_cache: Path
) -> None:
    wheel = build_wheel(HELLO, tmp_path / "wheels")
    result = install_wheel(
        wheel, venv.scheme, interpreter=venv.executable, unpacked_cache=unpacked_cache
    )
    installed = venv.scheme.purelib / "hello" / "__init__.py"
    assert installed.stat().st_nlink > 1
    assert result.linked >= 2
    # The cache holds one unpacked tree, keyed by the wheel's sha256.
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    cached = unpacked_cache / digest / "tree" / "hello" / "__init__.py"
    assert os.path.samefile(cached, installed)


@pytest.mark.parametrize(
    ("link_mode", "check"),
    [
        ("copy", lambda p: p.stat().st_nlink == 1 and not p.is_symlink()),
        ("symlink", lambda p: p.is_symlink()),
        ("hardlink", lambda p: p.stat().st_nlink == 2),
    ],
)
def test_link_modes(
    tmp_path: Path,
    venv: Interpreter,
    unpacked_cache: Path,
    link_mode: wheel_mod.LinkMode,
    check: Callable[[Path], bool],
) -> None:
    wheel = build_wheel(HELLO, tmp_path / "wheels")
    install_wheel(
        wheel,
        venv.scheme,
        interpreter=venv.executable,
        unpacked_cache=unpacked_cache,
        link_mode=link_mode,
    )
    assert check(venv.scheme.purelib / "hello" / "sub" / "mod.py")
    assert run(venv.executable, "-c", "import hello.sub.mod as m; print(m.X)") == "1\n"


def test_falls_back_to_copies_across_filesystems(
    tmp_path: Path, venv: Interpreter, unpacked_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def no_links(src: str, dst: str) -> None:
        calls.append(dst)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    wheel = build_wheel(HELLO, tmp_path / "wheels")
    result = install_wheel(
        wheel, venv.scheme, interpreter=venv.executable, unpacked_cache=unpacked_cache
    )
    assert result.linked == 0 and len(calls) == 1  # tried once, then copied the rest
    assert (venv.scheme.purelib / "hello" / "sub" / "mod.py").read_text() == "X = 1\n"


def test_install_without_cache_leaves_no_temporaries(tmp_path: Path, venv: Interpreter) -> None:
    wheel = build_wheel(HELLO, tmp_path / "wheels")
    install_wheel(wheel, venv.scheme, interpreter=venv.executable)
    names = sorted(p.name for p in venv.scheme.purelib.iterdir())
    assert names == ["hello", "hello_world-1.0.dist-info"]
    assert (venv.scheme.purelib / "hello" / "__init__.py").stat().st_nlink == 1


def test_metadata_files_record_and_bytecode(
    tmp_path: Path, venv: Interpreter, unpacked_cache: Path
) -> None:
    wheel = build_wheel(HELLO, tmp_path / "wheels")
    direct = {"url": "file:///somewhere/hello.whl", "archive_info": {}}
    result = install_wheel(
        wheel,
        venv.scheme,
        interpreter=venv.executable,
        unpacked_cache=unpacked_cache,
        requested=True,
        direct_url=direct,
        installer_name="torchup-test",
        compile_bytecode=True,
    )
    info = result.dist_info
    assert (info / "REQUESTED").read_bytes() == b""
    assert (info / "INSTALLER").read_text() == "torchup-test\n"
    assert json.loads((info / "direct_url.json").read_text()) == direct
    rows = [line.split(",") for line in (info / "RECORD").read_text().splitlines()]
    paths = {row[0] for row in rows}
    tag = f"cpython-{venv.version.major}{venv.version.minor}"
    assert f"hello/__pycache__/__init__.{tag}.pyc" in paths
    assert "../../../bin/hello" in paths
    # Every recorded file exists and matches its hash.
    for path, digest, size in rows:
        if not digest:
            continue
        data = (venv.scheme.purelib / path).resolve().read_bytes()
        assert _record_hash(data) == digest and len(data) == int(size), path
    uninstall("hello-world", venv.scheme)
    assert not (venv.scheme.purelib / "hello").exists()


def test_data_scripts_and_headers_go_to_their_schemes(tmp_path: Path, venv: Interpreter) -> None:
    spec = DistSpec(
        "datapkg",
        "2.0",
        files={
            "datapkg/__init__.py": "",
            "datapkg-2.0.data/scripts/runme": "#!python\nprint('ran')\n",
            "datapkg-2.0.data/data/share/datapkg/notes.txt": "notes\n",
            "datapkg-2.0.data/headers/datapkg.h": "#define X 1\n",
        },
    )
    wheel = build_wheel(spec, tmp_path / "wheels")
    install_wheel(wheel, venv.scheme, interpreter=venv.executable)
    runme = venv.scheme.scripts / "runme"
    assert runme.read_text().startswith(f"#!{venv.executable}\n")
    assert (venv.sys_prefix / "share" / "datapkg" / "notes.txt").read_text() == "notes\n"
    assert (venv.scheme.headers / "datapkg" / "datapkg.h").is_file()
    before_uninstall = set(snapshot(venv.sys_prefix))
    uninstall("datapkg", venv.scheme)
    after = set(snapshot(venv.sys_prefix))
    assert not (venv.sys_prefix / "share").exists()
    assert not runme.exists()
    assert before_uninstall - after >= {"share", "bin/runme"}


def test_reinstall_replaces_old_files(tmp_path: Path, venv: Interpreter) -> None:
    old = DistSpec("pkg", "1.0", files={"pkg/__init__.py": "V = 1\n", "pkg/old.py": ""})
    new = DistSpec("pkg", "2.0", files={"pkg/__init__.py": "V = 2\n", "pkg/new.py": ""})
    install_wheel(build_wheel(old, tmp_path / "w"), venv.scheme, interpreter=venv.executable)
    result = install_wheel(
        build_wheel(new, tmp_path / "w"), venv.scheme, interpreter=venv.executable
    )
    site = venv.scheme.purelib
    assert result.replaced == (site / "pkg-1.0.dist-info",)
    assert sorted(p.name for p in (site / "pkg").iterdir()) == ["__init__.py", "new.py"]
    assert find_dist_info([site], "PKG") == [site / "pkg-2.0.dist-info"]


def test_failed_install_leaves_previous_version(
    tmp_path: Path, venv: Interpreter, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = DistSpec("pkg", "1.0", files={"pkg/__init__.py": "V = 1\n", "pkg/a/b.py": ""})
    new = DistSpec("pkg", "2.0", files={"pkg/__init__.py": "V = 2\n", "pkg/c.py": ""})
    install_wheel(build_wheel(old, tmp_path / "w"), venv.scheme, interpreter=venv.executable)
    before = snapshot(venv.sys_prefix)

    real_place = wheel_mod._Transaction.place
    calls = {"n": 0}

    def flaky_place(self: wheel_mod._Transaction, src: Path, dst: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # fail after the old version was parked and one file placed
            raise OSError(28, "No space left on device")
        real_place(self, src, dst)

    monkeypatch.setattr(wheel_mod._Transaction, "place", flaky_place)
    with pytest.raises(InstallError, match="No space left"):
        install_wheel(build_wheel(new, tmp_path / "w"), venv.scheme, interpreter=venv.executable)
    assert snapshot(venv.sys_prefix) == before


def test_overwrites_a_file_owned_by_another_distribution(tmp_path: Path, venv: Interpreter) -> None:
    a = DistSpec("a", "1.0", files={"shared/__init__.py": "OWNER = 'a'\n"})
    b = DistSpec("b", "1.0", files={"shared/__init__.py": "OWNER = 'b'\n"})
    install_wheel(build_wheel(a, tmp_path / "w"), venv.scheme, interpreter=venv.executable)
    install_wheel(build_wheel(b, tmp_path / "w"), venv.scheme, interpreter=venv.executable)
    assert "'b'" in (venv.scheme.purelib / "shared" / "__init__.py").read_text()


def test_unpacked_cache_is_reused(tmp_path: Path, unpacked_cache: Path) -> None:
    wheel = build_wheel(HELLO, tmp_path / "wheels")
    first = unpack_wheel_cached(wheel, unpacked_cache)
    marker = first.root / "hello" / "__init__.py"
    mtime = marker.stat().st_mtime_ns
    second = unpack_wheel_cached(wheel, unpacked_cache)
    assert second == first
    assert marker.stat().st_mtime_ns == mtime
    assert [p.name for p in unpacked_cache.iterdir()] == [first.root.parent.name]


def test_prepare_changes_nothing_visible_and_discard_removes_it(
    tmp_path: Path, venv: Interpreter, unpacked_cache: Path
) -> None:
    before = snapshot(venv.sys_prefix)
    prepared = prepare_wheel(
        build_wheel(HELLO, tmp_path / "w"), venv.scheme, interpreter=venv.executable,
        unpacked_cache=unpacked_cache,
    )
    assert prepared.work.parent == venv.scheme.purelib
    assert prepared.work.name.startswith(".torchup-stage-")
    # Only the hidden work directory is new; nothing importable, no dist-info, no script.
    new = set(snapshot(venv.sys_prefix)) - set(before)
    prefix = str(prepared.work.relative_to(venv.sys_prefix))
    assert new and all(path.startswith(prefix) for path in new)
    assert prepared.metadata_path.read_bytes().startswith(b"Metadata-Version")
    prepared.discard()
    assert snapshot(venv.sys_prefix) == before


def test_prepare_from_an_already_unpacked_tree(
    tmp_path: Path, venv: Interpreter, unpacked_cache: Path
) -> None:
    wheel = build_wheel(HELLO, tmp_path / "w")
    tree = unpack_wheel_cached(wheel, unpacked_cache)
    prepared = prepare_wheel(wheel, venv.scheme, interpreter=venv.executable, unpacked=tree)
    (result,) = commit_wheels([prepared])
    assert result.linked >= 2
    assert run(venv.scheme.scripts / "hello") == "hello from hello\n"
    assert not any(p.name.startswith(".torchup-") for p in venv.scheme.purelib.iterdir())


def test_commit_of_several_wheels_is_one_transaction(
    tmp_path: Path, venv: Interpreter, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_a = DistSpec("aaa", "1.0", files={"aaa/__init__.py": "V = 1\n"})
    old_b = DistSpec("bbb", "1.0", files={"bbb/__init__.py": "V = 1\n"})
    for spec in (old_a, old_b):
        install_wheel(build_wheel(spec, tmp_path / "w"), venv.scheme, interpreter=venv.executable)
    before = snapshot(venv.sys_prefix)
    new = [
        DistSpec("aaa", "2.0", files={"aaa/__init__.py": "V = 2\n", "aaa/more.py": ""}),
        DistSpec("bbb", "2.0", files={"bbb/__init__.py": "V = 2\n"}),
    ]
    prepared = [
        prepare_wheel(build_wheel(s, tmp_path / "w2"), venv.scheme, interpreter=venv.executable)
        for s in new
    ]
    real_place = wheel_mod._Transaction.place
    placed: list[Path] = []

    def flaky_place(self: wheel_mod._Transaction, src: Path, dst: Path) -> None:
        if dst.name.startswith("bbb-2.0"):  # aaa 2.0 is completely in place by now
            raise OSError(28, "No space left on device")
        placed.append(dst)
        real_place(self, src, dst)

    monkeypatch.setattr(wheel_mod._Transaction, "place", flaky_place)
    with pytest.raises(InstallError, match="bbb-2.0.*No space left"):
        commit_wheels(prepared)
    assert any(p.name == "aaa-2.0.dist-info" for p in placed)
    assert snapshot(venv.sys_prefix) == before  # aaa 2.0 was taken back out too
    assert not any(p.name.startswith(".torchup-") for p in venv.scheme.purelib.iterdir())

    monkeypatch.setattr(wheel_mod._Transaction, "place", real_place)
    prepared = [
        prepare_wheel(build_wheel(s, tmp_path / "w3"), venv.scheme, interpreter=venv.executable)
        for s in new
    ]
    results = commit_wheels(prepared)
    assert [r.replaced for r in results] == [
        (venv.scheme.purelib / "aaa-1.0.dist-info",), (venv.scheme.purelib / "bbb-1.0.dist-info",)
    ]
    assert find_dist_info([venv.scheme.purelib], "aaa") == [venv.scheme.purelib / "aaa-2.0.dist-info"]
    assert (venv.scheme.purelib / "aaa" / "more.py").exists()
    assert not any(p.name.startswith(".torchup-") for p in venv.scheme.purelib.iterdir())


def test_unpacked_files_keep_their_modes(tmp_path: Path) -> None:
    wheel = hostile_wheel(
        tmp_path / "w",
        [("evil/run.sh", b"#!/bin/sh\n"), ("evil/data.txt", b"x" * 3_000_000)],
        modes={"evil/run.sh": 0o100755},
    )
    tree = unpack_wheel(wheel, tmp_path / "tree")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE((tree.root / "evil" / "run.sh").stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((tree.root / "evil" / "data.txt").stat().st_mode) == 0o666 & ~mask
    assert (tree.root / "evil" / "data.txt").read_bytes() == b"x" * 3_000_000  # chunked


def test_the_cache_manifest_round_trips_and_refuses_other_shapes(tmp_path: Path) -> None:
    unpacked = unpack_wheel(build_wheel(HELLO, tmp_path / "w"), tmp_path / "tree")
    data = json.loads(json.dumps(unpacked.to_dict()))
    assert data["files"][0] == list(unpacked.files[0])  # [path, hash, size, executable]
    again = UnpackedWheel.from_dict(unpacked.root, data)
    assert again == unpacked
    assert all(type(f) is UnpackedFile for f in again.files)
    first = again.files[0]
    assert (first.path, first.hash, first.size, first.executable) == tuple(data["files"][0])
    # What unpack_wheel_cached takes for "not cached" (ValueError, KeyError, TypeError).
    with pytest.raises(ValueError):
        UnpackedWheel.from_dict(unpacked.root, {**data, "version": 0})
    with pytest.raises(TypeError):
        UnpackedWheel.from_dict(unpacked.root, {**data, "files": [r[:3] for r in data["files"]]})
    with pytest.raises(KeyError):
        UnpackedWheel.from_dict(unpacked.root, {k: v for k, v in data.items() if k != "files"})


def test_a_big_wheel_is_unpacked_by_several_threads_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"pkg/d{i % 7}/m{i}.py": f"X = {i}\n" * (i % 50 + 1) for i in range(60)}
    wheel = build_wheel(DistSpec("many", "1.0", files=files), tmp_path / "w")
    serial = unpack_wheel(wheel, tmp_path / "serial")
    threads: list[int] = []
    real = wheel_mod._extract_in_threads

    def spy(*args: object) -> object:
        threads.append(args[-1])  # type: ignore[arg-type]
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(wheel_mod, "_extract_in_threads", spy)
    monkeypatch.setattr(wheel_mod, "_UNPACK_THREADS", 3)
    monkeypatch.setattr(wheel_mod, "_UNPACK_MEMBERS_PER_THREAD", 1)
    parallel = unpack_wheel(wheel, tmp_path / "parallel")
    assert threads == [3]
    assert parallel.files == serial.files  # same manifest, in archive order
    for f in parallel.files:
        assert (parallel.root / f.path).read_bytes() == (serial.root / f.path).read_bytes()

    # A bad member in one thread's share fails the whole unpack, with that member named.
    members = [(f"evil/m{i}.py", f"X = {i}\n".encode()) for i in range(40)]
    bad = hostile_wheel(
        tmp_path / "bad", members, record_overrides={"evil/m33.py": f"evil/m33.py,{_record_hash(b'other')},8"}
    )
    with pytest.raises(InvalidWheelError, match="evil/m33.py does not match its RECORD hash"):
        unpack_wheel(bad, tmp_path / "bad-tree")


def test_uninstall_never_touches_paths_outside_the_environment(
    tmp_path: Path, venv: Interpreter
) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    install_wheel(build_wheel(HELLO, tmp_path / "w"), venv.scheme, interpreter=venv.executable)
    record = venv.scheme.purelib / "hello_world-1.0.dist-info" / "RECORD"
    rel = os.path.relpath(outside, venv.scheme.purelib)
    record.write_text(record.read_text() + f"{rel},,\n/{outside.relative_to('/')},,\n")
    uninstall("hello-world", venv.scheme)
    assert outside.read_text() == "keep me"
    assert not (venv.scheme.purelib / "hello").exists()


def test_uninstall_of_missing_distribution_is_empty(venv: Interpreter) -> None:
    assert uninstall("not-installed", venv.scheme) == []


def test_refuses_to_write_through_a_symlink_leading_outside(
    tmp_path: Path, venv: Interpreter
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (venv.scheme.purelib / "hello").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InstallError, match="outside the environment"):
        install_wheel(build_wheel(HELLO, tmp_path / "w"), venv.scheme, interpreter=venv.executable)
    assert list(outside.iterdir()) == []
    assert not list(venv.scheme.purelib.glob("*.dist-info"))


# -- hostile wheels -------------------------------------------------------------------------------

_OK = ("evil/__init__.py", b"")


def _bomb(dest: Path) -> Path:
    return hostile_wheel(dest, [_OK, ("evil/zeros.bin", bytes(2 << 20))])


# case -> (builder, what the error says)
HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "parent-dir": (
        lambda d: hostile_wheel(d, [_OK, ("../../../evil.py", b"pwned")]),
        "escapes the wheel",
    ),
    "absolute": (
        lambda d: hostile_wheel(d, [_OK, ("/tmp/torchup-evil-abs.py", b"pwned")]),
        "absolute path",
    ),
    "backslash": (
        lambda d: hostile_wheel(d, [_OK, ("..\\..\\evil.py", b"pwned")]),
        "backslash",
    ),
    "record-mismatch": (
        lambda d: hostile_wheel(
            d,
            [_OK, ("evil/mod.py", b"print('tampered')\n")],
            record_overrides={"evil/mod.py": f"evil/mod.py,{_record_hash(b'original')},8"},
        ),
        "does not match its RECORD hash",
    ),
    "not-in-record": (
        lambda d: hostile_wheel(
            d, [_OK, ("evil/mod.py", b"")], record_overrides={"evil/mod.py": ""}
        ),
        "no hash in RECORD",
    ),
    "weak-hash": (
        lambda d: hostile_wheel(
            d,
            [_OK, ("evil/mod.py", b"x")],
            record_overrides={"evil/mod.py": f"evil/mod.py,{_record_hash(b'x', 'md5')},1"},
        ),
        "weak or unknown hash 'md5'",
    ),
    "duplicate": (
        lambda d: hostile_wheel(d, [_OK, ("evil/m.py", b"1"), ("evil/m.py", b"2")]),
        "appears twice",
    ),
    "symlink": (
        lambda d: hostile_wheel(
            d,
            [_OK, ("evil/link", b"/etc/passwd")],
            modes={"evil/link": stat.S_IFLNK | 0o777},
        ),
        "symbolic link",
    ),
    "fifo": (
        lambda d: hostile_wheel(
            d, [_OK, ("evil/fifo", b"")], modes={"evil/fifo": stat.S_IFIFO | 0o644}
        ),
        "not a regular file",
    ),
    "two-dist-infos": (
        lambda d: hostile_wheel(d, [_OK, ("other-1.0.dist-info/METADATA", b"Name: other\n")]),
        "exactly one .dist-info",
    ),
    "dist-info-mismatch": (
        lambda d: hostile_wheel(d, [_OK], dist_info="other-1.0.dist-info"),
        "does not match the file name",
    ),
    "entry-point-escape": (
        lambda d: hostile_wheel(
            d,
            [_OK],
            extra_dist_info={"entry_points.txt": b"[console_scripts]\n../../evil = evil:main\n"},
        ),
        "not a file name",
    ),
    "bad-data-scheme": (
        lambda d: hostile_wheel(d, [_OK, ("evil-1.0.data/bogus/x", b"")]),
        "not in a known .data scheme",
    ),
    "zip-bomb": (_bomb, "zip bomb"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("cached", [True, False], ids=["cache", "no-cache"])
def test_hostile_wheels_are_refused_and_nothing_is_written(
    tmp_path: Path, venv: Interpreter, case: str, cached: bool
) -> None:
    build, message = HOSTILE[case]
    wheel = build(tmp_path / "wheels")
    watched = tmp_path
    before = snapshot(watched)
    cache = tmp_path / "cache" if cached else None
    limits = WheelLimits(member_floor=1 << 20, total_floor=1 << 20, max_ratio=50)
    with pytest.raises(InvalidWheelError, match=re.escape(message)) as info:
        install_wheel(
            wheel, venv.scheme, interpreter=venv.executable, unpacked_cache=cache, limits=limits
        )
    assert info.value.filename == wheel.name
    after = snapshot(watched)
    # Nothing changes outside the cache; there, only archive-valid wheels may stay unpacked
    # (an entry point name is checked when installing, not when unpacking).
    assert {k: v for k, v in after.items() if not k.startswith("cache")} == before
    if case != "entry-point-escape":
        assert not [k for k in after if k.startswith("cache/")]
    assert not Path("/tmp/torchup-evil-abs.py").exists()


def test_permission_only_modes_are_regular_files(tmp_path: Path, venv: Interpreter) -> None:
    # zipfile.writestr(ZipInfo(...)) records 0o600 with no file-type bits; that is a plain file.
    wheel = hostile_wheel(tmp_path / "w", [_OK, ("evil/x.py", b"")], modes={"evil/x.py": 0o600})
    install_wheel(wheel, venv.scheme, interpreter=venv.executable)
    assert (venv.scheme.purelib / "evil" / "x.py").is_file()


def test_default_limits_accept_a_big_stored_payload(tmp_path: Path, venv: Interpreter) -> None:
    # A 64 MiB STORED member (ratio 1:1) is not a bomb, however big.
    spec = DistSpec("big", "1.0", payload_bytes=64 << 20)
    wheel = build_wheel(spec, tmp_path / "wheels")
    install_wheel(wheel, venv.scheme, interpreter=venv.executable, unpacked_cache=tmp_path / "c")
    assert (venv.scheme.purelib / "big" / "_payload.bin").stat().st_size == 64 << 20


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("pkg/mod.py", False),
        ("pkg/", False),
        ("pkg-1.0.data/scripts/x", False),
        ("../x", True),
        ("pkg/../../x", True),
        ("pkg/./x", True),
        ("pkg//x", True),
        ("/abs", True),
        ("C:/windows", True),
        ("a\\b", True),
        ("", True),
        ("nul\x00", True),
    ],
)
def test_member_names(name: str, problem: bool) -> None:
    assert (_member_problem(name) is not None) is problem


@pytest.mark.parametrize("compile_bytecode", [False, True], ids=["plain", "bytecode"])
def test_root_files_linked_in_bulk_match_installer_doing_every_file(
    tmp_path: Path,
    venv: Interpreter,
    unpacked_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    compile_bytecode: bool,
) -> None:
    """The batch path for root-scheme files must leave exactly what installer's own per-file
    loop leaves: the same files, bytes, modes and the same RECORD, byte for byte."""
    spec = DistSpec(
        "bulkpkg",
        "1.0",
        files={
            "bulkpkg/__init__.py": "def main():\n    print('hi')\n",
            "bulkpkg/deep/er/mod.py": "X = 1\n",
            "bulkpkg/data.bin": b"\x00\x01" * 100,
            "top_level_module.py": "Y = 2\n",
            "bulkpkg/__pycache__/stale.cpython-311.pyc": b"junk",  # installer skips these
            "bulkpkg-1.0.data/scripts/runme": "#!python\nprint('ran')\n",
            "bulkpkg-1.0.data/data/share/bulkpkg/notes.txt": "notes\n",
            "bulkpkg-1.0.data/headers/bulkpkg.h": "#define X 1\n",
            "bulkpkg-1.0.data/purelib/extra_pure.py": "Z = 3\n",
        },
        entry_points={"console_scripts": {"bulk-hello": "bulkpkg:main"}},
    )
    wheel = build_wheel(spec, tmp_path / "wheels")

    def install_and_look(bulk: bool) -> tuple[dict[str, str], bytes]:
        monkeypatch.setattr(wheel_mod, "_LINK_ROOT_FILES_IN_BULK", bulk)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the __pycache__ member
            result = install_wheel(
                wheel, venv.scheme, interpreter=venv.executable,
                unpacked_cache=unpacked_cache, compile_bytecode=compile_bytecode,
            )
        record = (result.dist_info / "RECORD").read_bytes()
        tree = snapshot(venv.sys_prefix)
        modes = {
            rel: oct(os.stat(venv.sys_prefix / rel).st_mode)
            for rel, kind in tree.items() if kind != "dir"
        }
        uninstall("bulkpkg", venv.scheme)
        return {**tree, **{f"mode:{k}": v for k, v in modes.items()}}, record

    bulk_tree, bulk_record = install_and_look(True)
    plain_tree, plain_record = install_and_look(False)
    assert bulk_record == plain_record
    assert bulk_tree == plain_tree
    assert b"top_level_module.py," in bulk_record and b"../../../bin/bulk-hello," in bulk_record
    assert not any("stale.cpython" in rel for rel in bulk_tree)
