"""Install planning, table-driven: each row is (desired, installed, options) -> plan summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from torchup.install.plan import DesiredDist, InstallPlan, plan_install
from torchup.install.site import InstalledDistribution

ENV = Path("/venv/lib/python3.12/site-packages")
SYSTEM = Path("/usr/lib/python3/dist-packages")
WHEEL_URL = {
    "url": "https://h/x-1.0-py3-none-any.whl",
    "archive_info": {"hashes": {"sha256": "aa"}},
}
OTHER_WHEEL_URL = {
    "url": "https://h/x-1.0-py3-none-any.whl",
    "archive_info": {"hashes": {"sha256": "bb"}},
}
LOCAL_DIR = {"url": "file:///src/x", "dir_info": {}}
EDITABLE_DIR = {"url": "file:///src/x", "dir_info": {"editable": True}}
GIT_A = {"url": "https://g/x", "vcs_info": {"vcs": "git", "commit_id": "a" * 40}}
GIT_B = {"url": "https://g/x", "vcs_info": {"vcs": "git", "commit_id": "b" * 40}}


def want(
    name: str, version: str, direct_url: dict[str, Any] | None = None, **kw: Any
) -> DesiredDist:
    return DesiredDist(name, version, direct_url=direct_url, **kw)


def have(
    name: str,
    version: str,
    direct_url: dict[str, Any] | None = None,
    *,
    site: Path = ENV,
    **kw: Any,
) -> InstalledDistribution:
    editable = bool(direct_url and (direct_url.get("dir_info") or {}).get("editable"))
    return InstalledDistribution(
        name,
        version,
        site / f"{name}-{version}.dist-info",
        direct_url=direct_url,
        editable=editable,
        **kw,
    )


def summary(plan: InstallPlan) -> dict[str, list[str]]:
    return {
        "install": [f"{d.name}=={d.version}" for d in plan.install],
        "reinstall": [
            f"{r.installed.name}:{r.installed.version}->{r.desired.version} ({r.reason})"
            for r in plan.reinstall
        ],
        "keep": [f"{d.name}=={d.version}" for d in plan.keep],
        "remove": [f"{d.name}=={d.version}" for d in plan.remove],
    }


def expect(install=(), reinstall=(), keep=(), remove=()) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {
        "install": list(install),
        "reinstall": list(reinstall),
        "keep": list(keep),
        "remove": list(remove),
    }


CASES: list[
    tuple[str, list[DesiredDist], list[InstalledDistribution], dict[str, Any], dict[str, list[str]]]
] = [
    ("fresh install", [want("a", "1.0")], [], {}, expect(install=["a==1.0"])),
    ("already satisfied", [want("a", "1.0")], [have("a", "1.0")], {}, expect(keep=["a==1.0"])),
    (
        "version normalisation",
        [want("A", "1.0.0")],
        [have("a", "1.0")],
        {},
        expect(keep=["a==1.0"]),
    ),
    (
        "upgrade",
        [want("a", "2.0")],
        [have("a", "1.0")],
        {},
        expect(reinstall=["a:1.0->2.0 (upgrade)"]),
    ),
    (
        "downgrade",
        [want("a", "1.0")],
        [have("a", "2.0")],
        {},
        expect(reinstall=["a:2.0->1.0 (downgrade)"]),
    ),
    (
        "torch local label changes backend",
        [want("torch", "2.5.1+cu124")],
        [have("torch", "2.5.1+cpu")],
        {},
        expect(reinstall=["torch:2.5.1+cpu->2.5.1+cu124 (upgrade)"]),
    ),
    (
        "reinstall all",
        [want("a", "1.0")],
        [have("a", "1.0")],
        {"reinstall": True},
        expect(reinstall=["a:1.0->1.0 (requested)"]),
    ),
    (
        "reinstall by name",
        [want("a", "1.0"), want("b", "1.0")],
        [have("a", "1.0"), have("b", "1.0")],
        {"reinstall": {"B"}},
        expect(reinstall=["b:1.0->1.0 (requested)"], keep=["a==1.0"]),
    ),
    (
        "extraneous kept without exact",
        [want("a", "1.0")],
        [have("a", "1.0"), have("x", "1.0")],
        {},
        expect(keep=["a==1.0"]),
    ),
    (
        "exact removes extraneous",
        [want("a", "1.0")],
        [have("a", "1.0"), have("x", "1.0")],
        {"exact": True},
        expect(keep=["a==1.0"], remove=["x==1.0"]),
    ),
    (
        "exact never removes outside the environment",
        [],
        [have("x", "1.0"), have("sys", "1.0", site=SYSTEM)],
        {"exact": True, "env_site_dirs": [ENV]},
        expect(remove=["x==1.0"]),
    ),
    (
        "exact keeps protected names",
        [],
        [have("torchup", "0.1"), have("x", "1.0")],
        {"exact": True, "protected": ["TorchUp"]},
        expect(remove=["x==1.0"]),
    ),
    (
        "a different version outside the environment is shadowed, not replaced",
        [want("numpy", "2.0")],
        [have("numpy", "1.26", site=SYSTEM)],
        {"env_site_dirs": [ENV]},
        expect(install=["numpy==2.0"]),
    ),
    (
        "the right version outside the environment is kept",
        [want("numpy", "2.0")],
        [have("numpy", "2.0", site=SYSTEM)],
        {"env_site_dirs": [ENV]},
        expect(keep=["numpy==2.0"]),
    ),
    (
        "index -> direct url",
        [want("x", "1.0", WHEEL_URL)],
        [have("x", "1.0")],
        {},
        expect(reinstall=["x:1.0->1.0 (source)"]),
    ),
    (
        "direct url -> index",
        [want("x", "1.0")],
        [have("x", "1.0", WHEEL_URL)],
        {},
        expect(reinstall=["x:1.0->1.0 (source)"]),
    ),
    (
        "same archive",
        [want("x", "1.0", WHEEL_URL)],
        [have("x", "1.0", WHEEL_URL)],
        {},
        expect(keep=["x==1.0"]),
    ),
    (
        "archive hash changed",
        [want("x", "1.0", OTHER_WHEEL_URL)],
        [have("x", "1.0", WHEEL_URL)],
        {},
        expect(reinstall=["x:1.0->1.0 (source)"]),
    ),
    (
        "same git commit",
        [want("x", "1.0", GIT_A)],
        [have("x", "1.0", GIT_A)],
        {},
        expect(keep=["x==1.0"]),
    ),
    (
        "git commit moved",
        [want("x", "1.0", GIT_B)],
        [have("x", "1.0", GIT_A)],
        {},
        expect(reinstall=["x:1.0->1.0 (source)"]),
    ),
    (
        "local directory is always rebuilt",
        [want("x", "1.0", LOCAL_DIR)],
        [have("x", "1.0", LOCAL_DIR)],
        {},
        expect(reinstall=["x:1.0->1.0 (local-directory)"]),
    ),
    (
        "editable kept",
        [want("x", "1.0", EDITABLE_DIR, editable=True)],
        [have("x", "1.0", EDITABLE_DIR)],
        {},
        expect(keep=["x==1.0"]),
    ),
    (
        "editable -> regular",
        [want("x", "1.0", LOCAL_DIR)],
        [have("x", "1.0", EDITABLE_DIR)],
        {},
        expect(reinstall=["x:1.0->1.0 (editable)"]),
    ),
    (
        "sorted output",
        [want("c", "1"), want("a", "1"), want("b", "2")],
        [have("b", "1"), have("z", "1"), have("y", "1")],
        {"exact": True},
        expect(install=["a==1", "c==1"], reinstall=["b:1->2 (upgrade)"], remove=["y==1", "z==1"]),
    ),
]


@pytest.mark.parametrize(
    ("desired", "installed", "options", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_plan(
    desired: list[DesiredDist],
    installed: list[InstalledDistribution],
    options: dict[str, Any],
    expected: dict[str, list[str]],
) -> None:
    plan = plan_install(desired, {d.name: d for d in installed}, **options)
    assert summary(plan) == expected


def test_plan_helpers() -> None:
    plan = plan_install(
        {"a": want("a", "2"), "n": want("n", "1")},
        {"a": have("a", "1"), "x": have("x", "1")},
        exact=True,
    )
    assert [d.name for d in plan.to_install] == ["n", "a"]
    assert [d.name for d in plan.to_uninstall] == ["a", "x"]
    assert not plan.is_empty
    assert plan_install([], {}).is_empty


def test_conflicting_desires_are_a_bug() -> None:
    with pytest.raises(ValueError, match="desired twice"):
        plan_install([want("a", "1"), want("A", "2")], {})
