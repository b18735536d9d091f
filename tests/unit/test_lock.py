"""Tests for torchup.lock: PEP 751 data, deterministic files, and selection per machine."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from packaging.pylock import Pylock

from torchup.errors import LockError
from torchup.lock import (
    EnvironmentNote,
    Lock,
    LockedArchive,
    LockedDependency,
    LockedDirectory,
    LockedFile,
    LockedPackage,
    LockedVcs,
    LockMetadata,
    dumps_lock,
    input_hash,
    loads_lock,
    read_lock,
    select_for_target,
    select_packages,
    validate_lock,
    write_lock,
)
from torchup.target import Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

H = {"sha256": "0" * 64}
CPU = "https://download.pytorch.org/whl/cpu"
PYPI = "https://pypi.org/simple"
WHEN = datetime(2024, 10, 29, 17, 0, 5, tzinfo=timezone.utc)


def wheel(base: str, filename: str, **kwargs: object) -> LockedFile:
    # URLs are percent-encoded like the real index (`+` -> `%2B`); names are decoded.
    return LockedFile(url=f"{base}/{filename.replace('+', '%2B')}", hashes=H, **kwargs)  # type: ignore[arg-type]


def make_lock() -> Lock:
    """A universal lock like seed 001's (uv #9651): torch from the CPU index off macOS.

    project
    ├── torch 2.5.1+cpu   (linux, windows; download.pytorch.org/whl/cpu)
    │   └── filelock
    ├── torch 2.5.1       (macOS; PyPI)
    │   └── filelock
    ├── numpy 2.1.3       (extra `cu`: sdist only)
    ├── pytest 8.3.3      (group `dev`)
    ├── local-lib         (directory, editable)
    ├── pyannote-audio    (git)
    └── whisperx          (archive)
    """
    packages = [
        LockedPackage(
            name="torch",
            version="2.5.1+cpu",
            marker="sys_platform != 'darwin'",
            requires_python=">=3.9",
            index=CPU,
            wheels=(
                wheel(CPU, "torch-2.5.1+cpu-cp312-cp312-win_amd64.whl", size=200),
                wheel(
                    CPU,
                    "torch-2.5.1+cpu-cp312-cp312-linux_x86_64.whl",
                    size=100,
                    upload_time=WHEN,
                ),
                wheel(CPU, "torch-2.5.1+cpu-cp312-cp312-manylinux_2_28_aarch64.whl"),
            ),
            dependencies=(LockedDependency("filelock", "3.16.1"),),
        ),
        LockedPackage(
            name="torch",
            version="2.5.1",
            marker="sys_platform == 'darwin'",
            index=PYPI,
            wheels=(
                wheel("https://files.example", "torch-2.5.1-cp312-none-macosx_11_0_arm64.whl"),
            ),
            dependencies=(LockedDependency("filelock", "3.16.1"),),
        ),
        LockedPackage(
            name="filelock",
            version="3.16.1",
            index=PYPI,
            wheels=(wheel("https://files.example", "filelock-3.16.1-py3-none-any.whl"),),
            sdist=LockedFile(url="https://files.example/filelock-3.16.1.tar.gz", hashes=H),
        ),
        LockedPackage(
            name="numpy",
            version="2.1.3",
            marker="'cu' in extras",
            index=PYPI,
            sdist=LockedFile(url="https://files.example/numpy-2.1.3.tar.gz", hashes=H),
        ),
        LockedPackage(
            name="pytest",
            version="8.3.3",
            marker="'dev' in dependency_groups",
            index=PYPI,
            wheels=(wheel("https://files.example", "pytest-8.3.3-py3-none-any.whl"),),
        ),
        LockedPackage(
            name="local-lib", directory=LockedDirectory(path="./libs/local", editable=True)
        ),
        LockedPackage(
            name="pyannote-audio",
            vcs=LockedVcs(
                type="git",
                url="https://github.com/pyannote/pyannote-audio",
                requested_revision="11b56a1",
                commit_id="11b56a137a578db9335efc00298f6ec1932e6317",
            ),
        ),
        LockedPackage(
            name="whisperx",
            archive=LockedArchive(
                url="https://github.com/m-bain/whisperX/archive/befe2b2.zip", hashes=H
            ),
        ),
    ]
    return Lock(
        packages=tuple(packages),
        requires_python=">=3.10",
        extras=("cu",),
        dependency_groups=("dev",),
        default_groups=("dev",),
        environments=(
            "sys_platform == 'linux'",
            "sys_platform == 'darwin'",
            "sys_platform == 'win32'",
        ),
        meta=LockMetadata(
            input_hash=input_hash({"dependencies": ["torch>=2.5"]}),
            torch_backend="cpu",
            environments=("sys_platform == 'linux'", "sys_platform == 'darwin'"),
            notes=(
                EnvironmentNote(
                    environment="sys_platform == 'darwin'",
                    backend="cpu",
                    package="torch",
                    message="download.pytorch.org has no +cpu build for macOS; PyPI's is locked",
                ),
            ),
        ),
        tool={"other-tool": {"keep": True}},
    )


# -- model and files --------------------------------------------------------------------------


def test_round_trip_is_equal_and_byte_stable() -> None:
    lock = make_lock()
    text = dumps_lock(lock)
    again = loads_lock(text)
    assert again == lock
    assert dumps_lock(again) == text


def test_output_does_not_depend_on_input_order() -> None:
    lock = make_lock()
    shuffled = Lock(
        packages=tuple(reversed(lock.packages)),
        requires_python=lock.requires_python,
        extras=lock.extras,
        dependency_groups=lock.dependency_groups,
        default_groups=lock.default_groups,
        environments=lock.environments,
        meta=lock.meta,
        tool=lock.tool,
    )
    assert dumps_lock(shuffled) == dumps_lock(lock)


def test_written_lock_validates_with_packaging_pylock() -> None:
    lock = make_lock()
    Pylock.from_dict(lock.to_dict())
    parsed = tomllib.loads(dumps_lock(lock))
    pylock = Pylock.from_dict(parsed)
    assert len(pylock.packages) == len(lock.packages)
    validate_lock(lock)


def test_every_wheel_entry_has_a_decoded_name_and_the_package_an_index() -> None:
    data = tomllib.loads(dumps_lock(make_lock()))
    for package in data["packages"]:
        for entry in package.get("wheels", []):
            assert "%2B" not in entry["name"]
            assert entry["name"] == entry["url"].rsplit("/", 1)[-1].replace("%2B", "+")
        if "wheels" in package or "sdist" in package:
            assert package["index"] in (CPU, PYPI)
    torch = next(p for p in data["packages"] if p.get("version") == "2.5.1+cpu")
    assert torch["wheels"][0]["upload-time"] == WHEN
    assert data["tool"]["other-tool"] == {"keep": True}
    assert data["tool"]["torchup"]["torch-backend"] == "cpu"


def test_write_and_read_atomically(tmp_path: Path) -> None:
    target = tmp_path / "pylock.toml"
    lock = make_lock()
    write_lock(target, lock)
    assert read_lock(target) == lock
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pylock.toml"]


def test_failed_write_keeps_the_old_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "pylock.toml"
    target.write_text("old\n")

    def boom(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_lock(target, make_lock())
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pylock.toml"]


def test_missing_lock(tmp_path: Path) -> None:
    with pytest.raises(LockError, match=r"pylock.toml: no lock file"):
        read_lock(tmp_path / "pylock.toml")


MINIMAL = """\
lock-version = "1.0"
created-by = "torchup"

[[packages]]
name = "filelock"
version = "3.16.1"
index = "https://pypi.org/simple"
wheels = [
    { name = "filelock-3.16.1-py3-none-any.whl", url = "https://files.example/filelock-3.16.1-py3-none-any.whl", hashes = { sha256 = "00" } },
]
"""

BAD_LOCKS = [
    # (replace, with, expected message start)
    (
        'lock-version = "1.0"',
        'lock-version = "2.0"',
        "pylock.toml: pylock version 2.0 is not supported",
    ),
    ('created-by = "torchup"\n', "", "pylock.toml: `created-by`: Missing required value"),
    (
        'name = "filelock"',
        'name = "FileLock"',
        "pylock.toml:5: `packages[0].name`: Name 'FileLock' is not normalized",
    ),
    (
        'version = "3.16.1"',
        'version = "three"',
        "pylock.toml:6: `packages[0].version`: Invalid version",
    ),
    (
        'version = "3.16.1"',
        'version = "3.16.2"',
        "pylock.toml:9: `packages[0].wheels[0]`: Version in",
    ),
    (
        'hashes = { sha256 = "00" }',
        "hashes = {}",
        "pylock.toml:9: `packages[0].wheels[0].hashes`: At least one hash",
    ),
    (
        'index = "https://pypi.org/simple"',
        "index = 3",
        "pylock.toml:7: `packages[0].index`: Unexpected type int",
    ),
    (
        'created-by = "torchup"',
        'created-by = "torchup"\n[tool.torchup]\nschema = "one"',
        "pylock.toml:4: `tool.torchup.schema`: expected int",
    ),
    (
        'created-by = "torchup"',
        'created-by = "torchup"\n[tool]\ntorchup = 1',
        "pylock.toml:4: `tool.torchup`: expected a table",
    ),
    ("[[packages]]", "[[packages]\n", "pylock.toml:4: invalid TOML"),
]


@pytest.mark.parametrize("old,new,message", BAD_LOCKS)
def test_invalid_locks_name_file_line_and_key(old: str, new: str, message: str) -> None:
    assert old in MINIMAL
    with pytest.raises(LockError) as info:
        loads_lock(MINIMAL.replace(old, new, 1), "pylock.toml")
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.hint


def test_minimal_lock_reads() -> None:
    lock = loads_lock(MINIMAL)
    assert lock.packages[0].wheels[0].filename == "filelock-3.16.1-py3-none-any.whl"
    assert lock.meta == LockMetadata()


# -- staleness --------------------------------------------------------------------------------


def test_input_hash_is_canonical() -> None:
    a = input_hash({"b": [1, 2], "a": {"x", "y"}}, "cpu")
    b = input_hash({"a": {"y", "x"}, "b": (1, 2)}, "cpu")
    assert a == b and a.startswith("sha256:")
    assert input_hash({"b": [2, 1]}) != input_hash({"b": [1, 2]})
    lock = make_lock()
    assert not lock.is_stale(input_hash({"dependencies": ["torch>=2.5"]}))
    assert lock.is_stale(input_hash({"dependencies": ["torch>=2.6"]}))


# -- selection --------------------------------------------------------------------------------


def names(selected: tuple[object, ...]) -> dict[str, tuple[str, str]]:
    out = {}
    for item in selected:
        package = item.package  # type: ignore[attr-defined]
        artifact = item.artifact  # type: ignore[attr-defined]
        label = getattr(artifact, "filename", None) or getattr(artifact, "path", None) or ""
        out[package.name] = (str(package.version), item.kind + ":" + label)  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize(
    "platform,torch_version,torch_file",
    [
        ("linux", "2.5.1+cpu", "torch-2.5.1+cpu-cp312-cp312-linux_x86_64.whl"),
        (
            "aarch64-unknown-linux-gnu",
            "2.5.1+cpu",
            "torch-2.5.1+cpu-cp312-cp312-manylinux_2_28_aarch64.whl",
        ),
        ("windows", "2.5.1+cpu", "torch-2.5.1+cpu-cp312-cp312-win_amd64.whl"),
        ("macos", "2.5.1", "torch-2.5.1-cp312-none-macosx_11_0_arm64.whl"),
    ],
)
def test_select_per_platform(platform: str, torch_version: str, torch_file: str) -> None:
    target = Target.for_platform("3.12", platform)
    chosen = names(select_for_target(make_lock(), target))
    assert chosen["torch"] == (torch_version, "wheel:" + torch_file)
    assert chosen["filelock"] == ("3.16.1", "wheel:filelock-3.16.1-py3-none-any.whl")
    assert chosen["pytest"][1].startswith("wheel:")  # default group `dev`
    assert "numpy" not in chosen  # extra not requested
    assert chosen["local-lib"] == ("None", "directory:./libs/local")
    assert chosen["pyannote-audio"][1].startswith("vcs:")
    assert chosen["whisperx"][1].startswith("archive:")


def test_select_agrees_with_packaging_reference() -> None:
    lock = make_lock()
    pylock = Pylock.from_dict(lock.to_dict())
    for platform in ("linux", "macos", "windows"):
        target = Target.for_platform("3.12", platform)
        ours = {(s.package.name, str(s.package.version)) for s in select_for_target(lock, target)}
        reference = {
            (p.name, str(p.version))
            for p, _ in pylock.select(environment=target.environment, tags=list(target.tags))  # type: ignore[arg-type]
        }
        assert ours == reference


def test_extras_and_groups() -> None:
    target = Target.for_platform("3.12", "linux")
    chosen = names(select_for_target(make_lock(), target, extras=["cu"], dependency_groups=[]))
    assert chosen["numpy"] == ("2.1.3", "sdist:numpy-2.1.3.tar.gz")
    assert "pytest" not in chosen
    with pytest.raises(
        LockError, match=r"numpy 2.1.3 .* has no wheel for linux x86_64, Python 3.12"
    ):
        select_for_target(make_lock(), target, extras=["cu"], allow_sdist=False)


def test_no_wheel_names_package_and_environment_with_the_note() -> None:
    lock = make_lock()
    macos_intel = Target.for_platform("3.12", "x86_64-apple-darwin")
    with pytest.raises(LockError) as info:
        select_for_target(lock, macos_intel)
    message = str(info.value)
    assert message.startswith(
        f"torch 2.5.1 (from {PYPI}) has no wheel for macos x86_64, Python 3.12"
    )
    assert "no +cpu build for macOS" in message  # the lock's note for this environment
    assert "torch-2.5.1-cp312-none-macosx_11_0_arm64.whl" in message


def test_python_and_environment_checks() -> None:
    lock = make_lock()
    with pytest.raises(
        LockError, match=r"the lock needs Python >=3.10, but linux x86_64, Python 3.9 has 3.9.0"
    ):
        select_for_target(lock, Target.for_platform("3.9", "linux"))
    env = dict(Target.for_platform("3.12", "linux").environment, sys_platform="freebsd")
    with pytest.raises(LockError, match=r"the lock was not made for freebsd"):
        select_packages(lock, environment=env, tags=Target.for_platform("3.12", "linux").tags)


def test_per_backend_entries() -> None:
    def torch(version: str, backend: str, base: str) -> LockedPackage:
        return LockedPackage(
            name="torch",
            version=version,
            marker="sys_platform == 'linux'",
            index=base,
            backends=(backend,),
            wheels=(wheel(base, f"torch-{version}-cp312-cp312-manylinux_2_28_x86_64.whl"),),
        )

    cu128 = "https://download.pytorch.org/whl/cu128"
    lock = Lock(
        packages=(torch("2.8.0+cpu", "cpu", CPU), torch("2.8.0+cu128", "cu128", cu128)),
        meta=LockMetadata(torch_backends=("cpu", "cu128")),
    )
    assert loads_lock(dumps_lock(lock)) == lock
    linux = Target.for_platform("3.12", "linux")
    for backend, version in (("cpu", "2.8.0+cpu"), ("cu128", "2.8.0+cu128")):
        (chosen,) = select_for_target(lock, linux.with_backend(backend))
        assert str(chosen.package.version) == version
    with pytest.raises(LockError) as info:
        select_for_target(lock, linux)
    assert "two entries for torch" in str(info.value)
    assert info.value.hint == "choose a torch backend with --torch-backend (cpu, cu128)"
    # A lock made for one backend falls back to it when none is asked for.
    defaulted = Lock(packages=lock.packages, meta=LockMetadata(torch_backend="cu128"))
    (chosen,) = select_for_target(defaulted, linux.with_backend("auto"))
    assert str(chosen.package.version) == "2.8.0+cu128"


@pytest.mark.parametrize(
    "marker", ["extra == 'cpu'", "dependency_groups == 'dev'", "'cpu' in extra"]
)
def test_markers_a_lock_cannot_evaluate_are_lock_errors(marker: str) -> None:
    package = LockedPackage(
        name="a",
        version="1",
        marker=marker,
        wheels=(LockedFile(url="https://x.org/a-1-py3-none-any.whl", hashes=H),),
    )
    linux = Target.for_platform("3.12", "linux")
    with pytest.raises(LockError, match=r"cannot evaluate the marker of a 1"):
        select_for_target(Lock(packages=(package,)), linux)
    with pytest.raises(LockError, match=r"cannot evaluate `environments`"):
        select_for_target(Lock(environments=(marker,)), linux)
