"""Explanations: version sets in words, merged facts, numbering, hints, deep trees."""

from __future__ import annotations

import itertools
import time

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from tests.unit.test_pubgrub import Deps, DictProvider, failure, req, solve

from torchup.resolver import (
    Derived,
    Incompatibility,
    NoSolution,
    Unavailable,
    Universe,
    describe_versions,
    explain,
    resolve,
    simplify,
)

# Preference order (newest first) is deliberately not PEP 440 order for the locals.
TORCH = Universe(
    [
        Version(v)
        for v in [
            "2.6.0",
            "2.6.0rc1",
            "2.5.1+rocm6.2",
            "2.5.1+cpu",
            "2.5.1",
            "2.4.0.post1",
            "2.4.0",
            "1.0",
        ]
    ]
)


def mask(universe: Universe, *versions: str) -> int:
    return universe.mask(Version(v) for v in versions)


@pytest.mark.parametrize(
    ("versions", "text"),
    [
        (
            [
                "2.6.0",
                "2.6.0rc1",
                "2.5.1+rocm6.2",
                "2.5.1+cpu",
                "2.5.1",
                "2.4.0.post1",
                "2.4.0",
                "1.0",
            ],
            "torch",
        ),
        (["2.5.1+rocm6.2"], "torch==2.5.1+rocm6.2"),
        (["2.4.0"], "torch==2.4.0"),
        (["2.5.1"], "torch 2.5.1"),  # "==2.5.1" would also match the local builds
        (["2.6.0", "2.6.0rc1"], "torch>=2.6.0rc1"),
        (["2.4.0.post1", "2.4.0", "1.0"], "torch<2.5.1"),
        (["2.5.1+rocm6.2", "2.5.1+cpu", "2.5.1"], "torch==2.5.1"),
        (
            ["2.6.0", "2.6.0rc1", "2.5.1+rocm6.2", "2.5.1+cpu", "2.5.1", "2.4.0.post1", "1.0"],
            "torch!=2.4.0",
        ),
        (["2.5.1", "2.4.0.post1", "2.4.0", "1.0"], "torch<2.5.1 | 2.5.1"),
        (
            ["2.6.0", "2.6.0rc1", "2.5.1+rocm6.2", "2.5.1+cpu"],
            "torch 2.5.1+cpu | 2.5.1+rocm6.2 | >=2.6.0rc1",
        ),
        (["2.6.0", "1.0"], "torch 1.0 | 2.6.0"),
        (["2.6.0", "2.6.0rc1", "1.0"], "torch 1.0 | >=2.6.0rc1"),
    ],
)
def test_describe_versions(versions: list[str], text: str) -> None:
    assert describe_versions("torch", mask(TORCH, *versions), TORCH) == text


def selected(text: str, name: str, universe: Universe) -> set[Version]:
    """Read a rendering back: specifiers and bare versions joined by " | "."""
    rest = text[len(name) :].strip()
    if not rest:
        return set(universe.versions)
    found: set[Version] = set()
    for part in rest.split(" | "):
        if part[0] in "<>=!~":
            found |= set(SpecifierSet(part).filter(universe.versions, prereleases=True))
        else:
            found.add(Version(part))
    return found


def test_every_subset_renders_exactly() -> None:
    """All 255 non-empty subsets of a universe full of PEP 440 traps read back exactly."""
    for size in range(1, len(TORCH) + 1):
        for subset in itertools.combinations(TORCH.versions, size):
            text = describe_versions("torch", TORCH.mask(subset), TORCH)
            assert selected(text, "torch", TORCH) == set(subset), text


def test_long_listings_are_capped() -> None:
    universe = Universe([Version(str(i)) for i in range(1, 41)])
    odd = universe.mask(Version(str(i)) for i in range(1, 41, 2))
    assert (
        describe_versions("foo", odd, universe) == "foo 1 | 3 | 5 | 7 | 9 | 11 | ... (20 versions)"
    )


def test_single_version_universe_names_the_version() -> None:
    universe = Universe([Version("1.0")])
    assert describe_versions("foo", universe.all_versions, universe) == "foo==1.0"


# -- explanations -------------------------------------------------------------------------------


def test_same_dependency_of_many_versions_is_one_fact() -> None:
    """root ── a (5 versions, each ── b<2); root ── b>=2."""
    error = failure(
        {"a": {str(i): ["b<2"] for i in range(1, 6)}, "b": {"1.0": [], "2.0": []}}, ["a", "b>=2"]
    )
    assert str(error) == (
        "Because you require a, which depends on b<2, b<2 is required.\n"
        "And because you require b>=2, your requirements cannot be satisfied."
    )


def test_facts_of_two_kinds_merge_separately() -> None:
    """root ── a: a 1-3 ── b<2, a 4-5 yanked; root ── b>=2."""
    registry: dict[str, dict[str, Deps]] = {
        "a": {
            "1": ["b<2"],
            "2": ["b<2"],
            "3": ["b<2"],
            "4": Unavailable("is yanked"),
            "5": Unavailable("is yanked"),
        },
        "b": {"1.0": [], "2.0": []},
    }
    assert str(failure(registry, ["a", "b>=2"])) == (
        "Because a<4 depends on b<2 and a>=4 is yanked, every version of a requires b<2.\n"
        "And because you require both a and b>=2, your requirements cannot be satisfied."
    )


def test_interleaved_reasons_still_merge() -> None:
    registry: dict[str, dict[str, Deps]] = {
        "a": {
            str(i): Unavailable("is yanked" if i % 2 else "requires Python >=3.12")
            for i in range(1, 7)
        }
    }
    assert str(failure(registry, ["a"])) == (
        "Because a 1 | 3 | 5 is yanked and a 2 | 4 | 6 requires Python >=3.12,"
        " no version of a can be used.\n"
        "And because you require a, your requirements cannot be satisfied."
    )


def test_what_exists_is_summarised_for_big_universes() -> None:
    error = failure({"b": {str(i): [] for i in range(1, 11)}}, ["b>=20"])
    assert (
        str(error)
        == "You require b>=20, but no version of b matches (available: 10 versions from 1 to 10)."
    )


def test_missing_reason_from_the_provider() -> None:
    error = failure({}, ["numpy"], missing={"numpy": "exists on index pytorch, which is explicit"})
    assert (
        str(error)
        == "You require numpy, but numpy is not available (exists on index pytorch, which is explicit)."
    )


def test_named_root_is_still_you() -> None:
    """root ── a ── a 1 ── b==1 ── b 1 (yanked); a 2 ── b==2 ── b 2 (yanked)."""
    registry: dict[str, dict[str, Deps]] = {
        "a": {"1": ["b==1"], "2": ["b==2"]},
        "b": {"1": Unavailable("is yanked"), "2": Unavailable("is yanked")},
    }
    error = failure(registry, ["a"], root="myproject")
    assert error.root == "myproject"
    assert str(error) == (
        "Because a==1 depends on b==1, which is yanked, a==1 cannot be used.\n"
        "And because you require a, a==2 is required.\n"
        "And because a==2 depends on b==2, which is yanked, your requirements cannot be satisfied."
    )


def test_hints_come_after_the_tree() -> None:
    error = failure({"a": {"1": Unavailable("is yanked")}}, ["a"])
    text = explain(error.incompatibility, DictProvider({}), ["first", "second"], root=error.root)
    assert text == str(error) + "\n\nhint: first\n\nhint: second"


def test_requirement_text_comes_from_the_provider() -> None:
    """The provider's spelling ("b ~= 1.0" here) is kept, not re-rendered from the set."""

    class Spelled(DictProvider):
        def format_requirement(self, package: str, requirement: object) -> str | None:
            return f"{package} (as written)"

    provider = Spelled({"a": {"1": ["b>=2"]}, "b": {"1": []}})
    with pytest.raises(NoSolution) as caught:
        resolve(provider, [("a", req("a"))])
    assert str(caught.value) == (
        "Because you require a (as written), which depends on b (as written),"
        " but no version of b matches (available: 1), your requirements cannot be satisfied."
    )


def test_without_format_requirement_text_the_set_is_rendered() -> None:
    class Silent(DictProvider):
        def format_requirement(self, package: str, requirement: object) -> str | None:
            return None

    provider = Silent({"a": {"1": ["b>=2"], "2": ["b>=2"]}, "b": {"1": [], "2": [], "3": []}})
    with pytest.raises(NoSolution) as caught:
        resolve(provider, [("a", req("a")), ("b", req("b<2"))])
    assert str(caught.value) == (
        "Because you require a, which depends on b>=2, b>=2 is required.\n"
        "And because you require b==1, your requirements cannot be satisfied."
    )


def test_simplify_keeps_an_unmergeable_tree() -> None:
    error = failure(
        {"foo": {"1.0.0": ["bar~=2.0"]}, "bar": {"2.0.0": ["baz~=3.0"]}, "baz": {"1.0.0": []}},
        ["foo"],
    )
    assert (
        simplify(error.incompatibility, DictProvider({}), root=error.root) is error.incompatibility
    )


def test_deep_trees_need_no_recursion() -> None:
    """1500 versions rejected for 1500 different reasons: a chain deeper than Python's stack."""
    n = 1500
    registry: dict[str, dict[str, Deps]] = {
        "a": {str(i): Unavailable(f"fails check {i}") for i in range(n)}
    }
    start = time.perf_counter()
    error = failure(registry, ["a"])
    depth, node = 0, error.incompatibility
    while isinstance(node.cause, Derived):
        depth += 1
        node = (
            node.cause.conflict
            if isinstance(node.cause.conflict.cause, Derived)
            else node.cause.other
        )
    assert depth >= n - 1
    lines = str(error).splitlines()
    assert len(lines) == n // 2 + 1  # pub's collapsing writes two facts per line
    assert lines[0] == "Because a==0 fails check 0 and a==1 fails check 1, a<2 cannot be used."
    assert lines[-1] == (
        "And because a==1499 fails check 1499 and you require a,"
        " your requirements cannot be satisfied."
    )
    assert time.perf_counter() - start < 20


def test_unavailable_root_requirement_message() -> None:
    resolution, _ = solve({"a": {"1": []}}, ["a"])
    assert resolution.versions == {"a": Version("1")}
    failing = failure({"a": {"1": Unavailable("has no wheel for macOS arm64")}}, ["a==1"])
    assert str(failing) == (
        "Because you require a==1, which has no wheel for macOS arm64,"
        " your requirements cannot be satisfied."
    )


def test_incompatibility_repr_is_shallow() -> None:
    error = failure({"a": {str(i): Unavailable(f"r{i}") for i in range(50)}}, ["a"])
    text = repr(error.incompatibility)
    assert text.startswith("Incompatibility([") and "Derived" in text
    assert isinstance(error.incompatibility, Incompatibility)
