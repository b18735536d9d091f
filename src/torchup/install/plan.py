"""Plan an installation: what to install, replace, keep and remove. Pure: no IO.

The planner compares what the resolver (or a lock file) wants with what is installed and says
what to do; separate steps download, unpack and link. Same shape as uv's ``Planner``:
``install`` (not there yet), ``reinstall`` (there, but the wrong version or from another source:
remove, then install), ``keep`` and, with ``exact=True`` (``pip sync``), ``remove``.

Only distributions inside the environment (``env_site_dirs``) are ever removed or replaced;
packages seen elsewhere (system site-packages, torchup's own interpreter) are left alone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from torchup.install.site import InstalledDistribution

__all__ = ["DesiredDist", "InstallPlan", "Reinstall", "ReinstallReason", "is_satisfied", "plan_install"]

ReinstallReason = Literal[
    "upgrade", "downgrade", "version", "source", "editable", "local-directory", "requested"
]


@dataclass(frozen=True)
class DesiredDist:
    """A distribution the environment should have.

    ``url``/``filename``/``hashes`` say where the file comes from (opaque to the planner);
    ``direct_url`` is the PEP 610 record it will be installed with when it comes from a direct
    URL or a local path (None for index packages); ``editable`` for ``-e`` installs;
    ``source_fingerprint``, for a wheel built from a local folder, the digest of what the
    folder's metadata came from (its cache keys), kept in the install to tell later whether
    the folder changed.
    """

    name: str
    version: str
    url: str | None = None
    filename: str | None = None
    hashes: tuple[str, ...] = ()
    direct_url: Mapping[str, Any] | None = field(default=None, hash=False)
    editable: bool = False
    source_fingerprint: str | None = None

    @property
    def canonical_name(self) -> NormalizedName:
        return canonicalize_name(self.name)


@dataclass(frozen=True)
class Reinstall:
    """Replace ``installed`` by ``desired`` (uninstall, then install), and why."""

    installed: InstalledDistribution
    desired: DesiredDist
    reason: ReinstallReason


@dataclass(frozen=True)
class InstallPlan:
    """The result of :func:`plan_install`; every tuple is sorted by normalized name."""

    install: tuple[DesiredDist, ...] = ()
    reinstall: tuple[Reinstall, ...] = ()
    keep: tuple[InstalledDistribution, ...] = ()
    remove: tuple[InstalledDistribution, ...] = ()

    @property
    def to_uninstall(self) -> tuple[InstalledDistribution, ...]:
        """Everything that goes away: replaced installs and extraneous ones."""
        return tuple(r.installed for r in self.reinstall) + self.remove

    @property
    def to_install(self) -> tuple[DesiredDist, ...]:
        """Everything that must be fetched and installed."""
        return self.install + tuple(r.desired for r in self.reinstall)

    @property
    def is_empty(self) -> bool:
        return not (self.install or self.reinstall or self.remove)


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _source_identity(direct_url: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """What makes two PEP 610 records the same source: URL, VCS commit, archive hash."""
    if direct_url is None:
        return None
    out = [str(direct_url.get("url", "")).rstrip("/"), str(direct_url.get("subdirectory", ""))]
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, Mapping):
        out += ["vcs", str(vcs.get("vcs", "")), str(vcs.get("commit_id", ""))]
    archive = direct_url.get("archive_info")
    if isinstance(archive, Mapping):
        hashes = archive.get("hashes")
        sha256 = hashes.get("sha256") if isinstance(hashes, Mapping) else None
        legacy = archive.get("hash")  # "sha256=<hex>", the pre-PEP 610-final spelling
        if sha256:
            out += ["archive", f"sha256={sha256}"]
        elif legacy:
            out += ["archive", str(legacy)]
        else:
            out.append("archive")
    if "dir_info" in direct_url:
        out.append("dir")
    return tuple(out)


def _is_local_directory(direct_url: Mapping[str, Any] | None) -> bool:
    return direct_url is not None and "dir_info" in direct_url


def _reinstall_reason(
    installed: InstalledDistribution, desired: DesiredDist
) -> ReinstallReason | None:
    """Why ``installed`` does not satisfy ``desired`` (None when it does)."""
    have, want = _version(installed.version), _version(desired.version)
    if have is None or want is None:
        if installed.version != desired.version:
            return "version"
    elif have != want:
        return "upgrade" if want > have else "downgrade"
    if installed.editable != desired.editable:
        return "editable"
    if _source_identity(installed.direct_url) != _source_identity(desired.direct_url):
        return "source"
    if _is_local_directory(desired.direct_url) and not desired.editable:
        # A local source tree may have changed without its version changing; pip rebuilds too.
        return "local-directory"
    return None


def is_satisfied(installed: InstalledDistribution, desired: DesiredDist) -> bool:
    """Whether :func:`plan_install` keeps ``installed`` for ``desired`` (no reinstall asked):
    same version, same source, and not a non-editable local folder (always rebuilt)."""
    return _reinstall_reason(installed, desired) is None


def _inside(dist: InstalledDistribution, env_site_dirs: Collection[Path] | None) -> bool:
    return env_site_dirs is None or dist.location in env_site_dirs


def plan_install(
    desired: Mapping[str, DesiredDist] | Iterable[DesiredDist],
    installed: Mapping[str, InstalledDistribution],
    *,
    reinstall: bool | Collection[str] = False,
    exact: bool = False,
    env_site_dirs: Collection[Path] | None = None,
    protected: Collection[str] = (),
) -> InstallPlan:
    """Compare ``desired`` with ``installed`` and decide what to do.

    ``reinstall``: True, or names to reinstall even when satisfied. ``exact`` (``pip sync``)
    removes installed distributions that are not desired. ``env_site_dirs``: the
    environment's site directories; distributions located elsewhere are never removed or
    replaced (a different version is installed into the environment alongside). ``protected``
    names are never removed as extraneous (e.g. torchup itself when it runs from the target).
    """
    wanted: dict[NormalizedName, DesiredDist] = {}
    for dist in desired.values() if isinstance(desired, Mapping) else desired:
        key = dist.canonical_name
        if key in wanted and wanted[key] != dist:
            raise ValueError(
                f"{dist.name} is desired twice ({wanted[key].version}, {dist.version})"
            )
        wanted[key] = dist
    have = {canonicalize_name(name): dist for name, dist in installed.items()}
    forced: set[NormalizedName] | bool
    if isinstance(reinstall, bool):
        forced = reinstall
    else:
        forced = {canonicalize_name(n) for n in reinstall}
    keep_safe = {canonicalize_name(n) for n in protected}

    install: list[DesiredDist] = []
    replace: list[Reinstall] = []
    keep: list[InstalledDistribution] = []
    remove: list[InstalledDistribution] = []
    for key in sorted(wanted):
        want = wanted[key]
        current = have.get(key)
        if current is None:
            install.append(want)
            continue
        reason = _reinstall_reason(current, want)
        if reason is None and (forced is True or (isinstance(forced, set) and key in forced)):
            reason = "requested"
        if reason is None:
            keep.append(current)
        elif _inside(current, env_site_dirs):
            replace.append(Reinstall(current, want, reason))
        else:
            install.append(want)  # shadows the outside copy; never touch it
    if exact:
        for key in sorted(have):
            dist = have[key]
            if key in wanted or key in keep_safe or not _inside(dist, env_site_dirs):
                continue
            remove.append(dist)
    return InstallPlan(tuple(install), tuple(replace), tuple(keep), tuple(remove))
