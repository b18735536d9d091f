"""torchup vs uv on real requirement sets against the real PyPI (opt-in: ``pytest -m network``).

For every set in ``sets.toml`` and every target (Python 3.12 on x86_64 manylinux_2_28, arm64
macOS, x86_64 Windows), ``torchup pip compile`` and ``uv pip compile`` read the same
requirements file with the same ``--exclude-newer``; their ``name==version`` sets must be equal,
or differ only as ``sets.toml`` lists (with a written reason). See ``conftest.py`` for how the
tools are run and ``docs/uv-differences.md`` for the results and the explained differences.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from tests.network.conftest import Comparer, Difference, ReqSet, Run, load_sets, run_dict

pytestmark = pytest.mark.network

EXCLUDE_NEWER, SETS = load_sets()
BY_ID = {s.id: s for s in SETS}
ORDER = {s.id: i for i, s in enumerate(SETS)}
PAIRS = [(s.id, t) for s in SETS for t in s.targets]


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


def compare(rs: ReqSet, target: str, ours: Run, theirs: Run) -> dict[str, Any]:
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


def _describe(run: Run) -> str:
    if run.returncode is None:
        return f"{run.tool}: timed out after {run.seconds:.0f}s\n{run.stderr_tail[-1500:]}"
    if not run.ok:
        return f"{run.tool}: exit {run.returncode}\n{run.stderr_tail[-1500:]}"
    return f"{run.tool}: {len(run.pins)} pins in {run.seconds:.1f}s"


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
def test_same_as_uv(pair: tuple[str, str], comparer: Comparer) -> None:
    sid, target = pair
    rs = BY_ID[sid]
    ours, theirs = comparer.pair(rs, target)
    entry = compare(rs, target, ours, theirs)
    comparer.record(rs, target, entry)
    for reason in entry["stale"]:
        warnings.warn(f"{sid} [{target}]: listed difference not seen (stale?): {reason}", stacklevel=1)
    if entry["status"] == "differs":
        pytest.fail(
            f"{sid} [{target}] differs from uv:\n  "
            + "\n  ".join(entry["unexplained"])
            + f"\n{_describe(ours)}\n{_describe(theirs)}\n"
            + f"torchup: {' '.join(ours.command)}",
            pytrace=False,
        )


# --- the comparison logic itself (no network) -----------------------------------------------


def _run(tool: str, pins: dict[str, str], rc: int | None = 0) -> Run:
    return Run(tool, [tool], rc, 0.1, pins)


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

