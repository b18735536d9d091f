"""packse's universal (lock-style) scenarios, run through the real `torchup lock` in-process.

Each of the 41 scenarios with ``universal = true`` becomes a project: the root requirements are
``[project] dependencies``, the root ``requires_python`` is ``requires-python``, and
``environments`` / ``required-environments`` from ``[resolver_options]`` go into ``[tool.uv]``
together with ``index-url`` (the scenario's index, built by ``tests/conformance/packse.py``).

What is checked:

* satisfiable <-> ``torchup lock`` exits 0 (an unsatisfiable scenario must exit 1 with an error
  that names one of the scenario's packages);
* ``[expected.packages]`` (name and exact version) are in ``pylock.toml``;
* where the scenario's description says which packages belong where ("two distinct versions of
  `a` depending on `sys_platform`", "`c` should be entirely excluded"), :data:`CHECKS` installs
  the lock (PEP 751 selection, ``torchup.lock.select``) on the concrete machines torchup locks
  for and compares: that is a check of the lock's markers by what they select, not by their
  spelling.

torchup locks concrete environments (Linux x86_64 / aarch64, macOS arm64, Windows x86_64, CPython,
each Python minor requires-python admits) instead of uv's forking over the whole marker space.
The scenarios whose expectation depends on that difference are strict xfails in
:data:`XFAILS`, each with its reason. The summary line
``packse universal: N passed, M xfailed of 41`` is printed by ``tests/conformance/conftest.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import pytest
from packaging.utils import canonicalize_name

from tests.conformance.packse import SCENARIO_ROOT, Scenario, load_scenarios, publish_scenarios
from tests.support.server import IndexServer
from torchup.cli.main import main
from torchup.lock.io import read_lock
from torchup.lock.model import Lock
from torchup.lock.select import select_for_target
from torchup.target import Target

if not SCENARIO_ROOT.is_dir():
    pytest.skip(
        f"packse scenarios not found at {SCENARIO_ROOT} (set PACKSE_SCENARIOS)",
        allow_module_level=True,
    )

UNIVERSAL = {s.name: s for s in load_scenarios() if s.universal}

_CONCRETE = (
    "torchup locks concrete environments (Linux x86_64/aarch64, macOS arm64, Windows x86_64; "
    "CPython; each Python minor requires-python admits) and resolves each one separately. "
)
XFAILS: dict[str, str] = {
    "conflict-in-fork": _CONCRETE
    + "The conflict only arises for `sys_platform == 'os2'`, which is none of those platforms, "
    "so on every environment torchup locks the requirements are empty and the lock succeeds "
    "(uv forks over the abstract marker space and fails there).",
    "fork-non-local-fork-marker-direct": _CONCRETE
    + "On Linux `a` needs c<2 (c 1.0.0), on macOS `b` needs c>=2 (c 2.0.0): each environment "
    "is satisfiable, so the lock succeeds. The scenario encodes a limitation of uv's forking "
    "resolver (it does not fork on indirect dependencies), which torchup does not have.",
    "fork-non-local-fork-marker-transitive": _CONCRETE
    + "Linux gets c 1.0.0 and macOS c 2.0.0, both valid; unsatisfiable only for a resolver "
    "that does not fork on non-sibling dependencies (uv's limitation).",
    "preferences-dependent-forking-conflicting": _CONCRETE
    + "Linux resolves cleaver 1 / foo 1 / bar 2 and the other platforms cleaver 1 / foo 2 / "
    "bar 1; the failure the scenario expects comes from uv reusing one fork's preferences "
    "universally, which per-environment resolution never does.",
}


# -- per-scenario checks ------------------------------------------------------------------------
# "where" -> expected {name: version} installed there, exactly (every other package absent).
# Where keys: "linux" (x86_64), "linux-arm" (aarch64), "macos" (arm64), "windows" (x86_64), with
# an optional "@3.13" Python suffix (default 3.12, which every scenario admits).

_PLATFORM = {
    "linux": "linux",
    "linux-arm": "aarch64-manylinux_2_28",
    "macos": "aarch64-apple-darwin",
    "windows": "windows",
}
ALL = ("linux", "linux-arm", "macos", "windows")


def _everywhere(pins: dict[str, str]) -> dict[str, dict[str, str]]:
    return {where: pins for where in ALL}


EXPECTED_INSTALLS: dict[str, dict[str, dict[str, str]]] = {
    "wrong-backtracking-basic": _everywhere({"a": "1.0.0", "b": "2.0.9"}),
    "fork-allows-non-conflicting-non-overlapping-dependencies": {
        "linux": {"a": "2.0.0"},
        "macos": {"a": "1.0.0"},
        "windows": {},
    },
    "fork-allows-non-conflicting-repeated-dependencies": _everywhere({"a": "1.0.0"}),
    # "two distinct versions of `a` depending on `sys_platform`"
    "fork-basic": {"linux": {"a": "2.0.0"}, "macos": {"a": "1.0.0"}, "windows": {}},
    # "`b` is only part of the a==4.4.0 fork and `c` only of the a==4.3.0 fork"
    "fork-filter-sibling-dependencies": {
        "linux": {"a": "4.4.0", "b": "1.0.0", "d": "1.0.0"},
        "macos": {"a": "4.3.0", "c": "1.0.0", "d": "2.0.0"},
        "windows": {},
    },
    "fork-upgrade": _everywhere({"foo": "2.0.0", "bar": "2.0.0"}),
    # Python 3.13 falls in the hole between the forks over `a` and still gets `c`.
    "fork-incomplete-markers": {
        "linux@3.12": {"a": "1.0.0", "b": "1.0.0"},
        "linux@3.13": {"b": "1.0.0", "c": "1.0.0"},
        "linux@3.14": {"a": "2.0.0", "b": "1.0.0"},
    },
    # CPython only: `b` (pypy) never; `c` accrues the Linux marker through `a`.
    "fork-marker-accrue": {
        "linux": {"a": "1.0.0", "c": "1.0.0"},
        "macos": {"a": "1.0.0"},
        "windows": {"a": "1.0.0"},
    },
    # `c` is excluded: its Linux marker is disjoint with the macOS fork that reaches `b`.
    "fork-marker-inherit-combined": {
        "linux": {"a": "2.0.0"},
        "macos": {"a": "1.0.0", "b": "2.0.0"},
        "windows": {},
    },
    # On CPython the `b<2` (pypy) fork is never taken, so `c` is absent from CPython installs.
    "fork-marker-inherit-combined-allowed": {
        "linux": {"a": "2.0.0"},
        "macos": {"a": "1.0.0", "b": "2.0.0"},
        "windows": {},
    },
    "fork-marker-inherit-combined-disallowed": {
        "linux": {"a": "2.0.0"},
        "macos": {"a": "1.0.0", "b": "2.0.0"},
        "windows": {},
    },
    # `b` only with a==2.0.0 (Linux).
    "fork-marker-inherit-isolated": {
        "linux": {"a": "2.0.0", "b": "1.0.0"},
        "macos": {"a": "1.0.0"},
        "windows": {},
    },
    # a<2 -> b -> c -> d(linux): d never reaches the macOS install.
    "fork-marker-inherit-transitive": {
        "linux": {"a": "2.0.0"},
        "macos": {"a": "1.0.0", "b": "1.0.0", "c": "1.0.0"},
        "windows": {},
    },
    "fork-marker-inherit": {"linux": {"a": "2.0.0"}, "macos": {"a": "1.0.0"}, "windows": {}},
    # `c` through the unconditional `b` stays (Linux), not through the macOS-only a 1.0.0.
    "fork-marker-limited-inherit": {
        "linux": {"a": "2.0.0", "b": "1.0.0", "c": "1.0.0"},
        "macos": {"a": "1.0.0", "b": "1.0.0"},
        "windows": {"b": "1.0.0"},
    },
    # Never two versions of `a` on one machine (the regression); each platform gets its best.
    "fork-marker-selection": {
        "linux": {"a": "0.2.0", "b": "2.0.0"},
        "macos": {"a": "0.1.0", "b": "1.0.0"},
        "windows": {"a": "0.2.0", "b": "2.0.0"},
    },
    "fork-marker-track": {
        "linux": {"a": "4.3.0", "b": "2.8"},
        "macos": {"a": "1.3.1", "b": "2.7"},
        "windows": {"a": "4.3.0", "b": "2.8"},
    },
    "fork-non-fork-marker-transitive": {
        "linux": {"a": "1.0.0", "b": "1.0.0", "c": "2.0.0"},
        "macos": {"a": "1.0.0", "b": "1.0.0", "c": "2.0.0"},
        "windows": {"a": "1.0.0", "b": "1.0.0"},
    },
    # a 1.2.0 on every Python (3.13 included: the markers' union is complete).
    "fork-overlapping-markers-basic": {
        "linux@3.12": {"a": "1.2.0"},
        "linux@3.13": {"a": "1.2.0"},
        "windows@3.14": {"a": "1.2.0"},
        "macos@3.9": {"a": "1.2.0"},
    },
    "preferences-dependent-forking-bistable": {
        "linux": {
            "cleaver": "2.0.0",
            "fork-sys-platform": "1.0.0",
            "reject-cleaver2": "1.0.0",
            "reject-cleaver2-proxy": "1.0.0",
        },
        "macos": {
            "cleaver": "2.0.0",
            "fork-sys-platform": "2.0.0",
            "reject-cleaver2": "1.0.0",
            "reject-cleaver2-proxy": "1.0.0",
        },
        "windows": {
            "cleaver": "2.0.0",
            "fork-sys-platform": "2.0.0",
            "reject-cleaver2": "2.0.0",
            "reject-cleaver2-proxy": "1.0.0",
        },
    },
    "preferences-dependent-forking": {
        "linux": {"cleaver": "1.0.0", "foo": "1.0.0", "bar": "2.0.0"},
        "macos": {"cleaver": "1.0.0", "foo": "2.0.0", "bar": "1.0.0"},
        "windows": {"cleaver": "1.0.0", "foo": "2.0.0", "bar": "1.0.0"},
    },
    # `z` never appears (a 1.0.0 is only for illumos; `windows` is not a sys_platform value).
    "fork-remaining-universe-partitioning": _everywhere({}),
    # requires-python >=3.10 rules out the markers on 3.9: `a` is never installed.
    "fork-requires-python-full-prerelease": {"linux": {}, "macos@3.10": {}},
    "fork-requires-python-full": {"linux": {}, "macos@3.10": {}},
    "fork-requires-python": {"linux": {}, "macos@3.10": {}},
    # >=3.10.1 still admits python_version == '3.10'.
    "fork-requires-python-patch-overlap": {"linux@3.10.1": {"a": "1.0.0"}, "linux@3.11": {}},
    "requires-python-wheels": {"linux@3.10": {"a": "1.0.0"}, "windows@3.12": {"a": "1.0.0"}},
    "unreachable-package": {"windows": {"a": "1.0.0"}, "linux": {}, "macos": {}},
    "unreachable-wheels": {
        "windows": {"a": "1.0.0"},
        "linux": {"b": "1.0.0"},
        "macos": {"c": "1.0.0"},
    },
    "marker-variants-have-different-extras": {
        "linux": {"psycopg": "1.0.0", "psycopg-binary": "1.0.0"},
        "windows": {"psycopg": "1.0.0", "psycopg-binary": "1.0.0", "tzdata": "1.0.0"},
    },
    "virtual-package-extra-priorities": {"linux": {"a": "1.0.0", "b": "1.0.0"}},
    "requires-python-subset": {"windows": {"win-only": "1.0.0"}, "linux": {}, "macos": {}},
    # Only CPython 3.13 wheels, no sdists: x86_64 Linux gets `b`; nothing ever gets `d` (i686).
    # `c`'s only aarch64 wheel is tagged manylinux2010_aarch64, a tag no aarch64 machine
    # accepts (manylinux2010 exists for x86_64 and i686 only; pip and packaging agree), so
    # Linux aarch64 is noted as not installable instead.
    "specific-architecture": {
        "linux@3.13": {"a": "1.0.0", "b": "1.0.0"},
        "macos@3.13": {"a": "1.0.0"},
        "windows@3.13": {"a": "1.0.0"},
    },
}


def _wheel_names(lock: Lock, name: str) -> set[str]:
    return {w.name for p in lock.packages if p.name == name for w in p.wheels}


def _check_unreachable_wheels(lock: Lock) -> None:
    # "only include wheels that match the platform markers"
    assert _wheel_names(lock, "a") == {"a-1.0.0-cp312-cp312-win_amd64.whl"}
    assert _wheel_names(lock, "b") == {
        "b-1.0.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    }
    assert not any("musllinux" in w or "win" in w for w in _wheel_names(lock, "c"))


def _check_specific_architecture(lock: Lock) -> None:
    # "omit wheels that target other platforms"
    assert _wheel_names(lock, "b") == {"b-1.0.0-cp313-cp313-manylinux2010_x86_64.whl"}
    assert not any(p.name in ("c", "d") for p in lock.packages)
    assert any("linux" in n.environment and "aarch64" in n.environment for n in lock.meta.notes)


def _check_requires_python_wheels(lock: Lock) -> None:
    # "only include wheels that match the required Python version": never the cp39 wheel.
    # (`cp310-cp310-any` is a tag no interpreter generates, as pip and packaging agree, so
    # every environment installs `a` from its sdist.)
    (entry,) = [p for p in lock.packages if p.name == "a"]
    assert not any("cp39" in w.name for w in entry.wheels)
    assert entry.sdist is not None


def _check_absent(*names: str) -> Callable[[Lock], None]:
    def check(lock: Lock) -> None:
        present = {p.name for p in lock.packages} & set(names)
        assert not present, f"{sorted(present)} must not be in the lock"

    return check


LOCK_CHECKS: dict[str, Callable[[Lock], None]] = {
    "unreachable-wheels": _check_unreachable_wheels,
    "specific-architecture": _check_specific_architecture,
    "requires-python-wheels": _check_requires_python_wheels,
    "unreachable-package": _check_absent("b"),
    "fork-marker-inherit-combined": _check_absent("c"),
    "fork-marker-inherit-transitive": _check_absent("d"),
    "fork-marker-inherit": _check_absent("b"),
    "fork-remaining-universe-partitioning": _check_absent("z", "a", "b"),
    "fork-requires-python-full": _check_absent("a"),
    "fork-requires-python-full-prerelease": _check_absent("a"),
    "fork-requires-python": _check_absent("a"),
    "wrong-backtracking-basic": _check_absent("too-old"),
    "wrong-backtracking-indirect": _check_absent("too-old"),
}
# Locking again (the lock now feeds preferences) must give the same lock: the scenarios
# about preference-dependent forking are about exactly this stability.
RELOCK_STABLE = {
    "fork-upgrade",
    "preferences-dependent-forking",
    "preferences-dependent-forking-bistable",
    "preferences-dependent-forking-tristable",
}


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def universal_indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("packse-universal")
    with IndexServer(root / "index") as server:
        yield publish_scenarios(server, UNIVERSAL.values(), root / "dists")


def _toml_list(items: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def pyproject_for(scenario: Scenario, index_url: str) -> str:
    """The project a scenario describes (root requirements as dependencies)."""
    opts = tomllib.loads(scenario.path.read_text(encoding="utf-8")).get("resolver_options", {})
    lines = [
        "[project]",
        'name = "packse-root"',
        'version = "0.1.0"',
    ]
    if scenario.root_requires_python:
        lines.append(f"requires-python = {json.dumps(scenario.root_requires_python)}")
    lines += [f"dependencies = {_toml_list(scenario.root_requires)}", "", "[tool.uv]"]
    lines.append(f"index-url = {json.dumps(index_url)}")
    if opts.get("environments"):
        lines.append(f"environments = {_toml_list(opts['environments'])}")
    if scenario.required_environments:
        lines.append(f"required-environments = {_toml_list(scenario.required_environments)}")
    if scenario.prereleases:
        lines.append('prerelease = "allow"')
    return "\n".join(lines) + "\n"


def _installs(lock: Lock, where: str) -> dict[str, str]:
    """What installing ``lock`` on ``where`` ("macos", "linux@3.13") puts in the environment."""
    platform, _, python = where.partition("@")
    target = Target.for_platform(python or "3.12", _PLATFORM[platform])
    chosen = select_for_target(lock, target)
    names = [s.package.name for s in chosen]
    assert len(names) == len(set(names)), f"two versions of one package on {where}: {names}"
    return {s.package.name: str(s.package.version) for s in chosen}


def _params() -> list[object]:
    params: list[object] = []
    for name, scenario in UNIVERSAL.items():
        marks = []
        if name in XFAILS:
            marks.append(pytest.mark.xfail(strict=True, reason=XFAILS[name]))
        params.append(pytest.param(scenario, id=name, marks=marks))
    return params


def test_universal_scenarios_are_all_here() -> None:
    unknown = sorted((set(XFAILS) | set(EXPECTED_INSTALLS) | set(LOCK_CHECKS)) - set(UNIVERSAL))
    assert not unknown, f"names that are not universal scenarios: {unknown}"
    import os

    if "PACKSE_SCENARIOS" not in os.environ:
        assert len(UNIVERSAL) == 41


@pytest.mark.parametrize("scenario", _params())
def test_packse_universal(
    scenario: Scenario,
    universal_indexes: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        pyproject_for(scenario, universal_indexes[scenario.name]), encoding="utf-8"
    )
    args = ["lock", "--directory", str(project), "--color", "never", "--no-progress"]
    code = main(args)
    out, err = capsys.readouterr()
    context = (
        f"{scenario.description}\n--- pyproject.toml\n{(project / 'pyproject.toml').read_text()}"
        f"--- stdout\n{out}--- stderr\n{err}"
    )
    if not scenario.satisfiable:
        assert code == 1, f"expected a resolution error (exit 1), got exit {code}\n{context}"
        assert "internal error" not in err, context
        names = scenario.package_names
        assert any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", err) for n in names), (
            f"the error names no package of the scenario\n{context}"
        )
        return
    assert code == 0, f"expected a lock, got exit {code}\n{context}"
    lock = read_lock(project / "pylock.toml")
    locked = {(p.name, str(p.version)) for p in lock.packages}
    for name, version in scenario.expected_packages.items():
        assert (canonicalize_name(name), version) in locked, (
            f"{name}=={version} is not in the lock: {sorted(locked)}\n{context}"
        )
    for where, expected in EXPECTED_INSTALLS.get(scenario.name, {}).items():
        got = _installs(lock, where)
        assert got == expected, f"installing the lock on {where}: {got} != {expected}\n{context}"
    if scenario.name in LOCK_CHECKS:
        LOCK_CHECKS[scenario.name](lock)
    if scenario.name in RELOCK_STABLE:
        first = (project / "pylock.toml").read_text(encoding="utf-8")
        # An explicit resolver flag (here the default value) makes `torchup lock` re-resolve
        # instead of keeping an up-to-date lock, with the existing lock as preferences.
        assert main([*args, "--resolution", "highest"]) == 0
        out = capsys.readouterr()
        assert "up to date" not in out.err
        assert (project / "pylock.toml").read_text(encoding="utf-8") == first, (
            "a second `torchup lock` changed the lock"
        )
