"""PubGrub against brute force on random small registries (≤4 packages × ≤4 versions).

* every solution satisfies the root requirements and every chosen version's dependencies;
* every NoSolution is confirmed by enumerating all assignments (each package: absent or one
  usable version);
* every derived incompatibility follows from its two causes, and every external one is a true
  statement about the registry, so the explanation is built from sound steps.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from packaging.version import Version
from tests.unit.test_pubgrub import DictProvider, Registry, Req, req

from torchup.resolver import (
    Dependency,
    Derived,
    Incompatibility,
    NoSolution,
    NoVersions,
    Unavailable,
    resolve,
    simplify,
)

NAMES = ["a", "b", "c", "d"]
POOL = ["1.0", "1.1", "2.0", "3.0"]
SPECS = ["", ">=1.1", "<2.0", "==2.0", "!=1.1", ">=1.0,<3.0", ">2.0", "==1.0", "~=1.0"]


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Registry, list[str]]:
    """A registry over a prefix of NAMES (later names and "ghost" are missing packages)."""
    count = draw(st.integers(1, 4))
    registry: dict[str, dict[str, Sequence[str] | Unavailable]] = {}
    requirement = st.tuples(st.sampled_from([*NAMES, "ghost"]), st.sampled_from(SPECS))
    for name in NAMES[:count]:
        entry: dict[str, Sequence[str] | Unavailable] = {}
        for version in draw(st.lists(st.sampled_from(POOL), unique=True, max_size=4)):
            if draw(st.integers(0, 9)) == 0:
                entry[version] = Unavailable("is yanked")
            else:
                deps = draw(st.lists(requirement, max_size=3))
                entry[version] = [f"{dep}{spec}" for dep, spec in deps]
        registry[name] = entry
    roots = draw(
        st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(SPECS)), min_size=1, max_size=3)
    )
    return registry, [f"{dep}{spec}" for dep, spec in roots]


def allows(requirement: Req, version: Version | None) -> bool:
    return version is not None and requirement.specifier.contains(version, prereleases=True)


def satisfied(
    registry: Registry, roots: Sequence[str], chosen: Mapping[str, Version | None]
) -> bool:
    if not all(allows(r, chosen.get(r.key)) for r in map(req, roots)):
        return False
    for package, version in chosen.items():
        if version is None:
            continue
        deps = {Version(v): d for v, d in registry[package].items()}[version]
        if isinstance(deps, Unavailable):
            return False
        if not all(allows(r, chosen.get(r.key)) for r in map(req, deps)):
            return False
    return True


def brute_force(registry: Registry, roots: Sequence[str]) -> bool:
    """Whether any assignment satisfies everything (packages outside the registry: absent)."""
    packages = sorted(registry)
    options = [[None, *(Version(v) for v in registry[p])] for p in packages]
    return any(
        satisfied(registry, roots, dict(zip(packages, combo, strict=True)))
        for combo in itertools.product(*options)
    )


def nodes(top: Incompatibility[Any]) -> list[Incompatibility[Any]]:
    seen: dict[Incompatibility[Any], None] = {}
    stack = [top]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen[node] = None
        if isinstance(node.cause, Derived):
            stack += [node.cause.conflict, node.cause.other]
    return list(seen)


def holds(inc: Incompatibility[Any], state: Mapping[object, int]) -> bool:
    """The incompatibility is respected: some term is false in ``state`` (package -> bit)."""
    return not all(t.mask & state[t.package] for t in inc.terms)


def follows(node: Incompatibility[Any]) -> bool:
    """``node`` holds in every state where both its causes hold (checked exhaustively)."""
    cause = node.cause
    assert isinstance(cause, Derived)
    universes = {}
    for inc in (node, cause.conflict, cause.other):
        for term in inc.terms:
            universes[term.package] = term.universe
    packages = list(universes)
    states = [[1 << i for i in range(len(universes[p]) + 1)] for p in packages]
    for combo in itertools.product(*states):
        state = dict(zip(packages, combo, strict=True))
        if holds(cause.conflict, state) and holds(cause.other, state) and not holds(node, state):
            return False
    return True


def true_fact(node: Incompatibility[Any], registry: Registry) -> bool:
    """An external incompatibility says something the registry really says (for each version
    of its first term: merged facts cover several)."""
    cause = node.cause
    first = node.terms[0]
    if first.package == "root":
        return isinstance(cause, Dependency | NoVersions)
    for version in first.versions():
        deps = {Version(v): d for v, d in registry[first.package].items()}[version]
        if isinstance(cause, Unavailable):
            if deps != cause:
                return False
            continue
        assert not isinstance(deps, Unavailable)
        assert isinstance(cause, Dependency | NoVersions)
        requirement = cause.requirement
        assert isinstance(requirement, Req)
        if requirement not in [req(d) for d in deps]:
            return False
        if isinstance(cause, NoVersions):
            if any(allows(requirement, v) for v in cause.universe.versions):
                return False
        elif len(node.terms) == 1:  # a version depending on another version of itself
            if allows(requirement, version):
                return False
        else:
            dependee = node.terms[1]
            wanted = {v for v in dependee.universe.versions if allows(requirement, v)}
            if dependee.positive or set(dependee.negate().versions()) != wanted:
                return False
    return True


def sound(top: Incompatibility[Any], registry: Registry) -> None:
    for node in nodes(top):
        if isinstance(node.cause, Derived):
            assert follows(node), f"unsound step: {node!r}"
        else:
            assert true_fact(node, registry), f"false fact: {node!r}"


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_pubgrub_agrees_with_brute_force(world: tuple[Registry, list[str]]) -> None:
    registry, roots = world
    provider = DictProvider(registry)
    try:
        resolution = resolve(provider, [(r.key, r) for r in map(req, roots)], root="root")
    except NoSolution as error:
        event("no solution")
        assert not brute_force(registry, roots), "PubGrub gave up, but a solution exists"
        sound(error.incompatibility, registry)
        # What the report writes (facts merged) must be just as sound.
        sound(simplify(error.incompatibility, provider, root="root"), registry)
        text = str(error)
        assert text and "None" not in text
        return
    event("solved")
    chosen: dict[str, Version | None] = dict(resolution.versions)
    assert satisfied(registry, roots, chosen)
    # The edges are exactly the chosen versions' dependencies (plus the named root's).
    assert set(resolution.dependencies) == {*resolution.versions, "root"}
    for package, deps in resolution.dependencies.items():
        assert set(deps) <= set(resolution.versions)
        assert package not in deps
