"""pip's requirements-file format, parsed without touching the network or the environment.

What is read, and how, follows pip (``pip/_internal/req/req_file.py``): lines are joined on a
trailing backslash, comments start at ``#`` preceded by whitespace, ``${VAR}`` is expanded from a
mapping the caller passes in, then the line is split into a requirement part and an options part
at the first token that starts with ``-``.

The only IO is the ``read_file`` callable used for the top file and for nested ``-r``/``-c``
files, so a test (or a remote-file reader) can supply its own.

Two things go beyond pip, for PyTorch's sake:

* a bare wheel URL or path (``https://.../torch-2.2.1%2Bcu118-cp311-...whl``) gets its name and
  version from the wheel file name, with ``%2B`` decoded to ``+``, so the resolver knows it is
  ``torch==2.2.1+cu118`` without downloading ~2 GB (uv issue #2541, seed 004);
* ``name @ url`` with a wheel URL is checked against the wheel's own name, so a typo in the name
  is reported here rather than as an unsatisfiable resolution.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from torchup.errors import RequirementError

__all__ = [
    "ParsedRequirement",
    "RequirementsFile",
    "RootRequirement",
    "ReadFile",
    "parse_requirements_file",
    "parse_requirements_text",
    "parse_requirement_string",
    "dist_name_from_url",
    "read_requirements_source",
    "STRONG_HASHES",
]

ReadFile = Callable[[str], str]
"""Reads a requirements file given its location; raises OSError when it cannot."""

# pip accepts only these for --hash; md5/sha1 are not collision resistant.
STRONG_HASHES = ("sha256", "sha384", "sha512")

_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
# pip expands only upper-case POSIX-style names, so `${lower}` stays literal like in pip.
_ENV_VAR_RE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)\}")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_VCS_SCHEMES = ("git+", "hg+", "svn+", "bzr+")
# `name @ ...` or `name[extras] @ ...` (PEP 508 direct reference); a VCS URL like
# `git+https://git@host/...` does not match because `+` is not allowed in a name.
_NAMED_URL_RE = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar")
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RootRequirement:
    """A user requirement and where it was written ("-r requirements.in", "pyproject.toml").

    Defined here, with the parsing, rather than next to the resolver that consumes it: a
    command builds its root requirements before it imports the resolver, and reading the
    inputs must not wait for that import (the index pages are requested right after)."""

    requirement: Requirement
    origin: str = ""


@dataclass(frozen=True)
class ParsedRequirement:
    """One requirement from a requirements file or the command line.

    ``requirement`` is the PEP 508 form; it carries a ``url`` for remote and VCS direct
    references, never for local paths (see ``path``). It is None only for an unnamed local
    directory, archive or VCS URL whose name is unknown until its metadata is built.
    ``version`` is the version read from a wheel or sdist file name, when there is one.
    ``source`` is ``"file:line"`` (or whatever label the caller gave).
    """

    requirement: Requirement | None
    source: str
    hashes: tuple[str, ...] = ()
    editable: bool = False
    url: str | None = None
    path: str | None = None
    version: str | None = None
    extras: frozenset[str] = frozenset()
    marker: Marker | None = None
    is_constraint: bool = False

    @property
    def name(self) -> str | None:
        """The canonical (PEP 503 normalized) project name, or None when unknown."""
        return canonicalize_name(self.requirement.name) if self.requirement else None

    @property
    def is_direct(self) -> bool:
        """Whether this names a file, directory or URL rather than an index version."""
        return self.url is not None or self.path is not None

    def __str__(self) -> str:
        if self.requirement is not None:
            return str(self.requirement)
        return self.url or self.path or "<unnamed requirement>"

    def to_dict(self) -> dict[str, Any]:
        """A JSON/TOML-friendly mapping; inverse of :meth:`from_dict`."""
        out: dict[str, Any] = {"source": self.source}
        if self.requirement is not None:
            out["requirement"] = str(self.requirement)
        if self.hashes:
            out["hashes"] = list(self.hashes)
        if self.editable:
            out["editable"] = True
        for key in ("url", "path", "version"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.extras:
            out["extras"] = sorted(self.extras)
        if self.marker is not None:
            out["marker"] = str(self.marker)
        if self.is_constraint:
            out["is-constraint"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParsedRequirement:
        """Rebuild from :meth:`to_dict` output."""
        req = data.get("requirement")
        marker = data.get("marker")
        return cls(
            requirement=Requirement(req) if req is not None else None,
            source=str(data.get("source", "")),
            hashes=tuple(data.get("hashes", ())),
            editable=bool(data.get("editable", False)),
            url=data.get("url"),
            path=data.get("path"),
            version=data.get("version"),
            extras=frozenset(data.get("extras", ())),
            marker=Marker(marker) if marker is not None else None,
            is_constraint=bool(data.get("is-constraint", False)),
        )


@dataclass(frozen=True)
class RequirementsFile:
    """Everything a requirements file (and the files it includes) says.

    ``requirements`` keeps file order; entries from ``-c`` files go to ``constraints``. Options
    from nested files are merged: lists accumulate, and the last ``--index-url`` wins (as in
    pip). ``files`` lists every file read, for staleness checks.
    """

    path: str
    requirements: tuple[ParsedRequirement, ...] = ()
    constraints: tuple[ParsedRequirement, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    pre: bool = False
    trusted_hosts: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()
    only_binary: tuple[str, ...] = ()
    prefer_binary: bool = False
    require_hashes: bool = False
    files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON/TOML-friendly mapping; inverse of :meth:`from_dict`."""
        return {
            "path": self.path,
            "requirements": [r.to_dict() for r in self.requirements],
            "constraints": [r.to_dict() for r in self.constraints],
            "index-url": self.index_url,
            "extra-index-urls": list(self.extra_index_urls),
            "find-links": list(self.find_links),
            "no-index": self.no_index,
            "pre": self.pre,
            "trusted-hosts": list(self.trusted_hosts),
            "no-binary": list(self.no_binary),
            "only-binary": list(self.only_binary),
            "prefer-binary": self.prefer_binary,
            "require-hashes": self.require_hashes,
            "files": list(self.files),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequirementsFile:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            path=str(data["path"]),
            requirements=tuple(
                ParsedRequirement.from_dict(r) for r in data.get("requirements", ())
            ),
            constraints=tuple(ParsedRequirement.from_dict(r) for r in data.get("constraints", ())),
            index_url=data.get("index-url"),
            extra_index_urls=tuple(data.get("extra-index-urls", ())),
            find_links=tuple(data.get("find-links", ())),
            no_index=bool(data.get("no-index", False)),
            pre=bool(data.get("pre", False)),
            trusted_hosts=tuple(data.get("trusted-hosts", ())),
            no_binary=tuple(data.get("no-binary", ())),
            only_binary=tuple(data.get("only-binary", ())),
            prefer_binary=bool(data.get("prefer-binary", False)),
            require_hashes=bool(data.get("require-hashes", False)),
            files=tuple(data.get("files", ())),
            warnings=tuple(data.get("warnings", ())),
        )


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def read_requirements_source(location: str) -> str:
    """Default ``read_file``: read a local requirements file as UTF-8 (a BOM is accepted).

    Raises OSError when the file cannot be read; remote files are refused because parsing
    must not reach the network (download it, or use ``--index-url`` instead).
    """
    if _SCHEME_RE.match(location) and not location.startswith("file:"):
        raise OSError(f"remote requirements files are not supported: {location}")
    if location.startswith("file:"):
        location = file_url_path(location)
    with open(location, encoding="utf-8-sig") as handle:
        return handle.read()


def parse_requirements_file(
    path: str | os.PathLike[str],
    *,
    constraint: bool = False,
    read_file: ReadFile = read_requirements_source,
    env: Mapping[str, str] | None = None,
    working_dir: str | None = None,
) -> RequirementsFile:
    """Read and parse a requirements (or, with ``constraint=True``, constraints) file.

    Nested ``-r``/``-c`` paths are relative to the including file. Local requirement paths
    are joined to ``working_dir`` when given, else kept as written (pip: relative to the
    current directory). ``${VAR}`` is expanded from ``env`` only. Raises RequirementError
    naming ``file:line`` for every problem, including a missing or cyclic include.
    """
    location = os.fspath(path)
    state = _State(root=location, read_file=read_file, env=env or {}, working_dir=working_dir)
    text = _read(state, location, including=None, line=None)
    state.parse(text, location, constraint=constraint, stack=(location,))
    return state.result()


def parse_requirements_text(
    text: str,
    path: str,
    *,
    constraint: bool = False,
    read_file: ReadFile = read_requirements_source,
    env: Mapping[str, str] | None = None,
    working_dir: str | None = None,
) -> RequirementsFile:
    """Parse requirements-file ``text``; ``path`` names it in messages and anchors ``-r``."""
    state = _State(root=path, read_file=read_file, env=env or {}, working_dir=working_dir)
    state.files.append(path)
    state.parse(text, path, constraint=constraint, stack=(path,))
    return state.result()


def parse_requirement_string(
    text: str,
    source: str = "<string>",
    *,
    editable: bool = False,
    working_dir: str | None = None,
    is_constraint: bool = False,
) -> ParsedRequirement:
    """Parse one requirement as pip accepts it on a command line or a requirements line.

    Accepts PEP 508 strings, ``name @ url``, bare URLs (VCS included), local paths to
    directories, wheels and sdists, each with optional ``[extras]`` and ``; marker``.
    ``source`` labels error messages (``"file:line"`` or ``"command line"``).
    """
    path, line = _split_source(source)
    return _parse_requirement(
        text.strip(),
        _Where(path, line, source),
        editable=editable,
        working_dir=working_dir,
        is_constraint=is_constraint,
    )


def dist_name_from_url(url: str) -> tuple[str, str] | None:
    """``(canonical name, version)`` from a wheel or sdist URL or path, else None.

    The last path segment is percent-decoded first, so ``torch-2.2.1%2Bcu118-...whl`` gives
    ``("torch", "2.2.1+cu118")``. A GitHub-style archive (``<sha>.zip``) gives None.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url) if _SCHEME_RE.match(url) or url.startswith("file:") else None
    except ValueError:  # "Invalid IPv6 URL" and the like: not a distribution URL
        return None
    raw_path = parts.path if parts else url.split("#", 1)[0].split("?", 1)[0]
    filename = unquote(re.split(r"[\\/]", raw_path.rstrip("/\\"))[-1])
    if filename.endswith(".whl"):
        try:
            name, version, _, _ = parse_wheel_filename(filename)
        except (InvalidWheelFilename, ValueError):
            return None
        return str(name), str(version)
    if filename.endswith((".tar.gz", ".zip")):
        try:
            name, version = parse_sdist_filename(filename)
        except (InvalidSdistFilename, ValueError):
            return None
        return str(name), str(version)
    return None


# --------------------------------------------------------------------------------------------
# Implementation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    """Where a line came from, for messages."""

    path: str | None
    line: int | None
    source: str

    def error(self, message: str, *, key: str | None = None, hint: str) -> RequirementError:
        return RequirementError(message, path=self.path, line=self.line, key=key, hint=hint)


def _split_source(source: str) -> tuple[str | None, int | None]:
    match = re.match(r"^(.*):(\d+)$", source)
    if match:
        return match.group(1), int(match.group(2))
    return (source or None), None


# Option table: canonical name -> (takes a value, scope). "global" options stand alone on a
# line; "per-requirement" options follow a requirement on the same line.
_OPTIONS: dict[str, tuple[bool, str]] = {
    "--requirement": (True, "global"),
    "--constraint": (True, "global"),
    "--editable": (True, "global"),
    "--index-url": (True, "global"),
    "--extra-index-url": (True, "global"),
    "--find-links": (True, "global"),
    "--no-index": (False, "global"),
    "--pre": (False, "global"),
    "--trusted-host": (True, "global"),
    "--no-binary": (True, "global"),
    "--only-binary": (True, "global"),
    "--prefer-binary": (False, "global"),
    "--require-hashes": (False, "global"),
    "--use-feature": (True, "global"),
    "--hash": (True, "per-requirement"),
}
_SHORT = {
    "-r": "--requirement",
    "-c": "--constraint",
    "-e": "--editable",
    "-i": "--index-url",
    "-f": "--find-links",
}
_ALIASES = {"--index": "--index-url", "--extra-index": "--extra-index-url"}


@dataclass
class _State:
    """Accumulates a parse across nested files (mutable only while parsing)."""

    root: str
    read_file: ReadFile
    env: Mapping[str, str]
    working_dir: str | None
    requirements: list[ParsedRequirement] = field(default_factory=list)
    constraints: list[ParsedRequirement] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    trusted_hosts: list[str] = field(default_factory=list)
    no_binary: list[str] = field(default_factory=list)
    only_binary: list[str] = field(default_factory=list)
    prefer_binary: bool = False
    require_hashes: bool = False
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def result(self) -> RequirementsFile:
        return RequirementsFile(
            path=self.root,
            requirements=tuple(self.requirements),
            constraints=tuple(self.constraints),
            index_url=self.index_url,
            extra_index_urls=tuple(_dedupe(self.extra_index_urls)),
            find_links=tuple(_dedupe(self.find_links)),
            no_index=self.no_index,
            pre=self.pre,
            trusted_hosts=tuple(_dedupe(self.trusted_hosts)),
            no_binary=tuple(self.no_binary),
            only_binary=tuple(self.only_binary),
            prefer_binary=self.prefer_binary,
            require_hashes=self.require_hashes,
            files=tuple(_dedupe(self.files)),
            warnings=tuple(self.warnings),
        )

    def parse(self, text: str, path: str, *, constraint: bool, stack: tuple[str, ...]) -> None:
        for number, line in _logical_lines(text.removeprefix("\ufeff")):
            where = _Where(path, number, f"{path}:{number}")
            line = _expand_env(line, self.env)
            args, options = _break_args_options(line)
            tokens = _tokenize(options, where)
            if args:
                self._requirement_line(args, tokens, where, constraint=constraint)
            else:
                self._options_line(tokens, where, path, constraint=constraint, stack=stack)

    # -- one line --------------------------------------------------------------------------
    def _requirement_line(
        self, args: str, tokens: list[str], where: _Where, *, constraint: bool
    ) -> None:
        hashes: list[str] = []
        for name, value in _iter_options(tokens, where):
            if name != "--hash":
                scope = "a line of its own" if name in _OPTIONS else "no line"
                raise where.error(
                    f"option {name} cannot follow a requirement",
                    key=name,
                    hint=f"only --hash may follow a requirement; put {name} on {scope}",
                )
            assert value is not None
            hashes.append(_check_hash(value, where))
        parsed = _parse_requirement(
            args, where, editable=False, working_dir=self.working_dir, is_constraint=constraint
        )
        self._add(parsed, hashes, where)

    def _options_line(
        self,
        tokens: list[str],
        where: _Where,
        path: str,
        *,
        constraint: bool,
        stack: tuple[str, ...],
    ) -> None:
        for name, value in _iter_options(tokens, where):
            if name in ("--requirement", "--constraint"):
                assert value is not None
                nested_constraint = constraint or name == "--constraint"
                self._include(value, where, path, constraint=nested_constraint, stack=stack)
            elif name == "--editable":
                assert value is not None
                parsed = _parse_requirement(
                    value,
                    where,
                    editable=True,
                    working_dir=self.working_dir,
                    is_constraint=constraint,
                )
                self._add(parsed, [], where)
            elif name == "--index-url":
                self.index_url = _check_url(value, where, name)
            elif name == "--extra-index-url":
                self.extra_index_urls.append(_check_url(value, where, name))
            elif name == "--find-links":
                assert value is not None
                self.find_links.append(_relative_location(value, path))
            elif name == "--no-index":
                self.no_index = True
            elif name == "--pre":
                self.pre = True
            elif name == "--trusted-host":
                assert value is not None
                self.trusted_hosts.append(value)
            elif name == "--no-binary":
                assert value is not None
                self.no_binary.extend(v for v in value.split(",") if v)
            elif name == "--only-binary":
                assert value is not None
                self.only_binary.extend(v for v in value.split(",") if v)
            elif name == "--prefer-binary":
                self.prefer_binary = True
            elif name == "--require-hashes":
                self.require_hashes = True
            elif name == "--use-feature":
                self.warnings.append(f"{where.source}: ignoring pip option --use-feature={value}")
            else:  # --hash with no requirement before it
                raise where.error(
                    f"option {name} must follow a requirement on the same line",
                    key=name,
                    hint="write it as `name==1.0 --hash=sha256:...`",
                )

    def _include(
        self,
        target: str,
        where: _Where,
        path: str,
        *,
        constraint: bool,
        stack: tuple[str, ...],
    ) -> None:
        location = _relative_location(target, path)
        key = os.path.normpath(location) if not _SCHEME_RE.match(location) else location
        normalized_stack = [os.path.normpath(s) if not _SCHEME_RE.match(s) else s for s in stack]
        if key in normalized_stack:
            chain = " -> ".join([*stack, location])
            raise where.error(
                f"requirements file includes itself: {chain}",
                key="-c" if constraint else "-r",
                hint="remove one of the -r/-c lines that form the cycle",
            )
        text = _read(self, location, including=where, line=where.line)
        self.parse(text, location, constraint=constraint, stack=(*stack, location))

    def _add(self, parsed: ParsedRequirement, hashes: list[str], where: _Where) -> None:
        all_hashes = tuple(_dedupe([*parsed.hashes, *hashes]))
        if all_hashes != parsed.hashes:
            parsed = _replace_hashes(parsed, all_hashes)
        if parsed.is_constraint:
            if parsed.requirement is None:
                raise where.error(
                    "constraints must name a project",
                    hint="write the constraint as `name @ url` or `name==version`",
                )
            if parsed.editable:
                raise where.error(
                    "editable requirements are not allowed as constraints",
                    key="-e",
                    hint="move the -e line to a requirements file",
                )
            self.constraints.append(parsed)
        else:
            self.requirements.append(parsed)


def _replace_hashes(parsed: ParsedRequirement, hashes: tuple[str, ...]) -> ParsedRequirement:
    from dataclasses import replace

    return replace(parsed, hashes=hashes)


def _read(state: _State, location: str, *, including: _Where | None, line: int | None) -> str:
    try:
        text = state.read_file(location)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        # ValueError: open() of a name with a NUL ("embedded null byte", found by atheris).
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if including is None:
            raise RequirementError(
                f"could not read requirements file: {reason}",
                path=location,
                hint="check the path; it is relative to the current directory",
            ) from exc
        raise including.error(
            f"could not read included file {location}: {reason}",
            key="-r",
            hint="nested -r/-c paths are relative to the file that includes them",
        ) from exc
    state.files.append(location)
    return text


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(first physical line number, logical line)`` with comments removed."""
    pending: list[str] = []
    first = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        # A comment line ends a continuation, as in pip (so `\` before a comment is harmless).
        is_comment = bool(_COMMENT_RE.match(raw))
        if not raw.endswith("\\") or is_comment:
            if is_comment:
                raw = " " + raw
            if pending:
                pending.append(raw)
                joined = "".join(pending)
                pending = []
                yield from _clean(first, joined)
            else:
                yield from _clean(number, raw)
        else:
            if not pending:
                first = number
            pending.append(raw[:-1])
    if pending:
        yield from _clean(first, "".join(pending))


def _clean(number: int, line: str) -> Iterator[tuple[int, str]]:
    stripped = _COMMENT_RE.sub("", line).strip()
    if stripped:
        yield number, stripped


def _expand_env(line: str, env: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        value = env.get(match.group("name"))
        # pip leaves an unset variable as written rather than substituting "".
        return value if value is not None else match.group(0)

    return _ENV_VAR_RE.sub(substitute, line)


def _break_args_options(line: str) -> tuple[str, str]:
    """Split at the first whitespace-separated token that starts with ``-`` (pip's rule)."""
    tokens = line.split(" ")
    args: list[str] = []
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(args), " ".join(tokens[index:])
        args.append(token)
    return " ".join(args), ""


def _tokenize(options: str, where: _Where) -> list[str]:
    if not options:
        return []
    import shlex  # only lines with options need it

    try:
        return shlex.split(options, comments=False, posix=True)
    except ValueError as exc:
        raise where.error(
            f"cannot split options {options!r}: {exc}", hint="check the quotes on this line"
        ) from None


def _iter_options(tokens: list[str], where: _Where) -> Iterator[tuple[str, str | None]]:
    """Yield ``(canonical long option, value)`` pairs; unknown options are errors."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        value: str | None = None
        if token.startswith("--"):
            name, eq, attached = token.partition("=")
            if eq:
                value = attached
        elif token.startswith("-") and len(token) >= 2:
            name, attached = token[:2], token[2:]
            if attached:
                value = attached.lstrip("=") if attached.startswith("=") else attached
        else:
            raise where.error(
                f"unexpected {token!r} after options",
                hint="put each requirement on its own line, before any options",
            )
        canonical = _SHORT.get(name, _ALIASES.get(name, name))
        spec = _OPTIONS.get(canonical)
        if spec is None:
            import difflib  # only the error's hint needs it (~1 ms to import)

            known = sorted([*_OPTIONS, *_SHORT])
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}?" if close else "supported: " + ", ".join(known)
            raise where.error(f"unknown option {name}", key=name, hint=hint)
        takes_value, _scope = spec
        if takes_value and value is None:
            if index >= len(tokens):
                raise where.error(
                    f"option {name} needs a value", key=name, hint=f"write `{name} VALUE`"
                )
            value = tokens[index]
            index += 1
        elif not takes_value and value is not None:
            raise where.error(
                f"option {name} takes no value", key=name, hint=f"write {name} on its own"
            )
        if takes_value and not value:
            raise where.error(
                f"option {name} needs a value", key=name, hint=f"write `{name} VALUE`"
            )
        yield canonical, value


def _check_hash(value: str, where: _Where) -> str:
    algorithm, sep, digest = value.partition(":")
    if not sep or algorithm not in STRONG_HASHES or not _HEX_RE.fullmatch(digest):
        raise where.error(
            f"invalid --hash {value!r}",
            key="--hash",
            hint="write --hash=sha256:<hex digest> (sha256, sha384 or sha512)",
        )
    return f"{algorithm}:{digest.lower()}"


def _check_url(value: str | None, where: _Where, option: str) -> str:
    assert value is not None
    if not (_SCHEME_RE.match(value) or value.startswith("file:") or _looks_like_path(value)):
        raise where.error(
            f"{option} needs a URL, got {value!r}",
            key=option,
            hint="write a full URL such as https://download.pytorch.org/whl/cu128",
        )
    return value


def _relative_location(target: str, including: str) -> str:
    """``target`` resolved against the directory of ``including`` (URLs pass through)."""
    if _SCHEME_RE.match(target) or target.startswith("file:") or os.path.isabs(target):
        return target
    if _SCHEME_RE.match(including):
        base = including.rsplit("/", 1)[0]
        return f"{base}/{target}"
    directory = os.path.dirname(including)
    return os.path.join(directory, target) if directory else target


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith((".", "/", "~"))
        or os.sep in text
        or (os.altsep is not None and os.altsep in text)
        or "/" in text
        or "\\" in text
        or text.lower().endswith(_ARCHIVE_SUFFIXES)
        or bool(re.match(r"^[A-Za-z]:[\\/]", text))
    )


def _is_url(text: str) -> bool:
    return bool(_SCHEME_RE.match(text)) or text.startswith("file:") or text.startswith(_VCS_SCHEMES)


def _parse_requirement(
    text: str,
    where: _Where,
    *,
    editable: bool,
    working_dir: str | None,
    is_constraint: bool,
) -> ParsedRequirement:
    if not text:
        raise where.error("empty requirement", hint="write a name such as `torch>=2.4`")
    if "\x00" in text:
        # A NUL reached os.path.expanduser / open() as "ValueError: embedded null byte"
        # (found by atheris, see tests/property/test_fuzz_parsers.py).
        raise where.error("the requirement contains a NUL character", hint="remove it")
    if _NAMED_URL_RE.match(text):
        return _parse_named(text, where, editable, working_dir, is_constraint)
    # Only the part before a marker decides, so `/` inside a marker value is not a "path".
    head = text.split(";", 1)[0].strip()
    if _is_url(text) or _looks_like_path(head) or editable:
        return _parse_unnamed(text, where, editable, working_dir, is_constraint)
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise where.error(
            f"invalid requirement {text!r}: {_first_line(exc)}",
            hint="write a PEP 508 requirement, e.g. `torch>=2.4; sys_platform == 'linux'`",
        ) from None
    return ParsedRequirement(
        requirement=req,
        source=where.source,
        extras=_normalized_extras(req),
        marker=req.marker,
        is_constraint=is_constraint,
    )


def _normalized_extras(req: Requirement) -> frozenset[str]:
    # PEP 685: extras compare normalized, so `[CUDA]` and `[cuda]` are one extra.
    return frozenset(str(canonicalize_name(e)) for e in req.extras)


def _parse_named(
    text: str, where: _Where, editable: bool, working_dir: str | None, is_constraint: bool
) -> ParsedRequirement:
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        hint = "write `name @ URL ; marker` with a space before the `;`"
        raise where.error(f"invalid requirement {text!r}: {_first_line(exc)}", hint=hint) from None
    assert req.url is not None
    target = req.url
    url: str | None = None
    path: str | None = None
    if _is_url(target):
        _check_splittable(target, where)
        url = target
        if target.startswith("file:"):
            path = file_url_path(target)
    else:
        path = _join(working_dir, target)
        req = _without_url(req)
    hashes = _fragment_hashes(target)
    version = _version_for(req.name, target, where, check_name=True)
    if editable and url and not url.startswith(("file:", *_VCS_SCHEMES)):
        raise where.error(
            "editable requirements need a local directory or a VCS URL",
            key="-e",
            hint="use `-e ./path` or `-e git+https://...`, or drop -e",
        )
    return ParsedRequirement(
        requirement=req,
        source=where.source,
        hashes=hashes,
        editable=editable,
        url=url,
        path=path,
        version=version,
        extras=_normalized_extras(req),
        marker=req.marker,
        is_constraint=is_constraint,
    )


def _parse_unnamed(
    text: str, where: _Where, editable: bool, working_dir: str | None, is_constraint: bool
) -> ParsedRequirement:
    # pip's rule: a URL's marker follows "; " (a URL may contain ';'), a path's follows ';'.
    is_url = _is_url(text)
    separator = "; " if is_url else ";"
    location, sep, marker_text = text.partition(separator)
    if is_url and not sep and " ;" in text:
        location, sep, marker_text = text.partition(" ;")
    location = location.strip()
    marker: Marker | None = None
    if sep:
        try:
            marker = Marker(marker_text.strip())
        except InvalidMarker as exc:
            raise where.error(
                f"invalid marker {marker_text.strip()!r}: {_first_line(exc)}",
                hint="markers look like `sys_platform == 'linux'`",
            ) from None
    extras: frozenset[str] = frozenset()
    # A path or URL with `[extras]` after it (compiled here, on first use: rarely needed).
    match = re.match(r"^(?P<base>.*?)(?P<extras>\[[^\[\]]*\])$", location)
    if match and not is_url:
        location = match.group("base")
        extras = _parse_extras(match.group("extras"), where)
    url: str | None = None
    path: str | None = None
    if is_url:
        _check_splittable(location, where)
        url = location
        if location.startswith("file:"):
            path = file_url_path(location)
    else:
        path = _join(working_dir, os.path.expanduser(location))
    egg = _egg_name(location)
    from_file = dist_name_from_url(location)
    if editable:
        lowered = location.lower().split("#", 1)[0]
        if lowered.endswith(_ARCHIVE_SUFFIXES):
            raise where.error(
                f"cannot install {location} as editable",
                key="-e",
                hint="-e needs a project directory or a VCS URL; drop -e for an archive",
            )
        if url and not url.startswith(("file:", *_VCS_SCHEMES)):
            raise where.error(
                "editable requirements need a local directory or a VCS URL",
                key="-e",
                hint="use `-e ./path` or `-e git+https://...`, or drop -e",
            )
    name = from_file[0] if from_file else egg
    version = from_file[1] if from_file else None
    requirement: Requirement | None = None
    if name is not None:
        extras_text = f"[{','.join(sorted(extras))}]" if extras else ""
        marker_text_out = f" ; {marker}" if marker is not None else ""
        pep508 = (
            f"{name}{extras_text} @ {url}{marker_text_out}"
            if url and not url.startswith("file:")
            else f"{name}{extras_text}{marker_text_out}"
        )
        try:
            requirement = Requirement(pep508)
        except InvalidRequirement as exc:
            raise where.error(
                f"cannot make a requirement of {location!r}: {_first_line(exc)}",
                hint="write it as `name @ URL`",
            ) from None
    return ParsedRequirement(
        requirement=requirement,
        source=where.source,
        hashes=_fragment_hashes(location),
        editable=editable,
        url=url,
        path=path,
        version=version,
        extras=extras,
        marker=marker,
        is_constraint=is_constraint,
    )


def _version_for(name: str, target: str, where: _Where, *, check_name: bool) -> str | None:
    found = dist_name_from_url(target)
    if found is None:
        return None
    file_name, version = found
    if canonicalize_name(name) != file_name:
        if check_name and target.split("#", 1)[0].endswith(".whl"):
            raise where.error(
                f"requirement names {name!r} but the wheel {target.rsplit('/', 1)[-1]!r} "
                f"is for {file_name!r}",
                hint=f"write `{file_name} @ {target}`",
            )
        return None
    return version


def _without_url(req: Requirement) -> Requirement:
    # A local path is carried by ParsedRequirement.path; the PEP 508 form keeps name/extras/marker.
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    marker = f" ; {req.marker}" if req.marker is not None else ""
    return Requirement(f"{req.name}{extras}{marker}")


def _parse_extras(text: str, where: _Where) -> frozenset[str]:
    names = [part.strip() for part in text.strip("[]").split(",") if part.strip()]
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name):
            raise where.error(f"invalid extra name {name!r}", hint="extras look like `[cuda,dev]`")
    return frozenset(canonicalize_name(n) for n in names)


def _egg_name(location: str) -> str | None:
    fragment = location.partition("#")[2]
    for part in fragment.split("&"):
        key, _, value = part.partition("=")
        if key == "egg" and value:
            base = value.split("[", 1)[0]
            if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", base):
                return str(canonicalize_name(base))
    return None


def _fragment_hashes(location: str) -> tuple[str, ...]:
    fragment = location.partition("#")[2]
    hashes = []
    for part in fragment.split("&"):
        key, _, value = part.partition("=")
        if key in STRONG_HASHES and _HEX_RE.fullmatch(value):
            hashes.append(f"{key}:{value.lower()}")
    return tuple(hashes)


def _check_splittable(url: str, where: _Where) -> None:
    """A URL urllib cannot split (``http://[::1``) is a RequirementError here, not a ValueError
    escaping later (found by tests/property/test_fuzz_parsers.py)."""
    try:
        urlsplit(url)
    except ValueError as exc:
        raise where.error(f"invalid URL {url!r}: {exc}", hint="check the URL") from None


def file_url_path(url: str) -> str:
    """The local path a ``file:`` URL names (percent-escapes decoded once).

    Not ``urllib.request.url2pathname``: importing urllib.request loads http.client and ssl
    (~20 ms of a warm install), and calling it after ``unquote`` decoded twice (a file named
    ``a%41.whl``, spelled ``a%2541.whl`` in its URL, became ``aA.whl``). On Windows the
    drive-letter rules come from ``nturl2path``, the module urllib.request itself uses there.
    """
    path = urlsplit(url).path
    if os.name == "nt":  # pragma: no cover - POSIX test machines
        from nturl2path import url2pathname

        return str(url2pathname(path))
    return unquote(path)


def _join(working_dir: str | None, path: str) -> str:
    if working_dir is None or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(working_dir, path))


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
