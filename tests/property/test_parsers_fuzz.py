"""Property tests: torchup's parsers never let anything but torchup's own errors escape.

Inputs are random text and structured near-misses (valid documents with one value swapped for
something of another type), for requirement strings, requirements files, pyproject.toml,
environment variables and pylock.toml. Round-trip properties check the writers.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchup.config import (
    ProjectConfig,
    Settings,
    add_dependency,
    add_index,
    remove_dependency,
    set_source,
    toml_key_lines,
)
from torchup.errors import ConfigError, LockError, RequirementError, TorchupError
from torchup.lock import (
    Lock,
    LockedDependency,
    LockedFile,
    LockedPackage,
    LockMetadata,
    dumps_lock,
    loads_lock,
    select_for_target,
)
from torchup.requirements import parse_requirement_string, parse_requirements_text
from torchup.target import Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAST = settings(
    max_examples=int(os.environ.get("TORCHUP_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# -- building blocks --------------------------------------------------------------------------

names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9._-]{0,12}[A-Za-z0-9]\Z")
versions = st.from_regex(r"\A[0-9]{1,2}(\.[0-9]{1,2}){0,2}(\+(cpu|cu1[0-9]{2}|rocm6\.[0-4]))?\Z")
operators = st.sampled_from(["==", ">=", "<=", "!=", "~=", ">", "<", "===", "=", "=>", ""])
markers = st.sampled_from(
    [
        "",
        " ; sys_platform == 'linux'",
        "; platform_system != 'Darwin'",
        " ; python_version >= '3.11' and platform_machine == 'x86_64'",
        " ; extra == 'cpu'",
        " ; sys_platform = linux",
        ";",
    ]
)
urls = st.sampled_from(
    [
        "https://download.pytorch.org/whl/cu118/torch-2.2.1%2Bcu118-cp311-cp311-linux_x86_64.whl",
        "https://download.pytorch.org/whl/cu118/torch-2.2.1%2Bcu118-cp311-cp311-linux_x86_64.whl#sha256=ab",
        "git+https://github.com/pyannote/pyannote-audio@11b56a1",
        "https://github.com/m-bain/whisperX/archive/befe2b2.zip",
        "./dist/foo-1.0-py3-none-any.whl",
        "file:///tmp/x.whl",
        "../proj[dev]",
        "https://x/%ZZ-1.0-py3-none-any.whl",
        "http://",
    ]
)
noise = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40
)  # anything a user might paste


@st.composite
def requirement_texts(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 4))
    name = draw(names)
    if kind == 0:
        return f"{name}{draw(operators)}{draw(versions)}{draw(markers)}"
    if kind == 1:
        extras = draw(st.lists(names, max_size=2))
        extra = f"[{','.join(extras)}]" if extras else ""
        return f"{name}{extra} @ {draw(urls)}{draw(markers)}"
    if kind == 2:
        return f"{draw(urls)}{draw(markers)}"
    if kind == 3:
        return draw(noise)
    return f"{name}{draw(noise)}"


def check_only_torchup_errors(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except TorchupError as exc:
        assert str(exc)  # renders
        return None


# -- requirements -----------------------------------------------------------------------------


@FAST
@given(requirement_texts())
def test_requirement_strings(text: str) -> None:
    try:
        parsed = parse_requirement_string(text, "cli")
    except RequirementError as exc:
        assert str(exc).startswith("cli: ")
        return
    if parsed.requirement is not None:
        assert parsed.name


option_lines = st.sampled_from(
    [
        "-r other.txt",
        "-c cons.txt",
        "-r missing.txt",
        "-e .",
        "-e git+https://x.org/r#egg=r",
        "--index-url https://download.pytorch.org/whl/cu128",
        "-i",
        "--extra-index-url=${INDEX}",
        "--find-links ./wheels",
        "--no-index",
        "--pre",
        "--hash=sha256:00",
        "--unknown-option",
        "# comment",
        "\\",
        "",
    ]
)


@FAST
@given(
    st.lists(
        st.one_of(
            option_lines,
            requirement_texts(),
            requirement_texts().map(lambda t: t + " --hash=sha256:ab"),
        ),
        max_size=8,
    ),
    st.lists(st.one_of(option_lines, requirement_texts()), max_size=4),
)
def test_requirements_files(lines: list[str], nested: list[str]) -> None:
    files = {"other.txt": "\n".join(nested), "cons.txt": "numpy<2\n" + "\n".join(nested)}

    def read(location: str) -> str:
        if location not in files:
            raise FileNotFoundError(2, "No such file", location)
        return files[location]

    check_only_torchup_errors(
        parse_requirements_text,
        "\n".join(lines),
        "reqs.txt",
        read_file=read,
        env={"INDEX": "https://example.org/simple"},
    )


# -- pyproject.toml ---------------------------------------------------------------------------

SEED_LIKE = {
    "project": {
        "name": "demo",
        "version": "0.1.0",
        "requires-python": ">=3.11",
        "dependencies": ["torch>=2.5.1"],
        "optional-dependencies": {"cpu": ["torch"], "cu128": ["torch"]},
    },
    "dependency-groups": {"dev": ["pytest", {"include-group": "lint"}], "lint": ["ruff"]},
    "tool": {
        "uv": {
            "conflicts": [[{"extra": "cpu"}, {"extra": "cu128"}]],
            "environments": ["sys_platform == 'linux'"],
            "index-strategy": "unsafe-best-match",
            "extra-index-url": ["https://download.pytorch.org/whl/cpu"],
            "sources": {
                "torch": [
                    {"index": "pytorch-cpu", "extra": "cpu"},
                    {"index": "pytorch-cu128", "marker": "sys_platform == 'linux'"},
                ]
            },
            "index": [
                {
                    "name": "pytorch-cpu",
                    "url": "https://download.pytorch.org/whl/cpu",
                    "explicit": True,
                },
                {"name": "pytorch-cu128", "url": "https://download.pytorch.org/whl/cu128"},
            ],
            "cache-dir": ".cache",
        }
    },
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    noise,
    st.sampled_from(
        [
            "",
            "first-index",
            "allow",
            "cu128",
            "explicit",
            "sys_platform == 'linux'",
            "extra == 'cpu'",
        ]
    ),
    st.lists(noise, max_size=3),
    st.dictionaries(names, noise, max_size=2),
    st.lists(st.dictionaries(names, noise, max_size=2), min_size=1, max_size=2),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(paths(item, (*prefix, index)))
    return out


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    if isinstance(document, dict):
        copy = dict(document)
        copy[path[0]] = replaced(document[path[0]], path[1:], value)
        return copy
    copy_list = list(document)
    copy_list[path[0]] = replaced(document[path[0]], path[1:], value)
    return copy_list


def dump(document: Any) -> str | None:
    """TOML text for a document, or None when TOML cannot hold it (e.g. None values)."""
    try:
        text = tomlkit.dumps(document)
        tomllib.loads(text)
    except Exception:
        return None
    return text


ALL_PATHS = paths(SEED_LIKE)


@FAST
@given(st.sampled_from(ALL_PATHS), scalars)
def test_pyproject_near_misses(path: tuple[Any, ...], value: Any) -> None:
    text = dump(replaced(SEED_LIKE, path, value))
    if text is None:
        return
    try:
        ProjectConfig.from_pyproject(text, "pyproject.toml")
    except ConfigError as exc:
        assert str(exc).startswith("pyproject.toml")
        assert exc.hint


@FAST
@given(st.text(max_size=200))
def test_pyproject_random_text(text: str) -> None:
    check_only_torchup_errors(ProjectConfig.from_pyproject, text, "pyproject.toml")


toml_keys = st.one_of(names, st.sampled_from(["a.b", "with space", 'q"uote', "ü"]))
toml_values = st.recursive(
    st.one_of(st.booleans(), st.integers(-3, 3), st.text(max_size=8)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(toml_keys, children, max_size=3)
    ),
    max_leaves=12,
)


@FAST
@given(st.dictionaries(toml_keys, toml_values, max_size=4))
def test_key_lines_cover_every_key(document: dict[str, Any]) -> None:
    text = dump(document)
    if text is None:
        return
    data = tomllib.loads(text)
    lines = toml_key_lines(text)
    total = text.count("\n") + 1
    for path in paths(data):
        if path in lines:
            assert 1 <= lines[path] <= total
    # Every key (not array element) written in the document is found.
    for path in paths(data):
        if isinstance(path[-1], str) and all(isinstance(p, str) for p in path):
            assert path in lines, (path, text)


@FAST
@given(st.sampled_from(["numpy>=2", "Torch==2.8.0+cu128; sys_platform == 'linux'", "pillow"]))
def test_add_dependency_result_parses(requirement: str) -> None:
    text = dump(SEED_LIKE)
    assert text is not None
    out = add_dependency(text, requirement)
    project = ProjectConfig.from_pyproject(out, "pyproject.toml")
    assert any(
        str(r).lower().startswith(requirement.split("=")[0].split(">")[0].lower())
        for r in project.dependencies
    )


@FAST
@given(
    st.sampled_from(["index", "url", "path", "git", "marker", "extra"]),
    noise,
    st.one_of(names, noise),
    st.booleans(),
)
def test_edits_never_corrupt_the_document(key: str, value: str, name: str, explicit: bool) -> None:
    text = dump(SEED_LIKE)
    assert text is not None
    steps = [
        lambda t: set_source(t, name, {"index": "pytorch-cpu", key: value}),
        lambda t: add_index(t, url=value, name=name, explicit=explicit),
        lambda t: add_dependency(t, value, group=name),
        lambda t: remove_dependency(t, name),
    ]
    for step in steps:
        try:
            out = step(text)
        except ConfigError:
            continue
        tomllib.loads(out)  # still TOML
        check_only_torchup_errors(ProjectConfig.from_pyproject, out, "pyproject.toml")


# -- environment ------------------------------------------------------------------------------

ENV_NAMES = [
    "TORCHUP_INDEX_URL",
    "TORCHUP_EXTRA_INDEX_URL",
    "TORCHUP_INDEX",
    "TORCHUP_FIND_LINKS",
    "TORCHUP_NO_INDEX",
    "TORCHUP_INDEX_STRATEGY",
    "TORCHUP_EXCLUDE_NEWER",
    "TORCHUP_HTTP_RETRIES",
    "TORCHUP_HTTP_TIMEOUT",
    "TORCHUP_TORCH_BACKEND",
    "TORCHUP_CUDA_DRIVER_VERSION",
    "TORCHUP_GPU_COMPUTE_CAPABILITY",
    "TORCHUP_AMD_GPU_ARCH",
    "NO_COLOR",
]


@FAST
@given(st.dictionaries(st.sampled_from(ENV_NAMES), noise, max_size=5))
def test_settings_from_random_env(env: dict[str, str]) -> None:
    try:
        Settings.from_env(env)
    except ConfigError as exc:
        assert exc.key in env


# -- pylock.toml ------------------------------------------------------------------------------

H = {"sha256": "ab" * 32}


@st.composite
def locks(draw: st.DrawFn) -> Lock:
    packages = []
    used: set[tuple[str, str]] = set()
    for _ in range(draw(st.integers(0, 4))):
        # One dash between parts: a run of them ("a---0") left "a--0" after a single replace,
        # whose wheel name "a__0" no tool writes and packaging rightly refuses.
        name = re.sub(r"-+", "-", draw(st.from_regex(r"\A[a-z][a-z0-9-]{0,8}[a-z0-9]\Z")))
        version = draw(versions)
        if (name, version) in used:
            continue
        used.add((name, version))
        filename = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        url = f"https://files.example/{filename.replace('+', '%2B')}"
        marker = draw(st.sampled_from([None, "sys_platform == 'linux'", "'cpu' in extras"]))
        packages.append(
            LockedPackage(
                name=name,
                version=version,
                marker=marker,
                index="https://pypi.org/simple",
                wheels=(
                    LockedFile(url=url, hashes=H, size=draw(st.none() | st.integers(0, 10**10))),
                ),
                dependencies=tuple(
                    LockedDependency(n)
                    for n in draw(st.lists(st.sampled_from(["a", "b"]), max_size=2))
                ),
                backends=tuple(draw(st.lists(st.sampled_from(["cpu", "cu128"]), max_size=2))),
            )
        )
    return Lock(
        packages=tuple(packages),
        extras=("cpu",),
        meta=LockMetadata(
            input_hash=draw(st.none() | st.just("sha256:00")),
            torch_backend=draw(st.none() | st.sampled_from(["cpu", "cu128"])),
            environments=tuple(draw(st.lists(noise, max_size=2))),
        ),
    )


@FAST
@given(locks())
def test_lock_round_trip(lock: Lock) -> None:
    text = dumps_lock(lock)
    again = loads_lock(text)
    assert again == lock
    assert dumps_lock(again) == text
    for platform in ("linux", "macos", "windows"):
        target = Target.for_platform("3.12", platform).with_backend("cpu")
        check_only_torchup_errors(select_for_target, again, target)


LOCK_TEMPLATE = tomllib.loads(
    dumps_lock(
        Lock(
            packages=(
                LockedPackage(
                    name="torch",
                    version="2.5.1+cpu",
                    marker="sys_platform == 'linux'",
                    requires_python=">=3.9",
                    index="https://download.pytorch.org/whl/cpu",
                    wheels=(
                        LockedFile(
                            url="https://download.pytorch.org/whl/cpu/torch-2.5.1%2Bcpu-cp312-cp312-linux_x86_64.whl",
                            hashes=H,
                            size=1,
                        ),
                    ),
                    dependencies=(LockedDependency("filelock", "3.16.1"),),
                    backends=("cpu",),
                ),
            ),
            meta=LockMetadata(input_hash="sha256:00", torch_backend="cpu"),
        )
    )
)
LOCK_PATHS = paths(LOCK_TEMPLATE)


@FAST
@given(st.sampled_from(LOCK_PATHS), scalars)
def test_pylock_near_misses(path: tuple[Any, ...], value: Any) -> None:
    text = dump(replaced(LOCK_TEMPLATE, path, value))
    if text is None:
        return
    try:
        lock = loads_lock(text, "pylock.toml")
    except LockError as exc:
        assert str(exc).startswith("pylock.toml")
        return
    check_only_torchup_errors(select_for_target, lock, Target.for_platform("3.12", "linux"))


@FAST
@given(st.text(max_size=300))
def test_pylock_random_text(text: str) -> None:
    check_only_torchup_errors(loads_lock, text, "pylock.toml")


@pytest.mark.parametrize("text", ["", "lock-version = 1", "[[packages]]\nname = 'x'\n"])
def test_pylock_degenerate(text: str) -> None:
    with pytest.raises(LockError):
        loads_lock(text)
