"""One resolution for one Target: requirements in, pinned packages (with their files) out.

Glues the provider (index data) to PubGrub and turns a failure into plain words plus hints
(explicit indexes, pre-releases, local labels, Python versions). Pure orchestration: IO happens
inside the finder/fetcher it is handed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import Requirement
from packaging.version import Version

from torchup.errors import ResolutionError
from torchup.requirements import RootRequirement
from torchup.resolver.provider import (
    ROOT,
    IndexProvider,
    Need,
    Pkg,
    requirement_dependencies,
)
from torchup.resolver.pubgrub import NoSolution, resolve
from torchup.target import Target

__all__ = ["ResolvedPackage", "ResolveResult", "resolve_requirements", "RootRequirement"]


@dataclass(frozen=True)
class ResolvedPackage:
    """One pinned project: version, the file chosen for the target, and who needs it."""

    name: str
    version: Version
    file: Any  # DistFile chosen for the target (None for virtual / unknown)
    extras: frozenset[str] = frozenset()
    via: tuple[str, ...] = ()
    requires: tuple[Requirement, ...] = ()
    all_files: tuple[Any, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class ResolveResult:
    """The packages a resolution chose for ``target``."""

    target: Target
    packages: tuple[ResolvedPackage, ...]

    def by_name(self) -> dict[str, ResolvedPackage]:
        return {p.name: p for p in self.packages}


def resolve_requirements(
    provider: IndexProvider,
    requirements: Sequence[RootRequirement],
) -> ResolveResult:
    """Resolve ``requirements`` for ``provider.target``; raise ResolutionError with hints."""
    target = provider.target
    root_deps: list[tuple[Pkg, Need]] = []
    origins: dict[str, list[str]] = {}
    for rr in requirements:
        if not target.evaluate(rr.requirement.marker, []):
            continue
        for pkg, need in requirement_dependencies(rr.requirement, provider.options.overrides):
            root_deps.append((pkg, need))
            if pkg.extra is None and rr.origin:
                origins.setdefault(pkg.name, []).append(rr.origin)
    provider.note_root_requirements(root_deps)
    provider.prefetch([p for p, _ in root_deps])
    try:
        solution = resolve(provider, root_deps, root=ROOT)
    except NoSolution as exc:
        hints = _hints(provider, exc, root_deps)
        message = "no solution found for " + str(target) + ":\n" + str(exc)
        raise ResolutionError(message, hint="\n      ".join(hints) if hints else None) from None
    versions: Mapping[Pkg, Version] = solution.versions
    extras: dict[str, set[str]] = {}
    for pkg in versions:
        if pkg.extra and pkg != ROOT:
            extras.setdefault(pkg.name, set()).add(pkg.extra)
    via: dict[str, set[str]] = {}
    for parent, children in solution.dependencies.items():
        for child in children:
            if child.name == parent.name or child == ROOT:
                continue
            if parent == ROOT:
                continue
            via.setdefault(child.name, set()).add(parent.name)
    out: list[ResolvedPackage] = []
    for pkg, version in versions.items():
        if pkg == ROOT or pkg.extra is not None:
            continue
        choice = provider.choice(pkg.name, version)
        names = sorted(via.get(pkg.name, set()))
        out.append(
            ResolvedPackage(
                name=pkg.name,
                version=version,
                file=choice.best if choice else None,
                extras=frozenset(extras.get(pkg.name, ())),
                via=tuple(origins.get(pkg.name, [])) + tuple(names),
                requires=tuple(provider.requirements_of(pkg.name, version)),
                all_files=choice.files if choice else (),
            )
        )
    out.sort(key=lambda p: p.name)
    return ResolveResult(target=target, packages=tuple(out))


def _hints(
    provider: IndexProvider, exc: NoSolution, root_deps: Sequence[tuple[Pkg, Need]] = ()
) -> list[str]:
    """Plain-words hints for the packages that took part in the failure."""
    names = sorted({p.name for p in _packages_in(exc) if p != ROOT})
    hints: list[str] = []
    target = provider.target
    for name in names:
        try:
            universe = provider.versions(Pkg(name))
        except Exception:  # noqa: BLE001 - hints must never mask the real error
            continue
        if not universe:
            # The explanation already says "<name> was not found"; add only a routing reason.
            reason = provider.missing_reason(Pkg(name))
            if reason:
                hints.append(reason)
            continue
        choices = [provider.choice(name, v) for v in universe]
        usable = [c for c in choices if c is not None and c.usable]
        # Yanked versions and unusable files are worth a hint only where the user's own
        # requirement on the package would take them: `pyyaml==6.0.2` gains nothing from
        # "6.0.2rc1 is yanked", nor from why versions it excludes cannot be used.
        # (A pre-release only where allowed or the specifier names one, as when resolving.)
        allow_pre = provider.allows_prereleases(name)
        root_specs = [
            (need.specifier, allow_pre or any(s.prereleases for s in need.specifier))
            for pkg, need in root_deps
            if pkg.name == name
        ]
        wanted = [
            c for c in choices
            if c is not None and all(spec.contains(c.version, prereleases=pre) for spec, pre in root_specs)
        ]
        if (
            universe
            and all(v.is_prerelease for v in universe)
            and provider.options.prerelease != "allow"
        ):
            hints.append(
                f"only pre-releases of {name} exist ({universe[0]}, ...): pass --prerelease allow, "
                f"or require one explicitly ({name}>={universe[-1]})"
            )
        # The explanation lists these as "available", so say why they were not taken.
        finals = [v for v in universe if not v.is_prerelease]
        newer_pre = sorted(
            (
                v
                for v in universe
                if v.is_prerelease and finals and v > max(finals)
                and all(spec.contains(v, prereleases=True) for spec, _ in root_specs)
            ),
            reverse=True,
        )
        if newer_pre and not provider.allows_prereleases(name):
            shown = ", ".join(map(str, newer_pre[:3]))
            hints.append(
                f"pre-releases of {name} ({shown}) match only requirements that name a "
                f"pre-release ({name}>={newer_pre[-1]}), unless you pass --prerelease allow"
            )
        yanked = sorted(
            (c.version for c in wanted if c.yanked and not provider.yank_allowed(name, c.version)),
            reverse=True,
        )
        if yanked:
            hints.append(
                f"{name} {', '.join(map(str, yanked[:3]))} {'is' if len(yanked) == 1 else 'are'} "
                f"yanked: a yanked version is used only when pinned exactly ({name}=={yanked[0]})"
            )
        if not usable and len(wanted) > 1:  # (one version: the explanation names its reason)
            reasons = sorted({c.unavailable for c in wanted if c.unavailable})
            if reasons:
                hints.append(
                    f"no version of {name} can be used on {target}: it " + "; it ".join(reasons[:2])
                )
        sys_platform = target.environment.get("sys_platform")
        if sys_platform == "darwin":
            for pkg, need in root_deps:
                if pkg.name != name:
                    continue
                for spec in need.specifier:
                    if "+" in spec.version and spec.operator in ("==", "==="):
                        public, label = spec.version.split("+", 1)
                        hints.append(
                            f"{name}=={spec.version} has no wheel for macOS: macOS builds carry no "
                            f"local label (+{label}); require {name}=={public} there, e.g. "
                            f"`{name}=={spec.version}; sys_platform != 'darwin'` and "
                            f"`{name}=={public}; sys_platform == 'darwin'`"
                        )
        if sys_platform != "darwin":
            for pkg, need in root_deps:
                if pkg.name != name:
                    continue
                for spec in need.specifier:
                    if "+" not in spec.version or spec.operator not in ("==", "==="):
                        continue
                    public, label = spec.version.split("+", 1)
                    if any(str(v) == spec.version for v in universe):
                        continue
                    same_public = sorted({f"+{v.local}" for v in universe if str(v.public) == public and v.local})
                    same_label = sorted({str(v.public) for v in universe if v.local == label}, reverse=True)
                    if same_public:
                        hints.append(
                            f"{name} {public} exists here only as {', '.join(same_public)}, not +{label}: "
                            f"choose that build, or point at the index that has +{label} "
                            f"(`--torch-backend {label}`)"
                        )
                    elif same_label:
                        hints.append(
                            f"the +{label} builds here are {name} {', '.join(same_label[:4])}; "
                            f"{public} was not built for {label}"
                        )
        # A pin naming another accelerator's build than --torch-backend chose: torch-family
        # packages come only from the backend's index, so say which side to change.
        backend = getattr(target, "torch_backend", None)
        if not backend and sys_platform != "darwin":
            # `torch==2.9.1+cu128` (a compiled file) with no backend: PyPI has no labelled builds.
            from torchup.torch.backend import parse_local_label

            for pkg, need in root_deps:
                if pkg.name != name:
                    continue
                for spec in need.specifier:
                    if "+" in spec.version and spec.operator in ("==", "==="):
                        named = parse_local_label(spec.version.split("+", 1)[1])
                        if named is not None:
                            hints.append(
                                f"{name}=={spec.version} is a {named.name} build, published only "
                                f"on the PyTorch index: pass --torch-backend {named.name}"
                            )
        if backend and backend != "auto" and sys_platform != "darwin":
            from torchup.torch.backend import parse_local_label

            for pkg, need in root_deps:
                if pkg.name != name:
                    continue
                for spec in need.specifier:
                    if "+" not in spec.version or spec.operator not in ("==", "==="):
                        continue
                    public, label = spec.version.split("+", 1)
                    named = parse_local_label(label)
                    if named is not None and named.name != backend:
                        hints.append(
                            f"{name}=={spec.version} is the {named.name} build, but the torch "
                            f"backend is {backend}: require {name}=={public} (no label), or use "
                            f"--torch-backend {named.name}"
                        )
    return list(dict.fromkeys(hints))


def _packages_in(exc: NoSolution) -> set[Pkg]:
    seen: set[int] = set()
    out: set[Pkg] = set()
    stack = [getattr(exc, "incompatibility", None)]
    while stack:
        inc = stack.pop()
        if inc is None or id(inc) in seen:
            continue
        seen.add(id(inc))
        for term in getattr(inc, "terms", ()):
            pkg = getattr(term, "package", None)
            if isinstance(pkg, Pkg):
                out.add(pkg)
        cause = getattr(inc, "cause", None)
        # NoVersions names its package only in the cause (the term is the dependant's).
        pkg = getattr(cause, "package", None)
        if isinstance(pkg, Pkg):
            out.add(pkg)
        for attr in ("conflict", "other", "left", "right"):
            stack.append(getattr(cause, attr, None))
            stack.append(getattr(inc, attr, None))
    return out
