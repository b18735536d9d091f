"""Project commands: `torchup lock|sync|add|remove|run|init|export`.

`lock` resolves once per environment (OS x machine x Python minor), per variant (base, each
extra, each dependency group) and per torch backend, then merges the results into standard
PEP 751 locks: ``pylock.toml`` for the first backend and ``pylock.<backend>.toml`` for the
others. `sync` detects the accelerator, picks the matching lock and makes ``.venv`` exactly it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchup.cli import output
from torchup.cli.context import Context
from torchup.errors import ConfigError, LockError, ResolutionError

__all__ = [
    "run_lock",
    "run_sync",
    "run_add",
    "run_remove",
    "run_run",
    "run_init",
    "run_export",
    "lock_file_name",
]

# The Python minors a default lock covers (filtered by requires-python); 3.14 is the newest release.
PYTHON_MINORS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
DEFAULT_PLATFORMS = ("linux", "aarch64-manylinux_2_28", "aarch64-apple-darwin", "windows")


def lock_file_name(backend: str | None, first: bool) -> str:
    return "pylock.toml" if first or not backend else f"pylock.{backend}.toml"


@dataclass
class Project:
    root: Path
    pyproject: Path
    config: Any  # ProjectConfig

    @property
    def venv(self) -> Path:
        return self.root / ".venv"


def find_project(ns: argparse.Namespace) -> Project:
    from torchup.config import ProjectConfig, find_pyproject

    start = Path(getattr(ns, "project_dir", None) or ".").resolve()
    path = find_pyproject(start)
    if path is None:
        raise ConfigError(
            f"no pyproject.toml in {start} or any parent directory",
            hint="create a project with `torchup init`, or pass --directory",
        )
    config = ProjectConfig.from_pyproject(path.read_text(encoding="utf-8"), str(path))
    for warning in config.warnings:
        output.warn(warning)
    if getattr(ns, "no_sources", False):
        # uv's --no-sources: resolve as the published metadata says, from the indexes. The
        # lock's input hash follows (it digests the sources), so a later run without the
        # flag finds that lock stale and locks again.
        import dataclasses

        config = dataclasses.replace(config, tool=dataclasses.replace(config.tool, sources={}))
    return Project(root=path.parent, pyproject=path, config=config)


# -- locking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """Which optional parts of the project a resolution includes."""

    extra: str | None = None
    group: str | None = None

    @property
    def condition(self) -> str | None:
        if self.extra:
            return f"'{self.extra}' in extras"
        if self.group:
            return f"'{self.group}' in dependency_groups"
        return None


def _environment_targets(config: Any, macos_version: tuple[int, int] | None = None) -> list[Any]:
    from torchup.target import Target

    targets = []
    for minor in PYTHON_MINORS:
        if config.requires_python is not None and not config.requires_python.contains(
            f"{minor}.0", prereleases=True
        ) and not config.requires_python.contains(f"{minor}.99", prereleases=True):
            continue
        for platform in DEFAULT_PLATFORMS:
            t = Target.for_platform(minor, platform, macos_version=macos_version)
            envs = config.tool.environments
            if envs and not any(t.evaluate(m) for m in envs):
                continue
            targets.append(t)
    if not targets:
        raise ConfigError(
            "no environment to lock for: requires-python and `environments` exclude every "
            "supported platform and Python version",
            path=config.path,
            key="environments",
            hint="widen requires-python or tool.uv.environments",
        )
    return targets


def _is_required(config: Any, target: Any) -> bool:
    return any(target.evaluate(m) for m in config.tool.required_environments)


def _check_required_environments(
    config: Any, targets: Sequence[Any], failed: dict[Any, ResolutionError]
) -> None:
    """Fail when a ``required-environments`` entry cannot be installed on any of the locked
    environments it covers.

    uv reads ``sys_platform == "win32"`` as "Windows must be installable", not "every Python
    minor on Windows must be": a package with only a ``cp312-abi3-win_amd64`` wheel satisfies
    it (packse requires-python-subset). Failing on Windows/Python 3.9 alone used to reject such
    uv projects; the failing minors are now noted as not installable, like any other
    environment. A marker that names Python versions itself still requires exactly those.
    """
    for marker in config.tool.required_environments:
        covered = [t for t in targets if t.evaluate(marker)]
        if covered and all(t in failed for t in covered):
            first = failed[covered[0]]
            raise ResolutionError(
                f"the project cannot be installed on {covered[0]}, a required environment "
                f"({marker}):\n{first.message}",
                hint=first.hint,
            )


def _variant_requirements(config: Any, variant: Variant) -> list[Any]:
    from torchup.requirements import RootRequirement

    reqs = [RootRequirement(r, "pyproject.toml") for r in config.dependencies]
    if variant.extra:
        reqs += [
            RootRequirement(r, f"pyproject.toml [{variant.extra}]")
            for r in config.optional_dependencies.get(variant.extra, ())
        ]
    if variant.group:
        reqs += [
            RootRequirement(r, f"pyproject.toml ({variant.group})")
            for r in config.dependency_groups.get(variant.group, ())
        ]
    # Requirements on the project's own extras (`myproject[cpu]`) expand in place.
    own = config.normalized_name
    out = []
    for rr in reqs:
        from packaging.utils import canonicalize_name

        if own and canonicalize_name(rr.requirement.name) == own:
            for extra in rr.requirement.extras:
                out += [
                    RootRequirement(r, rr.origin)
                    for r in config.optional_dependencies.get(canonicalize_name(extra), ())
                ]
            continue
        out.append(rr)
    return out


@dataclass
class LockSession:
    """Shared finder/fetcher across every resolution of one `torchup lock`."""

    ctx: Context
    project: Project
    indexes: list[Any]
    find_links: list[Any]
    index_sources_by_name: dict[str, Any]
    finder: Any
    fetcher: Any
    notes: list[Any] = field(default_factory=list)
    torch_index_urls: tuple[str, ...] = ()  # project indexes marked `torch-index = true`
    # The per-target choices of each page, shared by the resolutions of this lock (one per
    # environment x backend x variant) instead of redone by each provider: one per finder.
    choice_memo: Any = None
    _sdist_meta: dict[str, Any] = field(default_factory=dict)
    _sdist_lock: Any = field(default_factory=threading.Lock)
    _sdist_reader: Any = None
    # Local folders and git checkouts named by [tool.uv.sources], prepared once per lock:
    # source key -> the direct file standing for it; and that file's URL -> the lock's
    # `directory` / `vcs` table (see _with_source_trees).
    _trees: dict[tuple[str, ...], Any] = field(default_factory=dict)
    tree_entries: dict[str, Any] = field(default_factory=dict)

    def policy(self, variant: Variant) -> Any:
        from torchup.resolver.sources import IndexPin

        pins: dict[str, tuple[Any, ...]] = {}
        for name, sources in self.project.config.tool.sources.items():
            items = []
            for src in sources:
                if src.kind != "index":
                    continue
                source = self.index_sources_by_name.get(src.index)
                if source is None:
                    raise ConfigError(
                        f"the source for {name} names the index {src.index!r}, which is not defined",
                        path=str(self.project.pyproject),
                        key=f"tool.uv.sources.{name}",
                        hint="add it as [[tool.uv.index]] with that name",
                    )
                items.append(IndexPin(source=source, marker=src.marker, extra=src.extra, group=src.group))
            if items:
                pins[name] = tuple(items)
        return self.ctx.index_policy(
            self.indexes,
            self.find_links,
            pins,
            active_extras=frozenset([variant.extra] if variant.extra else []),
            active_groups=frozenset([variant.group] if variant.group else []),
            torch_index_prefixes=self.torch_index_urls,
        )

    def sdist_metadata(self, dist: Any) -> Any:
        """An sdist's metadata: its static PKG-INFO (PEP 643), else a PEP 517 build, once per
        file for the whole lock.

        Without it every sdist-only version was "unavailable (source build needed)" in a
        project, although `pip compile` reads the same files (packse requires-python-wheels,
        unreachable-wheels: a wheel for some platforms, the sdist for the rest).
        """
        from torchup.cli.resolve_cmd import _sdist_builder, _sdist_metadata_reader

        key = str(getattr(dist, "url", dist))
        with self._sdist_lock:
            if key in self._sdist_meta:
                return self._sdist_meta[key]
        if self._sdist_reader is None:
            self._sdist_reader = _sdist_metadata_reader(self.ctx.client, _sdist_builder(self.ctx, None))
        meta = self._sdist_reader(dist)
        with self._sdist_lock:
            self._sdist_meta[key] = meta
        return meta

    def direct_files(self, target: Any, variant: Variant, reqs: Sequence[Any]) -> dict[str, Any]:
        """Wheels named by URL or path for ``target``: ``name @ URL`` requirements and
        ``[tool.uv.sources]`` ``{ url = ... }`` / ``{ path = ... }`` entries (seeds 001, 004).

        Without this a project resolved such requirements from the indexes as if the URL were
        not there (``torch @ .../torch-2.9.1%2Bcu128-...whl`` locked the CPU build). A folder
        or git source stands in as a prepared source tree (see _folder_tree, _git_tree); a
        source archive is a clear error.
        """
        from packaging.utils import canonicalize_name

        from torchup.install.vcs import GitUrl, is_git_url
        from torchup.requirements import file_url_path

        out: dict[str, Any] = {}
        for rr in reqs:
            req = rr.requirement
            if req.url and target.evaluate(req.marker, []):
                if is_git_url(req.url):  # `name @ git+https://...@rev` in [project]
                    source = self._git_tree(req.name, GitUrl.parse(req.url))
                elif req.url.startswith("file:") and Path(file_url_path(req.url)).is_dir():
                    source = self._folder_tree(req.name, Path(file_url_path(req.url)), None)
                else:
                    source = self._direct_file(req.name, req.url)
                out[str(canonicalize_name(req.name))] = source
        extras = [variant.extra] if variant.extra else []
        for name, sources in self.project.config.tool.sources.items():
            for src in sources:
                if src.kind == "workspace":
                    # Skipping it would lock the index's project of that name instead.
                    raise ConfigError(
                        f"{name} is a workspace member, and torchup does not support uv "
                        "workspaces",
                        path=str(self.project.pyproject),
                        hint=f'name its folder instead: {name} = {{ path = "<folder>", editable = true }}',
                    )
                if src.kind not in ("url", "path", "git"):
                    continue
                if src.extra and src.extra not in extras:
                    continue
                if src.group and src.group != variant.group:
                    continue
                if src.marker is not None and not target.evaluate(src.marker, extras):
                    continue
                if src.kind == "git":
                    repository = src.git[len("git+"):] if src.git.startswith("git+") else src.git
                    url = GitUrl(repository, src.tag or src.branch or src.rev, src.subdirectory)
                    out[str(canonicalize_name(name))] = self._git_tree(name, url)
                    break
                location = src.url or _abs_url(str(src.path), self.project.root)
                if src.kind == "path" and Path(file_url_path(location)).is_dir():
                    folder = Path(file_url_path(location))
                    out[str(canonicalize_name(name))] = self._folder_tree(name, folder, src.editable)
                    break
                out[str(canonicalize_name(name))] = self._direct_file(name, location)
                break
        return out

    def _folder_tree(self, name: str, folder: Path, editable: bool | None) -> Any:
        """A ``{ path = "<folder>" }`` source (or ``name @ file:///<folder>``): its project's
        metadata, prepared once (PEP 517), stands for the folder in every resolution; the lock
        records a ``directory`` entry, relative to the project."""
        from torchup.lock.model import LockedDirectory

        key = ("path", str(folder), str(bool(editable)))
        if key not in self._trees:
            relative = Path(os.path.relpath(folder, self.project.root)).as_posix()
            self._trees[key] = self._tree_file(
                name, folder, folder.as_uri(), LockedDirectory(path=relative, editable=editable or None)
            )
        return self._trees[key]

    def _git_tree(self, name: str, url: Any) -> Any:
        """A ``{ git = ..., rev/tag/branch = ..., subdirectory = ... }`` source (or
        ``name @ git+URL@rev``), a GitUrl: checked out once per lock at the commit the revision
        names now; the lock records a ``vcs`` entry pinned to that commit (``torchup sync``
        checks the same commit out)."""
        from torchup.install.vcs import fetch_git
        from torchup.lock.model import LockedVcs

        key = ("git", url.repository, url.revision or "", url.subdirectory or "")
        if key not in self._trees:
            checkout = fetch_git(url, self.ctx.cache.bucket("git-v1"))
            locked = LockedVcs(
                type="git", commit_id=checkout.commit, url=url.repository,
                requested_revision=url.revision, subdirectory=url.subdirectory,
            )
            self._trees[key] = self._tree_file(
                name, checkout.source_dir, url.pinned(checkout.commit), locked
            )
        return self._trees[key]

    def _tree_file(self, name: str, folder: Path, url: str, locked: Any) -> Any:
        from packaging.utils import canonicalize_name

        from torchup.cli.resolve_cmd import _prepare_tree_metadata
        from torchup.index.simple import DistFile

        # A package built without isolation is built "in the environment": its metadata too,
        # so a backend that imports torch (flash-attn) finds the one in .venv.
        venv = None if self.ctx.build_isolated(name) else _venv_interpreter(self.ctx, self.project)
        meta = _prepare_tree_metadata(
            self.ctx, folder, str(venv.executable) if venv is not None else None, name
        )
        if canonicalize_name(meta.name) != canonicalize_name(name):
            raise ConfigError(
                f"[tool.uv.sources] {name} points at {folder}, which is the project "
                f"{meta.name}, not {name}",
                path=str(self.project.pyproject),
                key=f"tool.uv.sources.{name}",
                hint=f"point {name} at the folder or repository of {name}",
            )
        dist = DistFile(filename=f"{canonicalize_name(name).replace('-', '_')}-{meta.version}.tar.gz", url=url)
        with self._sdist_lock:
            self._sdist_meta[url] = meta  # the provider reads it as this "sdist"'s metadata
        self.tree_entries[url] = locked
        return dist

    def _direct_file(self, name: str, location: str) -> Any:
        from urllib.parse import unquote

        from torchup.index.simple import DistFile

        url, _, fragment = location.partition("#")
        if "://" not in url:
            url = _abs_url(url, self.project.root)
        filename = unquote(url.rstrip("/").rsplit("/", 1)[-1])
        if not filename.endswith(".whl"):
            raise ConfigError(
                f"{name} comes from {location}, which is not a wheel file; a project lock "
                "supports wheels by URL or path only",
                path=str(self.project.pyproject),
                hint=f"point {name} at a .whl file, or use an index",
            )
        hashes = {}
        if fragment.startswith("sha256="):
            hashes["sha256"] = fragment.split("=", 1)[1]
        return DistFile(filename=filename, url=url, hashes=hashes)

    def resolve(self, target: Any, variant: Variant, preferences: dict[str, Any]) -> Any:
        from packaging.utils import canonicalize_name

        from torchup.cli.resolve_cmd import binary_policy
        from torchup.resolver.provider import IndexProvider, ProviderOptions
        from torchup.resolver.session import resolve_requirements
        from torchup.torch import routing

        cfg = self.project.config
        reqs = _variant_requirements(cfg, variant)
        policy = self.policy(variant)
        pre_packages: frozenset[str] = frozenset()
        if policy.torch_channel == "nightly":
            pre_packages = frozenset(routing.TORCH_FAMILY)
        constraints: dict[str, tuple[Any, ...]] = {}
        for c in cfg.tool.constraint_dependencies:
            n = canonicalize_name(c.name)
            constraints[n] = (*constraints.get(n, ()), c.specifier)
        options = ProviderOptions(
            prerelease=self.ctx.prerelease_mode(project=cfg.tool.prerelease),  # type: ignore[arg-type]
            resolution=self.ctx.resolution_mode(project=cfg.tool.resolution),  # type: ignore[arg-type]
            exclude_newer=self.ctx.exclude_newer() or cfg.tool.exclude_newer,
            binary=binary_policy(self.ctx.ns),
            prerelease_packages=pre_packages,
            preferences=preferences,
            constraints=constraints,
            overrides={canonicalize_name(o.name): o for o in cfg.tool.override_dependencies},
            direct_names=frozenset(canonicalize_name(r.requirement.name) for r in reqs),
        )
        fetcher: Any = self.fetcher
        build_metadata = self.sdist_metadata
        if cfg.tool.dependency_metadata:
            declared = _DeclaredFirst(cfg.tool.dependency_metadata, fetcher, build_metadata)
            fetcher, build_metadata = declared, declared.build
        provider = IndexProvider(
            target,
            self.finder,
            fetcher,
            policy,
            options,
            direct_files=self.direct_files(target, variant, reqs),
            build_metadata=build_metadata,
            choice_memo=self.choice_memo,
        )
        try:
            return resolve_requirements(provider, reqs)
        finally:
            provider.close()


@dataclass(frozen=True)
class _DeclaredFirst:
    """The resolver's metadata source for a project with ``[[tool.uv.dependency-metadata]]``:
    a package the project describes gets that description, without a download or a build
    (uv's flash-attn recipe: its sdist's metadata would need torch and CUDA to build);
    anything else goes to ``fetcher`` (wheels) or ``builder`` (sdists), as before."""

    entries: tuple[Any, ...]
    fetcher: Any
    builder: Callable[[Any], Any]

    def fetch(self, dist: Any) -> Any:
        declared = self.declared(dist)
        return declared if declared is not None else self.fetcher.fetch(dist)

    def build(self, dist: Any) -> Any:
        declared = self.declared(dist)
        return declared if declared is not None else self.builder(dist)

    def declared(self, dist: Any) -> Any:
        from packaging.utils import canonicalize_name
        from packaging.version import Version

        from torchup.index.metadata import parse_metadata

        try:
            name, version = canonicalize_name(dist.project), dist.version
        except (AttributeError, ValueError):
            return None
        for entry in self.entries:
            if entry.name == name and (entry.version is None or Version(entry.version) == version):
                return parse_metadata(entry.metadata_text(str(version)).encode(), dist)
        return None


# How a lock notes an environment no resolution was found for (sync refuses it).
_NOT_INSTALLABLE = "not installable here: "

# Reasons the resolver gives when a version exists but cannot be used on the environment being
# locked (torchup/resolver/candidates.py): such an environment is skipped with a note.
_PLATFORM_REASONS = (
    "has no wheel for",
    "requires Python",
    "has only a source distribution",
)


def _is_platform_failure(exc: ResolutionError) -> bool:
    """Whether a failed resolution failed because something has no build for the environment
    (torch for ROCm on macOS, a cp313-only wheel on 3.12) rather than because the requirements
    conflict there."""
    text = f"{exc.message}\n{exc.hint or ''}"
    return any(reason in text for reason in _PLATFORM_REASONS)


def _uses_torch(config: Any) -> bool:
    from torchup.torch import routing

    reqs = list(config.dependencies)
    for group in (*config.optional_dependencies.values(), *config.dependency_groups.values()):
        reqs += list(group)
    return any(routing.is_torch_family(r.name) for r in reqs)


def _sources_pin_torch(config: Any) -> bool:
    from torchup.torch import routing

    return any(routing.is_torch_family(name) for name in config.tool.sources)


def _user_chose_torch_build(config: Any, session: LockSession) -> bool:
    """Whether the project already says which torch build it wants, so torchup must not add
    backend locks of its own (besides a torch-family source): a PyTorch index among the project's
    indexes (``extra-index-url = [".../whl/cpu"]``, ``index-url = ".../whl/nightly/cu128"``),
    a pin with a local label (``torch==2.4.1+cpu``) or a wheel URL (``torch @ https://...``).

    Without these checks seed 003's CPU-only project (``torch==2.4.1+cpu`` with the CPU
    index as extra index) also got a ``pylock.cu124.toml`` in which no Linux/Windows
    environment resolved, and `sync` on an NVIDIA machine picked it and installed no torch.
    """
    from torchup.torch import routing

    policy = session.policy(Variant())
    if any(policy.is_torch_index(s) for s in session.indexes):
        return True
    reqs = list(config.dependencies)
    for group in (*config.optional_dependencies.values(), *config.dependency_groups.values()):
        reqs += list(group)
    return any(
        routing.is_torch_family(r.name)
        and (bool(r.url) or any("+" in spec.version for spec in r.specifier))
        for r in reqs
    )


def _variants(config: Any) -> list[Variant]:
    variants = [Variant()]
    variants += [Variant(extra=e) for e in sorted(config.optional_dependencies)]
    variants += [Variant(group=g) for g in sorted(config.dependency_groups)]
    return variants


def _local_folders(project: Project) -> list[Path]:
    """The project folders the project depends on: ``{ path = "<folder>" }`` sources and
    ``name @ file:///<folder>`` requirements (whatever their markers, extras or groups)."""
    from torchup.requirements import file_url_path

    cfg = project.config
    urls = [
        r.url
        for r in (*cfg.dependencies, *(r for rs in cfg.optional_dependencies.values() for r in rs),
                  *(r for rs in cfg.dependency_groups.values() for r in rs))
        if r.url and r.url.startswith("file:")
    ]
    urls += [
        src.url or _abs_url(str(src.path), project.root)
        for sources in cfg.tool.sources.values()
        for src in sources
        if src.kind == "path"
    ]
    folders = {Path(file_url_path(u)) for u in urls}
    return sorted(f for f in folders if f.is_dir())


def _input_hash(project: Project) -> str:
    """What a lock was made from: the project's resolution inputs and, for each folder project
    it depends on, what that folder's metadata comes from (its cache keys). Without the second
    part an edited ``../lib/pyproject.toml`` (a new dependency) left the lock "fresh" and
    `torchup sync` installed the old dependencies."""
    from torchup.cli.pip_install import metadata_fingerprint
    from torchup.lock.model import input_hash

    inputs = project.config.resolution_inputs()
    trees = {
        Path(os.path.relpath(folder, project.root)).as_posix(): metadata_fingerprint(folder)
        for folder in _local_folders(project)
    }
    # Only when there are folders, so the hash of a lock without any stays what it was.
    return input_hash(inputs, {"source-trees": trees}) if trees else input_hash(inputs)


def _make_session(ctx: Context, project: Project) -> LockSession:
    from torchup.index.finder import IndexSource
    from torchup.index.metadata import MetadataFetcher

    tool = project.config.tool
    ctx.use_project_settings(tool)
    # Precedence: command line > environment > project file.
    if tool.torch_index_url and not ctx.ns.torch_index_url and not ctx.env.get("TORCHUP_TORCH_INDEX_URL"):
        ctx.ns.torch_index_url = tool.torch_index_url
    if tool.torch_channel and not ctx.ns.torch_channel and not ctx.env.get("TORCHUP_TORCH_CHANNEL"):
        ctx.ns.torch_channel = tool.torch_channel
    project_indexes = []
    project_links = list(tool.find_links)
    by_name: dict[str, Any] = {}
    for ix in tool.indexes:
        if ix.format == "flat":
            src = IndexSource(url=_abs_url(ix.url, project.root), name=ix.name, explicit=ix.explicit, kind="find-links")
        else:
            src = IndexSource(url=_abs_url(ix.url, project.root), name=ix.name, explicit=ix.explicit, default=ix.default)
        if ix.name:
            by_name[ix.name] = src
        if ix.format == "flat":
            project_links.append(src.url)
        else:
            project_indexes.append(src)
    indexes, find_links = ctx.index_sources(
        file_index_url=tool.index_url,
        file_extra_urls=tool.extra_index_urls,
        file_no_index=bool(tool.no_index),
        project_indexes=project_indexes,
        project_find_links=project_links,
    )
    from torchup.resolver.provider import ChoiceMemo

    strategy = ctx.ns.index_strategy or tool.index_strategy or ctx.index_strategy
    finder = ctx.finder([*indexes, *find_links], strategy)
    torch_urls = tuple(_abs_url(ix.url, project.root) for ix in tool.indexes if ix.torch_index)
    return LockSession(
        ctx, project, indexes, find_links, by_name, finder, MetadataFetcher(ctx.client),
        torch_index_urls=torch_urls,
        choice_memo=ChoiceMemo(),
    )


def _abs_url(url: str, root: Path) -> str:
    if "://" in url:
        return url
    return (root / url).resolve().as_uri()


@dataclass
class _LockedPins:
    """The versions an existing lock chose, by environment: re-locking prefers them.

    A lock holds several versions of one package for different machines (``torch 2.8.0`` for
    macOS, ``2.8.0+cpu`` elsewhere). Preferring one of them for every environment (the last
    one read, as before) moved the others to the newest release on the next `torchup lock`,
    although nothing asked for an upgrade; each environment now prefers what its own markers
    select.
    """

    entries: list[tuple[str, Any, Any]]  # (name, version, marker or None)

    def for_target(self, target: Any, variant: Variant, skip: Collection[str]) -> dict[str, Any]:
        env: dict[str, Any] = dict(target.environment)
        env["extras"] = frozenset([variant.extra] if variant.extra else [])
        env["dependency_groups"] = frozenset([variant.group] if variant.group else [])
        out: dict[str, Any] = {}
        for name, version, marker in self.entries:
            if name in skip:
                continue
            if marker is not None:
                try:
                    if not marker.evaluate(env, context="lock_file"):
                        continue
                except Exception:  # noqa: BLE001 - an odd marker only loses a preference
                    continue
            if name not in out or version > out[name]:
                out[name] = version
        return out


def _existing_pins(project: Project, name: str = "pylock.toml") -> _LockedPins:
    """Versions in the current lock (``name``, else ``pylock.toml``): re-locking keeps them
    unless asked to upgrade."""
    from torchup.lock.io import read_lock

    path = project.root / name
    if not path.exists():
        path = project.root / "pylock.toml"
    if not path.exists():
        return _LockedPins([])
    try:
        lock = read_lock(path)
    except LockError:
        return _LockedPins([])
    return _LockedPins(
        [(p.name, p.version, p.marker) for p in lock.packages if p.version is not None]
    )


def lock_project(ctx: Context, project: Project, *, write: bool = True) -> list[tuple[str | None, Any]]:
    """Resolve every environment x variant x backend and write the locks."""
    from packaging.utils import canonicalize_name

    from torchup.lock.build import environment_marker, lock_from_results
    from torchup.lock.io import write_lock
    from torchup.lock.model import EnvironmentNote, LockMetadata
    from torchup.torch.backend import backends_for_torch

    started = time.monotonic()
    cfg = project.config
    session = _make_session(ctx, project)
    targets = _environment_targets(cfg, ctx.macos_version())
    variants = _variants(cfg)
    skip = {canonicalize_name(n) for n in getattr(ctx.ns, "upgrade_package", []) or []}
    explicit_backends = list(cfg.tool.torch_backends) or (
        [getattr(ctx.ns, "torch_backend", None)] if getattr(ctx.ns, "torch_backend", None) else []
    ) or ([cfg.tool.torch_backend] if cfg.tool.torch_backend else [])
    named_backends = [b for b in explicit_backends if b != "auto"]
    if (
        _uses_torch(cfg)
        and not _sources_pin_torch(cfg)
        and (named_backends or not _user_chose_torch_build(cfg, session))
    ):
        backends: list[str | None] = [b for b in explicit_backends if b != "auto"] or ["cpu"]
        auto_cuda = not [b for b in explicit_backends if b != "auto"]
    else:
        backends = [None]
        auto_cuda = False

    locks: list[tuple[str | None, Any]] = []
    index = 0
    while index < len(backends):
        backend = backends[index]
        results: list[Any] = []
        notes: list[Any] = []
        failures: list[str] = []
        required_failures: dict[Any, ResolutionError] = {}
        locked = (
            _LockedPins([])
            if ctx.ns.upgrade
            else _existing_pins(project, lock_file_name(backend, index == 0))
        )
        for target in targets:
            env_backend = backend
            t = target.with_backend(env_backend)
            if backend and backend != "cpu" and t.environment.get("sys_platform") == "darwin":
                env_backend = "cpu"
                t = target.with_backend("cpu")
                notes.append(
                    EnvironmentNote(
                        environment=environment_marker(target),
                        message=f"no {backend} build for macOS: the CPU build (with MPS) is locked",
                        backend=backend,
                        package="torch",
                    )
                )
            base_prefs = locked.for_target(target, Variant(), skip)
            try:
                base = session.resolve(t, Variant(), base_prefs)
            except ResolutionError as exc:
                if env_backend and env_backend != "cpu":
                    try:
                        base = session.resolve(target.with_backend("cpu"), Variant(), base_prefs)
                        t = target.with_backend("cpu")
                        notes.append(
                            EnvironmentNote(
                                environment=environment_marker(target),
                                message=f"no {backend} build here: the CPU build is locked",
                                backend=backend,
                                package="torch",
                            )
                        )
                    except ResolutionError:
                        failures.append(f"{target}: {exc.message}")
                        continue
                else:
                    if _is_required(cfg, target):
                        required_failures[target] = exc
                    if not _is_platform_failure(exc):
                        # The requirements contradict each other here (`a>=2; linux` with
                        # `a<2; linux`, packse fork-marker-disjoint): that is an error in the
                        # project, as in uv, not a platform the project merely does not support.
                        raise ResolutionError(
                            f"the requirements conflict on {target}:\n{exc.message}",
                            hint=exc.hint
                            or "limit the conflicting requirements with markers, or set "
                            "`environments` to leave this platform out",
                        ) from None
                    failures.append(f"{target}: {exc.message.splitlines()[-1]}")
                    notes.append(
                        EnvironmentNote(
                            environment=environment_marker(target),
                            message=f"{_NOT_INSTALLABLE}{exc.message.splitlines()[-1]}",
                            backend=backend,
                        )
                    )
                    continue
            results.append(base)
            pins = {p.name: p.version for p in base.packages}
            for variant in variants[1:]:
                try:
                    res = session.resolve(
                        t, variant, {**locked.for_target(target, variant, skip), **pins}
                    )
                except ResolutionError as exc:
                    what = f"extra {variant.extra!r}" if variant.extra else f"group {variant.group!r}"
                    notes.append(
                        EnvironmentNote(
                            environment=environment_marker(target),
                            message=f"the {what} cannot be installed here: {exc.message.splitlines()[-1]}",
                            backend=backend,
                        )
                    )
                    continue
                results.append((res, variant.condition))
        _check_required_environments(cfg, targets, required_failures)
        if not results:
            raise ResolutionError(
                "the project cannot be locked for any environment:\n  " + "\n  ".join(failures[:6]),
                hint="check the dependencies and indexes; `torchup pip compile` shows one environment in detail",
            )
        for failure in failures:
            output.warn(f"not installable on {failure}")
        if auto_cuda and index == 0:
            torch_version = next(
                (p.version for r in results if not isinstance(r, tuple)
                 and r.target.environment.get("sys_platform") == "linux"
                 for p in r.packages if p.name == "torch"),
                None,
            )
            if torch_version is not None:
                cuda = [b for b in backends_for_torch(torch_version, os="linux", machine="x86_64") if b.kind == "cuda"]
                if cuda:
                    backends.append(cuda[0].name)
        meta = LockMetadata(
            input_hash=_input_hash(project),
            torch_backend=backend,
            torch_backends=tuple(b for b in backends if b),
            environments=tuple(environment_marker(t) for t in targets),
            notes=tuple(notes),
        )
        lock = lock_from_results(
            results,
            requires_python=str(cfg.requires_python) if cfg.requires_python else None,
            meta=meta,
            extras=sorted(cfg.optional_dependencies),
            groups=sorted(cfg.dependency_groups),
            default_groups=["dev"] if "dev" in cfg.dependency_groups else [],
            hash_files=lambda files: _hash_missing(
                ctx, [f for f in files if f.url not in session.tree_entries]
            ),
        )
        locks.append((backend, _with_source_trees(lock, session.tree_entries)))
        index += 1
    if write:
        for i, (backend, lock) in enumerate(locks):
            write_lock(project.root / lock_file_name(backend, i == 0), lock)
        _remove_stale_backend_locks(project, {lock_file_name(b, i == 0) for i, (b, _) in enumerate(locks)})
    ms = (time.monotonic() - started) * 1000
    names = ", ".join(lock_file_name(b, i == 0) for i, (b, _) in enumerate(locks))
    count = max(len({p.name for p in lock.packages}) for _, lock in locks)
    output.info(f"Resolved {output.counted(count, 'package')} for {output.counted(len(targets), 'environment')} in {ms:.0f}ms ({names})")
    return locks


def _with_source_trees(lock: Any, trees: dict[str, Any]) -> Any:
    """``lock`` with each package resolved from a local folder or git checkout (the "sdist"
    standing for it while resolving) recorded as the PEP 751 ``directory`` / ``vcs`` table."""
    from dataclasses import replace

    from torchup.lock.model import LockedDirectory

    def local(pkg: Any) -> Any:
        source = trees.get(pkg.sdist.url) if pkg.sdist is not None else None
        if source is None:
            return pkg
        if isinstance(source, LockedDirectory):
            return replace(pkg, sdist=None, wheels=(), index=None, directory=source)
        return replace(pkg, sdist=None, wheels=(), index=None, vcs=source)

    if not trees:
        return lock
    return replace(lock, packages=tuple(map(local, lock.packages)))


def _hash_missing(ctx: Context, files: Sequence[Any]) -> dict[str, dict[str, str]]:
    """sha256 of locked files whose index gave none (see ``install.download.hash_unhashed``)."""
    from torchup.install.download import hash_unhashed

    if not files:
        return {}
    output.info(f"Hashing {len(files)} file(s) whose index lists no sha256 (PEP 751 needs one)")
    return hash_unhashed(ctx.client, ctx.cache.bucket("archives-v1"), files)


def _remove_stale_backend_locks(project: Project, written: set[str]) -> None:
    """Delete ``pylock.<backend>.toml`` files an earlier `torchup lock` wrote for a backend this
    one no longer locks (torch moved from 2.8.0 to 2.9.1: cu129 -> cu130), so no stale lock
    is left to be picked up or committed. Other ``pylock.*.toml`` files are left alone."""
    from torchup.lock.io import read_lock

    for path in project.root.glob("pylock.*.toml"):
        if path.name in written:
            continue
        try:
            old = read_lock(path)
        except (LockError, OSError):
            continue
        if old.created_by == "torchup" and old.meta.torch_backend:
            path.unlink(missing_ok=True)


def _lock_is_fresh(project: Project) -> tuple[bool, Path]:
    from torchup.lock.io import read_lock

    path = project.root / "pylock.toml"
    if not path.exists():
        return False, path
    try:
        lock = read_lock(path)
    except LockError:
        return False, path
    return lock.meta.input_hash == _input_hash(project), path


def run_lock(ns: argparse.Namespace) -> int:
    ctx = Context(ns)
    project = find_project(ns)
    if ns.check or ns.locked:
        fresh, path = _lock_is_fresh(project)
        if not fresh:
            raise LockError(
                f"{path} is missing or out of date with {project.pyproject}",
                hint="run `torchup lock` to update it",
            )
        output.info(f"{path.name} is up to date")
        return 0
    if not ns.dry_run and not _flags_change_resolution(ns) and _all_locks_fresh(project):
        # Like `uv lock`: nothing in pyproject.toml changed, so keep the locks as they are
        # (`--upgrade`, `-P` or resolver flags re-resolve).
        output.info("The locks are up to date with pyproject.toml (use --upgrade to re-resolve)")
        return 0
    lock_project(ctx, project, write=not ns.dry_run)
    return 0


def _flags_change_resolution(ns: argparse.Namespace) -> bool:
    names = (
        "upgrade", "upgrade_package", "torch_backend", "torch_channel", "torch_index_url",
        "index", "default_index", "index_url", "extra_index_url", "find_links", "no_index",
        "index_strategy", "prerelease", "pre", "resolution", "exclude_newer",
        "no_build", "no_binary", "only_binary",
    )
    return any(getattr(ns, n, None) for n in names)


def _all_locks_fresh(project: Project) -> bool:
    from torchup.lock.io import read_lock

    fresh, path = _lock_is_fresh(project)
    if not fresh:
        return False
    try:
        backends = read_lock(path).meta.torch_backends
    except LockError:
        return False
    return all((project.root / lock_file_name(b, i == 0)).exists() for i, b in enumerate(backends))


# -- syncing ------------------------------------------------------------------------------


def _venv_interpreter(ctx: Context, project: Project) -> Any | None:
    """The interpreter of the project's ``.venv``, or None when there is none (yet)."""
    from torchup.install.interpreters import query_interpreter
    from torchup.install.venv import is_venv

    exe = project.venv / "bin" / "python"
    if is_venv(project.venv) and exe.exists():
        return query_interpreter(exe, cache_dir=ctx.cache.bucket("interpreters-v1"))
    return None


def _ensure_venv(ctx: Context, project: Project) -> Any:
    from torchup.install.venv import create_venv

    existing = _venv_interpreter(ctx, project)
    if existing is not None:
        return existing
    request = getattr(ctx.ns, "python", None)
    if request is None and project.config.requires_python is not None:
        request = str(project.config.requires_python)
    interp = ctx.find_python(request)
    output.info(f"Creating virtual environment at: {project.venv}")
    return create_venv(project.venv, interp, unpacked_cache=ctx.cache.bucket("wheels-v1"))


def _choose_lock(ctx: Context, project: Project, target: Any) -> tuple[Path, str | None]:
    """The lock file for this machine's accelerator (or --torch-backend)."""
    from torchup.lock.io import read_lock

    first = read_lock(project.root / "pylock.toml")
    available = list(first.meta.torch_backends) or ([first.meta.torch_backend] if first.meta.torch_backend else [])
    if not available:
        return project.root / "pylock.toml", None
    request = ctx.torch_backend_request() or project.config.tool.torch_backend or "auto"
    chosen, choice = ctx.choose_backend(request, target)
    if choice is not None:
        for reason in getattr(choice, "reasons", ()):
            output.debug(f"torch backend: {reason}")
    if chosen in available:
        pick = chosen
    else:
        from torchup.torch.backend import parse_backend

        want = parse_backend(chosen)
        same_kind = [b for b in available if parse_backend(b).kind == want.kind and parse_backend(b) <= want]
        pick = max(same_kind, key=parse_backend) if same_kind else available[0]
        output.warn(
            f"this machine wants the {chosen} build, but the project is locked for "
            f"{', '.join(available)}: using {pick} (add {chosen} to torch-backends to lock it)"
        )
    output.info(f"Using the {pick} lock for this machine")
    return project.root / lock_file_name(pick, pick == available[0]), pick


def _ensure_lock_fresh(ctx: Context, project: Project, ns: argparse.Namespace) -> None:
    """Lock again when pylock.toml is missing or out of date, unless ``--frozen`` (and a lock
    is there); ``--locked`` refuses instead."""
    fresh, _ = _lock_is_fresh(project)
    if fresh:
        return
    if getattr(ns, "locked", False):
        raise LockError(
            "pylock.toml is missing or out of date with pyproject.toml, and --locked was given",
            hint="run `torchup lock`",
        )
    if not getattr(ns, "frozen", False) or not (project.root / "pylock.toml").exists():
        lock_project(ctx, project)


def _chosen_groups(project: Project, ns: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(``--only-group``/``--only-dev`` groups, the dependency groups to take): the only-groups
    when given, else ``--group`` plus the default ``dev`` unless ``--no-dev``."""
    from packaging.utils import canonicalize_name

    cfg = project.config
    only: list[str] = [canonicalize_name(g) for g in getattr(ns, "only_group", None) or []]
    if getattr(ns, "only_dev", False):
        only.append("dev")  # uv: an alias of --only-group dev
    _require_groups(project, only)
    groups: list[str] = [canonicalize_name(g) for g in getattr(ns, "group", [])]
    if only:
        groups = list(dict.fromkeys(only))
    elif "dev" in cfg.dependency_groups and not getattr(ns, "no_dev", False):
        groups.append("dev")
    return only, groups


def _require_groups(project: Project, groups: Sequence[str]) -> None:
    """Refuse a dependency group the project does not define."""
    defined = project.config.dependency_groups
    for g in groups:
        if g not in defined:
            raise ConfigError(
                f"the dependency group {g!r} is not defined in {project.pyproject}",
                hint="defined groups: " + (", ".join(sorted(defined)) or "none"),
            )


def sync_project(ctx: Context, project: Project, ns: argparse.Namespace) -> Any:
    import tempfile

    from packaging.utils import canonicalize_name

    from torchup.cli.pip_install import _summary, desired_from_lock, execute_plan
    from torchup.install.plan import plan_install
    from torchup.install.site import scan_site_packages
    from torchup.lock.io import read_lock
    from torchup.lock.select import select_for_target

    ctx.use_project_settings(project.config.tool)
    started = time.monotonic()
    _ensure_lock_fresh(ctx, project, ns)
    extras = [canonicalize_name(e) for e in getattr(ns, "extra", [])]
    if getattr(ns, "all_extras", False):
        extras = sorted(project.config.optional_dependencies)
    for e in extras:
        if e not in project.config.optional_dependencies:
            raise ConfigError(
                f"the extra {e!r} is not defined in {project.pyproject}",
                hint="defined extras: " + (", ".join(sorted(project.config.optional_dependencies)) or "none"),
            )
    only, groups = _chosen_groups(project, ns)
    if only and extras:
        raise ConfigError(
            "--only-group/--only-dev leave the project's dependencies out, so --extra has no effect",
            hint="drop --extra, or use --group to add a group to the project's dependencies",
        )
    _check_conflicts(project, extras, groups)
    interp = _ensure_venv(ctx, project)
    target = interp.target()
    lock_path, backend = _choose_lock(ctx, project, target)
    lock = read_lock(lock_path)
    for note in lock.meta.notes:
        if target.evaluate(_safe_marker(note.environment)):
            if note.message.startswith(_NOT_INSTALLABLE) and not note.package:
                # The lock could not resolve this environment at all. Installing the entries
                # that happen to apply here would give a silently incomplete environment.
                raise LockError(
                    f"the project cannot be installed on {target}: "
                    f"{note.message[len(_NOT_INSTALLABLE):]}",
                    hint="`torchup lock` found no solution for this platform and Python; use "
                    "another Python version, or change the requirements",
                )
            output.warn(note.message)
    chosen = select_for_target(lock, target.with_backend(backend), extras=extras, dependency_groups=groups)
    if only:
        chosen = tuple(_needed_by_groups(chosen, project.config, only))
    installed = scan_site_packages(interp.site_packages)
    own = project.config.normalized_name
    # match-runtime build requirements get the versions this environment is given
    ctx.use_runtime_versions(
        {canonicalize_name(sel.package.name): str(sel.package.version)
         for sel in chosen if sel.package.version is not None},
        backend,
    )
    reinstall_all = bool(getattr(ns, "reinstall", False))
    again = {canonicalize_name(n) for n in getattr(ns, "reinstall_package", ())}
    # What --reinstall / --reinstall-package name is built again, not kept as installed.
    keepable = {} if reinstall_all else {k: v for k, v in installed.items() if k not in again}
    with tempfile.TemporaryDirectory(prefix="torchup-local-") as local_tmp:
        # The lock's folder and git entries are built; unchanged installed ones are kept.
        desired, local_wheels, rebuilt = desired_from_lock(
            ctx, interp, chosen, lock_path.parent, Path(local_tmp), keepable
        )
        if own and not only and _installs_project(project, ns):
            itself, wheel = _project_itself(ctx, interp, project, keepable, Path(local_tmp))
            desired.append(itself)
            if wheel is not None:
                # Built because its metadata files changed: installed again even at the same
                # version, or the old metadata (and the check above) would stay.
                local_wheels[own] = wheel
                rebuilt.add(own)
        plan = plan_install(
            desired, installed,
            reinstall=True if reinstall_all else rebuilt | again,
            exact=not getattr(ns, "inexact", False),
            env_site_dirs=interp.site_packages, protected=(own,) if own else (),
        )
        if getattr(ns, "dry_run", False):
            from torchup.cli.pip_install import _print_plan

            _print_plan(plan)
            return interp
        if plan.is_empty:
            output.info(f"Audited {output.counted(len(desired), 'package')} in {(time.monotonic() - started) * 1000:.0f}ms")
            return interp
        added, removed = execute_plan(
            ctx, interp, plan, requested={d.canonical_name for d in desired},
            local_wheels=local_wheels,
        )
    _summary(added, removed, started)
    return interp


def _needed_by_groups(chosen: Sequence[Any], config: Any, groups: Sequence[str]) -> list[Any]:
    """The entries of ``chosen`` that ``groups``' requirements need, following the lock's
    ``dependencies`` (`sync --only-group`: the project's own dependencies are left out, as in
    uv). The lock records every dependency a package may have, whatever its markers and
    extras, so this may keep a few more than strictly needed, never fewer."""
    from packaging.utils import canonicalize_name

    by_name = {canonicalize_name(sel.package.name): sel for sel in chosen}
    todo = [
        canonicalize_name(r.name)
        for g in groups
        for r in config.dependency_groups.get(g, ())
    ]
    needed: set[str] = set()
    while todo:
        name = todo.pop()
        if name in needed or name not in by_name:
            continue  # already taken, or not for this machine
        needed.add(name)
        todo += [canonicalize_name(d.name) for d in by_name[name].package.dependencies]
    return [sel for sel in chosen if canonicalize_name(sel.package.name) in needed]


def _installs_project(project: Project, ns: argparse.Namespace) -> bool:
    """Whether `torchup sync` installs the project itself (editable), as `uv sync` does: when
    it is a package, i.e. ``tool.uv.package = true``, or unset and pyproject.toml has a
    ``[build-system]`` table (without one it is a "virtual" project: only its dependencies).
    ``--no-install-project`` leaves it out."""
    from torchup.config import tomllib  # tomli on 3.10

    if getattr(ns, "no_install_project", False):
        return False
    if project.config.tool.package is not None:
        return bool(project.config.tool.package)
    try:
        data = tomllib.loads(project.pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False  # ProjectConfig read it a moment ago; a race is not worth an error
    return isinstance(data.get("build-system"), dict)


def _project_itself(
    ctx: Context, interp: Any, project: Project, installed: dict[str, Any], out_dir: Path
) -> tuple[Any, Path | None]:
    """The project as an editable DesiredDist, and the wheel built for it (None when the
    editable install already there is kept: same folder, and no metadata file changed since
    it was installed; its code is live anyway, so a rebuild would only cost seconds)."""
    from torchup.cli.pip_install import (
        _build_local,
        _desired_built,
        _folder_direct_url,
        metadata_changed_since,
        metadata_fingerprint,
    )
    from torchup.install.plan import DesiredDist, is_satisfied

    own = project.config.normalized_name
    direct = _folder_direct_url(project.root, editable=True)
    fingerprint = metadata_fingerprint(project.root)  # of what a build would read
    have = installed.get(own)
    if have is not None:
        kept = DesiredDist(name=own, version=have.version, direct_url=direct, editable=True)
        if is_satisfied(have, kept) and not metadata_changed_since(
            project.root, have.path, fingerprint
        ):
            return kept, None
    wheel = _build_local(ctx, interp, project.root, out_dir, editable=True, checkout=None, name=own)
    return _desired_built(own, wheel, direct, True, fingerprint), wheel


def _safe_marker(text: str) -> Any:
    from packaging.markers import InvalidMarker, Marker

    try:
        return Marker(text)
    except InvalidMarker:
        return None


def _check_conflicts(project: Project, extras: Sequence[str], groups: Sequence[str]) -> None:
    for conflict in project.config.tool.conflicts:
        hit = [
            (f"extra {c.extra!r}" if c.extra else f"group {c.group!r}")
            for c in conflict
            if (c.extra and c.extra in extras) or (c.group and c.group in groups)
        ]
        if len(hit) > 1:
            raise ConfigError(
                f"{' and '.join(hit)} conflict with each other and cannot be installed together",
                path=str(project.pyproject),
                key="tool.uv.conflicts",
                hint="choose one of them",
            )


def run_sync(ns: argparse.Namespace) -> int:
    ctx = Context(ns)
    project = find_project(ns)
    sync_project(ctx, project, ns)
    return 0


def run_run(ns: argparse.Namespace) -> int:
    ctx = Context(ns)
    project = find_project(ns)
    cmd = list(ns.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise ConfigError("nothing to run", hint="torchup run -- python script.py")
    if ns.no_sync:
        venv = project.venv
    else:
        ns.inexact = True
        sync_project(ctx, project, ns)
        venv = project.venv
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONHOME", None)
    try:
        return subprocess.call(cmd, env=env)
    except FileNotFoundError:
        raise ConfigError(f"command not found: {cmd[0]}", hint="check the command name") from None


# -- editing -------------------------------------------------------------------------------


def _write_pyproject(path: Path, text: str) -> None:
    from torchup.cli.pip_compile import _atomic_write

    _atomic_write(path, text)


def run_add(ns: argparse.Namespace) -> int:
    from packaging.requirements import InvalidRequirement, Requirement

    from torchup.config import add_dependency, add_index, set_source

    project = find_project(ns)
    original = project.pyproject.read_text(encoding="utf-8")
    text = original
    group = "dev" if ns.dev else ns.group
    names = []
    ctx = Context(ns)  # for the cache, where a git source is checked out to learn its name
    for spec in ns.packages:
        local = _local_source(ctx, project, spec, editable=ns.editable)
        if local is not None:
            req, source = local
            text = set_source(text, req.name, source, path=str(project.pyproject))
        else:
            try:
                req = Requirement(spec)
            except InvalidRequirement as exc:
                raise ConfigError(f"invalid requirement {spec!r}: {exc}", hint="write it as name>=1.0") from None
        names.append(req.name)
        text = add_dependency(text, req, extra=ns.optional, group=group, path=str(project.pyproject))
    for raw in ns.index:
        name, _, url = raw.partition("=") if "=" in raw and "://" in raw.split("=", 1)[1] else (None, "", raw)
        text = add_index(text, url=url, name=name or None, explicit=bool(name), path=str(project.pyproject))
        if name:
            for package in names:
                text = set_source(text, package, {"index": name}, path=str(project.pyproject))
    if ns.torch_backend:
        text = _set_tool_key(text, "torch-backends", _merge_backends(project, ns.torch_backend))
    _write_pyproject(project.pyproject, text)
    return _relock_and_sync(ns, project, original)


def _local_source(
    ctx: Context, project: Project, spec: str, *, editable: bool
) -> tuple[Any, dict[str, Any]] | None:
    """`torchup add ../lib` / `add git+URL@rev#subdirectory=d` (named or not), as `uv add`
    writes them: the project's name as a plain dependency, plus a [tool.uv.sources] entry
    (``{ path = "../lib" }``, editable with ``--editable``; ``{ git = URL, rev = ...,
    subdirectory = ... }``). None for anything else (an index requirement, a wheel URL). The
    name comes from the project's metadata (prepared as a lock would), not the folder name."""
    from packaging.requirements import Requirement

    from torchup.cli.resolve_cmd import _prepare_tree_metadata
    from torchup.install.vcs import GitUrl, fetch_git, is_git_url
    from torchup.requirements import parse_requirement_string

    ctx.use_project_settings(project.config.tool)
    try:
        parsed = parse_requirement_string(spec, "command line")
    except Exception:  # noqa: BLE001 - the caller reports it as an invalid requirement
        return None
    url = parsed.url or (parsed.requirement.url if parsed.requirement else None)
    if url and is_git_url(url):
        git = GitUrl.parse(url)
        checkout = fetch_git(git, ctx.cache.bucket("git-v1"))
        folder = checkout.source_dir
        source: dict[str, Any] = {"git": git.repository}
        if git.revision:
            source["rev"] = git.revision
        if git.subdirectory:
            source["subdirectory"] = git.subdirectory
    elif parsed.requirement is None and parsed.path and (
        Path(parsed.path).is_dir() or (project.root / parsed.path).is_dir()
    ):
        # Relative to the current directory, else to the project (`--directory DIR` runs
        # the command as if from DIR, as in uv).
        folder = (Path(parsed.path) if Path(parsed.path).is_dir() else project.root / parsed.path).resolve()
        source = {"path": Path(os.path.relpath(folder, project.root)).as_posix()}
        if editable:
            source["editable"] = True
    else:
        return None
    meta = _prepare_tree_metadata(ctx, folder, None)
    extras = f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else ""
    marker = f" ; {parsed.marker}" if parsed.marker is not None else ""
    return Requirement(f"{meta.name}{extras}{marker}"), source


def _merge_backends(project: Project, backend: str) -> list[str]:
    current = list(project.config.tool.torch_backends) or ["cpu"]
    if backend != "auto" and backend not in current:
        current.append(backend)
    return current


def _set_tool_key(text: str, key: str, value: Any) -> str:
    import tomlkit

    doc = tomlkit.parse(text)
    tool = doc.setdefault("tool", tomlkit.table())
    table_name = "torchup" if "torchup" in tool else ("uv" if "uv" in tool else "torchup")
    table = tool.setdefault(table_name, tomlkit.table())
    table[key] = value
    return tomlkit.dumps(doc)


def _relock_and_sync(ns: argparse.Namespace, old: Project, original_text: str) -> int:
    """Lock (and sync) after an edit; on failure put pyproject.toml back as it was."""
    ctx = Context(ns)
    try:
        project = find_project(ns)
        lock_project(ctx, project)
        if not getattr(ns, "no_sync", False):
            ns.extra, ns.all_extras, ns.group, ns.no_dev, ns.inexact = [], False, [], False, False
            sync_project(ctx, project, ns)
    except Exception:
        _write_pyproject(old.pyproject, original_text)
        output.warn(f"{old.pyproject} was restored")
        raise
    return 0


def run_remove(ns: argparse.Namespace) -> int:
    from packaging.utils import canonicalize_name

    from torchup.config import ProjectConfig, remove_dependency, remove_source

    project = find_project(ns)
    original = project.pyproject.read_text(encoding="utf-8")
    text = original
    group = "dev" if ns.dev else ns.group
    for name in ns.packages:
        text = remove_dependency(text, name, extra=ns.optional, group=group, path=str(project.pyproject))
    # A source entry no dependency list names any more goes too, as in `uv remove`.
    left = ProjectConfig.from_pyproject(text, str(project.pyproject))
    still = {
        canonicalize_name(r.name)
        for reqs in (left.dependencies, *left.optional_dependencies.values(), *left.dependency_groups.values())
        for r in reqs
    }
    for name in ns.packages:
        if canonicalize_name(name) in left.tool.sources and canonicalize_name(name) not in still:
            text = remove_source(text, name, path=str(project.pyproject))
    _write_pyproject(project.pyproject, text)
    return _relock_and_sync(ns, project, original)


def run_init(ns: argparse.Namespace) -> int:
    root = Path(ns.path).resolve()
    path = root / "pyproject.toml"
    if path.exists():
        raise ConfigError(f"{path} already exists", hint="this directory is already a project")
    name = ns.name or root.name
    # Before anything is created: a --python that names no interpreter leaves nothing behind.
    requires_python = _init_requires_python(ns)
    root.mkdir(parents=True, exist_ok=True)
    text = (
        "[project]\n"
        f'name = "{name}"\n'
        'version = "0.1.0"\n'
        'description = ""\n'
        f'requires-python = "{requires_python}"\n'
        "dependencies = []\n"
    )
    _write_pyproject(path, text)
    output.info(f"Initialized project `{name}` at {root}")
    return 0


def _init_requires_python(ns: argparse.Namespace) -> str:
    """A new project's requires-python, from ``--python`` as uv reads it: a version (``3.12``,
    ``3.12.1``) gives ``>=3.12``, installed or not; a range (``>=3.11,<3.14``) is used as it is;
    anything else names an interpreter (a path, ``python3.12``) whose ``X.Y`` is the floor.
    Without ``--python``: this interpreter's. The request is read by the same
    :func:`~torchup.install.interpreters.parse_python_request` as every ``--python``."""
    from torchup.install.interpreters import parse_python_request

    parsed = parse_python_request(ns.python)
    if parsed.kind == "any":
        return f">={sys.version_info.major}.{sys.version_info.minor}"
    looks_like_range = parsed.raw[0] in "<>=!~"
    if parsed.kind == "version":
        if parsed.minor is not None:
            return f">={parsed.minor[0]}.{parsed.minor[1]}"
        if looks_like_range:  # a valid specifier set, or it would not be a "version"
            return parsed.raw  # as the user wrote it (a set has no order)
    elif looks_like_range:
        raise ConfigError(
            f"--python {parsed.raw!r} is not a Python version range",
            hint="write a version (3.12), a range (>=3.11,<3.14) or an interpreter's path",
        )
    interp = Context(ns).find_python(ns.python)
    return f">={interp.version.major}.{interp.version.minor}"


def run_export(ns: argparse.Namespace) -> int:
    from packaging.utils import canonicalize_name

    from torchup.lock.io import dumps_lock, read_lock

    ctx = Context(ns)
    project = find_project(ns)
    fresh, path = _lock_is_fresh(project)
    if not fresh and not ns.frozen:
        if ns.locked:
            raise LockError("pylock.toml is out of date", hint="run `torchup lock`")
        lock_project(ctx, project)
    backend = ctx.torch_backend_request()
    lock_path = project.root / lock_file_name(backend, False) if backend else path
    if not lock_path.exists():
        lock_path = path
    lock = read_lock(lock_path)
    if ns.format == "pylock.toml":
        text = dumps_lock(lock)
    else:
        from torchup.lock.build import requirement_lines

        extras = {canonicalize_name(e) for e in ns.extra} | (set(project.config.optional_dependencies) if ns.all_extras else set())
        chosen = []
        for pkg in lock.packages:
            marker = str(pkg.marker) if pkg.marker else ""
            if "extras" in marker and not any(f"'{e}' in extras" in marker for e in extras):
                if "dependency_groups" not in marker:
                    continue
            chosen.append(pkg)
        lines = ["# This file was autogenerated by torchup via `torchup export`."]
        lines += requirement_lines(
            chosen, hashes=not ns.no_hashes,
            markers=lambda m: "extras" not in m and "dependency_groups" not in m,
        )
        text = "\n".join(lines) + "\n"
    if ns.output_file:
        _write_pyproject(Path(ns.output_file), text)
    else:
        sys.stdout.write(text)
    return 0


def run_tree(ns: argparse.Namespace) -> int:
    """`torchup tree` (uv tree): the project's locked dependencies for this machine as a tree,
    the project at the root; its direct dependencies from an extra or a dependency group are
    marked ``(extra: x)`` / ``(group: g)``. Every extra is shown, and the default group
    ``dev`` unless ``--no-dev``; ``--group`` / ``--only-group`` / ``--only-dev`` as in sync.
    ``--universal``: every environment the lock is made for, drawn as one graph."""
    import dataclasses

    from torchup.cli.pip_env import tree_options
    from torchup.install.tree import node_of, render_tree
    from torchup.lock.io import read_lock

    options = tree_options(ns)
    ctx = Context(ns)
    project = find_project(ns)
    ctx.use_project_settings(project.config.tool)
    _ensure_lock_fresh(ctx, project, ns)
    cfg = project.config
    only, groups = _chosen_groups(project, ns)
    _require_groups(project, groups)  # (sync leaves an unknown --group to the lock's selection)
    # This machine's environment: the project's .venv when there is one (no venv is created)
    interp = _venv_interpreter(ctx, project)
    if interp is None:
        request = ns.python or (str(cfg.requires_python) if cfg.requires_python else None)
        interp = ctx.find_python(request)
    target = interp.target()
    lock_path, backend = _choose_lock(ctx, project, target)
    lock = read_lock(lock_path)
    session = _make_session(ctx, project)
    choice = _TreeChoice(
        only=bool(only), groups=tuple(groups),
        extras=() if only else tuple(sorted(cfg.optional_dependencies)),
        pins=_existing_pins(project, lock_path.name),
    )
    if ns.universal:
        targets = _environment_targets(cfg, ctx.macos_version())
        graph = _universal_tree_graph(session, project, lock, backend, choice, targets)
    else:
        graph = _tree_graph(session, project, lock, target.with_backend(backend), choice)
    versions, edges = graph.versions, graph.edges
    if ns.show_sizes:
        options = dataclasses.replace(options, sizes=graph.sizes)
    if not options.packages and not options.invert:
        # the project at the root
        options = dataclasses.replace(options, packages=(cfg.normalized_name,))
    if ns.outdated:
        from torchup.cli.pip_env import newer_versions

        # Looked up where the lock would: the project's indexes, its pins to named indexes
        # and the torch family's routing for this backend. Folders, git and URL entries
        # have no index to ask.
        from_index = sorted({
            (p.name, str(p.version)) for p in lock.packages
            if (p.wheels or p.sdist) and p.index and p.version is not None
            and str(p.version) in (versions.get(p.name), versions.get(node_of(p.name, str(p.version))))
        })
        newer = newer_versions(
            session.finder, session.policy(Variant()), target.with_backend(backend), from_index
        )
        latest = {name: version for name, (version, _) in newer.items()}
        options = dataclasses.replace(options, latest=latest)
    sys.stdout.write(render_tree(versions, edges, options))
    return 0


@dataclass(frozen=True)
class _TreeGraph:
    """What `torchup tree` draws: ``versions`` (node -> version; a node is a normalized name,
    or install.tree.node_of a name and version), who needs whom (``edges``, TreeEdge), and
    the size of the file each node installs from, where the lock knows it."""

    versions: dict[Any, str]
    edges: list[Any]
    sizes: dict[Any, int]


@dataclass(frozen=True)
class _TreeChoice:
    """What `torchup tree` draws: ``extras`` (all of the project's, unless ``only``), the
    dependency ``groups``, whether ``only`` the groups (--only-group / --only-dev); ``pins``,
    the lock's versions, preferred when the edges are worked out again."""

    only: bool
    groups: tuple[str, ...]
    extras: tuple[str, ...]
    pins: Any


def _tree_graph(
    session: LockSession, project: Project, lock: Any, target: Any, choice: _TreeChoice
) -> _TreeGraph:
    """The locked packages for ``target`` (name -> version), the size of the file each
    installs from, and who needs whom there, the project at the top (raises LockError when
    the lock has nothing for ``target``).

    A lock entry's `dependencies` are every dependency it may have, whatever the markers and
    extras (idna's pytest for its own tests), so the edges come from resolving ``target``
    again, preferring the locked versions (the cache has their metadata): each package's
    requirements whose markers hold there, with the extras asked of it.
    """
    from packaging.utils import canonicalize_name

    from torchup.install.tree import TreeEdge
    from torchup.lock.select import select_for_target

    cfg = project.config
    chosen = select_for_target(lock, target, extras=choice.extras, dependency_groups=choice.groups)
    if choice.only:
        chosen = tuple(_needed_by_groups(chosen, cfg, choice.groups))
    own = cfg.normalized_name
    versions = {canonicalize_name(sel.package.name): str(sel.package.version or "") for sel in chosen}
    versions[own] = str(cfg.version or "0")
    sizes: dict[Any, int] = {}
    for sel in chosen:
        size = getattr(sel.artifact, "size", None)  # (a folder or git checkout has none)
        if isinstance(size, int):
            sizes[canonicalize_name(sel.package.name)] = size
    variants = ([] if choice.only else [Variant()]) + [Variant(extra=e) for e in choice.extras]
    variants += [Variant(group=g) for g in choice.groups]
    found: dict[tuple[str, str], Any] = {}
    for variant in variants:
        result = session.resolve(target, variant, choice.pins.for_target(target, variant, ()))
        for package in result.packages:
            parent = canonicalize_name(package.name)
            for req in package.requires:
                child = canonicalize_name(req.name)
                applies = req.marker is None or target.evaluate(req.marker, sorted(package.extras))
                if applies and parent in versions and child in versions and child != parent:
                    found.setdefault((parent, child), TreeEdge(parent, child, req))
    edges = list(found.values())
    roots: list[tuple[Any, str, int]] = [] if choice.only else [(r, "", 0) for r in cfg.dependencies]
    roots += [(r, f"(extra: {e})", 1) for e in choice.extras for r in cfg.optional_dependencies[e]]
    roots += [(r, f"(group: {g})", 2) for g in choice.groups for r in cfg.dependency_groups.get(g, ())]
    seen: set[str] = set()
    for req, note, rank in roots:
        name = canonicalize_name(req.name)
        active = req.marker is None or target.evaluate(req.marker, list(choice.extras))
        if name in versions and name != own and active and name not in seen:
            seen.add(name)
            edges.append(TreeEdge(own, name, req, note, rank))
    return _TreeGraph(versions, edges, sizes)


def _universal_tree_graph(
    session: LockSession, project: Project, lock: Any, backend: str | None,
    choice: _TreeChoice, targets: Sequence[Any],
) -> _TreeGraph:
    """The union of :func:`_tree_graph` over ``targets``, the environments the lock is made
    for (macOS with the CPU build, as the lock has it), leaving out those it has nothing for
    or whose resolution fails (a platform the project does not support). A package locked at
    one version is one node; at several (numpy for old and new Pythons), one node a version,
    each with the edges of the environments that have it."""
    from torchup.install.tree import TreeEdge, node_of

    graphs = []
    for target in targets:
        darwin = target.environment.get("sys_platform") == "darwin"
        try:
            graphs.append(_tree_graph(
                session, project, lock, target.with_backend("cpu" if backend and darwin else backend),
                choice,
            ))
        except (LockError, ResolutionError) as exc:
            output.debug(f"tree --universal: leaving out {target}: {exc}")
    if not graphs:
        raise LockError(
            "the lock has nothing for any environment it was made for",
            hint="lock again (`torchup lock`)",
        )
    seen_versions: dict[str, set[str]] = {}
    for graph in graphs:
        for name, version in graph.versions.items():
            seen_versions.setdefault(name, set()).add(version)

    def node(name: str, version: str) -> Any:
        return name if len(seen_versions[name]) == 1 else node_of(name, version)

    all_versions: dict[Any, str] = {}
    all_edges: dict[tuple[Any, Any], Any] = {}
    all_sizes: dict[Any, int] = {}
    for graph in graphs:
        versions = graph.versions
        for name, version in versions.items():
            all_versions[node(name, version)] = version
            if name in graph.sizes:  # the file of the first environment that has one
                all_sizes.setdefault(node(name, version), graph.sizes[name])
        for e in graph.edges:
            parent, child = node(e.parent, versions[e.parent]), node(e.child, versions[e.child])
            all_edges.setdefault(
                (parent, child), TreeEdge(parent, child, e.requirement, e.note, e.rank)
            )
    return _TreeGraph(all_versions, list(all_edges.values()), all_sizes)
