"""torchup vs uv on real requirement sets against the real PyPI (opt-in: ``pytest -m network``).

For every set in ``sets.toml`` and every target (Python 3.12 on x86_64 manylinux_2_28, arm64
macOS, x86_64 Windows), ``torchup pip compile`` and ``uv pip compile`` read the same
requirements file with the same ``--exclude-newer``; their ``name==version`` sets must be equal,
or differ only as ``sets.toml`` lists (with a written reason). See ``conftest.py`` for how the
tools are run and ``docs/uv-differences.md`` for the results and the explained differences.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.network

SETS_FILE = Path(__file__).with_name("sets.toml")


@dataclass(frozen=True)
class Difference:
    targets: tuple[str, ...]
    torchup: tuple[str, ...] | str  # pins only torchup has, or "error"
    uv: tuple[str, ...] | str  # pins only uv has, or "error"
    reason: str


@dataclass(frozen=True)
class ReqSet:
    id: str
    requirements: tuple[str, ...]
    args: tuple[str, ...] = ()
    targets: tuple[str, ...] = ("linux", "macos", "windows")
    differences: tuple[Difference, ...] = ()


def _side(value: Any, where: str) -> tuple[str, ...] | str:
    if value is None:
        return ()
    if value == "error":
        return "error"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{where}: expected a list of pins or 'error', got {value!r}")


def load_sets(path: Path = SETS_FILE) -> list[ReqSet]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    all_targets = tuple(data["targets"])
    shared = data.get("reasons", {})
    sets: list[ReqSet] = []
    for raw in data["set"]:
        sid = raw["id"]
        if any(s.id == sid for s in sets):
            raise ValueError(f"sets.toml: duplicate set id {sid!r}")
        targets = tuple(raw.get("targets", all_targets))
        diffs = []
        for i, d in enumerate(raw.get("differences", [])):
            where = f"sets.toml: {sid}: differences[{i}]"
            if "reason-ref" in d:
                if d["reason-ref"] not in shared:
                    raise ValueError(f"{where}: no [reasons] entry {d['reason-ref']!r}")
                d = {**d, "reason": shared[d["reason-ref"]]}
            if not str(d.get("reason", "")).strip():
                raise ValueError(f"{where}: a listed difference needs a written reason")
            dt = tuple(d.get("targets", all_targets))
            if set(dt) - set(all_targets):
                raise ValueError(f"{where}: unknown targets {sorted(set(dt) - set(all_targets))}")
            diffs.append(
                Difference(
                    dt,
                    _side(d.get("torchup"), where),
                    _side(d.get("uv"), where),
                    " ".join(str(d["reason"]).split()),
                )
            )
        if set(targets) - set(all_targets):
            raise ValueError(f"sets.toml: {sid}: unknown targets")
        sets.append(
            ReqSet(
                sid, tuple(raw["requirements"]), tuple(raw.get("args", ())), targets, tuple(diffs)
            )
        )
    return sets


SETS = load_sets()
ORDER = {s.id: i for i, s in enumerate(SETS)}
PAIRS = [(s, t) for s in SETS for t in s.targets]


def run_dict(run: Any) -> dict[str, Any]:
    return dict(vars(run))


def _split(pin: str) -> tuple[str, str | None]:
    name, sep, version = pin.partition("==")
    return canonicalize_name(name.strip()), (version.strip() if sep else None)


def _covers(listed: tuple[str, ...] | str, name: str, version: str) -> bool:
    if isinstance(listed, str):
        return False
    for pin in listed:
        lname, lversion = _split(pin)
        if lname == name and (lversion is None or lversion == version):
            return True
    return False


def compare(rs: ReqSet, target: str, ours: Any, theirs: Any) -> dict[str, Any]:
    """Classify one pair: ``equal``, ``listed`` (differs only as sets.toml says) or ``differs``."""
    diffs: list[Difference] = [d for d in rs.differences if target in d.targets]
    entry: dict[str, Any] = {
        "set": rs.id,
        "order": ORDER.get(rs.id, len(ORDER)),
        "target": target,
        "requirements": list(rs.requirements),
        "args": list(rs.args),
        "torchup": run_dict(ours),
        "uv": run_dict(theirs),
        "only_torchup": [],
        "only_uv": [],
        "unexplained": [],
        "reasons": [],
        "stale": [],
    }
    if not ours.ok or not theirs.ok:
        if not ours.ok and not theirs.ok:
            entry["status"] = "equal"  # both refuse: the same answer
            entry["note"] = "both tools fail"
            return entry
        side = "torchup" if not ours.ok else "uv"
        matching = [d for d in diffs if getattr(d, side) == "error"]
        entry["unexplained"] = [] if matching else [f"{side} fails, the other does not"]
        entry["reasons"] = [d.reason for d in matching]
        entry["status"] = "listed" if matching else "differs"
        return entry

    only_t = {n: v for n, v in ours.pins.items() if theirs.pins.get(n) != v}
    only_u = {n: v for n, v in theirs.pins.items() if ours.pins.get(n) != v}
    entry["only_torchup"] = [f"{n}=={v}" for n, v in sorted(only_t.items())]
    entry["only_uv"] = [f"{n}=={v}" for n, v in sorted(only_u.items())]
    if ours.other_lines != theirs.other_lines:
        entry["unexplained"].append(
            f"non-pin lines differ: torchup {ours.other_lines} uv {theirs.other_lines}"
        )
    used: list[Difference] = []
    for side, only in (("torchup", only_t), ("uv", only_u)):
        for name, version in sorted(only.items()):
            hit = [d for d in diffs if _covers(getattr(d, side), name, version)]
            if hit:
                used.extend(d for d in hit if d not in used)
            else:
                entry["unexplained"].append(f"only {side}: {name}=={version}")
    entry["reasons"] = [d.reason for d in used]
    entry["stale"] = [d.reason for d in diffs if d not in used]
    if not only_t and not only_u and not entry["unexplained"]:
        entry["status"] = "equal"
    elif entry["unexplained"]:
        entry["status"] = "differs"
    else:
        entry["status"] = "listed"
    return entry


def _describe(run: Any) -> str:
    if run.returncode is None:
        return f"{run.tool}: timed out after {run.seconds:.0f}s\n{run.stderr_tail[-1500:]}"
    if not run.ok:
        return f"{run.tool}: exit {run.returncode}\n{run.stderr_tail[-1500:]}"
    return f"{run.tool}: {len(run.pins)} pins in {run.seconds:.1f}s"


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{s.id}-{t}" for s, t in PAIRS])
def test_same_as_uv(pair: tuple[ReqSet, str], comparer: Any) -> None:
    rs, target = pair
    sid = rs.id
    ours, theirs = comparer.pair(rs, target)
    entry = compare(rs, target, ours, theirs)
    comparer.record(rs, target, entry)
    for reason in entry["stale"]:
        warnings.warn(
            f"{sid} [{target}]: listed difference not seen (stale?): {reason}", stacklevel=1
        )
    if entry["status"] == "differs":
        pytest.fail(
            f"{sid} [{target}] differs from uv:\n  "
            + "\n  ".join(entry["unexplained"])
            + f"\n{_describe(ours)}\n{_describe(theirs)}\n"
            + f"torchup: {' '.join(ours.command)}",
            pytrace=False,
        )


# --- the comparison logic itself (no network) -----------------------------------------------


def _run(tool: str, pins: dict[str, str], rc: int | None = 0) -> Any:
    return SimpleNamespace(
        tool=tool,
        command=[tool],
        returncode=rc,
        ok=rc == 0,
        seconds=0.1,
        pins=pins,
        other_lines=[],
        stderr_tail="",
    )


def test_compare_classifies_equal_listed_and_unexplained() -> None:
    rs = ReqSet(
        "x",
        ("a",),
        differences=(
            Difference(("linux",), ("b==2",), ("b",), "because"),
            Difference(("windows",), "error", (), "torchup refuses"),
        ),
    )
    same = compare(rs, "linux", _run("torchup", {"a": "1"}), _run("uv", {"a": "1"}))
    assert same["status"] == "equal" and same["stale"] == ["because"]
    listed = compare(rs, "linux", _run("torchup", {"b": "2"}), _run("uv", {"b": "3"}))
    assert listed["status"] == "listed" and listed["reasons"] == ["because"]
    other = compare(rs, "macos", _run("torchup", {"b": "2"}), _run("uv", {"b": "3"}))
    assert other["status"] == "differs" and len(other["unexplained"]) == 2
    extra = compare(rs, "linux", _run("torchup", {"b": "2", "c": "1"}), _run("uv", {"b": "3"}))
    assert extra["status"] == "differs" and extra["unexplained"] == ["only torchup: c==1"]
    err = compare(rs, "windows", _run("torchup", {}, rc=1), _run("uv", {"a": "1"}))
    assert err["status"] == "listed"
    err_uv = compare(rs, "windows", _run("torchup", {"a": "1"}), _run("uv", {}, rc=2))
    assert err_uv["status"] == "differs"
    both = compare(rs, "macos", _run("torchup", {}, rc=1), _run("uv", {}, rc=2))
    assert both["status"] == "equal"
