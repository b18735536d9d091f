"""PubGrub over an in-memory registry: the pub ``solver.md`` examples and torchup's own cases.

Every scenario's docstring draws its dependency tree. ``DictProvider`` is the reference provider
for resolver tests (the report and property tests import it from here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from torchup.errors import ResolutionError
from torchup.resolver import (
    ROOT,
    Dependency,
    Derived,
    Incompatibility,
    NoSolution,
    NoVersions,
    Reporter,
    Resolution,
    TooManySteps,
    Unavailable,
    explain,
    resolve,
)

# -- the in-memory provider ------------------------------------------------------------------

Deps = Sequence[str] | Unavailable
Registry = Mapping[str, Mapping[str, Deps]]


@dataclass(frozen=True)
class Req:
    """A requirement as the test provider sees it: package key, specifier, text as written."""

    key: str
    specifier: SpecifierSet
    text: str


def req(text: str) -> Req:
    """``"foo[bar]>=1"`` -> the virtual package ``foo[bar]`` (extras are separate packages)."""
    parsed = Requirement(text)
    key = parsed.name + (f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else "")
    return Req(key, parsed.specifier, text)


@dataclass
class DictProvider:
    """``registry[name][version] = ["dep>=1", ...]`` or ``Unavailable(reason)``.

    Versions are preferred newest first unless ``order`` says otherwise; ``matching`` is
    ``SpecifierSet.filter(universe, prereleases=True)``. Records every call it gets.
    """

    registry: Registry
    missing: Mapping[str, str] = field(default_factory=dict)
    order: Mapping[str, Sequence[str]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    prefetched: list[list[str]] = field(default_factory=list)
    _versions: dict[str, list[Version]] = field(default_factory=dict)
    _deps: dict[str, dict[Version, Deps]] = field(default_factory=dict)

    def versions(self, package: str) -> Sequence[Version]:
        self.calls.append(("versions", package))
        return self._universe(package)

    def _universe(self, package: str) -> list[Version]:
        if package not in self._versions:
            if package in self.order:
                listed = [Version(v) for v in self.order[package]]
            else:
                listed = sorted((Version(v) for v in self.registry.get(package, {})), reverse=True)
            self._versions[package] = listed
        return self._versions[package]

    def matching(self, package: str, requirement: Req) -> Iterable[Version]:
        return requirement.specifier.filter(self._universe(package), prereleases=True)

    def dependencies(
        self, package: str, version: Version
    ) -> Sequence[tuple[str, Req]] | Unavailable:
        self.calls.append(("dependencies", (package, str(version))))
        if package not in self._deps:
            self._deps[package] = {Version(v): d for v, d in self.registry[package].items()}
        deps = self._deps[package][version]
        if isinstance(deps, Unavailable):
            return deps
        return [(r.key, r) for r in map(req, deps)]

    def display(self, package: str) -> str:
        return package

    def format_requirement(self, package: str, requirement: Req) -> str | None:
        return requirement.text

    def missing_reason(self, package: str) -> str | None:
        return self.missing.get(package)

    def prefetch(self, packages: Sequence[str]) -> None:
        self.prefetched.append(list(packages))


def solve(
    registry: Registry, requires: Sequence[str], **options: Any
) -> tuple[Resolution[str], DictProvider]:
    provider = DictProvider(
        registry, missing=options.pop("missing", {}), order=options.pop("order", {})
    )
    return resolve(provider, [(r.key, r) for r in map(req, requires)], **options), provider


def failure(registry: Registry, requires: Sequence[str], **options: Any) -> NoSolution:
    with pytest.raises(NoSolution) as caught:
        solve(registry, requires, **options)
    return caught.value


# -- scenarios ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    registry: Registry
    requires: Sequence[str]
    solution: Mapping[str, str] | None = None  # expected versions
    explanation: str | None = None  # expected report, exactly
    missing: Mapping[str, str] = field(default_factory=dict)


SCENARIOS: list[Any] = []


def scenario(make: Callable[[], Case]) -> Callable[[], Case]:
    SCENARIOS.append(pytest.param(make, id=make.__name__))
    return make


@scenario
def no_conflicts() -> Case:
    """pub solver.md "No conflicts".

    root
    └── foo~=1.0
        └── foo 1.0.0
            └── bar~=1.0
                ├── bar 1.0.0
                └── bar 2.0.0
    """
    return Case(
        {"foo": {"1.0.0": ["bar~=1.0"]}, "bar": {"1.0.0": [], "2.0.0": []}},
        ["foo~=1.0"],
        solution={"foo": "1.0.0", "bar": "1.0.0"},
    )


@scenario
def avoiding_a_conflict_during_decision_making() -> Case:
    """pub solver.md: foo 1.1.0 would need bar 2, which root excludes, so foo 1.0.0 is picked.

    root
    ├── foo~=1.0
    │   ├── foo 1.1.0 ── bar~=2.0
    │   └── foo 1.0.0
    └── bar~=1.0
        ├── bar 1.0.0
        ├── bar 1.1.0
        └── bar 2.0.0
    """
    return Case(
        {
            "foo": {"1.1.0": ["bar~=2.0"], "1.0.0": []},
            "bar": {"1.0.0": [], "1.1.0": [], "2.0.0": []},
        },
        ["foo~=1.0", "bar~=1.0"],
        solution={"foo": "1.0.0", "bar": "1.1.0"},
    )


@scenario
def performing_conflict_resolution() -> Case:
    """pub solver.md: foo 2.0.0 -> bar -> foo~=1.0 contradicts itself; learn and use foo 1.0.0.

    root
    └── foo>=1.0.0
        ├── foo 2.0.0 ── bar~=1.0
        │                └── bar 1.0.0 ── foo~=1.0
        └── foo 1.0.0
    """
    return Case(
        {"foo": {"2.0.0": ["bar~=1.0"], "1.0.0": []}, "bar": {"1.0.0": ["foo~=1.0"]}},
        ["foo>=1.0.0"],
        solution={"foo": "1.0.0"},
    )


@scenario
def conflict_resolution_with_a_partial_satisfier() -> Case:
    """pub solver.md: the conflict is satisfied by two assignments to "shared" together.

    root
    ├── foo~=1.0
    │   ├── foo 1.1.0
    │   │   ├── left~=1.0 ── left 1.0.0 ── shared>=1.0.0
    │   │   └── right~=1.0 ── right 1.0.0 ── shared<2.0.0
    │   └── foo 1.0.0
    └── target~=2.0
        shared 2.0.0
        shared 1.0.0 ── target~=1.0
        target 2.0.0, 1.0.0
    """
    return Case(
        {
            "foo": {"1.1.0": ["left~=1.0", "right~=1.0"], "1.0.0": []},
            "left": {"1.0.0": ["shared>=1.0.0"]},
            "right": {"1.0.0": ["shared<2.0.0"]},
            "shared": {"2.0.0": [], "1.0.0": ["target~=1.0"]},
            "target": {"2.0.0": [], "1.0.0": []},
        },
        ["foo~=1.0", "target~=2.0"],
        solution={"foo": "1.0.0", "target": "2.0.0"},
    )


@scenario
def linear_error_reporting() -> Case:
    """pub solver.md "Linear error reporting".

    root
    ├── foo~=1.0 ── foo 1.0.0 ── bar~=2.0 ── bar 2.0.0 ── baz~=3.0
    └── baz~=1.0
        baz 1.0.0, 3.0.0
    """
    return Case(
        {
            "foo": {"1.0.0": ["bar~=2.0"]},
            "bar": {"2.0.0": ["baz~=3.0"]},
            "baz": {"1.0.0": [], "3.0.0": []},
        },
        ["foo~=1.0", "baz~=1.0"],
        explanation=(
            "Because foo==1.0.0 depends on bar~=2.0, which depends on baz~=3.0,"
            " foo~=1.0 requires baz~=3.0.\n"
            "And because you require both foo~=1.0 and baz~=1.0,"
            " your requirements cannot be satisfied."
        ),
    )


@scenario
def branching_error_reporting() -> Case:
    """pub solver.md "Branching error reporting": both versions of foo fail, differently.

    root
    └── foo~=1.0
        ├── foo 1.0.0
        │   ├── a~=1.0 ── a 1.0.0 ── b~=2.0
        │   └── b~=1.0
        └── foo 1.1.0
            ├── x~=1.0 ── x 1.0.0 ── y~=2.0
            └── y~=1.0
        b 1.0.0, 2.0.0; y 1.0.0, 2.0.0
    """
    return Case(
        {
            "foo": {"1.0.0": ["a~=1.0", "b~=1.0"], "1.1.0": ["x~=1.0", "y~=1.0"]},
            "a": {"1.0.0": ["b~=2.0"]},
            "b": {"1.0.0": [], "2.0.0": []},
            "x": {"1.0.0": ["y~=2.0"]},
            "y": {"1.0.0": [], "2.0.0": []},
        },
        ["foo~=1.0"],
        explanation=(
            "    Because foo==1.0.0 depends on a~=1.0, which depends on b~=2.0,"
            " foo==1.0.0 requires b~=2.0.\n"
            "(1) So, because foo==1.0.0 depends on b~=1.0 and you require foo~=1.0,"
            " foo==1.1.0 is required.\n"
            "\n"
            "    Because foo==1.1.0 depends on x~=1.0, which depends on y~=2.0,"
            " foo==1.1.0 requires y~=2.0.\n"
            "    And because foo==1.1.0 depends on y~=1.0, foo==1.1.0 cannot be used.\n"
            "    And because foo==1.1.0 is required (1), your requirements cannot be satisfied."
        ),
    )


@scenario
def transitive_chain() -> Case:
    """Newest versions all the way down.

    root
    └── app
        ├── app 2.0 ── lib>=1.5 ── lib 2.0 ── util<3
        └── app 1.0           util 1.0, 2.0, 3.0
    """
    return Case(
        {
            "app": {"1.0": [], "2.0": ["lib>=1.5"]},
            "lib": {"1.0": [], "2.0": ["util<3"]},
            "util": {"1.0": [], "2.0": [], "3.0": []},
        },
        ["app"],
        solution={"app": "2.0", "lib": "2.0", "util": "2.0"},
    )


@scenario
def unavailable_versions_are_skipped() -> Case:
    """The newest versions cannot be used (reasons are data); the oldest one can.

    root
    └── foo
        ├── foo 3.0  requires Python >=3.12
        ├── foo 2.0  has no wheel for macOS arm64
        └── foo 1.0
    """
    return Case(
        {
            "foo": {
                "3.0": Unavailable("requires Python >=3.12"),
                "2.0": Unavailable("has no wheel for macOS arm64"),
                "1.0": [],
            }
        },
        ["foo"],
        solution={"foo": "1.0"},
    )


@scenario
def unavailable_reasons_in_the_report() -> Case:
    """Every version fails, each for its own reason.

    root
    └── foo>=2
        ├── foo 3.0  requires Python >=3.12
        ├── foo 2.0  is yanked
        └── foo 1.0  (excluded by >=2)
    """
    return Case(
        {
            "foo": {
                "3.0": Unavailable("requires Python >=3.12"),
                "2.0": Unavailable("is yanked"),
                "1.0": [],
            }
        },
        ["foo>=2"],
        explanation=(
            "Because foo==2.0 is yanked and foo==3.0 requires Python >=3.12,"
            " foo>=2 cannot be used.\n"
            "And because you require foo>=2, your requirements cannot be satisfied."
        ),
    )


@scenario
def one_reason_for_many_versions_is_said_once() -> Case:
    """Twenty versions rejected for one reason make one line, not twenty.

    root
    └── app ── app 1.0 ── lib
                          └── lib 1 .. 20  all require Python >=3.12
    """
    return Case(
        {
            "app": {"1.0": ["lib"]},
            "lib": {str(i): Unavailable("requires Python >=3.12") for i in range(1, 21)},
        },
        ["app"],
        explanation=(
            "Because you require app, which depends on lib, lib is required.\n"
            "And because every version of lib requires Python >=3.12,"
            " your requirements cannot be satisfied."
        ),
    )


@scenario
def missing_package() -> Case:
    """A dependency that no index has, with the provider's reason.

    root
    └── app ── app 1.0 ── ghost   (not on any index)
    """
    return Case(
        {"app": {"1.0": ["ghost>=1"]}},
        ["app"],
        missing={"ghost": "not found on any index"},
        explanation=(
            "Because you require app, which depends on ghost>=1,"
            " but ghost is not available (not found on any index),"
            " your requirements cannot be satisfied."
        ),
    )


@scenario
def missing_root_requirement() -> Case:
    """The root asks for a package that does not exist; no reason known.

    root
    └── ghost
    """
    return Case({}, ["ghost"], explanation="You require ghost, but ghost was not found.")


@scenario
def requirement_matching_nothing_lists_what_exists() -> Case:
    """uv says "there is no version of torch==2.4.1+cpu"; we also say what there is.

    root
    └── torch==2.4.1+cpu
        torch 2.4.1, 2.4.1+cu121
    """
    return Case(
        {"torch": {"2.4.1": [], "2.4.1+cu121": []}},
        ["torch==2.4.1+cpu"],
        explanation=(
            "You require torch==2.4.1+cpu, but no version of torch matches"
            " (available: 2.4.1, 2.4.1+cu121)."
        ),
    )


@scenario
def local_version_satisfies_a_public_pin() -> Case:
    """``==2.5.1`` matches ``2.5.1+cpu`` (PEP 440 ignores local labels in ``==``).

    root
    └── torchvision ── torchvision 0.20.1+cpu ── torch==2.5.1
                                                 ├── torch 2.5.1+cpu
                                                 └── torch 2.4.0+cpu
    """
    return Case(
        {
            "torchvision": {"0.20.1+cpu": ["torch==2.5.1"]},
            "torch": {"2.5.1+cpu": [], "2.4.0+cpu": []},
        },
        ["torchvision"],
        solution={"torchvision": "0.20.1+cpu", "torch": "2.5.1+cpu"},
    )


@scenario
def local_version_explanation_names_the_only_match() -> Case:
    """Seed issue: torchaudio>=2 is only a +cu118 build whose torch pin has no match.

    root
    └── whisperx ── whisperx 3.1.1 ── torchaudio>=2
                                      ├── torchaudio 1.0
                                      └── torchaudio 2.2.1+cu118 ── torch==2.2.1
                                                                    torch 2.0.0, 2.1.0
    """
    return Case(
        {
            "whisperx": {"3.1.1": ["torchaudio>=2"]},
            "torchaudio": {"1.0": [], "2.2.1+cu118": ["torch==2.2.1"]},
            "torch": {"2.0.0": [], "2.1.0": []},
        },
        ["whisperx"],
        explanation=(
            "Because you require whisperx, which depends on torchaudio>=2,"
            " torchaudio>=2 (only 2.2.1+cu118) is required.\n"
            "And because torchaudio==2.2.1+cu118 depends on torch==2.2.1, but no version of"
            " torch matches (available: 2.0.0, 2.1.0), your requirements cannot be satisfied."
        ),
    )


@scenario
def extras_are_virtual_packages() -> Case:
    """``foo[gpu]`` pins foo to its own version and adds dependencies.

    root
    ├── foo[gpu]
    │   ├── foo[gpu] 2.0 ── foo==2.0, cuda>=12
    │   └── foo[gpu] 1.0 ── foo==1.0, cuda>=11
    └── cuda<12
        cuda 11.8, 12.1
    """
    return Case(
        {
            "foo[gpu]": {"2.0": ["foo==2.0", "cuda>=12"], "1.0": ["foo==1.0", "cuda>=11"]},
            "foo": {"1.0": [], "2.0": []},
            "cuda": {"11.8": [], "12.1": []},
        },
        ["foo[gpu]", "cuda<12"],
        solution={"foo[gpu]": "1.0", "foo": "1.0", "cuda": "11.8"},
    )


@scenario
def extra_conflicting_with_the_base_package() -> Case:
    """The extra needs bar, and bar needs an older foo than the user allows.

    root
    ├── foo[x] ── foo[x] 1.0 ── foo==1.0, bar
    ├── foo>=2                              └── bar 1 ── foo<2
    └── bar
    """
    return Case(
        {
            "foo[x]": {"1.0": ["foo==1.0", "bar"], "2.0": ["foo==2.0"]},
            "foo": {"1.0": [], "2.0": []},
            "bar": {"1": ["foo<2"]},
        },
        ["foo[x]", "foo>=2", "bar"],
        explanation=(
            "Because bar==1 depends on foo<2 and you require foo>=2, bar cannot be used.\n"
            "And because you require bar, your requirements cannot be satisfied."
        ),
    )


@scenario
def backjumping_past_unrelated_decisions() -> Case:
    """A decision on "noise" must not be retried when the conflict is elsewhere.

    root
    ├── noise  (3 versions, no dependencies)
    └── a
        ├── a 2 ── b==2 ── b 2 ── c==9 (missing version)
        └── a 1 ── b==1 ── b 1
    """
    return Case(
        {
            "noise": {"1": [], "2": [], "3": []},
            "a": {"2": ["b==2"], "1": ["b==1"]},
            "b": {"2": ["c==9"], "1": []},
            "c": {"1": []},
        },
        ["noise", "a"],
        solution={"noise": "3", "a": "1", "b": "1"},
    )


@pytest.mark.parametrize("make", SCENARIOS)
def test_scenario(make: Callable[[], Case]) -> None:
    case = make()
    if case.explanation is None:
        resolution, _ = solve(case.registry, case.requires, missing=case.missing)
        assert {k: str(v) for k, v in resolution.versions.items()} == dict(case.solution or {})
    else:
        error = failure(case.registry, case.requires, missing=case.missing)
        assert str(error) == case.explanation
        assert isinstance(error, ResolutionError)


# -- API contracts -----------------------------------------------------------------------------


def test_dependencies_edges_exclude_root_by_default() -> None:
    resolution, _ = solve({"a": {"1": ["b"]}, "b": {"1": []}}, ["a"])
    assert resolution.dependencies == {"a": ["b"], "b": []}


def test_dependencies_edges_include_a_named_root() -> None:
    resolution, _ = solve({"a": {"1": ["b", "b<2"]}, "b": {"1": []}}, ["a", "b"], root="myapp")
    assert resolution.dependencies == {"myapp": ["a", "b"], "a": ["b"], "b": []}
    assert "myapp" not in resolution.versions


def test_provider_preference_order_is_respected() -> None:
    """ "Best first" is the provider's call (here: lowest first), not Version order."""
    resolution, _ = solve({"a": {"1": [], "2": [], "3": []}}, ["a"], order={"a": ["1", "2", "3"]})
    assert resolution.versions == {"a": Version("1")}


def test_fewest_versions_first() -> None:
    """With two undecided packages, the one with fewer candidates is decided first."""
    registry: Registry = {"many": {str(i): [] for i in range(1, 6)}, "few": {"1": []}}
    _, provider = solve(registry, ["many", "few"])
    tried = [args[0] for name, args in provider.calls if name == "dependencies"]
    assert tried == ["few", "many"]


def test_each_version_and_package_is_asked_once() -> None:
    registry = {"foo": {"2.0.0": ["bar~=1.0"], "1.0.0": []}, "bar": {"1.0.0": ["foo~=1.0"]}}
    _, provider = solve(registry, ["foo>=1.0.0"])
    assert len(provider.calls) == len(set(provider.calls))


def test_prefetch_is_called_once_per_new_package() -> None:
    registry: Registry = {"a": {"1": ["b", "c"]}, "b": {"1": ["c"]}, "c": {"1": []}}
    _, provider = solve(registry, ["a"])
    assert provider.prefetched == [["a"], ["b", "c"]]


def test_unavailable_root_is_named_in_terms() -> None:
    error = failure({"a": {"1": Unavailable("is yanked")}}, ["a"])
    assert error.root is ROOT
    assert error.incompatibility.terms[0].package is ROOT
    assert isinstance(error.incompatibility.cause, Derived)


def test_explain_appends_hints() -> None:
    error = failure({}, ["torch==2.4.1+cpu"])
    text = explain(error.incompatibility, DictProvider({}), ["use --torch-backend cpu"])
    assert text == (
        "You require torch==2.4.1+cpu, but torch was not found.\n\nhint: use --torch-backend cpu"
    )


def test_external_causes_keep_the_requirement() -> None:
    error = failure({"a": {"1": ["b>=2"]}, "b": {"1": []}}, ["a"])
    leaves: list[Incompatibility[str]] = []
    stack = [error.incompatibility]
    while stack:
        node = stack.pop()
        if isinstance(node.cause, Derived):
            stack += [node.cause.conflict, node.cause.other]
        else:
            leaves.append(node)
    kinds = sorted(type(n.cause).__name__ for n in leaves)
    assert kinds == ["Dependency", "NoVersions"]
    no_versions = next(n.cause for n in leaves if isinstance(n.cause, NoVersions))
    assert no_versions.package == "b" and no_versions.requirement == req("b>=2")
    dependency = next(n for n in leaves if isinstance(n.cause, Dependency))
    depender: object = dependency.terms[0].package
    assert depender is ROOT


def test_self_dependency() -> None:
    """A version depending on itself is fine; on another version of itself, impossible."""
    resolution, _ = solve({"a": {"2": ["a>=2"], "1": []}}, ["a"])
    assert resolution.versions == {"a": Version("2")}
    assert resolution.dependencies == {"a": []}
    resolution, _ = solve({"a": {"2": ["a<2"], "1": []}}, ["a"])
    assert resolution.versions == {"a": Version("1")}


class Recorder(Reporter):
    def __init__(self) -> None:
        self.events: list[str] = []

    def deciding(self, package: object, version: Version) -> None:
        self.events.append(f"decide {package} {version}")

    def rejecting(self, package: object, version: Version, reason: str) -> None:
        self.events.append(f"reject {package} {version}: {reason}")

    def ending(self, resolution: Resolution[Any] | None) -> None:
        self.events.append("end")


def test_reporter_hooks() -> None:
    recorder = Recorder()
    solve({"a": {"2": Unavailable("is yanked"), "1": []}}, ["a"], reporter=recorder)
    assert recorder.events == [
        "decide ROOT 0",
        "reject a 2: is yanked",
        "decide a 1",
        "end",
    ]


def test_max_steps() -> None:
    registry = {"a": {str(i): Unavailable("is yanked") for i in range(50)}}
    with pytest.raises(TooManySteps):
        solve(registry, ["a"], max_steps=10)


# -- performance -------------------------------------------------------------------------------


def test_a_thousand_unavailable_versions_are_fast() -> None:
    registry: dict[str, dict[str, Deps]] = {
        "torch": {f"2.{i}": Unavailable("requires Python >=3.12") for i in range(1, 1000)}
    }
    registry["torch"]["2.0"] = []
    start = time.perf_counter()
    resolution, _ = solve(registry, ["torch"])
    assert resolution.versions == {"torch": Version("2.0")}
    assert time.perf_counter() - start < 5


def test_deep_backtracking_is_fast() -> None:
    """Each of 300 versions of foo pins a bar that pins a baz; only the oldest baz works.

    root
    └── foo ── foo i ── bar==i ── bar i ── baz==i ── baz i (i > 0: yanked)
    """
    n = 300
    registry: dict[str, dict[str, Deps]] = {
        "foo": {f"{i}.0": [f"bar=={i}.0"] for i in range(n)},
        "bar": {f"{i}.0": [f"baz=={i}.0"] for i in range(n)},
        "baz": {f"{i}.0": Unavailable("is yanked") if i else [] for i in range(n)},
    }
    start = time.perf_counter()
    resolution, _ = solve(registry, ["foo"])
    assert resolution.versions["foo"] == Version("0.0")
    assert time.perf_counter() - start < 10


def test_culprit_is_decided_after_a_victim_reached_through_a_parent() -> None:
    """A newest culprit must not drag a wide parent down to an ancient version.

        root -> pandas -> dateutil>=2          (dateutil 4.0 is newest)
        root -> boto3 (1.0 .. 1.39, 0.1)
                boto3 1.x -> botocore==1.x -> dateutil<3
                boto3 0.1 -> nothing        (the "ancient" escape)

    Without conflict-driven ordering PubGrub decides dateutil 4.0 first and walks boto3 down
    to 0.1 one version at a time (real case: `pandas boto3`, boto3 0.0.3). With it, botocore is
    decided before dateutil, and boto3 stays at its newest.
    """
    registry: dict[str, dict[str, list[str]]] = {
        "pandas": {"1.0": ["dateutil>=2"]},
        "dateutil": {f"2.{i}": [] for i in range(10)} | {"4.0": []},
        "boto3": {f"1.{i}": [f"botocore==1.{i}"] for i in range(40)} | {"0.1": []},
        "botocore": {f"1.{i}": ["dateutil<3"] for i in range(40)},
    }
    resolution, _ = solve(registry, ["pandas", "boto3"])
    assert resolution.versions["boto3"] == Version("1.39")
    assert resolution.versions["botocore"] == Version("1.39")
    assert resolution.versions["dateutil"] == Version("2.9")
