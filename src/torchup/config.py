"""Configuration: pyproject.toml tables, setup.cfg, environment variables, and pyproject edits.

This is the only module that knows where settings come from. Every parser is pure: it takes
the file text (or an environment mapping) and a path for messages, and returns frozen data or
raises :class:`~torchup.errors.ConfigError` naming the file, the line and the key, with a hint.
The two functions that touch the disk, :func:`read_text` and :func:`find_pyproject`, are small
and kept at the bottom.

Which tool table is read: ``[tool.torchup]`` when present, else ``[tool.uv]``, so a project set
up for uv (the five seed reports) loads verbatim. Keys uv accepts but that do not change a
resolution (``cache-dir``, ``managed``, ``workspace``...) produce warnings, not errors; keys
nobody knows are errors with a did-you-mean hint.

Line numbers come from :func:`toml_key_lines`, a small scanner over the TOML text that maps
every key path (``("tool", "uv", "index", 0, "url")``) to the line it is written on; the values
themselves come from ``tomllib``, so the scanner never decides what a value is.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any, Literal, cast, get_args

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from torchup.errors import ConfigError, RequirementError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "IndexStrategy",
    "PrereleaseMode",
    "ResolutionMode",
    "IndexFormat",
    "TorchChannel",
    "IndexConfig",
    "SourceConfig",
    "ConflictItem",
    "ToolConfig",
    "ProjectConfig",
    "Settings",
    "UV_KNOWN_KEYS",
    "RESOLUTION_KEYS",
    "TORCHUP_KEYS",
    "TORCH_BACKEND_RE",
    "toml_key_lines",
    "parse_toml",
    "parse_timestamp",
    "read_setup_cfg",
    "add_dependency",
    "remove_dependency",
    "add_index",
    "set_source",
    "remove_source",
    "read_env",
    "read_text",
    "find_pyproject",
    "load_project",
]

IndexStrategy = Literal["first-index", "unsafe-first-match", "unsafe-best-match"]
PrereleaseMode = Literal[
    "disallow", "allow", "if-necessary", "explicit", "if-necessary-or-explicit"
]
ResolutionMode = Literal["highest", "lowest", "lowest-direct"]
IndexFormat = Literal["simple", "flat"]
TorchChannel = Literal["stable", "test", "nightly"]
Authenticate = Literal["always", "auto", "never"]

# `auto`, `cpu`, `xpu`, `cu126`, `rocm6.4`: the spellings uv's --torch-backend accepts.
TORCH_BACKEND_RE = re.compile(r"^(auto|cpu|xpu|cu\d{2,3}|rocm\d+(\.\d+){0,2})$", re.ASCII)
_INDEX_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NAME_RE = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# Keys of [tool.uv] / [tool.torchup] that change what a resolution produces.
RESOLUTION_KEYS = frozenset(
    {
        "index",
        "index-url",
        "extra-index-url",
        "no-index",
        "find-links",
        "sources",
        "conflicts",
        "environments",
        "required-environments",
        "index-strategy",
        "prerelease",
        "resolution",
        "override-dependencies",
        "constraint-dependencies",
        "dev-dependencies",
        "exclude-newer",
        "default-groups",
        "package",
        "no-build-isolation",
        "no-build-isolation-package",
        "extra-build-dependencies",
        "build-constraint-dependencies",
        "dependency-metadata",
        "cache-keys",
    }
)
# torchup's own keys (also read from [tool.uv], where uv itself would not know all of them).
TORCHUP_KEYS = frozenset({"torch-backend", "torch-backends", "torch-channel", "torch-index-url"})
# Every other top-level key uv accepts in [tool.uv] (uv's settings reference): accepted and
# reported as ignored, never an error, so a uv project loads unchanged.
UV_KNOWN_KEYS = frozenset(
    {
        "add-bounds",
        "allow-insecure-host",
        "build-backend",
        "cache-dir",
        "check-url",
        "compile-bytecode",
        "concurrent-builds",
        "concurrent-downloads",
        "concurrent-installs",
        "config-settings",
        "config-settings-package",
        "dependency-groups",
        "exclude-dependencies",
        "exclude-newer-package",
        "extra-build-variables",
        "fork-strategy",
        "keyring-provider",
        "link-mode",
        "managed",
        "native-tls",
        "no-binary",
        "no-binary-package",
        "no-build",
        "no-build-package",
        "no-cache",
        "no-sources",
        "offline",
        "pip",
        "preview",
        "publish-url",
        "pypy-install-mirror",
        "python-downloads",
        "python-downloads-json-url",
        "python-install-mirror",
        "python-preference",
        "reinstall",
        "reinstall-package",
        "required-version",
        "trusted-publishing",
        "upgrade",
        "upgrade-package",
        "workspace",
    }
)
_INDEX_KEYS = frozenset({"name", "url", "explicit", "default", "format", "torch-index"})
_INDEX_UV_KEYS = frozenset({"publish-url", "authenticate", "ignore-error-codes", "cache-control"})
_SOURCE_KEYS = (
    "index",
    "url",
    "path",
    "git",
    "workspace",
    "rev",
    "tag",
    "branch",
    "lfs",
    "subdirectory",
    "editable",
    "package",
    "marker",
    "extra",
    "group",
)
_SOURCE_KINDS = ("index", "url", "path", "git", "workspace")

KeyPath = tuple[str | int, ...]


# --------------------------------------------------------------------------------------------
# TOML: parse with tomllib, find lines with a small scanner
# --------------------------------------------------------------------------------------------


def parse_toml(text: str, path: str) -> dict[str, Any]:
    """``tomllib.loads`` with a ConfigError naming ``path:line`` instead of a traceback."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(match.group(1)) if match else None
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        raise ConfigError(
            f"invalid TOML: {reason}",
            path=path,
            line=line,
            hint="fix the TOML syntax at that line (quotes, brackets, commas)",
        ) from None


def toml_key_lines(text: str) -> dict[KeyPath, int]:
    """Map each key path in a TOML document to the 1-based line where it is written.

    Array elements are indexed (``("tool", "uv", "index", 1)`` is the second ``[[tool.uv.index]]``,
    ``("project", "dependencies", 3)`` the fourth string). Meant for text ``tomllib`` accepted;
    on anything it does not understand it returns what it mapped so far.
    """
    scanner = _LineScanner(text)
    try:
        scanner.run()
    except (IndexError, ValueError):
        pass
    return scanner.lines


def _locate(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path`` or of its nearest written ancestor."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if re.match(r"^[A-Za-z0-9_-]+$", part) else f'"{part}"'
            out += f".{text}" if out else text
    return out


class _LineScanner:
    """Walks TOML text recording where keys, tables and array elements start."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[KeyPath, int] = {}
        self.aot_counts: dict[KeyPath, int] = {}

    # -- low level --------------------------------------------------------------------------
    def _peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def _advance(self, n: int = 1) -> None:
        chunk = self.text[self.pos : self.pos + n]
        self.line += chunk.count("\n")
        self.pos += n

    def _skip_blank(self, newlines: bool) -> None:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t\r" or (newlines and char == "\n"):
                self._advance()
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self._advance((len(self.text) if end < 0 else end) - self.pos)
            else:
                return

    def _record(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    def _record_parents(self, path: KeyPath, line: int) -> None:
        # `[a.b]` defines `a` implicitly; an earlier explicit line for `a` wins (setdefault).
        for end in range(1, len(path) + 1):
            self._record(path[:end], line)

    # -- grammar ----------------------------------------------------------------------------
    def run(self) -> None:
        prefix: KeyPath = ()
        while True:
            self._skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return
            start = self.pos
            line = self.line
            if self._peek(2) == "[[":
                self._advance(2)
                keys = self._key()
                self._skip_blank(newlines=False)
                self._advance(2)  # ]]
                parent = self._resolve(keys[:-1])
                self._record_parents(parent, line)
                table = (*parent, keys[-1])
                count = self.aot_counts.get(table, 0)
                self.aot_counts[table] = count + 1
                self._record(table, line)
                prefix = (*table, count)
                self._record(prefix, line)
            elif self._peek() == "[":
                self._advance()
                keys = self._key()
                self._skip_blank(newlines=False)
                self._advance()  # ]
                prefix = self._resolve(keys)
                self._record_parents(prefix, line)
            else:
                self._key_value(prefix)
            if self.pos == start:  # never loop forever on text we do not understand
                raise ValueError("scanner made no progress")

    def _resolve(self, keys: Sequence[str]) -> KeyPath:
        out: list[str | int] = []
        for key in keys:
            out.append(key)
            count = self.aot_counts.get(tuple(out))
            if count:
                out.append(count - 1)
        return tuple(out)

    def _key(self) -> list[str]:
        keys: list[str] = []
        while True:
            self._skip_blank(newlines=False)
            char = self._peek()
            if char == '"':
                keys.append(self._basic_string())
            elif char == "'":
                end = self.text.index("'", self.pos + 1)
                keys.append(self.text[self.pos + 1 : end])
                self._advance(end + 1 - self.pos)
            else:
                match = re.compile(r"[A-Za-z0-9_-]+").match(self.text, self.pos)
                if not match:
                    raise ValueError("bad key")
                keys.append(match.group(0))
                self._advance(match.end() - self.pos)
            self._skip_blank(newlines=False)
            if self._peek() == ".":
                self._advance()
                continue
            return keys

    def _key_value(self, prefix: KeyPath) -> None:
        line = self.line
        keys = self._key()
        for end in range(1, len(keys) + 1):
            self._record((*prefix, *keys[:end]), line)
        self._skip_blank(newlines=False)
        if self._peek() != "=":
            raise ValueError("expected =")
        self._advance()
        self._skip_blank(newlines=False)
        self._value((*prefix, *keys))

    def _value(self, path: KeyPath) -> None:
        char = self._peek()
        if self._peek(3) in ('"""', "'''"):
            self._multiline_string(self._peek(3))
        elif char == '"':
            self._basic_string()
        elif char == "'":
            end = self.text.index("'", self.pos + 1)
            self._advance(end + 1 - self.pos)
        elif char == "[":
            self._advance()
            index = 0
            while True:
                self._skip_blank(newlines=True)
                if self._peek() == "]":
                    self._advance()
                    return
                self._record((*path, index), self.line)
                self._value((*path, index))
                self._skip_blank(newlines=True)
                if self._peek() == ",":
                    self._advance()
                    index += 1
        elif char == "{":
            self._advance()
            while True:
                self._skip_blank(newlines=True)
                if self._peek() == "}":
                    self._advance()
                    return
                self._key_value(path)
                self._skip_blank(newlines=True)
                if self._peek() == ",":
                    self._advance()
        else:
            match = re.compile(r"[^,\]}#\n]+").match(self.text, self.pos)
            if not match:
                raise ValueError("bad value")
            self._advance(match.end() - self.pos)

    def _basic_string(self) -> str:
        index = self.pos + 1
        while self.text[index] != '"':
            index += 2 if self.text[index] == "\\" else 1
        raw = self.text[self.pos + 1 : index]
        self._advance(index + 1 - self.pos)
        if "\\" in raw:
            # Let tomllib apply TOML's escapes, so `"q\"uote"` maps to the key it names.
            raw = str(tomllib.loads(f'k = "{raw}"')["k"])
        return raw

    def _multiline_string(self, quote: str) -> None:
        index = self.pos + 3
        while True:
            if quote == '"""' and self.text[index] == "\\":
                index += 2
                continue
            if self.text.startswith(quote, index):
                # Up to two quotes may end the content right before the closing delimiter.
                run = 3
                while run < 5 and self.text.startswith(quote[0], index + run):
                    run += 1
                self._advance(index + run - self.pos)
                return
            index += 1


@dataclass(frozen=True)
class _Ctx:
    """A document being validated: its path, text, and key lines (for messages)."""

    path: str
    lines: Mapping[KeyPath, int]

    @classmethod
    def for_text(cls, text: str, path: str) -> _Ctx:
        return cls(path=path, lines=toml_key_lines(text))

    def error(self, message: str, key: KeyPath, hint: str) -> ConfigError:
        dotted = _dotted(key)
        return ConfigError(
            f"`{dotted}`: {message}",
            path=self.path,
            line=_locate(self.lines, key),
            key=dotted,
            hint=hint,
        )

    def type_error(self, key: KeyPath, expected: str, value: object) -> ConfigError:
        return self.error(
            f"expected {expected}, got {_describe(value)}",
            key,
            hint=f"make `{_dotted(key)}` {expected}",
        )


def _describe(value: object) -> str:
    kinds = {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        list: "an array",
        dict: "a table",
        datetime: "a date-time",
        date: "a date",
    }
    for kind, words in kinds.items():
        if type(value) is kind:
            return f"{words} ({value!r})" if kind in (str, bool, int, float) else words
    return type(value).__name__


# -- typed getters ---------------------------------------------------------------------------


def _expect_str(value: object, ctx: _Ctx, key: KeyPath) -> str:
    if not isinstance(value, str):
        raise ctx.type_error(key, "a string", value)
    return value


def _expect_bool(value: object, ctx: _Ctx, key: KeyPath) -> bool:
    if not isinstance(value, bool):
        raise ctx.type_error(key, "true or false", value)
    return value


def _expect_table(value: object, ctx: _Ctx, key: KeyPath) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.type_error(key, "a table", value)
    return value


def _expect_list(value: object, ctx: _Ctx, key: KeyPath) -> list[Any]:
    if not isinstance(value, list):
        raise ctx.type_error(key, "an array", value)
    return value


def _expect_str_list(value: object, ctx: _Ctx, key: KeyPath) -> tuple[str, ...]:
    items = _expect_list(value, ctx, key)
    return tuple(_expect_str(item, ctx, (*key, i)) for i, item in enumerate(items))


def _expect_choice(value: object, ctx: _Ctx, key: KeyPath, choices: Sequence[str]) -> str:
    text = _expect_str(value, ctx, key)
    if text not in choices:
        raise ctx.error(
            f"unknown value {text!r}",
            key,
            hint="use one of: " + ", ".join(repr(c) for c in choices),
        )
    return text


def _expect_url(value: object, ctx: _Ctx, key: KeyPath, *, allow_path: bool = False) -> str:
    text = _expect_str(value, ctx, key).strip()
    if _URL_RE.match(text) or text.startswith("file:"):
        return text
    if allow_path and _looks_like_path(text):
        return text
    raise ctx.error(
        f"expected a URL, got {text!r}",
        key,
        hint="write a full URL such as https://download.pytorch.org/whl/cu128",
    )


def _expect_requirement(value: object, ctx: _Ctx, key: KeyPath) -> Requirement:
    text = _expect_str(value, ctx, key)
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise ctx.error(
            f"invalid requirement {text!r}: {str(exc).splitlines()[0]}",
            key,
            hint="write a PEP 508 requirement such as \"torch>=2.4; sys_platform == 'linux'\"",
        ) from None


def _expect_requirements(value: object, ctx: _Ctx, key: KeyPath) -> tuple[Requirement, ...]:
    items = _expect_list(value, ctx, key)
    return tuple(_expect_requirement(item, ctx, (*key, i)) for i, item in enumerate(items))


def _expect_version(value: object, ctx: _Ctx, key: KeyPath) -> str:
    """A PEP 440 version, kept as written."""
    text = _expect_str(value, ctx, key)
    try:
        Version(text)
    except InvalidVersion:
        raise ctx.error(
            f"invalid version {text!r}", key, hint='use a PEP 440 version such as "0.1.0"'
        ) from None
    return text


def _expect_specifiers(value: object, ctx: _Ctx, key: KeyPath) -> SpecifierSet:
    text = _expect_str(value, ctx, key)
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ctx.error(
            f"invalid version specifier {text!r}", key, hint='write it like ">=3.10"'
        ) from None


def _expect_marker(value: object, ctx: _Ctx, key: KeyPath) -> Marker:
    text = _expect_str(value, ctx, key)
    try:
        return Marker(text)
    except InvalidMarker as exc:
        raise ctx.error(
            f"invalid marker {text!r}: {str(exc).splitlines()[0]}",
            key,
            hint="markers look like \"sys_platform == 'linux' and python_version >= '3.11'\"",
        ) from None


def _expect_markers(value: object, ctx: _Ctx, key: KeyPath) -> tuple[Marker, ...]:
    # uv accepts one marker string or a list of them.
    if isinstance(value, str):
        return (_expect_marker(value, ctx, key),)
    items = _expect_list(value, ctx, key)
    return tuple(_expect_marker(item, ctx, (*key, i)) for i, item in enumerate(items))


def _expect_backend(value: object, ctx: _Ctx, key: KeyPath) -> str:
    text = _expect_str(value, ctx, key).strip().lower()
    if not TORCH_BACKEND_RE.fullmatch(text):
        raise ctx.error(
            f"unknown torch backend {text!r}",
            key,
            hint="use auto, cpu, xpu, a CUDA tag such as cu128, or a ROCm tag such as rocm6.4",
        )
    return text


def _expect_name(value: object, ctx: _Ctx, key: KeyPath, what: str) -> str:
    text = _expect_str(value, ctx, key)
    if not _NAME_RE.fullmatch(text):
        raise ctx.error(
            f"invalid {what} name {text!r}",
            key,
            hint="names use letters, digits, '.', '-' and '_', starting and ending alphanumeric",
        )
    return str(canonicalize_name(text))


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp or a date (midnight UTC) as an aware UTC datetime.

    Raises ValueError when ``text`` is neither; callers add where it came from.
    """
    text = text.strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
        return datetime.combine(date.fromisoformat(text), time(0), tzinfo=timezone.utc)
    # Python 3.10's fromisoformat does not take "Z".
    value = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text.replace(" ", "T", 1)))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _expect_timestamp(value: object, ctx: _Ctx, key: KeyPath) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(
            timezone.utc
        )
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=timezone.utc)
    text = _expect_str(value, ctx, key)
    try:
        return parse_timestamp(text)
    except ValueError:
        raise ctx.error(
            f"invalid timestamp {text!r}",
            key,
            hint='write an RFC 3339 timestamp such as "2024-06-01T00:00:00Z" or a date',
        ) from None


def _unknown_key(
    ctx: _Ctx, key: KeyPath, known: Iterable[str], where: str, hint_extra: str = ""
) -> ConfigError:
    import difflib  # only this error's hint needs it

    name = str(key[-1])
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`?" if close else f"see the documentation for {where}"
    return ctx.error(f"unknown key in {where}", key, hint=hint + hint_extra)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexConfig:
    """One ``[[tool.uv.index]]`` entry.

    ``format = "flat"`` makes it a find-links page. ``torch_index`` marks a PyTorch index
    (None: decide from the URL). ``explicit`` indexes serve only packages whose source names
    them; ``default`` replaces PyPI as the lowest-priority index.
    """

    url: str
    name: str | None = None
    explicit: bool = False
    default: bool = False
    format: IndexFormat = "simple"
    torch_index: bool | None = None
    authenticate: Authenticate | None = None
    ignore_error_codes: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """TOML-shaped mapping (only non-default keys), as written in ``[[tool.uv.index]]``."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        out["url"] = self.url
        if self.explicit:
            out["explicit"] = True
        if self.default:
            out["default"] = True
        if self.format != "simple":
            out["format"] = self.format
        if self.torch_index is not None:
            out["torch-index"] = self.torch_index
        if self.authenticate is not None:
            out["authenticate"] = self.authenticate
        if self.ignore_error_codes:
            out["ignore-error-codes"] = list(self.ignore_error_codes)
        return out

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, path: str = "<index>", text: str = ""
    ) -> IndexConfig:
        """Validate one index table; errors name ``path`` (and a line when ``text`` is given)."""
        ctx = _Ctx.for_text(text, path) if text else _Ctx(path, {})
        index, _ = _parse_index(dict(data), ctx, ())
        return index


@dataclass(frozen=True)
class SourceConfig:
    """One entry of ``[tool.uv.sources.<package>]``: where a package comes from.

    ``kind`` is which of ``index``/``url``/``path``/``git``/``workspace`` is set; ``marker``,
    ``extra`` and ``group`` limit when the entry applies.
    """

    kind: Literal["index", "url", "path", "git", "workspace"]
    index: str | None = None
    url: str | None = None
    path: str | None = None
    git: str | None = None
    workspace: bool | None = None
    rev: str | None = None
    tag: str | None = None
    branch: str | None = None
    lfs: bool | None = None
    subdirectory: str | None = None
    editable: bool | None = None
    package: bool | None = None
    marker: Marker | None = None
    extra: str | None = None
    group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """TOML-shaped mapping in uv's key order."""
        out: dict[str, Any] = {}
        for key in _SOURCE_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = str(value) if isinstance(value, Marker) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str = "<source>") -> SourceConfig:
        """Validate one source table (names, not lines, in errors)."""
        return _parse_source(dict(data), _Ctx(path, {}), ())


@dataclass(frozen=True)
class CacheKey:
    """One entry of ``[tool.uv] cache-keys``: what, when it changes, means the project's
    metadata may have changed (``file``: a glob below the project; ``dir``: a directory;
    ``env``: an environment variable; ``git``: the checkout's commit)."""

    kind: Literal["file", "dir", "env", "git"]
    value: str = ""

    def to_toml(self) -> dict[str, Any]:
        return {self.kind: True if self.kind == "git" else self.value}


# uv's default cache-keys: the files a project's metadata is usually computed from.
DEFAULT_CACHE_KEYS = (
    CacheKey("file", "pyproject.toml"), CacheKey("file", "setup.py"), CacheKey("file", "setup.cfg"),
)


@dataclass(frozen=True)
class ExtraBuildRequirement:
    """One entry of ``[tool.uv.extra-build-dependencies]``: a requirement added to a
    package's isolated build environment; ``match_runtime``: at the version the project's
    environment gets (torch for flash-attn, so the extension is built against the torch it
    will run with)."""

    requirement: Requirement
    match_runtime: bool = False

    def to_toml(self) -> str | dict[str, Any]:
        if not self.match_runtime:
            return str(self.requirement)
        return {"requirement": str(self.requirement), "match-runtime": True}


@dataclass(frozen=True)
class DependencyMetadata:
    """One ``[[tool.uv.dependency-metadata]]`` entry: the metadata of ``name`` (at ``version``,
    or any version when None) as the project states it, used instead of the package's own.
    uv's recipe for packages whose metadata needs a build (flash-attn): the lock is made
    without building them."""

    name: str
    version: str | None = None
    requires_dist: tuple[Requirement, ...] = ()
    requires_python: SpecifierSet | None = None
    provides_extras: tuple[str, ...] = ()

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.version is not None:
            out["version"] = self.version
        out["requires-dist"] = [str(r) for r in self.requires_dist]
        if self.requires_python is not None:
            out["requires-python"] = str(self.requires_python)
        if self.provides_extras:
            out["provides-extras"] = list(self.provides_extras)
        return out

    def metadata_text(self, version: str) -> str:
        """A METADATA file saying this, for ``version`` of the package."""
        lines = ["Metadata-Version: 2.3", f"Name: {self.name}", f"Version: {version}"]
        if self.requires_python is not None:
            lines.append(f"Requires-Python: {self.requires_python}")
        lines += [f"Provides-Extra: {e}" for e in self.provides_extras]
        lines += [f"Requires-Dist: {r}" for r in self.requires_dist]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ConflictItem:
    """One member of a ``conflicts`` set: an extra or a dependency group (of ``package``)."""

    extra: str | None = None
    group: str | None = None
    package: str | None = None

    def to_dict(self) -> dict[str, str]:
        """TOML-shaped mapping."""
        out = {"extra": self.extra, "group": self.group, "package": self.package}
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConflictItem:
        """Inverse of :meth:`to_dict` (validated by :meth:`ToolConfig.from_table`)."""
        return cls(extra=data.get("extra"), group=data.get("group"), package=data.get("package"))


@dataclass(frozen=True)
class ToolConfig:
    """The resolution settings of ``[tool.torchup]`` or ``[tool.uv]``.

    None means "not set here", so the CLI can layer command-line > environment > project.
    Package names in ``sources`` and extra/group names are canonical (PEP 503 / 685).
    """

    indexes: tuple[IndexConfig, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    no_index: bool | None = None
    find_links: tuple[str, ...] = ()
    sources: Mapping[str, tuple[SourceConfig, ...]] = field(default_factory=dict)
    conflicts: tuple[tuple[ConflictItem, ...], ...] = ()
    environments: tuple[Marker, ...] = ()
    required_environments: tuple[Marker, ...] = ()
    index_strategy: IndexStrategy | None = None
    prerelease: PrereleaseMode | None = None
    resolution: ResolutionMode | None = None
    override_dependencies: tuple[Requirement, ...] = ()
    constraint_dependencies: tuple[Requirement, ...] = ()
    dev_dependencies: tuple[Requirement, ...] = ()
    exclude_newer: datetime | None = None
    default_groups: tuple[str, ...] | Literal["all"] | None = None
    package: bool | None = None
    no_build_isolation: bool | None = None
    no_build_isolation_package: tuple[str, ...] = ()
    extra_build_dependencies: Mapping[str, tuple[ExtraBuildRequirement, ...]] = field(
        default_factory=dict
    )
    build_constraint_dependencies: tuple[Requirement, ...] = ()
    dependency_metadata: tuple[DependencyMetadata, ...] = ()
    cache_keys: tuple[CacheKey, ...] | None = None
    torch_backend: str | None = None
    torch_backends: tuple[str, ...] = ()
    torch_channel: TorchChannel | None = None
    torch_index_url: str | None = None

    @classmethod
    def from_table(
        cls,
        table: Mapping[str, Any],
        *,
        path: str = "pyproject.toml",
        text: str = "",
        key: KeyPath = ("tool", "torchup"),
    ) -> tuple[ToolConfig, tuple[str, ...]]:
        """Validate a tool table; returns the config and warnings about ignored keys.

        ``key`` is where the table sits in the document (for messages and line lookup).
        """
        ctx = _Ctx.for_text(text, path) if text else _Ctx(path, {})
        return _parse_tool(dict(table), ctx, key)

    def to_dict(self) -> dict[str, Any]:
        """TOML-shaped mapping of the keys that are set (inverse of :meth:`from_table`)."""
        out: dict[str, Any] = {}
        if self.indexes:
            out["index"] = [i.to_dict() for i in self.indexes]
        if self.index_url is not None:
            out["index-url"] = self.index_url
        if self.extra_index_urls:
            out["extra-index-url"] = list(self.extra_index_urls)
        if self.no_index is not None:
            out["no-index"] = self.no_index
        if self.find_links:
            out["find-links"] = list(self.find_links)
        if self.sources:
            out["sources"] = {
                name: [s.to_dict() for s in entries] if len(entries) > 1 else entries[0].to_dict()
                for name, entries in sorted(self.sources.items())
            }
        if self.conflicts:
            out["conflicts"] = [[c.to_dict() for c in group] for group in self.conflicts]
        if self.environments:
            out["environments"] = [str(m) for m in self.environments]
        if self.required_environments:
            out["required-environments"] = [str(m) for m in self.required_environments]
        for key in (
            "index_strategy", "prerelease", "resolution", "package", "no_build_isolation",
            "torch_backend",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key.replace("_", "-")] = value
        if self.no_build_isolation_package:
            out["no-build-isolation-package"] = list(self.no_build_isolation_package)
        if self.cache_keys is not None:
            out["cache-keys"] = [k.to_toml() for k in self.cache_keys]
        if self.dependency_metadata:
            out["dependency-metadata"] = [d.to_toml() for d in self.dependency_metadata]
        if self.extra_build_dependencies:
            out["extra-build-dependencies"] = {
                name: [e.to_toml() for e in entries]
                for name, entries in sorted(self.extra_build_dependencies.items())
            }
        for key in (
            "override_dependencies", "constraint_dependencies", "dev_dependencies",
            "build_constraint_dependencies",
        ):
            reqs = getattr(self, key)
            if reqs:
                out[key.replace("_", "-")] = [str(r) for r in reqs]
        if self.exclude_newer is not None:
            out["exclude-newer"] = self.exclude_newer.isoformat().replace("+00:00", "Z")
        if self.default_groups is not None:
            out["default-groups"] = (
                self.default_groups
                if isinstance(self.default_groups, str)
                else list(self.default_groups)
            )
        if self.torch_backends:
            out["torch-backends"] = list(self.torch_backends)
        if self.torch_channel is not None:
            out["torch-channel"] = self.torch_channel
        if self.torch_index_url is not None:
            out["torch-index-url"] = self.torch_index_url
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolConfig:
        """Inverse of :meth:`to_dict` (validates like a ``[tool.torchup]`` table)."""
        config, _ = cls.from_table(data, path="<tool config>")
        return config


@dataclass(frozen=True)
class ProjectConfig:
    """What a ``pyproject.toml`` (or ``setup.cfg``) says that matters for resolving it.

    ``optional_dependencies`` and ``dependency_groups`` are keyed by normalized names; groups
    have ``include-group`` expanded and ``[tool.uv] dev-dependencies`` merged into ``dev``
    (as uv does). ``tool_table`` says which table ``tool`` came from.
    """

    path: str
    name: str | None = None
    version: str | None = None
    requires_python: SpecifierSet | None = None
    dependencies: tuple[Requirement, ...] = ()
    optional_dependencies: Mapping[str, tuple[Requirement, ...]] = field(default_factory=dict)
    dependency_groups: Mapping[str, tuple[Requirement, ...]] = field(default_factory=dict)
    dynamic: tuple[str, ...] = ()
    tool: ToolConfig = field(default_factory=ToolConfig)
    tool_table: Literal["torchup", "uv"] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def normalized_name(self) -> str | None:
        """The canonical project name, or None for a project without ``[project] name``."""
        return str(canonicalize_name(self.name)) if self.name else None

    @classmethod
    def from_pyproject(cls, text: str, path: str = "pyproject.toml") -> ProjectConfig:
        """Parse and validate a pyproject.toml; raises ConfigError naming file, line and key."""
        data = parse_toml(text, path)
        ctx = _Ctx.for_text(text, path)
        return _parse_pyproject(data, ctx)

    def resolution_inputs(self) -> dict[str, Any]:
        """A canonical, JSON-ready view of everything here that changes a resolution.

        Feed it to :func:`torchup.lock.input_hash` to tell whether a lock is stale; formatting,
        comments and ignored keys do not change it.
        """
        return {
            "name": self.normalized_name,
            "requires-python": str(self.requires_python) if self.requires_python else None,
            "dependencies": sorted(str(r) for r in self.dependencies),
            "optional-dependencies": {
                k: sorted(str(r) for r in v) for k, v in sorted(self.optional_dependencies.items())
            },
            "dependency-groups": {
                k: sorted(str(r) for r in v) for k, v in sorted(self.dependency_groups.items())
            },
            "dynamic": sorted(self.dynamic),
            "tool": _jsonable(self.tool.to_dict()),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping; inverse of :meth:`from_dict`."""
        return {
            "path": self.path,
            "name": self.name,
            "version": self.version,
            "requires-python": str(self.requires_python) if self.requires_python else None,
            "dependencies": [str(r) for r in self.dependencies],
            "optional-dependencies": {
                k: [str(r) for r in v] for k, v in self.optional_dependencies.items()
            },
            "dependency-groups": {
                k: [str(r) for r in v] for k, v in self.dependency_groups.items()
            },
            "dynamic": list(self.dynamic),
            "tool": _jsonable(self.tool.to_dict()),
            "tool-table": self.tool_table,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProjectConfig:
        """Rebuild from :meth:`to_dict` output."""
        requires_python = data.get("requires-python")

        def reqs(items: Iterable[str]) -> tuple[Requirement, ...]:
            return tuple(Requirement(r) for r in items)

        return cls(
            path=str(data["path"]),
            name=data.get("name"),
            version=data.get("version"),
            requires_python=SpecifierSet(requires_python) if requires_python else None,
            dependencies=reqs(data.get("dependencies", ())),
            optional_dependencies={
                k: reqs(v) for k, v in data.get("optional-dependencies", {}).items()
            },
            dependency_groups={k: reqs(v) for k, v in data.get("dependency-groups", {}).items()},
            dynamic=tuple(data.get("dynamic", ())),
            tool=ToolConfig.from_dict(data.get("tool", {})),
            tool_table=data.get("tool-table"),
            warnings=tuple(data.get("warnings", ())),
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


# --------------------------------------------------------------------------------------------
# pyproject.toml
# --------------------------------------------------------------------------------------------


def _parse_pyproject(data: dict[str, Any], ctx: _Ctx) -> ProjectConfig:
    warnings: list[str] = []
    project = _expect_table(data.get("project", {}), ctx, ("project",))
    name = version = None
    requires_python: SpecifierSet | None = None
    dependencies: tuple[Requirement, ...] = ()
    optional: dict[str, tuple[Requirement, ...]] = {}
    dynamic: tuple[str, ...] = ()
    if "name" in project:
        raw_name = _expect_str(project["name"], ctx, ("project", "name"))
        _expect_name(raw_name, ctx, ("project", "name"), "project")
        name = raw_name
    if "version" in project:
        version = _expect_version(project["version"], ctx, ("project", "version"))
    if "requires-python" in project:
        requires_python = _expect_specifiers(
            project["requires-python"], ctx, ("project", "requires-python")
        )
    if "dynamic" in project:
        dynamic = _expect_str_list(project["dynamic"], ctx, ("project", "dynamic"))
    if "dependencies" in project:
        if "dependencies" in dynamic:
            raise ctx.error(
                "listed in `dynamic` and also given",
                ("project", "dependencies"),
                hint="remove it from one of the two places (PEP 621)",
            )
        dependencies = _expect_requirements(
            project["dependencies"], ctx, ("project", "dependencies")
        )
    if "optional-dependencies" in project:
        base: KeyPath = ("project", "optional-dependencies")
        table = _expect_table(project["optional-dependencies"], ctx, base)
        for extra, items in table.items():
            normalized = _expect_name(extra, ctx, (*base, extra), "extra")
            if normalized in optional:
                raise ctx.error(
                    f"extra {extra!r} is defined twice (names are compared normalized)",
                    (*base, extra),
                    hint="merge the two lists under one name",
                )
            optional[normalized] = _expect_requirements(items, ctx, (*base, extra))

    groups = _parse_dependency_groups(data.get("dependency-groups"), ctx)

    tool_root = _expect_table(data.get("tool", {}), ctx, ("tool",))
    tool_table: Literal["torchup", "uv"] | None = None
    tool = ToolConfig()
    if "torchup" in tool_root:
        tool_table = "torchup"
        table = _expect_table(tool_root["torchup"], ctx, ("tool", "torchup"))
        tool, tool_warnings = _parse_tool(table, ctx, ("tool", "torchup"))
        warnings.extend(tool_warnings)
        if "uv" in tool_root:
            warnings.append(
                f"{ctx.path}: both [tool.torchup] and [tool.uv] are present; "
                "torchup reads [tool.torchup] only"
            )
    elif "uv" in tool_root:
        tool_table = "uv"
        table = _expect_table(tool_root["uv"], ctx, ("tool", "uv"))
        tool, tool_warnings = _parse_tool(table, ctx, ("tool", "uv"))
        warnings.extend(tool_warnings)

    if tool.dev_dependencies:
        groups["dev"] = tuple(_dedupe_reqs([*groups.get("dev", ()), *tool.dev_dependencies]))

    tool_key: KeyPath = ("tool", tool_table or "uv")
    _check_cross_references(tool, optional, groups, ctx, tool_key)
    return ProjectConfig(
        path=ctx.path,
        name=name,
        version=version,
        requires_python=requires_python,
        dependencies=dependencies,
        optional_dependencies=optional,
        dependency_groups=groups,
        dynamic=dynamic,
        tool=tool,
        tool_table=tool_table,
        warnings=tuple(warnings),
    )


def _dedupe_reqs(reqs: Iterable[Requirement]) -> list[Requirement]:
    seen: dict[str, Requirement] = {}
    for req in reqs:
        seen.setdefault(str(req), req)
    return list(seen.values())


def _parse_dependency_groups(value: object, ctx: _Ctx) -> dict[str, tuple[Requirement, ...]]:
    """PEP 735 groups with ``{include-group = "..."}`` expanded (cycles are errors)."""
    if value is None:
        return {}
    base: KeyPath = ("dependency-groups",)
    table = _expect_table(value, ctx, base)
    raw: dict[str, tuple[str, list[Any]]] = {}
    for group, items in table.items():
        normalized = _expect_name(group, ctx, (*base, group), "dependency group")
        if normalized in raw:
            raise ctx.error(
                f"group {group!r} is defined twice (names are compared normalized)",
                (*base, group),
                hint="merge the two lists under one name",
            )
        raw[normalized] = (group, _expect_list(items, ctx, (*base, group)))

    resolved: dict[str, tuple[Requirement, ...]] = {}

    def expand(normalized: str, chain: tuple[str, ...]) -> tuple[Requirement, ...]:
        if normalized in resolved:
            return resolved[normalized]
        written, items = raw[normalized]
        out: list[Requirement] = []
        for index, item in enumerate(items):
            key: KeyPath = (*base, written, index)
            if isinstance(item, str):
                out.append(_expect_requirement(item, ctx, key))
                continue
            entry = _expect_table(item, ctx, key)
            if set(entry) != {"include-group"}:
                raise ctx.error(
                    "not a requirement string or an include-group table",
                    key,
                    hint='write "torch>=2.4" or { include-group = "name" } (PEP 735)',
                )
            target = _expect_str(entry["include-group"], ctx, (*key, "include-group"))
            target_norm = str(canonicalize_name(target))
            if target_norm not in raw:
                raise ctx.error(
                    f"includes unknown group {target!r}",
                    (*key, "include-group"),
                    hint="define it under [dependency-groups]",
                )
            if target_norm in chain or target_norm == normalized:
                cycle = " -> ".join([*chain, normalized, target_norm])
                raise ctx.error(
                    f"dependency groups include each other: {cycle}",
                    (*key, "include-group"),
                    hint="remove one include-group to break the cycle",
                )
            out.extend(expand(target_norm, (*chain, normalized)))
        resolved[normalized] = tuple(_dedupe_reqs(out))
        return resolved[normalized]

    for normalized in raw:
        expand(normalized, ())
    return resolved


def _parse_tool(
    table: dict[str, Any], ctx: _Ctx, base: KeyPath
) -> tuple[ToolConfig, tuple[str, ...]]:
    warnings: list[str] = []
    values: dict[str, Any] = {}
    where = "[" + ".".join(str(p) for p in base) + "]"
    for key, value in table.items():
        path: KeyPath = (*base, key)
        if key in UV_KNOWN_KEYS:
            line = _locate(ctx.lines, path)
            location = f"{ctx.path}:{line}" if line else ctx.path
            warnings.append(f"{location}: `{key}` in {where} is not used by torchup; ignoring it")
            continue
        if key not in RESOLUTION_KEYS and key not in TORCHUP_KEYS:
            raise _unknown_key(ctx, path, RESOLUTION_KEYS | TORCHUP_KEYS | UV_KNOWN_KEYS, where)
        values[key] = value

    def get(key: str, parse: Callable[[object, _Ctx, KeyPath], Any]) -> Any:
        if key not in values:
            return None
        return parse(values[key], ctx, (*base, key))

    indexes: tuple[IndexConfig, ...] = ()
    if "index" in values:
        indexes = _parse_indexes(values["index"], ctx, (*base, "index"), warnings)
    sources: dict[str, tuple[SourceConfig, ...]] = {}
    if "sources" in values:
        sources = _parse_sources(values["sources"], ctx, (*base, "sources"))
    conflicts: tuple[tuple[ConflictItem, ...], ...] = ()
    if "conflicts" in values:
        conflicts = _parse_conflicts(values["conflicts"], ctx, (*base, "conflicts"))

    def choice(options: Any) -> Callable[[object, _Ctx, KeyPath], str]:
        return lambda v, c, k: _expect_choice(v, c, k, get_args(options))

    default_groups: tuple[str, ...] | Literal["all"] | None = None
    if "default-groups" in values:
        key_path: KeyPath = (*base, "default-groups")
        raw = values["default-groups"]
        if raw == "all":
            default_groups = "all"
        elif isinstance(raw, list):
            default_groups = tuple(
                _expect_name(item, ctx, (*key_path, i), "dependency group")
                for i, item in enumerate(raw)
            )
        else:
            raise ctx.type_error(key_path, 'an array of group names or "all"', raw)

    backends: tuple[str, ...] = ()
    if "torch-backends" in values:
        key_path = (*base, "torch-backends")
        items = _expect_list(values["torch-backends"], ctx, key_path)
        backends = tuple(_expect_backend(v, ctx, (*key_path, i)) for i, v in enumerate(items))

    extra_index_urls: tuple[str, ...] = ()
    if "extra-index-url" in values:
        key_path = (*base, "extra-index-url")
        raw = values["extra-index-url"]
        if isinstance(raw, str):
            # The seed-003 trap: uv wants a list here; say so instead of failing far away.
            raise ctx.type_error(key_path, f'an array of URLs (["{raw}"])', raw)
        items = _expect_list(raw, ctx, key_path)
        extra_index_urls = tuple(
            _expect_url(v, ctx, (*key_path, i), allow_path=True) for i, v in enumerate(items)
        )
    find_links: tuple[str, ...] = ()
    if "find-links" in values:
        key_path = (*base, "find-links")
        items = _expect_list(values["find-links"], ctx, key_path)
        find_links = tuple(
            _expect_url(v, ctx, (*key_path, i), allow_path=True) for i, v in enumerate(items)
        )

    no_isolation_packages: tuple[str, ...] = ()
    if "no-build-isolation-package" in values:
        key_path = (*base, "no-build-isolation-package")
        items = _expect_list(values["no-build-isolation-package"], ctx, key_path)
        no_isolation_packages = tuple(
            _expect_name(v, ctx, (*key_path, i), "package") for i, v in enumerate(items)
        )

    extra_build: dict[str, tuple[ExtraBuildRequirement, ...]] = {}
    if "extra-build-dependencies" in values:
        extra_build = _parse_extra_build(
            values["extra-build-dependencies"], ctx, (*base, "extra-build-dependencies")
        )

    dependency_metadata: tuple[DependencyMetadata, ...] = ()
    if "dependency-metadata" in values:
        dependency_metadata = _parse_dependency_metadata(
            values["dependency-metadata"], ctx, (*base, "dependency-metadata")
        )

    cache_keys: tuple[CacheKey, ...] | None = None
    if "cache-keys" in values:
        cache_keys = _parse_cache_keys(values["cache-keys"], ctx, (*base, "cache-keys"))

    tool = ToolConfig(
        indexes=indexes,
        index_url=get("index-url", lambda v, c, k: _expect_url(v, c, k, allow_path=True)),
        extra_index_urls=extra_index_urls,
        no_index=get("no-index", _expect_bool),
        find_links=find_links,
        sources=sources,
        conflicts=conflicts,
        environments=get("environments", _expect_markers) or (),
        required_environments=get("required-environments", _expect_markers) or (),
        index_strategy=get("index-strategy", choice(IndexStrategy)),
        prerelease=get("prerelease", choice(PrereleaseMode)),
        resolution=get("resolution", choice(ResolutionMode)),
        override_dependencies=get("override-dependencies", _expect_requirements) or (),
        constraint_dependencies=get("constraint-dependencies", _expect_requirements) or (),
        build_constraint_dependencies=get("build-constraint-dependencies", _expect_requirements)
        or (),
        dev_dependencies=get("dev-dependencies", _expect_requirements) or (),
        exclude_newer=get("exclude-newer", _expect_timestamp),
        default_groups=default_groups,
        package=get("package", _expect_bool),
        no_build_isolation=get("no-build-isolation", _expect_bool),
        no_build_isolation_package=no_isolation_packages,
        extra_build_dependencies=extra_build,
        cache_keys=cache_keys,
        dependency_metadata=dependency_metadata,
        torch_backend=get("torch-backend", _expect_backend),
        torch_backends=backends,
        torch_channel=get("torch-channel", choice(TorchChannel)),
        torch_index_url=get("torch-index-url", _expect_url),
    )
    return tool, tuple(warnings)


def _parse_cache_keys(value: object, ctx: _Ctx, key: KeyPath) -> tuple[CacheKey, ...]:
    """``[{ file = "requirements/*.txt" }, { env = "BUILD_CUDA" }, { git = { commit = true } }]``."""
    out: list[CacheKey] = []
    for i, entry in enumerate(_expect_list(value, ctx, key)):
        entry_key: KeyPath = (*key, i)
        table = _expect_table(entry, ctx, entry_key)
        kinds = [k for k in ("file", "dir", "env", "git") if k in table]
        if len(kinds) != 1 or len(table) != 1:
            raise ctx.error(
                "a cache key is one of { file = \"GLOB\" }, { dir = \"PATH\" }, "
                "{ env = \"NAME\" }, { git = { commit = true } }",
                entry_key,
                hint='e.g. cache-keys = [{ file = "pyproject.toml" }, { file = "requirements.txt" }]',
            )
        kind = kinds[0]
        if kind == "git":
            out.append(CacheKey("git"))  # commit or tags: the commit covers both here
        else:
            out.append(CacheKey(kind, _expect_str(table[kind], ctx, (*entry_key, kind))))  # type: ignore[arg-type]
    return tuple(out)


def _parse_dependency_metadata(
    value: object, ctx: _Ctx, key: KeyPath
) -> tuple[DependencyMetadata, ...]:
    """``[[tool.uv.dependency-metadata]]``: name, version (optional), requires-dist,
    requires-python, provides-extras, as uv reads them."""
    allowed = {"name", "version", "requires-dist", "requires-python", "provides-extras"}
    out = []
    for i, entry in enumerate(_expect_list(value, ctx, key)):
        entry_key: KeyPath = (*key, i)
        table = _expect_table(entry, ctx, entry_key)
        unknown = sorted(set(table) - allowed)
        if unknown or "name" not in table:
            raise ctx.error(
                f"a dependency-metadata entry has {', '.join(sorted(allowed))}"
                + (f"; not {', '.join(unknown)}" if unknown else "; `name` is missing"),
                entry_key,
                hint='e.g. { name = "flash-attn", version = "2.6.3", requires-dist = ["torch", "einops"] }',
            )
        version = None
        if "version" in table:
            version = _expect_version(table["version"], ctx, (*entry_key, "version"))
        requires_python = None
        if "requires-python" in table:
            requires_python = _expect_specifiers(
                table["requires-python"], ctx, (*entry_key, "requires-python")
            )
        extras_key: KeyPath = (*entry_key, "provides-extras")
        out.append(
            DependencyMetadata(
                name=_expect_name(table["name"], ctx, (*entry_key, "name"), "package"),
                version=version,
                requires_dist=_expect_requirements(
                    table.get("requires-dist", []), ctx, (*entry_key, "requires-dist")
                ),
                requires_python=requires_python,
                provides_extras=tuple(
                    _expect_name(e, ctx, (*extras_key, j), "extra")
                    for j, e in enumerate(_expect_list(table.get("provides-extras", []), ctx, extras_key))
                ),
            )
        )
    return tuple(out)


def _parse_extra_build(
    value: object, ctx: _Ctx, key: KeyPath
) -> dict[str, tuple[ExtraBuildRequirement, ...]]:
    """``{ flash-attn = ["ninja", { requirement = "torch", match-runtime = true }] }``."""
    out: dict[str, tuple[ExtraBuildRequirement, ...]] = {}
    for package, entries in _expect_table(value, ctx, key).items():
        package_key: KeyPath = (*key, package)
        name = _expect_name(package, ctx, package_key, "package")
        parsed: list[ExtraBuildRequirement] = []
        for i, entry in enumerate(_expect_list(entries, ctx, package_key)):
            entry_key: KeyPath = (*package_key, i)
            if isinstance(entry, str):
                parsed.append(ExtraBuildRequirement(_expect_requirement(entry, ctx, entry_key)))
                continue
            table = _expect_table(entry, ctx, entry_key)
            unknown = set(table) - {"requirement", "match-runtime"}
            if unknown or "requirement" not in table:
                raise ctx.error(
                    "an extra build dependency is a requirement string or "
                    "{ requirement = \"...\", match-runtime = true }",
                    entry_key,
                    hint='e.g. flash-attn = [{ requirement = "torch", match-runtime = true }]',
                )
            requirement = _expect_requirement(table["requirement"], ctx, (*entry_key, "requirement"))
            match_runtime = _expect_bool(
                table.get("match-runtime", False), ctx, (*entry_key, "match-runtime")
            )
            if match_runtime and (requirement.specifier or requirement.url):
                # The version is the environment's: a range or URL next to it could only
                # disagree with it (uv refuses these too).
                raise ctx.error(
                    f"`{requirement}` has match-runtime = true, so its version is the one "
                    "installed in the environment; it cannot carry a version range or a URL",
                    (*entry_key, "requirement"),
                    hint=f'write {{ requirement = "{requirement.name}", match-runtime = true }}, '
                    "and constrain the version in the project's dependencies",
                )
            parsed.append(ExtraBuildRequirement(requirement, match_runtime))
        out[name] = tuple(parsed)
    return out


def _parse_index(table: dict[str, Any], ctx: _Ctx, key: KeyPath) -> tuple[IndexConfig, list[str]]:
    warnings: list[str] = []
    for written in table:
        if written in _INDEX_UV_KEYS and written not in ("authenticate", "ignore-error-codes"):
            warnings.append(f"`{_dotted((*key, written))}` is not used by torchup; ignoring it")
        elif written not in _INDEX_KEYS and written not in _INDEX_UV_KEYS:
            raise _unknown_key(ctx, (*key, written), _INDEX_KEYS | _INDEX_UV_KEYS, "an index entry")
    if "url" not in table:
        raise ctx.error(
            "an index needs a `url`",
            key,
            hint='add url = "https://download.pytorch.org/whl/cu128" (for example)',
        )
    url = _expect_url(table["url"], ctx, (*key, "url"), allow_path=True)
    name: str | None = None
    if "name" in table:
        name = _expect_str(table["name"], ctx, (*key, "name"))
        if not _INDEX_NAME_RE.fullmatch(name):
            raise ctx.error(
                f"invalid index name {name!r}",
                (*key, "name"),
                hint="use letters, digits, '-', '_' and '.'",
            )
    explicit = _expect_bool(table.get("explicit", False), ctx, (*key, "explicit"))
    if explicit and name is None:
        raise ctx.error(
            "an explicit index needs a `name` so that sources can refer to it",
            (*key, "explicit"),
            hint='add name = "pytorch-cu128" (for example)',
        )
    fmt = _expect_choice(table.get("format", "simple"), ctx, (*key, "format"), ("simple", "flat"))
    torch_index = (
        _expect_bool(table["torch-index"], ctx, (*key, "torch-index"))
        if "torch-index" in table
        else None
    )
    authenticate = (
        _expect_choice(table["authenticate"], ctx, (*key, "authenticate"), get_args(Authenticate))
        if "authenticate" in table
        else None
    )
    codes: tuple[int, ...] = ()
    if "ignore-error-codes" in table:
        code_key: KeyPath = (*key, "ignore-error-codes")
        items = _expect_list(table["ignore-error-codes"], ctx, code_key)
        for i, item in enumerate(items):
            if not isinstance(item, int) or isinstance(item, bool) or not 100 <= item <= 599:
                raise ctx.type_error((*code_key, i), "an HTTP status code", item)
        codes = tuple(items)
    index = IndexConfig(
        url=url,
        name=name,
        explicit=explicit,
        default=_expect_bool(table.get("default", False), ctx, (*key, "default")),
        format=cast(IndexFormat, fmt),
        torch_index=torch_index,
        authenticate=cast("Authenticate | None", authenticate),
        ignore_error_codes=codes,
    )
    return index, warnings


def _parse_indexes(
    value: object, ctx: _Ctx, key: KeyPath, warnings: list[str]
) -> tuple[IndexConfig, ...]:
    items = _expect_list(value, ctx, key)
    out: list[IndexConfig] = []
    names: dict[str, int] = {}
    default_at: int | None = None
    for i, item in enumerate(items):
        index, index_warnings = _parse_index(_expect_table(item, ctx, (*key, i)), ctx, (*key, i))
        warnings.extend(f"{ctx.path}: {w}" for w in index_warnings)
        if index.name is not None:
            if index.name in names:
                raise ctx.error(
                    f"index name {index.name!r} is already used by index {names[index.name]}",
                    (*key, i, "name"),
                    hint="give every index a distinct name",
                )
            names[index.name] = i
        if index.default:
            if default_at is not None:
                raise ctx.error(
                    f"only one index can be the default (index {default_at} already is)",
                    (*key, i, "default"),
                    hint="remove `default = true` from one of them",
                )
            default_at = i
        out.append(index)
    return tuple(out)


def _parse_source(table: dict[str, Any], ctx: _Ctx, key: KeyPath) -> SourceConfig:
    for name in table:
        if name not in _SOURCE_KEYS:
            raise _unknown_key(ctx, (*key, name), _SOURCE_KEYS, "a source entry")
    kinds = [k for k in _SOURCE_KINDS if k in table]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise ctx.error(
            f"a source needs exactly one of index, url, path, git, workspace (found: {found})",
            key,
            hint='for a PyTorch index write { index = "pytorch-cu128" }',
        )
    kind = kinds[0]
    values: dict[str, Any] = {}
    for name in ("index", "url", "path", "git", "rev", "tag", "branch", "subdirectory", "extra"):
        if name in table:
            values[name] = _expect_str(table[name], ctx, (*key, name))
    for name in ("workspace", "editable", "package", "lfs"):
        if name in table:
            values[name] = _expect_bool(table[name], ctx, (*key, name))
    if "group" in table:
        values["group"] = _expect_str(table["group"], ctx, (*key, "group"))
    if "extra" in values:
        values["extra"] = _expect_name(values["extra"], ctx, (*key, "extra"), "extra")
    if "group" in values:
        values["group"] = _expect_name(values["group"], ctx, (*key, "group"), "dependency group")
    if "extra" in values and "group" in values:
        raise ctx.error(
            "a source can name an `extra` or a `group`, not both",
            (*key, "group"),
            hint="split it into two source entries",
        )
    git_only = [k for k in ("rev", "tag", "branch", "lfs") if k in values]
    if git_only and kind != "git":
        raise ctx.error(
            f"`{git_only[0]}` only applies to git sources",
            (*key, git_only[0]),
            hint=f'remove `{git_only[0]}` or use git = "https://..."',
        )
    refs = [k for k in ("rev", "tag", "branch") if k in values]
    if len(refs) > 1:
        raise ctx.error(
            f"give one of rev, tag, branch (found {', '.join(refs)})",
            (*key, refs[1]),
            hint="keep the one you mean and remove the others",
        )
    if "subdirectory" in values and kind not in ("url", "git"):
        raise ctx.error(
            "`subdirectory` only applies to url and git sources",
            (*key, "subdirectory"),
            hint="for a path source, point `path` at the subdirectory itself",
        )
    for name in ("editable", "package"):
        if name in values and kind not in ("path", "workspace"):
            raise ctx.error(
                f"`{name}` only applies to path and workspace sources",
                (*key, name),
                hint=f"remove `{name}`",
            )
    if kind == "url":
        values["url"] = _expect_url(values["url"], ctx, (*key, "url"))
    if kind == "git":
        git = values["git"]
        if not (_URL_RE.match(git) or git.startswith("git@")):
            raise ctx.error(
                f"expected a git URL, got {git!r}",
                (*key, "git"),
                hint='write git = "https://github.com/owner/repo"',
            )
    marker = _expect_marker(table["marker"], ctx, (*key, "marker")) if "marker" in table else None
    return SourceConfig(kind=cast(Any, kind), marker=marker, **values)


def _parse_sources(value: object, ctx: _Ctx, key: KeyPath) -> dict[str, tuple[SourceConfig, ...]]:
    table = _expect_table(value, ctx, key)
    out: dict[str, tuple[SourceConfig, ...]] = {}
    for package, entry in table.items():
        package_key: KeyPath = (*key, package)
        name = _expect_name(package, ctx, package_key, "package")
        if name in out:
            raise ctx.error(
                f"sources for {package!r} are given twice (names are compared normalized)",
                package_key,
                hint="merge them into one list of sources",
            )
        if isinstance(entry, list):
            if not entry:
                raise ctx.error(
                    "an empty list of sources",
                    package_key,
                    hint='remove the entry or add a source such as { index = "pytorch-cu128" }',
                )
            entries = tuple(
                _parse_source(_expect_table(item, ctx, (*package_key, i)), ctx, (*package_key, i))
                for i, item in enumerate(entry)
            )
            if len(entries) > 1:
                for i, source in enumerate(entries):
                    if source.marker is None and source.extra is None and source.group is None:
                        raise ctx.error(
                            "with several sources, each needs a `marker`, `extra` or `group`",
                            (*package_key, i),
                            hint="say when each source applies, e.g. "
                            "marker = \"sys_platform == 'linux'\"",
                        )
            out[name] = entries
        elif isinstance(entry, dict):
            out[name] = (_parse_source(entry, ctx, package_key),)
        else:
            raise ctx.type_error(package_key, "a table or an array of tables", entry)
    return out


def _parse_conflicts(
    value: object, ctx: _Ctx, key: KeyPath
) -> tuple[tuple[ConflictItem, ...], ...]:
    groups = _expect_list(value, ctx, key)
    out: list[tuple[ConflictItem, ...]] = []
    for i, group in enumerate(groups):
        items = _expect_list(group, ctx, (*key, i))
        if len(items) < 2:
            raise ctx.error(
                "a conflict set needs at least two items",
                (*key, i),
                hint='write [{ extra = "cpu" }, { extra = "cu128" }]',
            )
        members: list[ConflictItem] = []
        for j, item in enumerate(items):
            item_key: KeyPath = (*key, i, j)
            table = _expect_table(item, ctx, item_key)
            for name in table:
                if name not in ("extra", "group", "package"):
                    raise _unknown_key(
                        ctx, (*item_key, name), ("extra", "group", "package"), "a conflict item"
                    )
            if ("extra" in table) == ("group" in table):
                raise ctx.error(
                    "a conflict item names exactly one `extra` or `group`",
                    item_key,
                    hint='write { extra = "cpu" } or { group = "cu128" }',
                )
            extra = (
                _expect_name(table["extra"], ctx, (*item_key, "extra"), "extra")
                if "extra" in table
                else None
            )
            group = (
                _expect_name(table["group"], ctx, (*item_key, "group"), "dependency group")
                if "group" in table
                else None
            )
            package = (
                _expect_name(table["package"], ctx, (*item_key, "package"), "package")
                if "package" in table
                else None
            )
            members.append(ConflictItem(extra=extra, group=group, package=package))
        out.append(tuple(members))
    return tuple(out)


def _check_cross_references(
    tool: ToolConfig,
    extras: Mapping[str, object],
    groups: Mapping[str, object],
    ctx: _Ctx,
    base: KeyPath,
) -> None:
    """Sources and conflicts must refer to indexes, extras and groups that exist."""
    index_names = {i.name for i in tool.indexes if i.name}
    source_keys = {str(canonicalize_name(str(k))): k for k in _raw_keys(ctx, (*base, "sources"))}
    for package, entries in tool.sources.items():
        written = source_keys.get(package, package)
        for i, source in enumerate(entries):
            key: KeyPath = (*base, "sources", written)
            if len(entries) > 1 or (*key, 0) in ctx.lines:
                key = (*key, i)
            if source.index is not None and source.index not in index_names:
                known = ", ".join(sorted(index_names)) or "none are defined"
                raise ctx.error(
                    f"source for {package!r} names index {source.index!r}, which is not defined",
                    (*key, "index"),
                    hint=f"add a [[{'.'.join(map(str, base))}.index]] with that name "
                    f"(defined: {known})",
                )
            if source.extra is not None and source.extra not in extras:
                raise ctx.error(
                    f"source for {package!r} names extra {source.extra!r}, which is not defined",
                    (*key, "extra"),
                    hint="add it to [project.optional-dependencies]",
                )
            if source.group is not None and source.group not in groups:
                raise ctx.error(
                    f"source for {package!r} names group {source.group!r}, which is not defined",
                    (*key, "group"),
                    hint="add it to [dependency-groups]",
                )
    for i, conflict in enumerate(tool.conflicts):
        for j, item in enumerate(conflict):
            if item.package is not None:
                continue  # another workspace member's extras are not known here
            if item.extra is not None and item.extra not in extras:
                raise ctx.error(
                    f"conflict names extra {item.extra!r}, which is not defined",
                    (*base, "conflicts", i, j, "extra"),
                    hint="add it to [project.optional-dependencies]",
                )
            if item.group is not None and item.group not in groups:
                raise ctx.error(
                    f"conflict names group {item.group!r}, which is not defined",
                    (*base, "conflicts", i, j, "group"),
                    hint="add it to [dependency-groups]",
                )


def _raw_keys(ctx: _Ctx, prefix: KeyPath) -> list[str]:
    """Keys written directly under ``prefix`` (as spelled in the file)."""
    n = len(prefix)
    return [
        str(path[n])
        for path in ctx.lines
        if len(path) > n and path[:n] == prefix and isinstance(path[n], str)
    ]


# --------------------------------------------------------------------------------------------
# setup.cfg
# --------------------------------------------------------------------------------------------


def read_setup_cfg(text: str, path: str = "setup.cfg") -> ProjectConfig:
    """The static metadata of a setuptools ``setup.cfg``: name, version, python_requires,
    ``[options] install_requires`` and ``[options.extras_require]``.

    Values using ``file:`` or ``attr:`` directives cannot be read without running setuptools;
    they are reported in ``dynamic`` instead.
    """
    # configparser is imported here: only a setup.cfg project reads it.
    from configparser import ConfigParser
    from configparser import Error as ConfigParserError

    parser = ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text, source=path)
    except ConfigParserError as exc:
        line = getattr(exc, "lineno", None)
        errors = getattr(exc, "errors", None)
        if line is None and errors:
            line = errors[0][0]
        raise ConfigError(
            f"invalid setup.cfg: {str(exc).splitlines()[0]}",
            path=path,
            line=line,
            hint="fix the INI syntax at that line",
        ) from None

    def line_of(section: str, key: str, needle: str | None = None) -> int | None:
        return _ini_line(text, section, key, needle)

    def error(message: str, section: str, key: str, needle: str | None = None) -> ConfigError:
        return ConfigError(
            message,
            path=path,
            line=line_of(section, key, needle),
            key=f"{section}.{key}",
            hint="write one PEP 508 requirement per line",
        )

    dynamic: list[str] = []

    def get(section: str, key: str) -> str | None:
        if not parser.has_option(section, key):
            return None
        value = parser.get(section, key).strip()
        if value.startswith(("file:", "attr:")):
            dynamic.append(key.replace("_", "-"))
            return None
        return value

    def requirements(section: str, key: str, value: str) -> tuple[Requirement, ...]:
        out = []
        for raw in value.splitlines():
            item = raw.split(" #", 1)[0].strip()
            if not item or item.startswith("#"):
                continue
            try:
                out.append(Requirement(item))
            except InvalidRequirement as exc:
                raise error(
                    f"invalid requirement {item!r}: {str(exc).splitlines()[0]}", section, key, item
                ) from None
        return tuple(out)

    name = get("metadata", "name")
    version = get("metadata", "version")
    requires_python: SpecifierSet | None = None
    python_requires = get("options", "python_requires")
    if python_requires:
        try:
            requires_python = SpecifierSet(python_requires)
        except InvalidSpecifier:
            raise error(
                f"invalid python_requires {python_requires!r}", "options", "python_requires"
            ) from None
    install_requires = get("options", "install_requires")
    dependencies = (
        requirements("options", "install_requires", install_requires) if install_requires else ()
    )
    optional: dict[str, tuple[Requirement, ...]] = {}
    if parser.has_section("options.extras_require"):
        for extra in parser.options("options.extras_require"):
            value = get("options.extras_require", extra)
            if value is None:
                continue
            normalized = str(canonicalize_name(extra))
            optional[normalized] = requirements("options.extras_require", extra, value)
    return ProjectConfig(
        path=path,
        name=name,
        version=version,
        requires_python=requires_python,
        dependencies=dependencies,
        optional_dependencies=optional,
        dynamic=tuple(dict.fromkeys(dynamic)),
    )


def _ini_line(text: str, section: str, key: str, needle: str | None) -> int | None:
    """Line of ``key`` (or of ``needle`` in its value) inside ``[section]``."""
    in_section = False
    key_line: int | None = None
    key_re = re.compile(rf"^{re.escape(key)}\s*[=:]", re.IGNORECASE)
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if key_line is not None:
                break
            in_section = stripped[1:-1].strip() == section
            continue
        if not in_section:
            continue
        if key_line is None:
            if key_re.match(stripped):
                key_line = number
                if needle is None or needle in line.split("=", 1)[-1]:
                    return number
        elif needle is not None and needle in line:
            return number
        elif line and not line[0].isspace():
            break
    return key_line


# --------------------------------------------------------------------------------------------
# Environment variables
# --------------------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


@dataclass(frozen=True)
class Settings:
    """Settings from environment variables (``TORCHUP_*`` plus the usual standard ones).

    None (or an empty tuple) means the variable was not set; an empty value counts as unset.
    """

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    default_index: str | None = None
    indexes: tuple[IndexConfig, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool | None = None
    index_strategy: IndexStrategy | None = None
    prerelease: PrereleaseMode | None = None
    resolution: ResolutionMode | None = None
    exclude_newer: datetime | None = None
    cache_dir: str | None = None
    no_cache: bool | None = None
    offline: bool | None = None
    torch_backend: str | None = None
    torch_channel: TorchChannel | None = None
    torch_index_url: str | None = None
    http_retries: int | None = None
    http_timeout: float | None = None
    cuda_driver_version: str | None = None
    gpu_compute_capability: str | None = None
    amd_gpu_arch: tuple[str, ...] = ()
    ssl_cert_file: str | None = None
    netrc: str | None = None
    http_proxy: str | None = None
    https_proxy: str | None = None
    all_proxy: str | None = None
    no_proxy: str | None = None
    virtual_env: str | None = None
    no_color: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate settings from ``env`` (pass ``os.environ`` at the edge).

        Raises ConfigError naming the variable and the value it rejected.
        """

        def raw(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        def url(name: str) -> str | None:
            value = raw(name)
            if value is not None and not (_URL_RE.match(value) or _looks_like_path(value)):
                raise _env_error(name, value, "a URL", "https://download.pytorch.org/whl/cu128")
            return value

        def flag(name: str) -> bool | None:
            value = raw(name)
            if value is None:
                return None
            if value.lower() in _TRUE:
                return True
            if value.lower() in _FALSE:
                return False
            raise _env_error(name, value, "a boolean", "1 or 0")

        def choice(name: str, options: Any) -> Any:
            value = raw(name)
            if value is not None and value not in get_args(options):
                raise _env_error(name, value, "one of " + ", ".join(get_args(options)), None)
            return value

        def proxy(name: str) -> str | None:
            # Lower case wins, as in curl and most Python HTTP clients.
            return raw(name.lower()) or raw(name)

        extra = tuple((raw("TORCHUP_EXTRA_INDEX_URL") or "").split())
        for item in extra:
            if not (_URL_RE.match(item) or _looks_like_path(item)):
                raise _env_error("TORCHUP_EXTRA_INDEX_URL", item, "space-separated URLs", None)
        find_links_raw = raw("TORCHUP_FIND_LINKS")
        find_links = (
            tuple(p.strip() for p in find_links_raw.split(",") if p.strip())
            if find_links_raw
            else ()
        )

        backend = raw("TORCHUP_TORCH_BACKEND")
        if backend is not None:
            backend = backend.lower()
            if not TORCH_BACKEND_RE.fullmatch(backend):
                raise _env_error(
                    "TORCHUP_TORCH_BACKEND", backend, "a torch backend", "auto, cpu, cu128, rocm6.4"
                )
        exclude_newer = None
        if (value := raw("TORCHUP_EXCLUDE_NEWER")) is not None:
            try:
                exclude_newer = parse_timestamp(value)
            except ValueError:
                raise _env_error(
                    "TORCHUP_EXCLUDE_NEWER", value, "an RFC 3339 timestamp", "2024-06-01T00:00:00Z"
                ) from None
        retries = None
        if (value := raw("TORCHUP_HTTP_RETRIES")) is not None:
            if not re.fullmatch(r"[0-9]{1,6}", value):
                raise _env_error("TORCHUP_HTTP_RETRIES", value, "a whole number >= 0", "3")
            retries = int(value)
        timeout = None
        if (value := raw("TORCHUP_HTTP_TIMEOUT")) is not None:
            try:
                timeout = float(value)
            except ValueError:
                timeout = -1.0
            if not timeout > 0 or timeout != timeout or timeout == float("inf"):
                raise _env_error("TORCHUP_HTTP_TIMEOUT", value, "a number of seconds > 0", "30")
        driver = raw("TORCHUP_CUDA_DRIVER_VERSION")
        if driver is not None and not re.fullmatch(r"\d+(\.\d+){0,2}", driver, re.ASCII):
            raise _env_error(
                "TORCHUP_CUDA_DRIVER_VERSION", driver, "an NVIDIA driver version", "550.54.14"
            )
        capability = raw("TORCHUP_GPU_COMPUTE_CAPABILITY")
        if capability is not None and not re.fullmatch(r"\d+\.\d+", capability, re.ASCII):
            raise _env_error(
                "TORCHUP_GPU_COMPUTE_CAPABILITY", capability, "a compute capability", "8.6"
            )
        arch_raw = raw("TORCHUP_AMD_GPU_ARCH")
        arches: tuple[str, ...] = ()
        if arch_raw is not None:
            arches = tuple(a.strip().lower() for a in arch_raw.split(",") if a.strip())
            for arch in arches:
                if not re.fullmatch(r"gfx[0-9a-f]{3,4}", arch):
                    raise _env_error("TORCHUP_AMD_GPU_ARCH", arch, "an AMD GPU target", "gfx90a")
        indexes: list[IndexConfig] = []
        for item in (raw("TORCHUP_INDEX") or "").split():
            name, sep, index_url = item.partition("=")
            if not sep or _URL_RE.match(item):
                name, index_url = "", item
            if not (_URL_RE.match(index_url) or _looks_like_path(index_url)) or (
                name and not _INDEX_NAME_RE.fullmatch(name)
            ):
                raise _env_error(
                    "TORCHUP_INDEX", item, "space-separated `name=url` or `url` items", None
                )
            indexes.append(IndexConfig(url=index_url, name=name or None))
        return cls(
            index_url=url("TORCHUP_INDEX_URL"),
            extra_index_urls=extra,
            default_index=url("TORCHUP_DEFAULT_INDEX"),
            indexes=tuple(indexes),
            find_links=find_links,
            no_index=flag("TORCHUP_NO_INDEX"),
            index_strategy=choice("TORCHUP_INDEX_STRATEGY", IndexStrategy),
            prerelease=choice("TORCHUP_PRERELEASE", PrereleaseMode),
            resolution=choice("TORCHUP_RESOLUTION", ResolutionMode),
            exclude_newer=exclude_newer,
            cache_dir=raw("TORCHUP_CACHE_DIR"),
            no_cache=flag("TORCHUP_NO_CACHE"),
            offline=flag("TORCHUP_OFFLINE"),
            torch_backend=backend,
            torch_channel=choice("TORCHUP_TORCH_CHANNEL", TorchChannel),
            torch_index_url=url("TORCHUP_TORCH_INDEX_URL"),
            http_retries=retries,
            http_timeout=timeout,
            cuda_driver_version=driver,
            gpu_compute_capability=capability,
            amd_gpu_arch=arches,
            ssl_cert_file=raw("SSL_CERT_FILE"),
            netrc=raw("NETRC"),
            http_proxy=proxy("HTTP_PROXY"),
            https_proxy=proxy("HTTPS_PROXY"),
            all_proxy=proxy("ALL_PROXY"),
            no_proxy=proxy("NO_PROXY"),
            virtual_env=raw("VIRTUAL_ENV"),
            # no-color.org: any non-empty value disables colour.
            no_color=bool(env.get("NO_COLOR")),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of the settings that are set."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is None or value == () or (name == "no_color" and not value):
                continue
            if name == "indexes":
                value = [i.to_dict() for i in value]
            elif isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        if "indexes" in values:
            values["indexes"] = tuple(IndexConfig.from_dict(i) for i in values["indexes"])
        if "exclude_newer" in values:
            values["exclude_newer"] = parse_timestamp(values["exclude_newer"])
        for name in ("extra_index_urls", "find_links", "amd_gpu_arch"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


def _looks_like_path(value: str) -> bool:
    """A local path as written in config: relative (./, ../), absolute, home, or Windows."""
    return value.startswith((".", "/", "~")) or bool(re.match(r"^[A-Za-z]:[\\/]", value))


def _env_error(name: str, value: str, expected: str, example: str | None) -> ConfigError:
    hint = (
        f"set {name} to {expected}, e.g. {name}={example}"
        if example
        else f"set {name} to {expected}"
    )
    return ConfigError(
        f"environment variable {name}={value!r} is not {expected}", key=name, hint=hint
    )


# --------------------------------------------------------------------------------------------
# Editing pyproject.toml (tomlkit keeps comments and formatting)
# --------------------------------------------------------------------------------------------


def _tomlkit_parse(text: str, path: str) -> Any:
    import tomlkit  # imported lazily: only `add`/`remove` need it
    from tomlkit.exceptions import ParseError

    parse_toml(text, path)  # same error message as everywhere else for broken TOML
    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigError(
            f"invalid TOML: {exc}",
            path=path,
            line=getattr(exc, "line", None),
            hint="fix the TOML syntax at that line",
        ) from None


def _table(container: Any, key: str, path: str, where: str) -> Any:
    import tomlkit
    from tomlkit.items import AoT, Array

    if key not in container:
        container[key] = tomlkit.table()
    value = container[key]
    if isinstance(value, (AoT, Array)) or not hasattr(value, "keys"):
        raise ConfigError(
            f"`{where}` is not a table",
            path=path,
            key=where,
            hint=f"torchup edits `{where}` as a table; fix it by hand first",
        )
    return value


def _dependency_array(
    doc: Any, extra: str | None, group: str | None, path: str, create: bool
) -> Any:
    import tomlkit
    from tomlkit.items import Array

    if extra is not None and group is not None:
        raise ConfigError(
            "give an extra or a group, not both", path=path, hint="pass only one of them"
        )
    if extra is not None:
        _check_name(extra, "extra", path)
    if group is not None:
        _check_name(group, "dependency group", path)
    if group is not None:
        groups = (
            _table(doc, "dependency-groups", path, "dependency-groups")
            if create
            else doc.get("dependency-groups")
        )
        container, key, where = groups, _find_key(groups, group), f"dependency-groups.{group}"
    elif extra is not None:
        project = _table(doc, "project", path, "project") if create else doc.get("project")
        optional = (
            _table(project, "optional-dependencies", path, "project.optional-dependencies")
            if create
            else (project or {}).get("optional-dependencies")
        )
        container, key, where = (
            optional,
            _find_key(optional, extra),
            (f"project.optional-dependencies.{extra}"),
        )
    else:
        project = _table(doc, "project", path, "project") if create else doc.get("project")
        container, key, where = project, "dependencies", "project.dependencies"
    if container is None or (key not in container and not create):
        return None, where
    if key not in container:
        array = tomlkit.array()
        array.multiline(True)
        container[key] = array
    array = container[key]
    if not isinstance(array, Array):
        raise ConfigError(
            f"`{where}` is not an array",
            path=path,
            key=where,
            hint=f'write `{where.rsplit(".", 1)[-1]} = ["..."]`',
        )
    return array, where


def _check_name(name: str, what: str, path: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise ConfigError(
            f"invalid {what} name {name!r}",
            path=path,
            hint="names use letters, digits, '.', '-' and '_', starting and ending alphanumeric",
        )


def _find_key(container: Any, name: str) -> str:
    """The key as written in the file whose normalized form matches ``name``."""
    if container is None:
        return name
    target = canonicalize_name(name)
    for key in container:
        if canonicalize_name(str(key)) == target:
            return str(key)
    return name


def _same_requirement(item: object, name: str, marker: Marker | None) -> bool:
    try:
        req = Requirement(str(item))
    except InvalidRequirement:
        return False
    if canonicalize_name(req.name) != canonicalize_name(name):
        return False
    return marker is None or str(req.marker) == str(marker)


def add_dependency(
    doc_text: str,
    requirement: str | Requirement,
    *,
    extra: str | None = None,
    group: str | None = None,
    path: str = "pyproject.toml",
) -> str:
    """Add (or replace) a requirement in ``[project] dependencies``, an extra, or a group.

    An existing entry with the same name and marker is replaced in place, so its comment and
    position stay; otherwise the requirement is appended. Formatting elsewhere is untouched.
    """
    try:
        req = requirement if isinstance(requirement, Requirement) else Requirement(requirement)
    except InvalidRequirement as exc:
        raise RequirementError(
            f"invalid requirement {requirement!r}: {str(exc).splitlines()[0]}",
            hint="write a PEP 508 requirement such as torch>=2.4",
        ) from None
    doc = _tomlkit_parse(doc_text, path)
    array, _ = _dependency_array(doc, extra, group, path, create=True)
    text = str(req)
    replaced = False
    for index, item in enumerate(list(array)):
        if _same_requirement(item, req.name, req.marker if req.marker else None) and (
            req.marker is not None or Requirement(str(item)).marker is None
        ):
            if not replaced:
                array[index] = text
                replaced = True
    if not replaced:
        multiline = "\n" in array.as_string() or len(array) == 0
        array.append(text)
        if multiline:
            array.multiline(True)
    return str(doc.as_string())


def remove_dependency(
    doc_text: str,
    name: str,
    *,
    extra: str | None = None,
    group: str | None = None,
    path: str = "pyproject.toml",
) -> str:
    """Remove every requirement on ``name`` from dependencies, an extra or a group.

    Raises ConfigError when there is none, naming where torchup looked.
    """
    doc = _tomlkit_parse(doc_text, path)
    array, where = _dependency_array(doc, extra, group, path, create=False)
    indexes = (
        [i for i, item in enumerate(array) if _same_requirement(item, name, None)]
        if array is not None
        else []
    )
    if not indexes:
        raise ConfigError(
            f"`{name}` is not a dependency in `{where}`",
            path=path,
            key=where,
            hint="pass --optional EXTRA or --group GROUP if it is listed there",
        )
    for index in reversed(indexes):
        del array[index]
    if not len(array) and "#" not in array.as_string():  # (a comment of the user's stays)
        array.clear()  # the leftover newline too: `dependencies = []`, as uv leaves it
        array.multiline(False)
    return str(doc.as_string())


def _tool_table(doc: Any, path: str) -> tuple[Any, str]:
    """The tool table edits go to: [tool.torchup] if it exists, else [tool.uv] (read either)."""
    tool = _table(doc, "tool", path, "tool")
    name = "torchup" if "torchup" in tool else "uv"
    return _table(tool, name, path, f"tool.{name}"), name


def add_index(
    doc_text: str,
    *,
    url: str,
    name: str | None = None,
    explicit: bool = False,
    default: bool = False,
    format: IndexFormat = "simple",
    first: bool = True,
    path: str = "pyproject.toml",
) -> str:
    """Add an ``[[tool.uv.index]]`` entry (or update the one with the same name or URL).

    New entries go first by default, since earlier indexes take priority (as ``uv add
    --index`` does).
    """
    import tomlkit
    from tomlkit.items import AoT

    index = IndexConfig.from_dict(
        {
            "url": url,
            **({"name": name} if name else {}),
            "explicit": explicit,
            "default": default,
            "format": format,
        },
        path=path,
    )
    doc = _tomlkit_parse(doc_text, path)
    table, table_name = _tool_table(doc, path)
    entry = tomlkit.table()
    for key, value in index.to_dict().items():
        entry[key] = value
    if "index" not in table:
        aot = tomlkit.aot()
        aot.append(entry)
        table["index"] = aot
        return str(doc.as_string())
    aot = table["index"]
    if not isinstance(aot, AoT):
        raise ConfigError(
            f"`tool.{table_name}.index` is not an array of tables",
            path=path,
            key="index",
            hint=f"write each index as a [[tool.{table_name}.index]] table",
        )
    for existing in aot:
        same_name = name is not None and existing.get("name") == name
        same_url = existing.get("url") == url and (name is None or existing.get("name") is None)
        if same_name or same_url:
            for key in ("explicit", "default", "format"):
                if key in existing and key not in entry:
                    del existing[key]
            for key, value in entry.items():
                existing[key] = value
            return str(doc.as_string())
    entry.add(tomlkit.nl())
    if first:
        aot.insert(0, entry)
    else:
        aot.append(entry)
    return str(doc.as_string())


def set_source(
    doc_text: str,
    package: str,
    source: SourceConfig | Mapping[str, Any] | Sequence[SourceConfig | Mapping[str, Any]],
    *,
    path: str = "pyproject.toml",
) -> str:
    """Set ``[tool.uv.sources] <package>`` to one source (inline table) or several (array).

    Replaces whatever the package had, in whichever form it was written.
    """
    import tomlkit

    many = isinstance(source, Sequence) and not isinstance(source, (str, Mapping))
    items: list[Any] = list(cast(Sequence[Any], source)) if many else [source]
    sources = [
        s if isinstance(s, SourceConfig) else SourceConfig.from_dict(s, path=path) for s in items
    ]
    _check_name(package, "package", path)
    doc = _tomlkit_parse(doc_text, path)
    table, _ = _tool_table(doc, path)
    sources_table = _table(table, "sources", path, "sources")
    key = _find_key(sources_table, package)
    # Written as text and parsed back so it looks like uv's: `{ index = "x", marker = "..." }`.
    inline = [_inline_source(item) for item in sources]
    was_table = False
    if key in sources_table:
        was_table = not isinstance(
            sources_table[key], (tomlkit.items.InlineTable, tomlkit.items.Array)
        )
        del sources_table[key]
    if len(inline) == 1:
        value = tomlkit.parse(f"v = {inline[0]}\n")["v"]
    else:
        body = "".join(f"    {text},\n" for text in inline)
        value = tomlkit.parse(f"v = [\n{body}]\n")["v"]
    sources_table[key] = value
    if was_table:
        # `[[tool.uv.sources.torch]]` carried the blank line before the next table; keep one.
        sources_table.add(tomlkit.nl())
    return str(doc.as_string())


def _inline_source(source: SourceConfig) -> str:
    parts = []
    for key, value in source.to_dict().items():
        if key == "marker" and "'" not in value:
            # packaging prints markers with double quotes; uv users write single quotes.
            value = value.replace('"', "'")
        if isinstance(value, bool):
            parts.append(f"{key} = {'true' if value else 'false'}")
        else:
            parts.append(f"{key} = {_toml_basic_string(str(value))}")
    return "{ " + ", ".join(parts) + " }"


def _toml_basic_string(text: str) -> str:
    import json

    # JSON's string escapes are valid in TOML basic strings; TOML also wants DEL escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def remove_source(doc_text: str, package: str, *, path: str = "pyproject.toml") -> str:
    """Remove ``package`` from the tool table's ``sources``; unchanged text if it has none."""
    doc = _tomlkit_parse(doc_text, path)
    tool = doc.get("tool")
    if tool is None:
        return doc_text
    for name in ("torchup", "uv"):
        sources = tool.get(name, {}).get("sources") if hasattr(tool.get(name, {}), "get") else None
        if sources is not None:
            key = _find_key(sources, package)
            if key in sources:
                del sources[key]
                return str(doc.as_string())
    return doc_text


# --------------------------------------------------------------------------------------------
# The edge: the only functions here that touch the disk
# --------------------------------------------------------------------------------------------


def read_env() -> Settings:
    """Settings from this process's environment: the only place ``os.environ`` is read."""
    return Settings.from_env(os.environ)


def read_text(path: str | os.PathLike[str]) -> str | None:
    """The text of a config file, or None when it does not exist (UTF-8, BOM accepted)."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read: {exc}",
            path=os.fspath(path),
            hint="check the file's permissions and that it is UTF-8 text",
        ) from None


def find_pyproject(start: str | os.PathLike[str]) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` or a parent directory, like uv."""
    here = Path(start).absolute()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_project(directory: str | os.PathLike[str]) -> ProjectConfig | None:
    """Read a project's ``pyproject.toml`` and/or ``setup.cfg``; None if it has neither.

    A setuptools project may keep its metadata in ``setup.cfg`` and only tool tables in
    ``pyproject.toml``: then the metadata comes from the former and ``tool`` from the latter.
    """
    from dataclasses import replace

    base = Path(directory)
    pyproject_text = read_text(base / "pyproject.toml")
    project = (
        ProjectConfig.from_pyproject(pyproject_text, str(base / "pyproject.toml"))
        if pyproject_text is not None
        else None
    )
    if project is not None and "project" in parse_toml(pyproject_text or "", project.path):
        return project
    setup_text = read_text(base / "setup.cfg")
    if setup_text is None:
        return project
    legacy = read_setup_cfg(setup_text, str(base / "setup.cfg"))
    if project is None:
        return legacy
    return replace(
        legacy,
        dependency_groups=project.dependency_groups,
        tool=project.tool,
        tool_table=project.tool_table,
        warnings=project.warnings,
    )
