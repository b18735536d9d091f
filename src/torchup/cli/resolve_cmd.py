"""Shared plumbing of the commands that resolve requirements (pip compile / install / sync).

Reads the user's inputs (requirement strings, -r files, -c, --override, pyproject.toml),
builds the provider for a Target and runs one resolution.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from torchup.cli import output
from torchup.cli.context import Context
from torchup.errors import ConfigError

__all__ = ["Inputs", "read_inputs", "resolve_inputs", "ResolvedRun"]


@dataclass
class Inputs:
    """What the user asked to resolve, gathered from every input form."""

    requirements: list[Any] = field(default_factory=list)  # RootRequirement
    constraints: list[Any] = field(default_factory=list)  # packaging Requirement
    overrides: list[Any] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    direct_files: dict[str, Any] = field(default_factory=dict)  # name -> DistFile
    hashes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    editables: list[Any] = field(default_factory=list)
    # name -> InstalledDistribution: editable folders kept as installed, not built again
    # (their metadata has not changed since that install was built; see _local_projects).
    kept_editables: dict[str, Any] = field(default_factory=dict)
    # Editable folders built again although installed (their metadata may have changed): the
    # new build is installed even at the same version.
    rebuilt_editables: set[str] = field(default_factory=set)
    # name -> metadata_fingerprint of each local folder built, taken before its build
    local_fingerprints: dict[str, str] = field(default_factory=dict)
    # A git requirement is checked out by read_inputs and then names the checkout's folder:
    # its file URI -> the GitCheckout (for direct_url.json, and the URL pip compile writes).
    git_checkouts: dict[str, Any] = field(default_factory=dict)
    # A local project pip install built: its name -> its direct_url.json (see _local_projects).
    local_sources: dict[str, dict[str, Any]] = field(default_factory=dict)


def _requirement_at(name: str, url: str, extras: Any, marker: Any) -> Any:
    """``name[extras] @ url ; marker`` as a packaging Requirement."""
    from packaging.requirements import Requirement

    shown = f"[{','.join(sorted(extras))}]" if extras else ""
    return Requirement(f"{name}{shown} @ {url}" + (f" ; {marker}" if marker is not None else ""))


def _add_parsed(inputs: Inputs, parsed: Any, origin: str) -> None:
    import dataclasses

    from torchup.index.client import path_to_url
    from torchup.index.simple import DistFile
    from torchup.requirements import RootRequirement

    req = parsed.requirement
    if req is None and parsed.path and Path(parsed.path).is_dir():
        # `-e ./proj` / `./proj` in a requirements file: name it from its pyproject.toml.
        from torchup.cli.pip_install import _name_local_directory
        from torchup.requirements import parse_requirement_string

        named = parse_requirement_string(_name_local_directory(parsed.path), parsed.source)
        if named.requirement is not None:
            # The line's extras and marker (`./proj[x] ; python_version < '3.12'`) stay.
            named.requirement.extras = set(parsed.extras)
            named.requirement.marker = parsed.marker
            parsed = dataclasses.replace(parsed, requirement=named.requirement)
            req = parsed.requirement
    if req is None and parsed.url and parsed.url.startswith("git+"):
        # `pip install git+https://...`: a stand-in name until the checkout's metadata names
        # the project (see _check_out_git).
        from torchup.install.vcs import GitUrl

        hint = GitUrl.parse(parsed.url).project_hint
        req = _requirement_at(hint, parsed.url, parsed.extras, parsed.marker)
        parsed = dataclasses.replace(parsed, requirement=req)
    if req is None and parsed.editable and parsed.path:
        raise ConfigError(
            f"{parsed.source}: -e {parsed.path}: there is no folder {parsed.path}",
            hint="-e takes a project folder (`-e ./path`); to install a package from an "
            "index, drop -e",
        )
    if req is None:
        raise ConfigError(
            f"{parsed.source}: cannot tell the project name of {parsed}",
            hint="write it as `name @ URL` or point at a wheel file",
        )
    if parsed.editable:
        inputs.editables.append(parsed)
    location = parsed.url or (path_to_url(parsed.path) if parsed.path else None)
    if location and (location.endswith(".whl") or parsed.version):
        filename = location.rsplit("/", 1)[-1].split("#", 1)[0]
        from urllib.parse import unquote

        filename = unquote(filename)
        hashes: dict[str, str] = {}
        if "#sha256=" in location:
            hashes["sha256"] = location.split("#sha256=", 1)[1]
        inputs.direct_files[req.name.lower().replace("_", "-")] = DistFile(
            filename=filename, url=location.split("#", 1)[0], hashes=hashes
        )
    if parsed.hashes:
        inputs.hashes[req.name] = parsed.hashes
    inputs.requirements.append(RootRequirement(req, origin))


def read_inputs(
    ctx: Context,
    *,
    packages: Sequence[str] = (),
    files: Sequence[str] = (),
    constraints: Sequence[str] = (),
    overrides: Sequence[str] = (),
    extras: Sequence[str] = (),
    all_extras: bool = False,
    groups: Sequence[str] = (),
    editables: Sequence[str] = (),
) -> Inputs:
    """Collect requirements from strings, ``-e`` arguments, requirements files and project
    files."""
    from torchup.requirements import parse_requirement_string, parse_requirements_file

    # Read now, with the other files, though only a build uses them: a wrong path is an
    # error whether or not this run happens to build anything.
    ctx.build_constraints()
    inputs = Inputs()
    env = dict(ctx.env)
    for text in packages:
        _add_parsed(inputs, parse_requirement_string(text, "command line"), "")
    for text in editables:
        # Read as a requirements file reads `-e ...`: `-e ./proj[x]` keeps its extras.
        _add_parsed(inputs, parse_requirement_string(text, "command line", editable=True), "-e")
    for src in files:
        path = Path(src)
        if src != "-" and not path.exists():
            # torchup extension: `pip compile torch torchvision` takes requirement strings too.
            if any(ch in src for ch in "/\\") or src.endswith((".txt", ".in", ".toml", ".cfg")):
                raise ConfigError(
                    f"the requirements file {src} does not exist",
                    path=src,
                    hint="check the path, or pass requirement strings directly",
                )
            _add_parsed(inputs, parse_requirement_string(src, "command line"), "")
            continue
        if path.name == "pyproject.toml":
            _read_pyproject(inputs, path, extras, all_extras, groups)
            continue
        if path.name == "setup.cfg":
            _read_setup_cfg(inputs, path, extras, all_extras)
            continue
        if src == "-":
            # uv's and pip's `-` (`... | torchup pip compile -`): the requirements on stdin.
            import sys

            from torchup.requirements import parse_requirements_text

            rf = parse_requirements_text(sys.stdin.read(), "-", env=env)
        else:
            rf = parse_requirements_file(src, env=env)
        for parsed in rf.requirements:
            _add_parsed(inputs, parsed, f"-r {src}")
        for parsed in rf.constraints:
            if parsed.requirement is not None:
                inputs.constraints.append(parsed.requirement)
        inputs.index_url = rf.index_url or inputs.index_url
        inputs.extra_index_urls += list(rf.extra_index_urls)
        inputs.find_links += list(rf.find_links)
        inputs.no_index = inputs.no_index or rf.no_index
        inputs.pre = inputs.pre or rf.pre
    if (extras or all_extras or groups) and not any(
        Path(src).name in ("pyproject.toml", "setup.cfg") for src in files
    ):
        # (They were ignored without a word: `pip install -r requirements.txt --extra x`.)
        raise ConfigError(
            "--extra, --all-extras and --group choose from a project's optional dependencies "
            "and groups, but no pyproject.toml or setup.cfg was given",
            hint="pass the project's file: -r pyproject.toml",
        )
    for src in constraints:
        rf = parse_requirements_file(src, constraint=True, env=env)
        for parsed in (*rf.requirements, *rf.constraints):
            if parsed.requirement is not None:
                inputs.constraints.append(parsed.requirement)
    for src in overrides:
        rf = parse_requirements_file(src, env=env)
        for parsed in rf.requirements:
            if parsed.requirement is not None:
                inputs.overrides.append(parsed.requirement)
    _check_out_git(ctx, inputs)
    return inputs


def _check_out_git(ctx: Context, inputs: Inputs) -> None:
    """Check out every ``git+`` requirement (in the cache) and point it at the checkout's
    folder, which is then built like any local project; ``inputs.git_checkouts`` remembers
    where each folder came from."""
    if not any(
        (item.url or "").startswith("git+")
        for item in (*(rr.requirement for rr in inputs.requirements), *inputs.editables)
    ):
        return  # the usual case: no git machinery to import
    from torchup.install.vcs import GitUrl, fetch_git, is_git_url
    from torchup.requirements import RootRequirement

    for e in inputs.editables:
        if e.url and is_git_url(e.url):
            raise ConfigError(
                f"{e.source}: an editable install of a git URL is not supported ({e.url})",
                hint="clone the repository and install it with `-e ./path`, or drop -e",
            )
    for i, rr in enumerate(inputs.requirements):
        req = rr.requirement
        if not is_git_url(req.url):
            continue
        checkout = fetch_git(GitUrl.parse(req.url), ctx.cache.bucket("git-v1"))
        uri = checkout.source_dir.as_uri()
        inputs.git_checkouts[uri] = checkout
        output.debug(f"{req.name}: {checkout.url.repository} at {checkout.commit}")
        inputs.requirements[i] = RootRequirement(
            _requirement_at(req.name, uri, req.extras, req.marker), rr.origin
        )


def _read_pyproject(
    inputs: Inputs, path: Path, extras: Sequence[str], all_extras: bool, groups: Sequence[str]
) -> None:
    from torchup.config import ProjectConfig

    config = ProjectConfig.from_pyproject(path.read_text(encoding="utf-8"), str(path))
    _add_project_requirements(inputs, config, path, extras, all_extras, groups)


def _read_setup_cfg(inputs: Inputs, path: Path, extras: Sequence[str], all_extras: bool) -> None:
    from torchup.config import read_setup_cfg

    config = read_setup_cfg(path.read_text(encoding="utf-8"), str(path))
    _add_project_requirements(inputs, config, path, extras, all_extras, ())


def _add_project_requirements(
    inputs: Inputs,
    config: Any,
    path: Path,
    extras: Sequence[str],
    all_extras: bool,
    groups: Sequence[str],
) -> None:
    """A local project's requirements (validated by torchup.config), with chosen extras/groups."""
    from packaging.utils import canonicalize_name

    from torchup.requirements import RootRequirement

    optional = config.optional_dependencies
    chosen = list(config.dependencies)
    wanted = sorted(optional) if all_extras else [canonicalize_name(e) for e in extras]
    for extra in wanted:
        if extra not in optional:
            raise ConfigError(
                f"the extra {extra!r} is not defined",
                path=str(path),
                key="project.optional-dependencies",
                hint="defined extras: " + (", ".join(sorted(optional)) or "none"),
            )
        chosen += list(optional[extra])
    for group in (canonicalize_name(g) for g in groups):
        if group not in config.dependency_groups:
            raise ConfigError(
                f"the group {group!r} is not defined",
                path=str(path),
                key="dependency-groups",
                hint="defined groups: " + (", ".join(sorted(config.dependency_groups)) or "none"),
            )
        chosen += list(config.dependency_groups[group])
    inputs.requirements += [RootRequirement(req, str(path)) for req in chosen]


@dataclass
class ResolvedRun:
    """One resolution's result, with the provider, target and torch backend choice it used."""

    result: Any  # ResolveResult
    provider: Any
    target: Any
    backend_choice: Any = None


def _index_sources(ctx: Context, inputs: Inputs) -> tuple[list[Any], list[Any]]:
    return ctx.index_sources(
        file_index_url=inputs.index_url,
        file_extra_urls=inputs.extra_index_urls,
        file_find_links=inputs.find_links,
        file_no_index=inputs.no_index,
    )


def prefetch_root_pages(ctx: Context, inputs: Inputs, target: Any) -> None:
    """Start reading the index pages of the root requirements now, biggest first (by their
    size when last cached), while the command goes on importing the resolver and the
    installer and setting up: about 0.1 s of a warm install happens before the resolver asks
    for its first page, and this way the network is busy meanwhile. :func:`resolve_inputs`
    with the same ``ctx`` and ``inputs`` finds them fetched or in flight (``ctx.finder``).

    Packages whose index depends on the torch backend (chosen later, in resolve_inputs) are
    left to the resolver, as are direct URLs and requirements whose markers exclude
    ``target``."""
    from packaging.utils import canonicalize_name

    if not inputs.requirements:
        return
    indexes, find_links = _index_sources(ctx, inputs)
    if not indexes:
        return  # --no-index: find-links folders and local files are read when needed
    backend_routed: frozenset[str] = frozenset()
    if ctx.torch_backend_request():
        from torchup.torch.routing import TORCH_FAMILY

        backend_routed = frozenset(TORCH_FAMILY)
    policy = ctx.index_policy(indexes, find_links)
    finder = ctx.finder([*indexes, *find_links])
    names = [
        name
        for rr in inputs.requirements
        if rr.requirement.url is None and target.evaluate(rr.requirement.marker, [])
        if (name := canonicalize_name(rr.requirement.name)) not in backend_routed
        and name not in inputs.direct_files
    ]
    requests = [(name, policy.sources_for(name, target)) for name in dict.fromkeys(names)]
    for project, sources in finder.biggest_first(requests):
        finder.prefetch([project], sources)


def resolve_inputs(
    ctx: Context, ns: argparse.Namespace, inputs: Inputs, *, python: str | None = None,
    preferences: dict[str, Any] | None = None, installed: dict[str, Any] | None = None,
    build_metadata: Callable[[Any], Any] | None = None,
    target: Any = None,
    on_pick: Callable[[str, Any, Any], None] | None = None,
) -> ResolvedRun:
    """Build target, indexes and provider; resolve ``inputs``.

    ``build_metadata(dist)`` gives an sdist's metadata by building it; it is asked only for
    sdists whose PKG-INFO is not static (PEP 643), which are read without a build.
    ``on_pick``: see :class:`IndexProvider`.
    """
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    from torchup.index.metadata import MetadataFetcher
    from torchup.resolver.provider import IndexProvider, ProviderOptions
    from torchup.resolver.session import resolve_requirements
    from torchup.torch import routing

    if target is None:
        target = ctx.target(python)
    indexes, find_links = _index_sources(ctx, inputs)
    policy = ctx.index_policy(indexes, find_links)
    backend_request = ctx.torch_backend_request()
    choice = None
    if backend_request:
        torch_pin = next(
            (
                _pinned_version(r.requirement)
                for r in inputs.requirements
                if canonicalize_name(r.requirement.name) == "torch"
            ),
            None,
        )
        backend, choice = ctx.choose_backend(backend_request, target, torch_pin)
        target = target.with_backend(backend)
        if choice is not None:
            for reason in getattr(choice, "reasons", ()):
                output.debug(f"torch backend: {reason}")
            for warning in getattr(choice, "warnings", ()):
                output.warn(warning)
        output.info(f"Using torch backend {backend} for {target}")
    channel = policy.torch_channel
    pre_packages: frozenset[str] = frozenset()
    if channel == "nightly":
        pre_packages = frozenset(routing.TORCH_FAMILY)
    finder = ctx.finder([*indexes, *find_links])
    fetcher = MetadataFetcher(ctx.client)
    constraints: dict[str, tuple[Any, ...]] = {}
    for c in inputs.constraints:
        name = canonicalize_name(c.name)
        constraints[name] = (*constraints.get(name, ()), c.specifier)
    overrides: dict[str, Any] = {canonicalize_name(o.name): o for o in inputs.overrides}
    options = ProviderOptions(
        prerelease=ctx.prerelease_mode(inputs.pre),  # type: ignore[arg-type]
        resolution=ctx.resolution_mode(),  # type: ignore[arg-type]
        exclude_newer=ctx.exclude_newer(),
        binary=binary_policy(ns),
        prerelease_packages=pre_packages,
        preferences={k: Version(str(v)) for k, v in (preferences or {}).items()},
        constraints=constraints,
        overrides=overrides,
        direct_names=frozenset(canonicalize_name(r.requirement.name) for r in inputs.requirements),
        no_deps=bool(getattr(ns, "no_deps", False)),
    )
    # Without this an sdist-only version was always "unavailable (source build needed)",
    # even when its PKG-INFO holds static metadata (packse: no-wheels, no-binary, ...).
    read_sdist = _sdist_metadata_reader(ctx.client, build_metadata or _sdist_builder(ctx, python))
    trees = _source_trees(ctx, inputs, python, target)

    def metadata_of(dist: Any) -> Any:
        known = trees.get(dist.url)
        return known if known is not None else read_sdist(dist)

    provider = IndexProvider(
        target,
        finder,
        fetcher,
        policy,
        options,
        direct_files=inputs.direct_files,
        build_metadata=metadata_of,
        on_pick=on_pick,
        installed=partial(_installed_candidate, installed) if installed else None,
    )
    try:
        result = resolve_requirements(provider, inputs.requirements)
    finally:
        provider.close()
    for warning in dict.fromkeys(provider.warnings):  # backtracking may repeat one
        output.warn(warning)
    stats = fetcher.stats()
    output.debug(
        "metadata: {pep658} PEP 658, {range} range reads, {stream} streamed, {download} whole "
        "downloads, {cache} from cache; {bytes} bytes".format(**stats)
    )
    return ResolvedRun(result=result, provider=provider, target=target, backend_choice=choice)


def _pinned_version(req: Any) -> Any:
    """The torch version to choose a backend for: an exact pin, else the newest release
    torchup's tables know that the requirement admits (``torch<2.8`` -> 2.7), else None."""
    from packaging.version import Version

    from torchup.torch.backend import TORCH_RELEASES

    for spec in req.specifier:
        if spec.operator in ("==", "===") and "*" not in spec.version:
            return Version(spec.version)
    if not str(req.specifier):
        return None
    for release in sorted(TORCH_RELEASES, key=lambda r: r.version, reverse=True):
        major, minor = release.version
        for patch in range(9, -1, -1):
            candidate = Version(f"{major}.{minor}.{patch}")
            if req.specifier.contains(candidate, prereleases=True):
                return candidate
    return None


# PEP 643: from Metadata-Version 2.2 on, an sdist's PKG-INFO fields are what the built wheel
# will carry unless listed as Dynamic; the resolver needs only these three.
_RESOLVER_FIELDS = ("requires-dist", "requires-python", "provides-extra")


def _source_trees(ctx: Context, inputs: Inputs, python: str | None, target: Any) -> dict[str, Any]:
    """Local project folders (and git checkouts) among the root requirements, made
    resolvable: each one's metadata is prepared (PEP 517) and it becomes a direct file of
    the version it declares, at the URL the output names (the folder's, or the git URL pinned
    to its commit). Returns that URL -> its Metadata, for the provider's metadata reads.

    (`pip install` builds these itself before resolving; this is for `pip compile`, which
    otherwise looked a folder's project name up on the index.)
    """
    from packaging.utils import canonicalize_name

    from torchup.index.simple import DistFile
    from torchup.requirements import RootRequirement, file_url_path

    trees: dict[str, Any] = {}
    for i, rr in enumerate(inputs.requirements):
        req = rr.requirement
        if not (req.url or "").startswith("file:"):
            continue
        folder = Path(file_url_path(req.url))
        if not folder.is_dir() or not target.evaluate(req.marker, []):
            continue  # (not for this target: the resolver drops it, unbuilt)
        meta = _prepare_tree_metadata(ctx, folder, python, req.name)
        checkout = inputs.git_checkouts.get(req.url)
        url = checkout.url.pinned(checkout.commit) if checkout else req.url
        name = canonicalize_name(meta.name)
        inputs.direct_files[name] = DistFile(
            filename=f"{name.replace('-', '_')}-{meta.version}.tar.gz", url=url
        )
        inputs.requirements[i] = RootRequirement(
            _requirement_at(meta.name, url, req.extras, req.marker), rr.origin
        )
        trees[url] = meta
    return trees


def binary_policy(ns: argparse.Namespace) -> Any:
    """``--no-build``, ``--no-binary`` and ``--only-binary`` (names, comma lists, ``:all:``)."""
    from packaging.utils import canonicalize_name

    from torchup.resolver.candidates import BinaryPolicy

    def names(option: str) -> frozenset[str]:
        return frozenset(
            canonicalize_name(x) if x != ":all:" else x
            for v in getattr(ns, option, None) or [] for x in v.split(",") if x
        )

    return BinaryPolicy(
        no_build=bool(getattr(ns, "no_build", False)),
        no_binary=names("no_binary"),
        only_binary=names("only_binary"),
    )


# The URL scheme of the stand-in file for an installed distribution (see is_installed_file).
INSTALLED_SCHEME = "installed:"


def is_installed_file(url: str | None) -> bool:
    """Whether a resolved file is the stand-in for the version already installed."""
    return bool(url) and str(url).startswith(INSTALLED_SCHEME)


def _installed_candidate(
    installed: Mapping[str, Any], name: str
) -> tuple[Any, Callable[[], Any]] | None:
    """(stand-in file, metadata loader) for the installed distribution ``name`` the resolver
    may keep (see IndexProvider's ``installed``), or None: a wheel name any target accepts, at
    a URL that names the install; its metadata is read from the install only when asked."""
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    from torchup.index.metadata import parse_metadata
    from torchup.index.simple import DistFile

    dist = installed.get(name)
    if dist is None:
        return None
    try:
        version = Version(dist.version)
    except InvalidVersion:
        return None  # a legacy version string: the resolver cannot order it

    def load() -> Any:
        if (dist.path / "METADATA").is_file():
            return parse_metadata((dist.path / "METADATA").read_bytes(), None)
        # a legacy .egg-info: what scanning it found
        lines = [f"Metadata-Version: 2.1\nName: {dist.name}\nVersion: {dist.version}\n"]
        lines += [f"Requires-Dist: {r}\n" for r in dist.requires]
        return parse_metadata("".join(lines).encode(), None)

    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    return DistFile(f"{stem}-py3-none-any.whl", f"{INSTALLED_SCHEME}{dist.path}"), load


def _prepare_tree_metadata(
    ctx: Context, folder: Path, python: str | None, name: str | None = None
) -> Any:
    """The core metadata of the project in ``folder`` (a local project, a git checkout, an
    unpacked sdist), prepared by its build backend running on ``python`` (default: the one
    running torchup) in an isolated build environment."""
    import sys
    import tempfile

    from torchup.cli.pip_install import _provisioner
    from torchup.index.metadata import parse_metadata
    from torchup.install.build import prepare_metadata
    from torchup.install.interpreters import query_interpreter

    interp = query_interpreter(python or sys.executable, cache_dir=ctx.cache.bucket("interpreters-v1"))
    with tempfile.TemporaryDirectory(prefix="torchup-meta-") as tmp:
        meta_dir = prepare_metadata(
            folder, Path(tmp) / "out", build_env_python=interp.executable,
            provision=_provisioner(ctx, interp), **ctx.build_options(name),
        )
        return parse_metadata((Path(meta_dir) / "METADATA").read_bytes(), None)


def _sdist_metadata_reader(
    client: Any, fallback: Callable[[Any], Any] | None
) -> Callable[[Any], Any]:
    """``dist -> Metadata | None`` for sdists: static PKG-INFO, else ``fallback`` (a build)."""

    def read(dist: Any) -> Any:
        meta = _static_sdist_metadata(client, dist)
        if meta is None and fallback is not None:
            return fallback(dist)
        return meta

    return read


def _sdist_builder(ctx: Context, python: str | None) -> Callable[[Any], Any]:
    """Metadata of an sdist whose PKG-INFO is not static: PEP 517 in an isolated build env.

    The backend runs on ``python`` (the target environment's interpreter when known, else the
    one running torchup); its build requirements are resolved and installed by torchup itself.
    """

    def build(dist: Any) -> Any:
        import tempfile

        from torchup.install.build import unpack_sdist
        from torchup.install.download import Artifact, fetch_artifacts

        art = Artifact(str(dist.project), dist.url, dist.filename, dict(dist.hashes or {}))
        path = fetch_artifacts(ctx.client, ctx.cache.bucket("archives-v1"), [art])[art.name]
        with tempfile.TemporaryDirectory(prefix="torchup-sdist-") as tmp:
            return _prepare_tree_metadata(
                ctx, unpack_sdist(Path(path), Path(tmp) / "src"), python, str(dist.project)
            )

    return build


def _static_sdist_metadata(client: Any, dist: Any) -> Any:
    """The sdist's PKG-INFO as Metadata when PEP 643 makes it trustworthy, else None.

    Downloads the sdist once (hash-checked); the PKG-INFO is cached by the file's sha256 in the
    metadata bucket, beside wheels' METADATA (a file hash names one file, so keys never clash).
    """
    from torchup.index.metadata import parse_metadata

    sha = (getattr(dist, "hashes", None) or {}).get("sha256")
    key = f"sha256:{sha}" if sha else None
    cache = getattr(client, "cache", None)
    data = cache.read("metadata-v1", key) if cache is not None and key else None
    if data is None:
        data = _read_pkg_info(client, dist)
        if data is None:
            return None
        if cache is not None and key:
            cache.write("metadata-v1", key, data)
    meta = parse_metadata(data, dist)
    raw = getattr(meta, "_raw", {})  # the unvalidated fields: Dynamic may name anything
    try:
        major, minor = (int(x) for x in str(raw.get("metadata_version", "")).split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (2, 2):
        return None
    dynamic = {str(d).lower() for d in raw.get("dynamic", ())}
    if dynamic & set(_RESOLVER_FIELDS):
        return None
    return meta


def _read_pkg_info(client: Any, dist: Any) -> bytes | None:
    """Download an sdist and return its top-level PKG-INFO (None when it has none)."""
    import tarfile
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory(prefix="torchup-sdist-") as tmp:
        path = Path(tmp) / dist.filename
        client.download(dist.url, path, hashes=dict(getattr(dist, "hashes", {}) or {}))
        try:
            if dist.filename.endswith(".zip"):
                with zipfile.ZipFile(path) as zf:
                    names = [
                        n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/PKG-INFO")
                    ]
                    return zf.read(names[0]) if names else None
            with tarfile.open(path) as tf:
                for member in tf:
                    parts = member.name.strip("/").split("/")
                    if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                        f = tf.extractfile(member)
                        return f.read() if f else None
        except (OSError, tarfile.TarError, zipfile.BadZipFile):
            return None
    return None
