"""packse resolver scenarios, run through the real CLI (`torchup pip compile`) in-process.

Each scenario's packages are real wheels/sdists on a local index (see ``packse.py`` and the
``packse_world`` fixture); the test compiles the scenario's root requirements for the
scenario's target and checks satisfiable <-> exit 0, the exact pins of ``[expected.packages]``
and, for unsatisfiable scenarios, that the error is a resolution error naming a package.
Expected failures live in ``xfail.toml`` (scenario name -> written reason), strict.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conformance.packse import PLATFORMS, SCENARIO_ROOT, Scenario, load_scenarios
from torchup.cli.main import main

HERE = Path(__file__).parent
if not SCENARIO_ROOT.is_dir():
    pytest.skip(
        f"packse scenarios not found at {SCENARIO_ROOT} (set PACKSE_SCENARIOS)",
        allow_module_level=True,
    )
SCENARIOS = load_scenarios()
NON_UNIVERSAL = {s.name: s for s in SCENARIOS if not s.universal}
UNIVERSAL = {s.name: s for s in SCENARIOS if s.universal}
XFAILS: dict[str, str] = {
    name: str(entry["reason"])
    for name, entry in tomllib.loads((HERE / "xfail.toml").read_text(encoding="utf-8")).items()
}
UNIVERSAL_SKIP = "universal (lock) scenarios run in tests/conformance/test_packse_universal.py"

_PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)$")


def _params() -> list[object]:
    params: list[object] = []
    for s in SCENARIOS:
        marks: list[pytest.MarkDecorator] = []
        if s.universal:
            marks.append(pytest.mark.skip(reason=UNIVERSAL_SKIP))
        elif s.name in XFAILS:
            marks.append(pytest.mark.xfail(strict=True, reason=XFAILS[s.name]))
        params.append(pytest.param(s, id=s.name, marks=marks))
    return params


def test_xfail_list_names_real_scenarios() -> None:
    unknown = sorted(set(XFAILS) - set(NON_UNIVERSAL))
    assert not unknown, f"xfail.toml names unknown or universal scenarios: {unknown}"
    if "PACKSE_SCENARIOS" not in os.environ:  # the vendored set: catch a lost or added file
        assert len(NON_UNIVERSAL) == 106 and len(UNIVERSAL) == 41


def compile_args(scenario: Scenario, index_url: str, src: Path) -> list[str]:
    """The `torchup pip compile` command line for a scenario."""
    args = [
        "pip",
        "compile",
        str(src),
        "--index-url",
        index_url,
        "--python-version",
        scenario.target_python,
        "--python-platform",
        PLATFORMS.get(scenario.python_platform or "", "linux"),
        "--no-header",
        "--no-annotate",
        "--color",
        "never",
        "--no-progress",
    ]
    if scenario.prereleases:
        args += ["--prerelease", "allow"]
    for name in scenario.no_binary:
        args += ["--no-binary", name]
    for name in scenario.no_build:
        # packse's per-package no_build: only pre-built binaries of this package may be used.
        args += ["--only-binary", name]
    return args


def _pins(stdout: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in stdout.splitlines():
        m = _PIN.match(line.strip())
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


@pytest.mark.parametrize("scenario", _params())
def test_packse(
    scenario: Scenario, packse_world, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "requirements.in"
    src.write_text("".join(r + "\n" for r in scenario.root_requires), encoding="utf-8")
    code = main(compile_args(scenario, packse_world.index_urls[scenario.name], src))
    out, err = capsys.readouterr()
    context = f"{scenario.description}\nexplanation: {scenario.explanation}\nstdout:\n{out}\nstderr:\n{err}"
    if scenario.satisfiable:
        assert code == 0, f"expected a resolution, got exit {code}\n{context}"
        if scenario.expected_packages:
            expected = {
                canonicalize_name(k): Version(v) for k, v in scenario.expected_packages.items()
            }
            got = {k: Version(v) for k, v in _pins(out).items()}
            # Version equality ignores nothing that matters here but compare the text too, so
            # "1.2.3+foo" never passes for "1.2.3".
            assert got == expected, f"pins differ\n{context}"
            assert {k: str(v) for k, v in got.items()} == {k: str(v) for k, v in expected.items()}
    else:
        assert code == 1, f"expected a resolution error (exit 1), got exit {code}\n{context}"
        assert "internal error" not in err, context
        names = scenario.package_names | {
            canonicalize_name(re.split(r"[\s\[<>=!~;@]", r, maxsplit=1)[0])
            for r in scenario.root_requires
        }
        assert any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", err) for n in names), (
            f"the error names no package of the scenario\n{context}"
        )
