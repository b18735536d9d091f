"""The resolver's view of the world: versions and dependencies of packages, as data.

:class:`IndexProvider` answers PubGrub's questions for one :class:`~torchup.target.Target` from a
finder (index pages) and a metadata fetcher (PEP 658 / Range reads). Extras are virtual packages
(``Pkg("foo", "bar")`` depends on ``Pkg("foo")`` at the same version). Which index serves which
package comes from a :class:`SourcePolicy` (torch family routing, explicit indexes, pins).
Unusable versions are reported as ``Unavailable(reason)``, never as exceptions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from torchup.errors import MetadataError
from torchup.resolver.candidates import (
    BinaryPolicy,
    VersionChoice,
    choices_from_groups,
    group_candidates,
)
from torchup.resolver.pubgrub import Unavailable
from torchup.target import Target

__all__ = [
    "Pkg",
    "Need",
    "PrereleaseMode",
    "ResolutionMode",
    "ProviderOptions",
    "IndexProvider",
    "ChoiceMemo",
    "SourcePolicy",
    "need_from_requirement",
    "requirement_dependencies",
]


def _version_order() -> Callable[[Version], Any] | None:
    """A sort key ordering Versions exactly as their ``<`` does, compared in C: the comparison
    tuple packaging caches on each Version (``_key``). Sorting 10,000 versions (the small
    benchmark set's pages) by ``Version.__lt__`` costs ~12 ms of Python calls, by this ~3 ms.
    None (plain sort) if this packaging has no such attribute."""
    key = getattr(Version, "_key", None)
    return key.fget if isinstance(key, property) else None


_VERSION_ORDER = _version_order()


PrereleaseMode = Literal[
    "disallow", "allow", "if-necessary", "explicit", "if-necessary-or-explicit"
]
ResolutionMode = Literal["highest", "lowest", "lowest-direct"]


@dataclass(frozen=True, order=True)
class Pkg:
    """A package node: a project, or one of its extras (a virtual package)."""

    name: str
    extra: str | None = None

    def __str__(self) -> str:
        return f"{self.name}[{self.extra}]" if self.extra else self.name


ROOT = Pkg("<root>")


@dataclass(frozen=True)
class Need:
    """A requirement on a package as the resolver sees it: a specifier (+ optional URL)."""

    specifier: SpecifierSet
    text: str = ""  # the requirement as written, for explanations
    url: str | None = None

    @property
    def names_prerelease(self) -> bool:
        return any(s.prereleases for s in self.specifier)


def need_from_requirement(req: Requirement) -> Need:
    return Need(specifier=req.specifier, text=str(req).split(";")[0].strip(), url=req.url)


def requirement_dependencies(
    req: Requirement, override: Mapping[str, Requirement] | None = None
) -> list[tuple[Pkg, Need]]:
    """``foo[x,y]>=1`` -> foo>=1, foo[x]>=1, foo[y]>=1 (markers already evaluated)."""
    name = canonicalize_name(req.name)
    if override and name in override:
        req = override[name]
    need = need_from_requirement(req)
    deps = [(Pkg(name), need)]
    for extra in sorted(canonicalize_name(e) for e in req.extras):
        deps.append((Pkg(name, extra), need))
    return deps


class Finder(Protocol):
    """Where files come from. A finder may also offer ``file_groups(project, sources)``
    (:meth:`torchup.index.finder.Finder.file_groups`): the same files grouped by version,
    which the provider then prefers."""

    def files(self, project: str, sources: Sequence[Any] | None = None) -> list[Any]: ...


class Fetcher(Protocol):
    def fetch(self, dist: Any) -> Any: ...


class SourcePolicy(Protocol):
    """Which index sources may serve a project for a target (torch routing lives behind this)."""

    def sources_for(self, name: NormalizedName, target: Target) -> Sequence[Any] | None: ...

    def explain_missing(self, name: NormalizedName, target: Target) -> str | None: ...


@dataclass(frozen=True)
class ProviderOptions:
    prerelease: PrereleaseMode = "if-necessary-or-explicit"
    resolution: ResolutionMode = "highest"
    exclude_newer: datetime | None = None
    binary: BinaryPolicy = BinaryPolicy()
    # packages whose pre-releases are always allowed (nightly torch family, --pre on one package)
    prerelease_packages: frozenset[str] = frozenset()
    preferences: Mapping[str, Version] = field(default_factory=dict)
    constraints: Mapping[str, tuple[SpecifierSet, ...]] = field(default_factory=dict)
    overrides: Mapping[str, Requirement] = field(default_factory=dict)
    direct_names: frozenset[str] = frozenset()
    no_deps: bool = False


class IndexProvider:
    """PubGrub provider over real indexes for one Target (thread-safe prefetching)."""

    def __init__(
        self,
        target: Target,
        finder: Finder,
        fetcher: Fetcher,
        sources: SourcePolicy | None = None,
        options: ProviderOptions = ProviderOptions(),
        *,
        direct_files: Mapping[str, Any] | None = None,
        build_metadata: Callable[[Any], Any] | None = None,
        workers: int = 8,
        choice_memo: ChoiceMemo | None = None,
        on_pick: Callable[[str, Version, Any], None] | None = None,
        installed: Callable[[str], tuple[Any, Callable[[], Any]] | None] | None = None,
    ) -> None:
        """``on_pick(name, version, best_file)`` is called each time the resolver decides a
        version of a package (before its dependencies are read), and, for a package a root
        requirement pins to one version (``==``), as soon as its page is read: the pin decides
        it unless resolution fails. It may be called from worker threads, and a pick may later
        be undone (backtracking). An installer uses it to start staging wheels early.

        ``installed(name)``: (a file standing for the version of ``name`` installed in the
        target environment, a loader of its metadata), or None; asked only for the packages
        this resolution reads. That version is a candidate even when no index lists it (a
        local build, an editable project, a wheel from another index), as pip and uv keep an
        installed distribution that satisfies the requirements."""
        self.target = target
        self.finder = finder
        self.fetcher = fetcher
        self.sources = sources
        self.options = options
        self.direct_files = dict(direct_files or {})
        self.build_metadata = build_metadata
        self._installed = installed
        self._installed_loaders: dict[str, Callable[[], Any]] = {}  # stand-in URL -> loader
        self._universes: dict[str, _Universe] = {}
        self._deps: dict[tuple[str, Version], list[Requirement] | Unavailable] = {}
        self._extras: dict[tuple[str, Version], frozenset[str]] = {}
        # Things the user should hear about, worded for them (the command prints them once
        # each): this layer does no output of its own.
        self.warnings: list[str] = []
        self._page_futures: dict[str, Future[_Universe]] = {}
        self._meta_futures: dict[tuple[str, Version], Future[Any]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="torchup-fetch")
        self._explicit_pre: set[str] = set(options.prerelease_packages)
        # Yanked versions the user pinned exactly (==/===) in a root requirement or constraint:
        # PEP 592 lets them be selected, for every requirement on that package (not only the
        # pin itself), else a transitive `b>0.1` would veto the user's `b==1.0.0`.
        self._allowed_yanks: dict[str, set[Version]] = {}
        self._only_pre: dict[str, bool] = {}
        for cname, specs in options.constraints.items():
            for spec in specs:
                self._note_exact_pins(cname, spec)
        self.chosen_files: dict[str, Any] = {}
        self._memo = choice_memo
        self._on_pick = on_pick
        # name -> the one version a root requirement pins it to (see on_pick).
        self._root_pins: dict[str, Version] = {}
        # Interned once here: hashing a Target (hundreds of tags) per package would cost more
        # than the memo saves.
        self._memo_target = choice_memo.target_slot(target) if choice_memo is not None else -1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- provider protocol ---------------------------------------------------------------
    def display(self, package: Pkg) -> str:
        return "your requirements" if package == ROOT else str(package)

    def format_requirement(self, package: Pkg, requirement: Need) -> str | None:
        if requirement.url:
            return f"{package} @ {requirement.url}"
        spec = str(requirement.specifier)
        return f"{package}{spec}" if spec else None

    def missing_reason(self, package: Pkg) -> str | None:
        if self.sources is None:
            return None
        return self.sources.explain_missing(NormalizedName(package.name), self.target)

    def note_root_requirements(self, reqs: Iterable[tuple[Pkg, Need]]) -> None:
        """Remember which root requirements opt their package into pre-releases."""
        pins: dict[str, set[Version]] = {}
        for pkg, need in reqs:
            if need.names_prerelease:
                self._explicit_pre.add(pkg.name)
            self._note_exact_pins(pkg.name, need.specifier)
            exact = {Version(s.version) for s in need.specifier if s.operator == "==" and "*" not in s.version}
            if exact and not need.url:
                pins.setdefault(pkg.name, set()).update(exact)
        # Set before prefetching starts (the page workers read it); two different pins of one
        # package are a conflict for the resolver to explain, not a pick.
        self._root_pins = {name: next(iter(vs)) for name, vs in pins.items() if len(vs) == 1}

    def _note_exact_pins(self, name: str, spec: SpecifierSet) -> None:
        for s in spec:
            if s.operator in ("==", "===") and "*" not in s.version:
                try:
                    self._allowed_yanks.setdefault(name, set()).add(Version(s.version))
                except ValueError:  # `===` may name a non-PEP 440 string
                    continue

    def versions(self, package: Pkg) -> Sequence[Version]:
        if package == ROOT:
            return [Version("0")]
        return self._ordered_versions(package.name)

    def matching(self, package: Pkg, requirement: Need) -> Iterable[Version]:
        universe = self._ordered_versions(package.name)
        allowed = self._filter(package.name, requirement.specifier, universe)
        for extra_spec in self.options.constraints.get(package.name, ()):
            keep = set(self._filter(package.name, extra_spec, allowed))
            allowed = [v for v in allowed if v in keep]
        if requirement.url:
            direct = self.direct_files.get(package.name)
            if direct is not None:
                allowed = [v for v in allowed if v == direct.version]
        return allowed

    def dependencies(
        self, package: Pkg, version: Version
    ) -> Sequence[tuple[Pkg, Need]] | Unavailable:
        choice = self._choices_for(package.name).get(version)
        if choice is None:
            return Unavailable("is not available")
        if choice.unavailable:
            return Unavailable(choice.unavailable)
        if self._on_pick is not None and not package.extra:
            self._on_pick(package.name, version, choice.best)
        reqs = self._requirements(package.name, version, choice)
        if isinstance(reqs, Unavailable):
            return reqs
        deps: list[tuple[Pkg, Need]] = []
        if package.extra:
            deps.append(
                (
                    Pkg(package.name),
                    Need(SpecifierSet(f"=={version}"), f"{package.name}=={version}"),
                )
            )
            extras = self._extras.get((package.name, version), frozenset())
            # Old metadata may use an extra in Requires-Dist markers without Provides-Extra
            # (markers are evaluated only when the extra is not declared: the usual case is).
            if package.extra not in extras and not any(
                req.marker is not None
                and self.target.evaluate(req.marker, [package.extra])
                and not self.target.evaluate(req.marker, [])
                for req in reqs
            ):
                self.warnings.append(
                    f"{package.name}=={version} does not have an extra named "
                    f"{package.extra!r} (it is installed without it)"
                )
        if self.options.no_deps:
            return deps
        for req in reqs:
            marker: Marker | None = req.marker
            if package.extra:
                if not self.target.evaluate(marker, [package.extra]):
                    continue
                if self.target.evaluate(marker, []):
                    continue  # already a dependency of the base package
            elif not self.target.evaluate(marker, []):
                continue
            deps.extend(requirement_dependencies(req, self.options.overrides))
        self.prefetch([p for p, _ in deps])
        return deps

    def prefetch(self, packages: Sequence[Pkg]) -> None:
        """Start fetching index pages (and then the best candidate's metadata) in the background,
        in the finder's order (``biggest_first``) where it has one."""
        # Only the pages not asked for yet are ordered: this runs for every package decided,
        # and ordering stats each name's cached page.
        names = [
            name
            for name in dict.fromkeys(pkg.name for pkg in packages if pkg != ROOT)
            if name not in self._page_futures
        ]
        biggest_first = getattr(self.finder, "biggest_first", None)
        if biggest_first is not None:
            names = [name for name, _ in biggest_first((n, self._sources_for(n)) for n in names)]
        for name in names:
            self._page_future(name)

    # -- internals -----------------------------------------------------------------------
    def _page_future(self, name: str) -> Future[_Universe]:
        with self._lock:
            fut = self._page_futures.get(name)
            if fut is None:
                fut = self._pool.submit(self._load_choices, name)
                self._page_futures[name] = fut
            return fut

    def _sources_for(self, name: str) -> Sequence[Any] | None:
        """The index sources ``name`` is looked up in (None: the finder's defaults)."""
        return self.sources.sources_for(NormalizedName(name), self.target) if self.sources else None

    def _load_choices(self, name: str) -> _Universe:
        direct = self.direct_files.get(name)
        binary, exclude_newer = self.options.binary, self.options.exclude_newer
        shared: _Universe | None = None
        if direct is not None:
            choices = group_candidates(
                [direct], self.target, binary=binary, exclude_newer=exclude_newer
            )
        else:
            srcs = self._sources_for(name)
            file_groups = getattr(self.finder, "file_groups", None)
            memo_key: tuple[object, ...] | None = None
            if file_groups is not None and self._memo is not None:
                # Everything the choices and their order depend on (the preference is applied
                # below, per provider); the torch backend only matters through `srcs`.
                memo_key = (
                    name,
                    None if srcs is None else tuple(srcs),
                    self._memo_target,
                    binary,
                    exclude_newer,
                    self._lowest(name),
                )
                shared = self._memo.get(memo_key)
            if shared is not None:
                choices = shared.choices
            elif file_groups is not None:
                # Grouped by version without building the files of every version: popular
                # projects list tens of thousands of files, the resolver reads a few versions.
                choices = choices_from_groups(
                    file_groups(name, srcs), self.target, binary=binary, exclude_newer=exclude_newer
                )
                if memo_key is not None:
                    assert self._memo is not None
                    shared = self._memo.put(
                        memo_key,
                        _Universe(
                            choices,
                            self._base_order(name, list(choices), choices),
                            frozenset(v for v, c in choices.items() if c.yanked),
                        ),
                    )
                    choices = shared.choices
            else:
                choices = group_candidates(
                    self.finder.files(name, srcs),
                    self.target,
                    binary=binary,
                    exclude_newer=exclude_newer,
                )
            with_installed = self._with_installed(name, choices)
            if with_installed is not None:
                choices, shared = with_installed, None
        if shared is not None:
            order = self._with_preference(name, shared.order, choices)
            yanked = shared.yanked
        else:
            # Ordered here, in the worker, once: the resolver asks for the order right away,
            # and the first entry is the candidate whose metadata is worth warming.
            order = self._preferred_first(name, list(choices), choices)
            yanked = frozenset(v for v, c in choices.items() if c.yanked)
        # Warm the metadata of the most likely candidate while the resolver works elsewhere:
        # the pinned version, else the first in order.
        pin = self._root_pins.get(name)
        likely = [pin] if pin is not None and pin in choices else order[:1]
        for v in likely:
            c = choices[v]
            if c.usable and getattr(c.best, "is_wheel", False):
                self._meta_future(name, v, c)
            if pin is not None and c.usable and self._on_pick is not None:
                self._on_pick(name, v, c.best)
        return _Universe(choices, order, yanked)

    def _with_installed(
        self, name: str, choices: Mapping[Version, VersionChoice]
    ) -> dict[Version, VersionChoice] | None:
        """``choices`` plus the installed version of ``name`` when no index lists it (a new
        dict: ``choices`` may be shared); None when there is nothing to add."""
        entry = self._installed(name) if self._installed is not None else None
        if entry is None:
            return None
        stand_in, load = entry
        # Installed, so never "too new" for --exclude-newer, and usable under any binary policy.
        extra = group_candidates([stand_in], self.target, binary=BinaryPolicy())
        if not extra or any(v in choices for v in extra):
            return None
        with self._lock:  # pages are read by worker threads
            self._installed_loaders[stand_in.url] = load
        return {**choices, **extra}

    def _universe(self, name: str) -> _Universe:
        universe = self._universes.get(name)
        if universe is None:
            universe = self._universes[name] = self._page_future(name).result()
        return universe

    def _choices_for(self, name: str) -> dict[Version, VersionChoice]:
        return self._universe(name).choices

    def _preferred_first(
        self, name: str, versions: list[Version], choices: Mapping[Version, VersionChoice]
    ) -> list[Version]:
        return self._with_preference(name, self._base_order(name, versions, choices), choices)

    def _lowest(self, name: str) -> bool:
        return self.options.resolution == "lowest" or (
            self.options.resolution == "lowest-direct" and name in self.options.direct_names
        )

    def _base_order(
        self, name: str, versions: list[Version], choices: Mapping[Version, VersionChoice]
    ) -> list[Version]:
        """The order without the user's preference (what a :class:`ChoiceMemo` shares)."""
        lowest = self._lowest(name)
        # Yanked versions stay in the universe (an exact pin may still use them) but last.
        # The versions are distinct (dict keys), so sorting each part by version alone gives
        # the (yanked, version) order without a Python key object per comparison (thousands
        # of versions for botocore).
        live = [v for v in versions if not choices[v].yanked]
        yanked = [v for v in versions if choices[v].yanked]
        live.sort(key=_VERSION_ORDER, reverse=not lowest)
        yanked.sort(key=_VERSION_ORDER, reverse=not lowest)
        return live + yanked

    def _with_preference(
        self, name: str, order: list[Version], choices: Mapping[Version, VersionChoice]
    ) -> list[Version]:
        """``order`` with the preferred version (an existing lock's pin) first; ``order``
        itself is left alone (it may be shared), a changed order is a new list."""
        pref = self.options.preferences.get(name)
        if pref is None or pref not in choices:
            return order
        return [pref, *(v for v in order if v != pref)]

    def _ordered_versions(self, name: str) -> list[Version]:
        return self._universe(name).order

    def allows_prereleases(self, name: str) -> bool:
        """Whether every requirement on ``name`` may match pre-releases (for hints)."""
        return self._prerelease_policy(name) is True

    def yank_allowed(self, name: str, version: Version) -> bool:
        """Whether a root requirement or constraint pins this yanked version exactly."""
        return version in self._allowed_yanks.get(name, ())

    def _prerelease_policy(self, name: str) -> bool | None:
        mode = self.options.prerelease
        if name in self._explicit_pre or mode == "allow":
            return True
        if mode == "disallow":
            return False
        return None

    def _filter(self, name: str, spec: SpecifierSet, universe: Sequence[Version]) -> list[Version]:
        policy = self._prerelease_policy(name)
        yanked = self._universe(name).yanked
        if yanked and not _is_exact_pin(spec):
            pinned = self._allowed_yanks.get(name, ())
            pool: Sequence[Version] = [v for v in universe if v not in yanked or v in pinned]
        else:
            pool = universe  # filter() builds a new list; the universe is never modified
        if policy is not None:
            return list(spec.filter(pool, prereleases=policy))
        mode = self.options.prerelease
        explicit = any(s.prereleases for s in spec)
        if explicit and mode in ("explicit", "if-necessary-or-explicit"):
            return list(spec.filter(pool, prereleases=True))
        if mode != "explicit" and self._only_prereleases(name):
            # if-necessary: the project has published nothing but pre-releases.
            return list(spec.filter(pool, prereleases=True))
        # A requirement that only a pre-release satisfies does not opt in by itself when final
        # releases exist (`a>0.1` with 0.1.0 and 1.0.0a1): the user must name a pre-release
        # (`a>=1.0.0a1`) or pass --prerelease allow (packse: package-only-prereleases-in-range).
        return list(spec.filter(pool, prereleases=False))

    def _only_prereleases(self, name: str) -> bool:
        only = self._only_pre.get(name)
        if only is None:
            only = self._only_pre[name] = all(v.is_prerelease for v in self._choices_for(name))
        return only

    def _meta_future(self, name: str, version: Version, choice: VersionChoice) -> Future[Any]:
        key = (name, version)
        with self._lock:
            fut = self._meta_futures.get(key)
            if fut is None:
                fut = self._pool.submit(self._fetch_metadata, choice.best)
                self._meta_futures[key] = fut
            return fut

    def _fetch_metadata(self, dist: Any) -> Any:
        installed = self._installed_loaders.get(str(getattr(dist, "url", "")))
        if installed is not None:
            return installed()
        if getattr(dist, "is_wheel", False) or self.build_metadata is None:
            return self.fetcher.fetch(dist)
        return self.build_metadata(dist)

    def _requirements(
        self, name: str, version: Version, choice: VersionChoice
    ) -> list[Requirement] | Unavailable:
        key = (name, version)
        cached = self._deps.get(key)
        if cached is not None:
            return cached
        try:
            meta = self._meta_future(name, version, choice).result()
        except MetadataError as exc:
            result: list[Requirement] | Unavailable = Unavailable(
                f"has unusable metadata: {exc.message}"
            )
            self._deps[key] = result
            return result
        if meta is None:
            result = Unavailable("has metadata that could not be obtained (source build needed)")
            self._deps[key] = result
            return result
        rp = getattr(meta, "requires_python", None)
        if rp is not None and not rp.contains(self.target.python_full_version, prereleases=True):
            result = Unavailable(
                f"requires Python {rp}, but the target is Python {self.target.python_full_version}"
            )
            self._deps[key] = result
            return result
        reqs = list(getattr(meta, "requires_dist", None) or [])
        self._extras[key] = frozenset(
            canonicalize_name(str(e)) for e in (getattr(meta, "provides_extra", None) or [])
        )
        self._deps[key] = reqs
        self.chosen_files[name] = choice.best
        return reqs

    def choice(self, name: str, version: Version) -> VersionChoice | None:
        return self._choices_for(name).get(version)

    def requirements_of(self, name: str, version: Version) -> list[Requirement]:
        r = self._deps.get((name, version))
        return r if isinstance(r, list) else []


class ChoiceMemo:
    """Each package's choices per target, shared by every provider of one process.

    ``torchup lock`` runs one resolution per environment x torch backend x variant, each with
    its own :class:`IndexProvider`, over the same few dozen pages: without this memo each of
    them groups every page into :class:`VersionChoice` objects and sorts its versions again
    (more than a thousand times for 8 environments x 3 backends). Keyed by the package, its
    sources, the target's marker environment, tags and label (not its torch backend, which
    acts only through the sources), the binary policy, ``exclude_newer`` and the sort
    direction. One memo serves one finder: the pages behind an entry are that finder's.

    Thread-safe. Entries are never changed once stored: the order list is not mutated by the
    provider or the resolver, and a :class:`VersionChoice` works out its best file lazily but
    deterministically, so two threads racing on it store the same answer.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: dict[tuple[object, ...], int] = {}
        self._entries: dict[tuple[object, ...], _Universe] = {}

    def target_slot(self, target: Target) -> int:
        """A small number standing for what the choices depend on in ``target``."""
        key = (target.marker_items, target.tags, str(target))
        with self._lock:
            return self._targets.setdefault(key, len(self._targets))

    def get(self, key: tuple[object, ...]) -> _Universe | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: tuple[object, ...], universe: _Universe) -> _Universe:
        """Store ``universe`` unless another thread stored one first; return the stored one."""
        with self._lock:
            return self._entries.setdefault(key, universe)


@dataclass(frozen=True)
class _Universe:
    """One package's versions for this target: the choices, the resolver's preference order
    (computed once per package, in the worker that loaded the page), the yanked ones."""

    choices: dict[Version, VersionChoice]
    order: list[Version]
    yanked: frozenset[Version]


def _is_exact_pin(spec: SpecifierSet) -> bool:
    return any(s.operator in ("==", "===") and "*" not in s.version for s in spec)
