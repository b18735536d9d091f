"""What is installed in an environment, and pip's ways of showing it.

:func:`scan_site_packages` reads every ``*.dist-info`` directory once into frozen
:class:`InstalledDistribution` values; the ``format_*`` functions and :func:`check_requirements`
are pure functions of those values, mirroring ``pip list`` / ``freeze`` / ``show`` / ``check``
output byte for byte where pip's format is stable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from email.message import Message

__all__ = [
    "CheckProblem",
    "InstalledDistribution",
    "ListFormat",
    "check_requirements",
    "direct_url_to_requirement",
    "format_check",
    "format_freeze",
    "format_list",
    "format_show",
    "scan_site_packages",
]

ListFormat = Literal["columns", "freeze", "json"]


@dataclass(frozen=True)
class InstalledDistribution:
    """One installed distribution (a ``.dist-info`` directory).

    ``name`` is the project name as its METADATA spells it; ``path`` the ``.dist-info``
    directory; ``location`` the site directory holding it; ``requires`` the raw Requires-Dist
    strings; ``direct_url`` the parsed PEP 610 ``direct_url.json`` (None for index installs).
    """

    name: str
    version: str
    path: Path
    requires: tuple[str, ...] = ()
    installer: str | None = None
    requested: bool = False
    direct_url: Mapping[str, Any] | None = field(default=None, hash=False)
    editable: bool = False
    summary: str = ""
    home_page: str = ""
    author: str = ""
    author_email: str = ""
    license: str = ""

    @property
    def canonical_name(self) -> NormalizedName:
        return canonicalize_name(self.name)

    @property
    def location(self) -> Path:
        return self.path.parent

    @property
    def parsed_version(self) -> Version | None:
        """The version as PEP 440, or None for a legacy version string."""
        try:
            return Version(self.version)
        except InvalidVersion:
            return None

    @property
    def editable_project_location(self) -> str | None:
        """The source directory of an editable install (pip's "Editable project location")."""
        if not self.editable or not self.direct_url:
            return None
        return _file_url_to_path(str(self.direct_url.get("url", "")))

    def requirements(self) -> list[Requirement]:
        """Requires-Dist parsed; unparsable lines are skipped, as pip does."""
        out: list[Requirement] = []
        for text in self.requires:
            try:
                out.append(Requirement(text))
            except InvalidRequirement:
                continue
        return out

    def dependencies(self, environment: Mapping[str, str]) -> list[Requirement]:
        """Requirements that apply in ``environment`` with no extras requested (pip's view)."""
        return [r for r in self.requirements() if _applies(r.marker, environment)]


def _applies(marker: Marker | None, environment: Mapping[str, str]) -> bool:
    if marker is None:
        return True
    env = dict(environment)
    env["extra"] = ""
    return marker.evaluate(env)  # type: ignore[arg-type]


def _file_url_to_path(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    path = unquote(parts.path)
    if os.name == "nt" and path.startswith("/") and len(path) > 2 and path[2] == ":":
        path = path[1:]
    return path


def _read_direct_url(dist_info: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((dist_info / "direct_url.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "url" in data else None


def _read_text(dist_info: Path, name: str) -> str | None:
    """A file of a ``.dist-info`` directory; None where ``importlib.metadata`` gives None.
    Bytes that are not UTF-8 (a damaged or hand-edited METADATA) become U+FFFD: the
    distribution is still listed and can be replaced, where a UnicodeDecodeError stopped
    every command that looks at the environment with an internal error."""
    try:
        return (dist_info / name).read_bytes().decode("utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None


def _redent(value: str | None) -> str | None:
    """A folded header value with its continuation lines' indentation removed (RFC 822), as
    ``importlib.metadata`` gives it."""
    if not value or "\n" not in value:
        return value
    import textwrap

    return textwrap.dedent(" " * 8 + value)


def _header(meta: Message, key: str) -> str | None:
    return _redent(meta.get(key))


def _headers(meta: Message, key: str) -> list[str]:
    return [_redent(v) or "" for v in meta.get_all(key) or []]


def _home_page(meta: Message) -> str:
    home = _header(meta, "Home-page") or ""
    if home:
        return str(home)
    for entry in _headers(meta, "Project-URL"):
        label, _, url = str(entry).partition(",")
        if label.strip().lower().replace("-", "").replace("_", "") == "homepage":
            return url.strip()
    return ""


def _read_distribution(dist_info: Path) -> InstalledDistribution | None:
    # What importlib.metadata.PathDistribution(dist_info).metadata reads, without importing
    # importlib.metadata (~5 ms with the zipfile, csv and importlib.resources it loads).
    import email

    text = _read_text(dist_info, "METADATA") or _read_text(dist_info, "PKG-INFO") or ""
    meta = email.message_from_string(text)
    name = _header(meta, "Name")
    version = _header(meta, "Version")
    if not name or not version:
        return None  # a broken or half-removed install: pip skips these too
    direct_url = _read_direct_url(dist_info)
    dir_info = (direct_url or {}).get("dir_info") or {}
    installer_text = _read_text(dist_info, "INSTALLER")
    return InstalledDistribution(
        name=str(name),
        version=str(version),
        path=dist_info,
        requires=tuple(str(r) for r in _headers(meta, "Requires-Dist")),
        installer=installer_text.strip() if installer_text else None,
        requested=(dist_info / "REQUESTED").exists(),
        direct_url=direct_url,
        editable=bool(isinstance(dir_info, dict) and dir_info.get("editable")),
        summary=str(_header(meta, "Summary") or ""),
        home_page=_home_page(meta),
        author=str(_header(meta, "Author") or ""),
        author_email=str(_header(meta, "Author-email") or ""),
        license=str(_header(meta, "License-Expression") or _header(meta, "License") or ""),
    )


def _read_egg_info(egg_info: Path) -> InstalledDistribution | None:
    """A legacy ``.egg-info`` install (setup.py install, distutils, some conda packages): a
    directory with PKG-INFO and requires.txt, or a single PKG-INFO-like file. Read as pip and
    uv read it, so such a package is listed, satisfies requirements, and is replaced rather
    than installed a second time beside itself."""
    import email

    is_dir = egg_info.is_dir()
    try:
        text = (egg_info / "PKG-INFO" if is_dir else egg_info).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    meta = email.message_from_string(text)
    name, version = _header(meta, "Name"), _header(meta, "Version")
    if not name or not version:
        return None
    requires: tuple[str, ...] = ()
    if is_dir and (egg_info / "requires.txt").is_file():
        # requires.txt has [extra] / [:marker] sections; importlib.metadata turns them into
        # Requires-Dist strings with markers (only loaded when such an install exists).
        from importlib.metadata import PathDistribution

        requires = tuple(PathDistribution(egg_info).requires or ())
    return InstalledDistribution(
        name=str(name),
        version=str(version),
        path=egg_info,
        requires=requires,
        summary=str(_header(meta, "Summary") or ""),
        home_page=_home_page(meta),
        author=str(_header(meta, "Author") or ""),
        author_email=str(_header(meta, "Author-email") or ""),
        license=str(_header(meta, "License") or ""),
    )


def _read_egg_link(egg_link: Path) -> InstalledDistribution | None:
    """A legacy editable install (``setup.py develop``, ``pip install -e`` with setuptools
    before 64): ``Name.egg-link`` names the project folder, whose ``.egg-info`` holds the
    metadata. Listed as pip lists it, editable, at that folder."""
    try:
        lines = egg_link.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or not lines[0].strip():
        return None
    folder = Path(lines[0].strip())
    if not folder.is_absolute():
        folder = (egg_link.parent / folder).resolve()
    wanted = canonicalize_name(egg_link.name[: -len(".egg-link")])
    for egg_info in sorted(folder.glob("*.egg-info")):
        dist = _read_egg_info(egg_info)
        if dist is not None and dist.canonical_name == wanted:
            from dataclasses import replace

            return replace(
                dist,
                editable=True,
                direct_url={"url": folder.as_uri(), "dir_info": {"editable": True}},
            )
    return None


def scan_site_packages(paths: Iterable[Path]) -> dict[str, InstalledDistribution]:
    """Every distribution in ``paths`` by normalized name; an earlier path wins (as on
    ``sys.path``), and in one directory a ``.dist-info`` wins over a legacy ``.egg-info``."""
    found: dict[str, InstalledDistribution] = {}
    for site in dict.fromkeys(Path(p) for p in paths):
        try:
            entries = sorted(os.scandir(site), key=lambda e: e.name)
        except OSError:
            continue
        legacy: list[InstalledDistribution] = []
        for entry in entries:
            if entry.name.endswith(".dist-info") and entry.is_dir():
                dist = _read_distribution(Path(entry.path))
                if dist is not None:
                    found.setdefault(dist.canonical_name, dist)
            elif entry.name.endswith(".egg-info"):
                egg = _read_egg_info(Path(entry.path))
                if egg is not None:
                    legacy.append(egg)
            elif entry.name.endswith(".egg-link"):
                egg = _read_egg_link(Path(entry.path))
                if egg is not None:
                    legacy.append(egg)
        for egg in legacy:
            found.setdefault(egg.canonical_name, egg)
    return found


# -- freeze / list ---------------------------------------------------------------------------------


def direct_url_to_requirement(name: str, direct_url: Mapping[str, Any]) -> str:
    """``name @ url`` for a PEP 610 record (VCS commit pinned, subdirectory kept)."""
    url = str(direct_url["url"])
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, Mapping):
        url = f"{vcs.get('vcs', 'git')}+{url}"
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        if commit:
            url = f"{url}@{commit}"
    subdirectory = direct_url.get("subdirectory")
    if subdirectory:
        url = f"{url}#subdirectory={subdirectory}"
    return f"{name} @ {url}"


def _sorted(dists: Iterable[InstalledDistribution]) -> list[InstalledDistribution]:
    return sorted(dists, key=lambda d: d.canonical_name)


def format_freeze(dists: Iterable[InstalledDistribution], *, exclude: Iterable[str] = ()) -> str:
    """``pip freeze`` lines: ``name==version``, ``name @ url`` for direct URLs, ``-e url`` for
    editables (as ``uv pip freeze``). Ends with a newline unless empty."""
    skip = {canonicalize_name(n) for n in exclude}
    lines: list[str] = []
    for dist in _sorted(dists):
        if dist.canonical_name in skip:
            continue
        if dist.editable and dist.direct_url:
            lines.append(f"-e {dist.direct_url['url']}")
        elif dist.direct_url:
            lines.append(direct_url_to_requirement(dist.name, dist.direct_url))
        else:
            lines.append(f"{dist.name}=={dist.version}")
    return "".join(line + "\n" for line in lines)


def _tabulate(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        " ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def format_list(
    dists: Iterable[InstalledDistribution], fmt: ListFormat = "columns", *, verbose: bool = False
) -> str:
    """``pip list`` output in ``columns`` (the default table), ``freeze`` or ``json`` format.

    Columns add "Editable project location" when any listed distribution is editable, and
    Location/Installer with ``verbose``, as pip does.
    """
    ordered = _sorted(dists)
    if fmt == "json":
        data: list[dict[str, str]] = []
        for dist in ordered:
            item = {"name": dist.name, "version": dist.version}
            if dist.editable_project_location:
                item["editable_project_location"] = dist.editable_project_location
            if verbose:
                item["location"] = str(dist.location)
                item["installer"] = dist.installer or ""
            data.append(item)
        return json.dumps(data) + "\n"
    if fmt == "freeze":
        return "".join(f"{d.name}=={d.version}\n" for d in ordered)
    if not ordered:
        return ""
    any_editable = any(d.editable for d in ordered)
    header = ["Package", "Version"]
    if any_editable:
        header.append("Editable project location")
    if verbose:
        header += ["Location", "Installer"]
    rows: list[list[str]] = [header]
    for dist in ordered:
        row = [dist.name, dist.version]
        if any_editable:
            row.append(dist.editable_project_location or "")
        if verbose:
            row += [str(dist.location), dist.installer or ""]
        rows.append(row)
    return _table(rows)


def _table(rows: Sequence[Sequence[str]]) -> str:
    """pip's table: a header row, a dashed rule as wide as each column, the rows."""
    lines = _tabulate(rows)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines.insert(1, " ".join("-" * w for w in widths))
    return "".join(line + "\n" for line in lines)


def format_outdated(
    rows: Iterable[tuple[InstalledDistribution, str, str]], fmt: ListFormat = "columns"
) -> str:
    """``pip list --outdated``: (distribution, latest version, "wheel"/"sdist") rows as pip's
    table (Package, Version, Latest, Type) or JSON (``latest_version``, ``latest_filetype``)."""
    ordered = sorted(rows, key=lambda r: r[0].canonical_name)
    if fmt == "json":
        data = [
            {"name": d.name, "version": d.version, "latest_version": latest, "latest_filetype": kind}
            for d, latest, kind in ordered
        ]
        return json.dumps(data) + "\n"
    if not ordered:
        return ""
    table = [["Package", "Version", "Latest", "Type"]]
    table += [[d.name, d.version, latest, kind] for d, latest, kind in ordered]
    return _table(table)


# -- show ----------------------------------------------------------------------------------------


def format_show(
    names: Iterable[str],
    installed: Mapping[str, InstalledDistribution],
    environment: Mapping[str, str],
    *,
    files: bool = False,
) -> tuple[str, list[str]]:
    """``pip show`` for ``names``: the text, and the names that are not installed.

    Requires/Required-by use the dependencies that apply in ``environment`` without extras,
    sorted case-insensitively, as pip prints them.
    """
    by_name = {d.canonical_name: d for d in installed.values()}
    blocks: list[str] = []
    missing: list[str] = []
    for requested in names:
        dist = by_name.get(canonicalize_name(requested))
        if dist is None:
            missing.append(requested)
            continue
        requires = sorted({r.name for r in dist.dependencies(environment)}, key=str.lower)
        required_by = sorted(
            (
                other.name
                for other in by_name.values()
                if any(
                    canonicalize_name(r.name) == dist.canonical_name
                    for r in other.dependencies(environment)
                )
            ),
            key=str.lower,
        )
        lines = [
            f"Name: {dist.name}",
            f"Version: {dist.version}",
            f"Summary: {dist.summary}",
            f"Home-page: {dist.home_page}",
            f"Author: {dist.author}",
            f"Author-email: {dist.author_email}",
            f"License: {dist.license}",
            f"Location: {dist.location}",
        ]
        if dist.editable_project_location:
            lines.append(f"Editable project location: {dist.editable_project_location}")
        lines += [f"Requires: {', '.join(requires)}", f"Required-by: {', '.join(required_by)}"]
        if files:
            lines.append("Files:")
            lines += [f"  {p}" for p in _recorded_files(dist)]
        blocks.append("\n".join(lines))
    text = "\n---\n".join(blocks)
    return (text + "\n" if text else ""), missing


def _recorded_files(dist: InstalledDistribution) -> list[str]:
    import csv
    import io

    if dist.path.name.endswith(".egg-info"):
        # A legacy install's list, relative to the .egg-info directory: shown relative to the
        # site directory, as pip shows it.
        try:
            listed = (dist.path / "installed-files.txt").read_text(encoding="utf-8").splitlines()
        except OSError:
            return ["Cannot locate RECORD or installed-files.txt"]
        return [
            os.path.relpath(os.path.normpath(os.path.join(dist.path, line)), dist.location)
            for line in listed
            if line.strip()
        ]
    try:
        text = (dist.path / "RECORD").read_text(encoding="utf-8")
    except OSError:
        return ["Cannot locate RECORD or installed-files.txt"]
    return [row[0] for row in csv.reader(io.StringIO(text)) if row]


# -- check ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckProblem:
    """One broken requirement: ``dist`` needs ``requirement``; ``installed_version`` is None
    when the required project is missing, else the conflicting installed version."""

    dist: NormalizedName
    version: str
    requirement: Requirement
    installed_version: str | None = None

    @property
    def missing(self) -> bool:
        return self.installed_version is None

    def __str__(self) -> str:
        dep = canonicalize_name(self.requirement.name)
        if self.installed_version is None:
            return f"{self.dist} {self.version} requires {dep}, which is not installed."
        return (
            f"{self.dist} {self.version} has requirement {self.requirement}, "
            f"but you have {dep} {self.installed_version}."
        )


def check_requirements(
    installed: Mapping[str, InstalledDistribution], environment: Mapping[str, str]
) -> list[CheckProblem]:
    """Missing and conflicting requirements, as ``pip check`` finds them: markers evaluated in
    ``environment`` with no extras; pre-release installs satisfy any specifier. Missing ones
    first, then conflicts, each sorted by distribution name."""
    by_name = {d.canonical_name: d for d in installed.values()}
    missing: list[CheckProblem] = []
    conflicting: list[CheckProblem] = []
    for key in sorted(by_name):
        dist = by_name[key]
        for req in dist.dependencies(environment):
            dep = by_name.get(canonicalize_name(req.name))
            if dep is None:
                missing.append(CheckProblem(key, dist.version, req))
                continue
            version = dep.parsed_version
            if version is None or not req.specifier.contains(version, prereleases=True):
                if version is None and not req.specifier:
                    continue
                conflicting.append(CheckProblem(key, dist.version, req, dep.version))
    return missing + conflicting


def not_required(
    installed: Mapping[str, InstalledDistribution], environment: Mapping[str, str]
) -> list[InstalledDistribution]:
    """The distributions no other installed one depends on (``pip list --not-required``):
    Requires-Dist markers evaluated in ``environment`` with no extras, as pip does."""
    needed = {
        canonicalize_name(req.name)
        for dist in installed.values()
        for req in dist.dependencies(environment)
        if canonicalize_name(req.name) != dist.canonical_name
    }
    return [d for d in installed.values() if d.canonical_name not in needed]


def format_check(problems: Iterable[CheckProblem]) -> str:
    """``pip check`` output; "No broken requirements found." when there is nothing to say."""
    lines = [str(p) for p in problems]
    return "\n".join(lines) + "\n" if lines else "No broken requirements found.\n"
