"""Fixtures and the summary line of the packse conformance run.

* ``packse_world``: session-scoped; builds every scenario's distributions once (a second or two)
  and publishes them on one :class:`IndexServer`, one index per scenario.
* At the end of a run that collected ``test_packse.py``, prints
  ``packse conformance: N passed, M xfailed of 106 non-universal``. With
  ``PACKSE_WRITE_DOC=1`` it also rewrites ``docs/conformance.md`` from the results.
* For ``test_packse_universal.py`` (universal scenarios through `torchup lock`) it prints
  ``packse universal: N passed, M xfailed of 41``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conformance.packse import Scenario, load_scenarios, publish_scenarios
from tests.support.server import IndexServer

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "conformance.md"


@dataclass
class PackseWorld:
    server: IndexServer
    scenarios: dict[str, Scenario]
    index_urls: dict[str, str]


@pytest.fixture(scope="session")
def packse_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackseWorld]:
    root = tmp_path_factory.mktemp("packse")
    scenarios = [s for s in load_scenarios() if not s.universal]
    with IndexServer(root / "index") as server:
        urls = publish_scenarios(server, scenarios, root / "dists")
        yield PackseWorld(server, {s.name: s for s in scenarios}, urls)


# -- summary ----------------------------------------------------------------------------------

_OUTCOMES: dict[str, str] = {}  # scenario name -> passed / xfailed / failed / skipped / xpassed


def _scenario_of(nodeid: str) -> str | None:
    if "test_packse.py::" not in nodeid or "[" not in nodeid:
        return None
    return nodeid.rsplit("[", 1)[1].rstrip("]")


# test_packse_universal.py (universal scenarios through `torchup lock`): its own summary line.
_UNIVERSAL_OUTCOMES: dict[str, str] = {}


def _universal_scenario_of(nodeid: str) -> str | None:
    if "test_packse_universal.py::test_packse_universal[" not in nodeid:
        return None
    return nodeid.rsplit("[", 1)[1].rstrip("]")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name = _scenario_of(report.nodeid)
    store = _OUTCOMES
    if name is None:
        name, store = _universal_scenario_of(report.nodeid), _UNIVERSAL_OUTCOMES
    if name is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        elif report.skipped:
            outcome = "skipped"
        else:
            outcome = report.outcome
        store[name] = outcome
    elif report.when == "teardown" and report.failed:
        store[name] = "failed"


def _universal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.conformance.test_packse_universal import UNIVERSAL

    counts: dict[str, int] = {}
    for outcome in _UNIVERSAL_OUTCOMES.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    line = (
        f"packse universal: {counts.get('passed', 0)} passed, "
        f"{counts.get('xfailed', 0)} xfailed of {len(UNIVERSAL)}"
    )
    extra = [f"{counts[k]} {k}" for k in ("failed", "xpassed", "skipped") if counts.get(k)]
    if extra:
        line += " (" + ", ".join(extra) + ")"
    if len(_UNIVERSAL_OUTCOMES) < len(UNIVERSAL):
        line += f" [{len(_UNIVERSAL_OUTCOMES)} run]"
    terminalreporter.write_sep("-", line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _UNIVERSAL_OUTCOMES:
        _universal_summary(terminalreporter)
    if not _OUTCOMES:
        return
    from tests.conformance.test_packse import NON_UNIVERSAL, XFAILS

    counts: dict[str, int] = {}
    ran = [n for n in _OUTCOMES if n in NON_UNIVERSAL]
    for name in ran:
        counts[_OUTCOMES[name]] = counts.get(_OUTCOMES[name], 0) + 1
    line = (
        f"packse conformance: {counts.get('passed', 0)} passed, "
        f"{counts.get('xfailed', 0)} xfailed of {len(NON_UNIVERSAL)} non-universal"
    )
    extra = [f"{counts[k]} {k}" for k in ("failed", "xpassed", "skipped") if counts.get(k)]
    if extra:
        line += " (" + ", ".join(extra) + ")"
    if len(ran) < len(NON_UNIVERSAL):
        line += f" [{len(ran)} run]"
    terminalreporter.write_sep("-", line)
    if os.environ.get("PACKSE_WRITE_DOC") == "1" and len(ran) == len(NON_UNIVERSAL):
        DOC.write_text(_render_doc(counts, XFAILS), encoding="utf-8")
        terminalreporter.write_line(f"wrote {DOC.relative_to(REPO)}")


def _render_doc(counts: dict[str, int], xfails: dict[str, str]) -> str:
    from tests.conformance.test_packse import NON_UNIVERSAL, UNIVERSAL

    by_group: dict[str, list[str]] = {}
    for name, scenario in NON_UNIVERSAL.items():
        by_group.setdefault(scenario.group, []).append(name)
    lines = [
        "# Resolver conformance: packse scenarios",
        "",
        "<!-- Generated by `PACKSE_WRITE_DOC=1 pytest tests/conformance/test_packse.py`; "
        "do not edit by hand. -->",
        "",
        "[packse](https://github.com/astral-sh/packse) scenarios describe small package "
        "universes and the result a resolver must reach. `tests/conformance/test_packse.py` "
        "builds each scenario's packages as real wheels and sdists (packse's build rules), "
        "serves them from a local index (one index per scenario) and runs "
        "`torchup pip compile` on the scenario's root requirements in-process, with the "
        "scenario's Python version, platform, pre-release and binary options.",
        "",
        f"**{counts.get('passed', 0)} passed, {counts.get('xfailed', 0)} xfailed (expected "
        f"failures), {counts.get('failed', 0)} failed** of {len(NON_UNIVERSAL)} non-universal "
        "scenarios. "
        f"The {len(UNIVERSAL)} universal (`universal = true`, lock-style) scenarios are "
        "collected and skipped: they run in `tests/conformance/test_packse_universal.py` once "
        "a universal resolver exists.",
        "",
        "## Rules the scenarios pin down",
        "",
        "- **Pre-releases** (default mode `if-necessary-or-explicit`): a package's pre-releases "
        "are candidates when a requirement on it names a pre-release (`a>=1.0.0a1`; a root "
        "requirement that does so opts the package in everywhere), when the package has "
        "published nothing but pre-releases, or with `--prerelease allow`. A range that only a "
        "pre-release satisfies (`a>0.1.0` with 0.1.0 and 1.0.0a1) does *not* opt in by itself. "
        "`<V` never matches pre-releases of `V` unless the specifier names one (PEP 440). "
        "This is PEP 440 as packse reads it, not uv 0.12+'s default.",
        "- **Yanked** versions (PEP 592) are used only when pinned exactly (`==`/`===`); a root "
        "requirement or constraint pinning one makes it selectable for every requirement on "
        "that package.",
        "- **Local versions**: `==1.2.3` matches `1.2.3+foo`; `>`, `<`, `>=`, `<=` compare "
        "public versions (PEP 440).",
        "- **Requires-Python** is checked against the target's full version (`--python-version "
        "3.9` means 3.9.0), upper bounds included (see the expected failure).",
        "- **sdists**: an sdist whose `PKG-INFO` is static (Metadata-Version >= 2.2 with none of "
        "Requires-Dist, Requires-Python, Provides-Extra listed as Dynamic, PEP 643) is "
        "resolved without a build; `--no-binary` / `--only-binary` decide which files count.",
        "",
        "## Expected failures",
        "",
    ]
    if xfails:
        lines += ["| scenario | reason |", "|---|---|"]
        for name in sorted(xfails):
            lines.append(f"| `{name}` | {xfails[name]} |")
    else:
        lines.append("None.")
    lines += [
        "",
        "## Results by folder",
        "",
        "| folder | scenarios | passed | xfailed |",
        "|---|---|---|---|",
    ]
    for group in sorted(by_group):
        names = by_group[group]
        passed = sum(_OUTCOMES.get(n) == "passed" for n in names)
        xfailed = sum(_OUTCOMES.get(n) == "xfailed" for n in names)
        lines.append(f"| {group} | {len(names)} | {passed} | {xfailed} |")
    lines += [
        "",
        "## Running",
        "",
        "```",
        "pytest tests/conformance/test_packse.py            # prints the pass/fail line",
        "PACKSE_WRITE_DOC=1 pytest tests/conformance/test_packse.py   # also regenerates this file",
        "```",
        "",
    ]
    return "\n".join(lines)
