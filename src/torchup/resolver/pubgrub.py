"""PubGrub version solving over finite version universes (pure: no IO of its own).

The algorithm is the one described in Natalie Weizenbaum's "PubGrub: Next-Generation Version
Solving" and in pub's ``doc/solver.md``: unit propagation over *incompatibilities* (sets of terms
that must not all hold), a decision heuristic, and conflict resolution that learns a new
incompatibility and backjumps. It sees packages only through a :class:`Provider`.

Version sets. A provider gives each package's whole *universe* of versions up front
(:meth:`Provider.versions`), so a set of versions is a bitmask over that universe: bit ``i`` is
``versions(package)[i]`` and one extra bit, ``1 << len(universe)``, means "the package is not
selected at all". A term is then just ``(package, mask)``:

* a positive term "foo in S" is the mask of S (absence bit clear);
* a negative term "foo not in S" is its complement, absence bit set (absent satisfies it);
* intersection is ``&``, union ``|``, negation ``^ full``; "satisfies" is ``acc & t == acc``.

Incompatibilities are indexed by package; those whose term for a package is a single version
(every dependency and every unavailable version) wait in a per-version bucket that propagation
opens only when that package is narrowed to that version, so a package with 1000 versions does
not cost 1000 checks per change.

Because the universe is finite, an accumulated positive term can never become empty, so pub's
"no versions match" situation only arises for a *requirement* that matches nothing; that is
recorded as one incompatibility with a :class:`NoVersions` cause when the requirement is read.

Failure raises :class:`NoSolution`, whose ``incompatibility`` is the root of the derivation tree
and whose ``str()`` is the explanation from :mod:`torchup.resolver.report`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Protocol, TypeVar, cast

from packaging.version import Version

from torchup.errors import ResolutionError

__all__ = [
    "ROOT",
    "RootPackage",
    "Provider",
    "Unavailable",
    "Universe",
    "Term",
    "Incompatibility",
    "Cause",
    "RootCause",
    "Dependency",
    "NoVersions",
    "Derived",
    "Resolution",
    "Reporter",
    "NoSolution",
    "TooManySteps",
    "resolve",
]

P = TypeVar("P", bound=Hashable)
R = TypeVar("R")


class RootPackage:
    """Type of :data:`ROOT`, the package standing for the caller's own requirements."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ROOT"

    def __reduce__(self) -> str:
        return "ROOT"  # pickles as the module-level singleton


#: The root package used in terms when :func:`resolve` is called without ``root=``.
ROOT: Final = RootPackage()


@dataclass(frozen=True)
class Unavailable:
    """A version exists but cannot be used; ``reason`` completes "foo==1.0 ...".

    Examples: ``"requires Python >=3.12"``, ``"has no wheel for macOS arm64"``, ``"is yanked"``,
    ``"has no usable metadata"``. Returned by :meth:`Provider.dependencies` and also used as the
    cause of the incompatibility that forbids that version.
    """

    reason: str


class Provider(Protocol[P, R]):
    """Everything the solver knows about packages; ``R`` is opaque to the solver.

    Optional extras, looked up with ``getattr``:

    * ``prefetch(packages: Sequence[P]) -> None``: called with packages whose ``versions()`` (and
      probably the best version's ``dependencies()``) will be asked for next, so the provider can
      fetch them concurrently. Called at most once per package.
    * ``missing_reason(package: P) -> str | None``: why a package has no versions at all, e.g.
      ``"not found on any index"``; used only when explaining a failure.
    """

    def versions(self, package: P) -> Sequence[Version]:
        """The package's whole universe, most preferred first; empty means "not found".

        Called once per package per :func:`resolve` call.
        """
        ...

    def matching(self, package: P, requirement: R) -> Iterable[Version]:
        """The subset of ``versions(package)`` that ``requirement`` allows.

        Owns PEP 440 and pre-release policy. Called once per distinct (package, requirement)
        when the requirement is hashable, else once per dependency edge read.
        """
        ...

    def dependencies(self, package: P, version: Version) -> Sequence[tuple[P, R]] | Unavailable:
        """What ``package==version`` needs, or why it cannot be used. Called once per version."""
        ...

    def display(self, package: P) -> str:
        """The package's name in explanations (``"torch"``, ``"foo[bar]"``)."""
        ...

    def format_requirement(self, package: P, requirement: R) -> str | None:
        """The requirement as the user would write it (``"torch>=2.5.1"``), or None."""
        ...


class Universe:
    """The finite set of versions of one package, in the provider's preference order.

    Bit ``i`` of a mask is ``versions[i]``; bit ``len(versions)`` is "not selected". Identity is
    the equality: there is one universe per package per resolution.
    """

    __slots__ = ("versions", "index", "absent", "all_versions", "full")

    def __init__(self, versions: Sequence[Version]) -> None:
        # A version listed twice (or "1.0" and "1.0.0") keeps its first, most preferred place.
        self.versions: tuple[Version, ...] = tuple(dict.fromkeys(versions))
        self.index: Mapping[Version, int] = {v: i for i, v in enumerate(self.versions)}
        self.absent: int = 1 << len(self.versions)
        self.all_versions: int = self.absent - 1
        self.full: int = (self.absent << 1) - 1

    def mask(self, versions: Iterable[Version]) -> int:
        """The mask of ``versions``; versions outside the universe are ignored. O(len)."""
        index = self.index
        bits = 0
        for version in versions:
            i = index.get(version)
            if i is not None:
                bits |= 1 << i
        return bits

    def members(self, mask: int) -> list[Version]:
        """The versions in ``mask`` (absence bit ignored), in preference order."""
        mask &= self.all_versions
        out: list[Version] = []
        while mask:
            low = mask & -mask
            out.append(self.versions[low.bit_length() - 1])
            mask ^= low
        return out

    def __len__(self) -> int:
        return len(self.versions)

    def __repr__(self) -> str:
        return f"Universe({[str(v) for v in self.versions]})"


@dataclass(frozen=True, slots=True)
class Term(Generic[P]):
    """A statement about one package: its state is in ``mask`` (see :class:`Universe`)."""

    package: P
    mask: int
    universe: Universe = field(compare=False, repr=False)

    @property
    def positive(self) -> bool:
        """True when the term requires the package to be selected."""
        return not self.mask & self.universe.absent

    @property
    def allowed(self) -> int:
        """The version bits the term allows (for a negative term: the versions it leaves)."""
        return self.mask & self.universe.all_versions

    def versions(self) -> list[Version]:
        """The versions the term allows, in preference order."""
        return self.universe.members(self.mask)

    def negate(self) -> Term[P]:
        return Term(self.package, self.mask ^ self.universe.full, self.universe)


@dataclass(frozen=True)
class RootCause:
    """The root package must be selected."""


@dataclass(frozen=True)
class Dependency:
    """``terms[0]`` (one version) depends on ``terms[1]``'s package within ``requirement``.

    ``requirement`` is the provider's opaque requirement, kept for the explanation. A dependency
    of a package on itself that its version does not satisfy has only ``terms[0]``.
    """

    requirement: object


@dataclass(frozen=True)
class NoVersions(Generic[P]):
    """``terms[0]`` depends on ``package`` within ``requirement``, which matches no version.

    Covers both "foo has no version >=5" and "foo does not exist" (an empty universe).
    """

    package: P
    requirement: object
    universe: Universe = field(compare=False, repr=False)  # what does exist, for the report


@dataclass(frozen=True, eq=False)
class Derived(Generic[P]):
    """Learned by resolving ``conflict`` against ``other`` (the satisfier's cause)."""

    conflict: Incompatibility[P]
    other: Incompatibility[P]

    def __repr__(self) -> str:  # the tree may be thousands deep: never recurse in repr
        return f"Derived(<{len(self.conflict.terms)} terms>, <{len(self.other.terms)} terms>)"


Cause = RootCause | Dependency | NoVersions[P] | Unavailable | Derived[P]


@dataclass(frozen=True, eq=False)
class Incompatibility(Generic[P]):
    """Terms that must not all be true at once, and why (``cause``).

    At most one term per package; terms are never trivially true (those are dropped). Identity
    is the equality, so incompatibilities can key dicts while walking a derivation tree.
    """

    terms: tuple[Term[P], ...]
    cause: Cause[P]

    @property
    def external(self) -> bool:
        """True for a fact from the provider (not learned by the solver)."""
        return not isinstance(self.cause, Derived)

    def term_for(self, package: P) -> Term[P] | None:
        for term in self.terms:
            if term.package == package:
                return term
        return None

    def __repr__(self) -> str:
        terms = ", ".join(f"{t.package!r}:{t.mask:#x}" for t in self.terms)
        return f"Incompatibility([{terms}], {type(self.cause).__name__})"


@dataclass(frozen=True)
class Resolution(Generic[P]):
    """A solution.

    ``versions`` has every selected package (never the root). ``dependencies`` maps each selected
    package to the packages its chosen version depends on (no self-edges, first-seen order), for
    "# via" annotations; it has an entry for the root key only when ``resolve(root=...)`` was
    given, listing the root requirements' packages.
    """

    versions: dict[P, Version]
    dependencies: dict[P, list[P]]


class Reporter:
    """Progress hooks; all no-ops. Subclass and override what you need."""

    def starting(self) -> None:
        """Called once before solving."""

    def deciding(self, package: object, version: Version) -> None:
        """Called when a version is tried (O(decisions) calls)."""

    def rejecting(self, package: object, version: Version, reason: str) -> None:
        """Called when a version is unavailable, with the provider's reason."""

    def learned(self, incompatibility: Incompatibility[Any]) -> None:
        """Called for each incompatibility learned from a conflict."""

    def backtracking(self, level: int) -> None:
        """Called when the solver backjumps to decision ``level``."""

    def ending(self, resolution: Resolution[Any] | None) -> None:
        """Called once at the end; None on failure."""


class NoSolution(ResolutionError):
    """No assignment satisfies the requirements; ``str()`` is the plain-words explanation.

    ``incompatibility`` is the root of the derivation tree (it says "the root cannot be
    selected"); ``root`` is the root package key. Re-render with extra hints through
    ``explain(exc.incompatibility, provider, hints, root=exc.root)``.
    """

    def __init__(
        self,
        incompatibility: Incompatibility[Any],
        explanation: str,
        *,
        root: object = ROOT,
        hint: str | None = None,
    ) -> None:
        super().__init__(explanation, hint=hint)
        self.incompatibility = incompatibility
        self.root = root


class TooManySteps(ResolutionError):
    """The solver gave up after ``max_steps`` decisions and conflicts."""


# Relation of an incompatibility to the partial solution.
_SATISFIED: Final = 0
_CONTRADICTED: Final = 1
_INCONCLUSIVE: Final = 2
_ALMOST: Final = 3


@dataclass(slots=True)
class _Assignment(Generic[P]):
    """One entry of the partial solution: a decision (no cause) or a derivation."""

    package: P
    mask: int
    level: int
    cause: Incompatibility[P] | None  # None: a decision


class _Solver(Generic[P, R]):
    """One resolution's state: the partial solution and the incompatibility store."""

    def __init__(
        self,
        provider: Provider[P, R],
        root: P,
        root_requirements: Sequence[tuple[P, R]],
        reporter: Reporter,
        max_steps: int | None,
    ) -> None:
        self._provider = provider
        self._root = root
        self._root_requirements = root_requirements
        self._reporter = reporter
        self._max_steps = max_steps
        self._steps = 0
        self._prefetch = getattr(provider, "prefetch", None)
        self._prefetched: set[P] = set()
        self._universes: dict[P, Universe] = {root: Universe([Version("0")])}
        # Per package, the accumulated mask after each of its assignments (index, mask). The dict
        # order is discovery order, which breaks ties in the decision heuristic.
        self._acc: dict[P, list[tuple[int, int]]] = {root: []}
        self._now: dict[P, int] = {root: self._universes[root].full}  # = _acc[p][-1] or full
        # Incompatibilities by package. Those whose term for the package is one positive version
        # (every dependency and every unavailable version: most of the store) can only become
        # satisfied on that package when it is narrowed to exactly that version, so they sit in
        # per-version buckets that propagation opens only then.
        self._incompatibilities: dict[P, list[Incompatibility[P]]] = {}
        self._by_version: dict[P, dict[int, list[Incompatibility[P]]]] = {}
        self._assignments: list[_Assignment[P]] = []
        self._decisions: dict[P, int] = {}
        self._level = 0
        # Conflict-driven priorities: when a decided package keeps ruling out versions of
        # another (a==2 rejects b 2.0.9, 2.0.8, ...), decide the victim first instead of
        # walking it down to an ancient version (packse wrong-backtracking-*).
        self._culprits: dict[tuple[P, P], int] = {}
        self._prioritized: dict[P, int] = {}
        # ...and decide the culprit as late as possible: the victim may only become required
        # once its parent is decided (boto3 -> botocore vs python-dateutil).
        self._deferred: dict[P, int] = {}
        self._dependencies: dict[tuple[P, int], list[Incompatibility[P]]] = {}
        self._edges: dict[tuple[P, int], list[P]] = {}
        self._matching_cache: dict[tuple[P, object], int] = {}

    # -- entry --------------------------------------------------------------------------
    def solve(self) -> Resolution[P]:
        root_universe = self._universes[self._root]
        self._add(
            Incompatibility((Term(self._root, root_universe.absent, root_universe),), RootCause())
        )
        next_package: P | None = self._root
        pending: Sequence[Incompatibility[P]] = ()
        while next_package is not None:
            self._propagate(next_package, pending)
            next_package, pending = self._decide()
        versions: dict[P, Version] = {}
        dependencies: dict[P, list[P]] = {}
        for package, index in self._decisions.items():
            if package == self._root:
                continue
            versions[package] = self._universes[package].versions[index]
            dependencies[package] = self._edges.get((package, index), [])
        return Resolution(versions, dependencies)

    def root_edges(self) -> list[P]:
        return self._edges.get((self._root, 0), [])

    # -- partial solution ---------------------------------------------------------------
    def _assign(self, package: P, mask: int, cause: Incompatibility[P] | None) -> None:
        if cause is None:
            self._level += 1
        accumulated = self._now[package] & mask
        self._now[package] = accumulated
        self._acc[package].append((len(self._assignments), accumulated))
        self._assignments.append(_Assignment(package, mask, self._level, cause))

    def _backtrack(self, level: int) -> None:
        assignments = self._assignments
        while assignments and assignments[-1].level > level:
            popped = assignments.pop()
            stack = self._acc[popped.package]
            stack.pop()
            self._now[popped.package] = (
                stack[-1][1] if stack else self._universes[popped.package].full
            )
            if popped.cause is None:
                del self._decisions[popped.package]
        self._level = level
        self._reporter.backtracking(level)

    def _relation(self, incompatibility: Incompatibility[P]) -> tuple[int, Term[P] | None]:
        """How the partial solution relates to ``incompatibility``; O(terms)."""
        unsatisfied: Term[P] | None = None
        now = self._now
        for term in incompatibility.terms:
            accumulated = now[term.package]
            common = accumulated & term.mask
            if common == accumulated:
                continue  # satisfied: every state still possible is in the term
            if not common:
                return _CONTRADICTED, None
            if unsatisfied is not None:
                return _INCONCLUSIVE, None
            unsatisfied = term
        if unsatisfied is None:
            return _SATISFIED, None
        return _ALMOST, unsatisfied

    # -- incompatibility store ----------------------------------------------------------
    def _add(self, incompatibility: Incompatibility[P]) -> None:
        for term in incompatibility.terms:
            mask = term.mask
            if mask and not mask & (mask - 1) and not mask & term.universe.absent:
                buckets = self._by_version.setdefault(term.package, {})
                buckets.setdefault(mask.bit_length() - 1, []).append(incompatibility)
            else:
                self._incompatibilities.setdefault(term.package, []).append(incompatibility)

    def _universe(self, package: P) -> Universe:
        universe = self._universes.get(package)
        if universe is None:
            universe = Universe(self._provider.versions(package))
            self._universes[package] = universe
            self._acc[package] = []
            self._now[package] = universe.full
        return universe

    def _allowed(self, package: P, requirement: R, universe: Universe) -> int:
        try:
            key = (package, cast(object, requirement))
            cached = self._matching_cache.get(key)
        except TypeError:  # an unhashable requirement: ask every time
            return universe.mask(self._provider.matching(package, requirement))
        if cached is None:
            cached = universe.mask(self._provider.matching(package, requirement))
            self._matching_cache[key] = cached
        return cached

    def _dependency_incompatibilities(self, package: P, index: int) -> list[Incompatibility[P]]:
        """The incompatibilities saying what ``package`` at ``index`` needs; computed once."""
        key = (package, index)
        known = self._dependencies.get(key)
        if known is not None:
            return known
        universe = self._universes[package]
        version = universe.versions[index]
        bit = 1 << index
        result: list[Incompatibility[P]] = []
        deps: Sequence[tuple[P, R]] | Unavailable
        if package == self._root:
            deps = self._root_requirements
        else:
            deps = self._provider.dependencies(package, version)
        if isinstance(deps, Unavailable):
            self._reporter.rejecting(package, version, deps.reason)
            result.append(Incompatibility((Term(package, bit, universe),), deps))
            self._edges[key] = []
        else:
            self._prefetch_new([dep for dep, _ in deps])
            edges: dict[P, None] = {}
            for dep, requirement in deps:
                dep_universe = self._universe(dep)
                allowed = self._allowed(dep, requirement, dep_universe)
                depender = Term(package, bit, universe)
                if dep == package:
                    if allowed & bit:
                        continue  # satisfied by itself
                    result.append(Incompatibility((depender,), Dependency(requirement)))
                    continue
                edges[dep] = None
                if not allowed:
                    result.append(
                        Incompatibility((depender,), NoVersions(dep, requirement, dep_universe))
                    )
                    continue
                dependee = Term(dep, allowed ^ dep_universe.full, dep_universe)
                result.append(Incompatibility((depender, dependee), Dependency(requirement)))
            self._edges[key] = list(edges)
        for incompatibility in result:
            self._add(incompatibility)
        self._dependencies[key] = result
        return result

    def _prefetch_new(self, packages: Iterable[P]) -> None:
        if self._prefetch is None:
            return
        fresh = [
            p
            for p in dict.fromkeys(packages)
            if p not in self._universes and p not in self._prefetched
        ]
        if fresh:
            self._prefetched.update(fresh)
            self._prefetch(fresh)

    # -- the three parts of the algorithm ------------------------------------------------
    def _propagate(self, package: P, pending: Sequence[Incompatibility[P]] = ()) -> None:
        """Unit propagation from ``package`` (and ``pending``, added while it was satisfied).

        Cost per changed package: its general incompatibilities plus one version bucket.
        """
        # An ordered set used as a stack: the package changed last is looked at first. A
        # conflict backjumps below the current level, undoing every queued change, so the queue
        # restarts from the learned incompatibility's package (as in pub).
        changed: dict[P, None] = {package: None}
        for incompatibility in pending:
            conflict_package = self._check(incompatibility, changed)
            if conflict_package is not None:
                changed = {conflict_package: None}
        while changed:
            current = next(reversed(changed))
            del changed[current]
            candidates = self._incompatibilities.get(current, [])
            accumulated = self._now[current]
            if accumulated and not accumulated & (accumulated - 1):
                bucket = self._by_version.get(current, {}).get(accumulated.bit_length() - 1)
                if bucket:
                    candidates = [*candidates, *bucket]
            # Newest first: learned incompatibilities are the most specific (as in pub).
            for i in range(len(candidates) - 1, -1, -1):
                conflict_package = self._check(candidates[i], changed)
                if conflict_package is not None:
                    changed = {conflict_package: None}
                    break

    def _check(self, incompatibility: Incompatibility[P], changed: dict[P, None]) -> P | None:
        """Derive from ``incompatibility`` if it is unit; on a conflict, learn, backjump, derive
        from the learned one and return the package to restart from."""
        relation, term = self._relation(incompatibility)
        if relation == _ALMOST:
            assert term is not None
            self._assign(term.package, term.mask ^ term.universe.full, incompatibility)
            changed[term.package] = None
        elif relation == _SATISFIED:
            learned = self._resolve_conflict(incompatibility)
            relation, term = self._relation(learned)
            assert relation == _ALMOST and term is not None, "learned clause is not unit"
            self._assign(term.package, term.mask ^ term.universe.full, learned)
            return term.package
        return None

    def _resolve_conflict(self, incompatibility: Incompatibility[P]) -> Incompatibility[P]:
        """Learn from a satisfied incompatibility and backjump; raises _Failure at the root."""
        self._step()
        original = incompatibility
        while True:
            if self._is_failure(incompatibility):
                raise _Failure(incompatibility)
            # The satisfier is the assignment that completed the incompatibility's satisfaction.
            satisfier_index = -1
            satisfier_term: Term[P] | None = None
            previous_index = -1
            for term in incompatibility.terms:
                index = self._satisfier(term)
                if index > satisfier_index:
                    if satisfier_term is not None:
                        previous_index = max(previous_index, satisfier_index)
                    satisfier_index, satisfier_term = index, term
                else:
                    previous_index = max(previous_index, index)
            assert satisfier_term is not None and satisfier_index >= 0
            satisfier = self._assignments[satisfier_index]
            previous_index = max(
                previous_index, self._previous_satisfier(satisfier_term, satisfier_index)
            )
            previous_level = self._assignments[previous_index].level if previous_index >= 0 else 0
            if satisfier.cause is None or previous_level != satisfier.level:
                if incompatibility is not original:
                    self._add(incompatibility)
                    self._reporter.learned(incompatibility)
                self._backtrack(previous_level)
                return incompatibility
            # Resolution: combine with the satisfier's cause, eliminating the satisfier's package.
            cause = satisfier.cause
            package = satisfier.package
            masks: dict[P, int] = {}
            universes: dict[P, Universe] = {}
            for term in (*incompatibility.terms, *cause.terms):
                if term.package == package:
                    continue
                universes[term.package] = term.universe
                masks[term.package] = masks.get(term.package, term.universe.full) & term.mask
            # The satisfier's package keeps the union of both terms: that is exactly pub's
            # "not (satisfier \ term)" when the satisfier only partially satisfies the term.
            cause_term = cause.term_for(package)
            assert cause_term is not None
            union = satisfier_term.mask | cause_term.mask
            terms = [Term(p, m, universes[p]) for p, m in masks.items()]
            if union != satisfier_term.universe.full:
                terms.append(Term(package, union, satisfier_term.universe))
            incompatibility = Incompatibility(tuple(terms), Derived(incompatibility, cause))

    def _satisfier(self, term: Term[P]) -> int:
        """Index of the earliest assignment after which ``term`` is satisfied; O(assignments)."""
        if not term.universe.full & ~term.mask:
            return -1
        for index, accumulated in self._acc[term.package]:
            if not accumulated & ~term.mask:
                return index
        raise AssertionError("term of a satisfied incompatibility is not satisfied")

    def _previous_satisfier(self, term: Term[P], satisfier_index: int) -> int:
        """The earliest assignment that, with the satisfier, satisfies ``term`` (-1: none)."""
        satisfier_mask = self._assignments[satisfier_index].mask
        if not satisfier_mask & ~term.mask:
            return -1
        for index, accumulated in self._acc[term.package]:
            if index >= satisfier_index:
                break
            if not accumulated & satisfier_mask & ~term.mask:
                return index
        raise AssertionError("satisfier search is inconsistent")

    def _is_failure(self, incompatibility: Incompatibility[P]) -> bool:
        terms = incompatibility.terms
        if not terms:
            return True
        return len(terms) == 1 and terms[0].package == self._root and terms[0].positive

    def _decide(self) -> tuple[P | None, Sequence[Incompatibility[P]]]:
        """Pick the next version (fewest candidates first); None when the solution is complete.

        Also returns the incompatibilities to check before anything else: the chosen version's
        own, when deciding it would have satisfied one of them (so it was not decided).
        """
        best: P | None = None
        best_key: tuple[int, int, int] = (0, 0, 0)
        best_mask = 0
        prioritized = self._prioritized
        for package, stack in self._acc.items():
            if not stack or package in self._decisions:
                continue
            accumulated = stack[-1][1]
            if accumulated & self._universes[package].absent:
                continue  # not required (yet)
            key = (
                -prioritized.get(package, 0),
                self._deferred.get(package, 0),
                accumulated.bit_count(),
            )
            if best is None or key < best_key:
                best, best_key, best_mask = package, key, accumulated
        if best is None:
            return None, ()
        self._step()
        index = (best_mask & -best_mask).bit_length() - 1
        bit = 1 << index
        own = self._dependency_incompatibilities(best, index)
        conflict = False
        for incompatibility in own:
            if all(
                (not bit & ~term.mask)
                if term.package == best
                else (self._now[term.package] & term.mask == self._now[term.package])
                for term in incompatibility.terms
            ):
                conflict = True  # deciding would satisfy it; let propagation rule the version out
                break
        if conflict:
            self._note_culprits(best, incompatibility)
            return best, own
        self._reporter.deciding(best, self._universes[best].versions[index])
        self._assign(best, bit, None)
        self._decisions[best] = index
        return best, ()

    def _note_culprits(self, victim: P, incompatibility: Incompatibility[P]) -> None:
        """Count a decided package ruling out a version of ``victim``; past a threshold, decide
        ``victim`` before it: backjump to just before the culprit's decision."""
        for term in incompatibility.terms:
            culprit = term.package
            if culprit == victim or culprit not in self._decisions or culprit == self._root:
                continue
            key = (culprit, victim)
            count = self._culprits.get(key, 0) + 1
            self._culprits[key] = count
            if count < _CULPRIT_THRESHOLD or self._prioritized.get(victim, 0) > self._prioritized.get(culprit, 0):
                continue
            self._prioritized[victim] = self._prioritized.get(culprit, 0) + 1
            self._deferred[culprit] = self._deferred.get(culprit, 0) + 1
            level = next(
                a.level for a in self._assignments if a.package == culprit and a.cause is None
            )
            self._backtrack(level - 1)
            return

    def _step(self) -> None:
        self._steps += 1
        if self._max_steps is not None and self._steps > self._max_steps:
            raise TooManySteps(
                f"gave up resolving after {self._max_steps} steps",
                hint="pin some versions to narrow the search",
            )


# How many versions a decided package may rule out before the victim is decided first (uv
# uses 5 for the same heuristic, astral-sh/uv#9843).
_CULPRIT_THRESHOLD = 5


class _Failure(Exception):
    """Internal: conflict resolution reached the root."""

    def __init__(self, incompatibility: Incompatibility[Any]) -> None:
        super().__init__()
        self.incompatibility = incompatibility


def resolve(
    provider: Provider[P, R],
    root_requirements: Sequence[tuple[P, R]],
    *,
    root: P | None = None,
    reporter: Reporter | None = None,
    max_steps: int | None = None,
) -> Resolution[P]:
    """Choose one version per required package so that every dependency holds.

    ``root`` names the package standing for ``root_requirements``; it is never passed to the
    provider and never appears in ``Resolution.versions``; with it, ``Resolution.dependencies``
    has an entry for it. Without it, terms about the root use :data:`ROOT`. The root key must
    not also be a dependency of some package.

    Cost: one ``versions()`` per package reached, one ``dependencies()`` per version tried, one
    ``matching()`` per distinct requirement; the solver's own work is bitmask operations, with
    incompatibilities indexed by package.

    Raises :class:`NoSolution` (with the explanation) or :class:`TooManySteps` after
    ``max_steps`` decisions plus conflicts.
    """
    active = reporter if reporter is not None else Reporter()
    root_key = root if root is not None else cast(P, ROOT)
    solver = _Solver(provider, root_key, root_requirements, active, max_steps)
    active.starting()
    try:
        resolution = solver.solve()
    except _Failure as failure:
        active.ending(None)
        # Imported here because report.py builds on this module's types.
        from torchup.resolver.report import explain

        inc = failure.incompatibility
        raise NoSolution(inc, explain(inc, provider, root=root_key), root=root_key) from None
    if root is not None:
        resolution.dependencies[root] = solver.root_edges()
    active.ending(resolution)
    return resolution
