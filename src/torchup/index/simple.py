"""Pure parsers for the simple repository API: PEP 503 HTML, PEP 691 JSON, find-links pages.

Every function here takes text or decoded JSON and returns values; fetching is
:mod:`torchup.index.client`'s job. Files whose names are neither a valid wheel nor a valid
sdist (``.tar.gz`` / ``.zip``) filename are dropped while parsing, so every :class:`DistFile`
a parser returns has a usable :attr:`DistFile.project` and :attr:`DistFile.version`.

Attributes understood (HTML ``data-*`` / JSON keys):

- ``#<algo>=<hex>`` URL fragment / ``hashes``
- ``data-requires-python`` / ``requires-python`` (HTML entities such as ``&gt;`` decoded)
- ``data-yanked`` / ``yanked`` (PEP 592)
- ``data-core-metadata`` and the legacy ``data-dist-info-metadata`` / ``core-metadata`` and
  ``dist-info-metadata`` (PEP 658, PEP 714)
- ``size`` and ``upload-time`` (PEP 700, JSON only)
"""

from __future__ import annotations

import marshal
import posixpath
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache, partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit

from packaging.tags import Tag
from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from torchup.errors import IndexError_

if TYPE_CHECKING:
    from html.parser import HTMLParser

__all__ = [
    "DistFile",
    "ProjectPage",
    "PageFiles",
    "FileGroup",
    "JsonGroups",
    "parse_html_page",
    "parse_json_page",
    "parse_project_list_html",
    "parse_project_list_json",
    "parse_find_links",
    "parse_filename",
    "JSON_CONTENT_TYPE",
    "HTML_CONTENT_TYPE",
]

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPE = "application/vnd.pypi.simple.v1+html"

_SDIST_SUFFIXES = (".tar.gz", ".zip")

# (project, version, tags) parsed from a filename; tags are empty for sdists.
_ParsedName = tuple[NormalizedName, Version, frozenset[Tag]]


@lru_cache(maxsize=1 << 16)
def parse_filename(filename: str) -> _ParsedName | None:
    """Split a wheel or sdist filename into (project, version, tags); None if it is neither.

    Never raises: an invalid or foreign filename (``.egg``, ``.exe``, bad version) gives None.
    Memoised: a page is validated when parsed and the same names are read again when files
    are grouped, so each distinct filename is parsed once per process.
    """
    try:
        if filename.endswith(".whl"):
            name, version, _build, tags = parse_wheel_filename(filename)
            return name, version, tags
        if filename.endswith(_SDIST_SUFFIXES):
            name, version = parse_sdist_filename(filename)
            return name, version, frozenset()
    except ValueError:  # InvalidWheelFilename, InvalidSdistFilename, InvalidVersion
        return None
    return None


@lru_cache(maxsize=1 << 14)
def _version(text: str) -> Version:
    return Version(text)


@lru_cache(maxsize=1 << 14)
def _valid_version(text: str) -> Version | None:
    # A page repeats each version string once per file (tens of files per release): parse each
    # distinct string once. Shares the Version objects with _version, so grouping hashes and
    # compares objects whose keys are already computed.
    try:
        return _version(text)
    except InvalidVersion:
        return None


@lru_cache(maxsize=1 << 12)
def _canonical_name(raw: str) -> NormalizedName:
    # Every file of a project spells the project the same way or nearly: normalise each once.
    return canonicalize_name(raw)


# (raw name, raw version) as spelled in filenames -> _name_version_of's answer. A page spells
# each release's name and version the same way in all its files (numpy: ~30 wheels a release),
# so this is one lookup per file instead of two memoised parses. Cleared when it grows large.
_NAME_VERSION_MEMO: dict[tuple[str, str], tuple[NormalizedName, Version] | None] = {}
_MEMO_LIMIT = 1 << 16


def _name_version_of(filename: str) -> tuple[NormalizedName, Version] | None:
    """(project, version) of a wheel or sdist filename, None when it is neither.

    The same answer as :func:`is_distribution_filename` (None exactly when it is False) and
    :attr:`DistFile.project` / :attr:`DistFile.version`, in one pass: parsers attach the result
    to the :class:`DistFile` so grouping by version never parses a filename again. The sdist
    rule is packaging's ``parse_sdist_filename`` (split at the last dash; tests compare them).
    This runs once per file of every page read (30,000 for the benchmark's small set).
    """
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        if (len(parts) != 5 and len(parts) != 6) or "" in parts:
            return None
        key = (parts[0], parts[1])
    else:
        if filename.endswith(".tar.gz"):
            stem = filename[:-7]
        elif filename.endswith(".zip"):
            stem = filename[:-4]
        else:
            return None
        name_part, sep, version_part = stem.rpartition("-")
        if not sep or not name_part:
            return None
        key = (name_part, version_part)
    try:
        return _NAME_VERSION_MEMO[key]
    except KeyError:
        pass
    version = _valid_version(key[1])
    found = None if version is None else (_canonical_name(key[0]), version)
    if len(_NAME_VERSION_MEMO) >= _MEMO_LIMIT:
        _NAME_VERSION_MEMO.clear()
    _NAME_VERSION_MEMO[key] = found
    return found


def is_distribution_filename(filename: str) -> bool:
    """Cheap check used while parsing pages: a wheel or sdist name with a valid version.

    Expanding a wheel's compressed tag set is the costly part of parsing a filename and most
    files on a page are never looked at again, so tags are parsed later, on first use
    (:attr:`DistFile.wheel_tags`); a file whose tags turn out malformed is simply not
    installable anywhere.
    """
    return _name_version_of(filename) is not None


@dataclass(frozen=True)
class DistFile:
    """One distribution file an index lists.

    ``url`` is absolute and has no fragment (hashes live in ``hashes``). ``yanked`` is None when
    the file is not yanked, ``""`` when it is yanked without a reason. ``core_metadata`` is a
    hash mapping or True when the index serves ``<url>.metadata`` (PEP 658), False when it does
    not advertise it. ``index`` names the source the file came from (set by the finder).

    Hashable; the mapping fields take no part in the hash (equal objects still hash equally).
    Constructing one with an invalid filename is allowed, but then :attr:`project`,
    :attr:`version` and :attr:`wheel_tags` raise ``ValueError``; parsers never produce such.
    """

    filename: str
    url: str
    hashes: Mapping[str, str] = field(default_factory=dict, hash=False)
    requires_python: str | None = None
    yanked: str | None = None
    core_metadata: Mapping[str, str] | bool = field(default=False, hash=False)
    size: int | None = None
    upload_time: str | None = None
    index: str | None = None

    @classmethod
    def _from_page(
        cls,
        name_version: tuple[NormalizedName, Version],
        filename: str,
        url: str,
        hashes: Mapping[str, str],
        requires_python: str | None,
        yanked: str | None,
        core_metadata: Mapping[str, str] | bool,
        size: int | None,
        upload_time: str | None,
        index: str | None,
    ) -> DistFile:
        """What ``DistFile(...)`` builds, for parsers: an equal, equally frozen object, made
        without the generated ``__init__``'s one ``object.__setattr__`` per field (a page holds
        tens of thousands of files), and with ``_name_version`` (which the parser has already
        worked out from the filename) in place so the cached property is never computed."""
        self = object.__new__(cls)
        object.__setattr__(
            self,
            "__dict__",
            {
                "filename": filename,
                "url": url,
                "hashes": hashes,
                "requires_python": requires_python,
                "yanked": yanked,
                "core_metadata": core_metadata,
                "size": size,
                "upload_time": upload_time,
                "index": index,
                "_name_version": name_version,
            },
        )
        return self

    @property
    def _parsed(self) -> _ParsedName:
        # Not a cached_property: parse_filename is memoised per filename already, and on
        # Python 3.11 a cached_property takes one lock shared by every instance, which made the
        # resolver's threads queue behind each other's tag parsing.
        parsed = parse_filename(self.filename)
        if parsed is None:
            raise ValueError(f"not a wheel or sdist filename: {self.filename!r}")
        return parsed

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def is_sdist(self) -> bool:
        return self.filename.endswith(_SDIST_SUFFIXES)

    @property
    def project(self) -> NormalizedName:
        """The normalized project name, from the filename."""
        return self._name_version[0]

    @property
    def version(self) -> Version:
        """The version, from the filename (``2.5.1+cpu`` for ``torch-2.5.1%2Bcpu-...``)."""
        return self._name_version[1]

    @cached_property
    def _name_version(self) -> tuple[NormalizedName, Version]:
        # Name and version without expanding the wheel's tags (see is_distribution_filename).
        # Files made by the parsers never get here: _from_page stores the value in the
        # instance dict, which a cached_property (a non-data descriptor) yields to.
        if self.filename.endswith(".whl"):
            parts = self.filename[:-4].split("-")
            if len(parts) in (5, 6) and all(parts):
                return canonicalize_name(parts[0]), _version(parts[1])
        return self._parsed[0], self._parsed[1]

    @property
    def wheel_tags(self) -> frozenset[Tag]:
        """The wheel's tags; empty for an sdist."""
        return self._parsed[2]

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")

    @property
    def has_core_metadata(self) -> bool:
        """True when the index advertises a PEP 658 ``.metadata`` file for this file."""
        return bool(self.core_metadata)

    @property
    def metadata_url(self) -> str:
        """Where PEP 658 puts this file's core metadata (exists only if advertised or probed)."""
        return self.url + ".metadata"

    @property
    def core_metadata_hashes(self) -> Mapping[str, str]:
        """Hashes of the ``.metadata`` file, empty when none were given."""
        return self.core_metadata if isinstance(self.core_metadata, Mapping) else {}


@dataclass(frozen=True)
class ProjectPage:
    """One project's page on one index: its normalized name, files in page order, and URL."""

    name: NormalizedName
    files: tuple[DistFile, ...]
    url: str


# --- helpers -------------------------------------------------------------------------------


def _parse_hash_value(value: str) -> dict[str, str] | None:
    """``"sha256=abc"`` -> ``{"sha256": "abc"}``; anything else None."""
    algo, sep, digest = value.partition("=")
    if not sep or not algo or not digest:
        return None
    return {algo.strip().lower(): digest.strip().lower()}


def _core_metadata_attr(value: str | None) -> Mapping[str, str] | bool:
    """Decode a ``data-core-metadata`` attribute (PEP 658): ``"true"`` or ``"<algo>=<hex>"``."""
    if value is None:
        # A bare attribute still advertises the file.
        return True
    text = value.strip()
    if text.lower() == "true" or not text:
        return True
    if text.lower() == "false":
        return False
    parsed = _parse_hash_value(text)
    return parsed if parsed is not None else True


def _core_metadata_json(value: Any) -> Mapping[str, str] | bool:
    if isinstance(value, Mapping):
        return {str(k).lower(): str(v).lower() for k, v in value.items()}
    return bool(value)


def _filename_from_url(url: str) -> str:
    """The decoded last path segment: ``torch-2.5.1%2Bcpu-x.whl`` -> ``torch-2.5.1+cpu-x.whl``."""
    path = urlsplit(url).path
    return unquote(posixpath.basename(path))


def _name_from_url(page_url: str) -> NormalizedName:
    segments = [s for s in urlsplit(page_url).path.split("/") if s]
    return canonicalize_name(unquote(segments[-1])) if segments else canonicalize_name("")


_ROOT_SCHEMES = frozenset({"http", "https", "file"})


class _LinkResolver:
    """``urldefrag(urljoin(base, href))`` for every link of one page, urllib-free when possible.

    Most links are absolute ``https://host/path`` URLs (PyPI) or root-relative ``/path`` ones
    (download.pytorch.org), and for those urljoin's answer is fixed: an absolute URL that
    survives urllib's split/unsplit round trip unchanged comes back as written, a root-relative
    one is appended to the base's ``scheme://netloc``. Recognising those shapes costs a few
    string tests instead of four urllib parses per file (half the cost of parsing a PyPI page);
    anything else (``../`` paths, dot segments, bare names, odd characters) still goes through
    urllib, so results, including which links raise ``ValueError``, are urljoin + urldefrag's.
    """

    __slots__ = ("base", "_base_ok", "_root")

    def __init__(self, base: str) -> None:
        self.base = base
        self._root: str | None = None
        try:
            scheme, netloc, _path, _query, _fragment = urlsplit(base)
        except ValueError:
            # urljoin parses the base before anything else, so every link raises: let it.
            self._base_ok = False
            return
        self._base_ok = True
        # An empty base makes urljoin return the link untouched: no root to prepend then.
        if base and scheme in _ROOT_SCHEMES:
            self._root = f"{scheme}://{netloc}"

    def resolve(self, href: str) -> tuple[str, str]:
        """(absolute URL without fragment, fragment); ``ValueError`` where urllib raises one."""
        head, _sep, fragment = href.partition("#")
        if (
            self._base_ok
            # urllib deletes tab/CR/LF anywhere, splits ``;params`` off the path (dropping an
            # empty one) and validates ``[...]`` hosts; it also rewrites an empty head ("#x")
            # and drops an empty query ("x?"). Plain `in` tests: a regex costs 4x as much.
            and "\t" not in href
            and "\r" not in href
            and "\n" not in href
            and ";" not in head
            and "[" not in head
            and "]" not in head
            and head
            and not head.endswith("?")
        ):
            if head.startswith("https://"):
                start = 8
            elif head.startswith("http://"):
                start = 7
            else:
                start = 0
            if start:
                # A non-empty ASCII netloc: urlsplit neither rejects nor rewrites it.
                if len(head) > start and head[start] not in "/?" and head.isascii():
                    return head, fragment
            elif (
                self._root is not None
                and head[0] == "/"
                # Not "//host/..." (a netloc), and no empty segment, "." or ".." segment for
                # urljoin to resolve (nor "/.x": cheaper to send that rare name the slow way
                # than to tell the cases apart).
                and "//" not in head
                and "/." not in head
            ):
                return self._root + head, fragment
        absolute, fragment = urldefrag(urljoin(self.base, href))
        return absolute, fragment


def _file_from_link(
    href: str, attrs: Mapping[str, str | None], resolver: _LinkResolver, index: str | None
) -> DistFile | None:
    try:
        absolute, fragment = resolver.resolve(href.strip())
        filename = _filename_from_url(absolute)
    except ValueError:
        # urljoin/urlsplit reject some hrefs (``http://[::1/x.whl``: "Invalid IPv6 URL"). A
        # malformed link is skipped like any other non-distribution link, not a crash.
        return None
    name_version = _name_version_of(filename)
    if name_version is None:
        return None
    hashes = _parse_hash_value(fragment) if fragment else None
    requires_python = attrs.get("data-requires-python") or None
    if "data-yanked" in attrs:
        yanked: str | None = attrs["data-yanked"] or ""
    else:
        yanked = None
    if "data-core-metadata" in attrs:
        core: Mapping[str, str] | bool = _core_metadata_attr(attrs["data-core-metadata"])
    elif "data-dist-info-metadata" in attrs:
        core = _core_metadata_attr(attrs["data-dist-info-metadata"])
    else:
        core = False
    return DistFile._from_page(
        name_version,
        filename=filename,
        url=absolute,
        hashes=hashes or {},
        requires_python=requires_python.strip() if requires_python else None,
        yanked=yanked,
        core_metadata=core,
        size=None,
        upload_time=None,
        index=index,
    )


class _Anchors:
    """Collects ``<a>`` tags (href, attrs, text) and the first ``<base href>``.

    The handlers of the ``HTMLParser`` that :func:`_anchor_parser` builds: ``HTMLParser``
    decodes entities in attribute values, which is what turns
    ``data-requires-python="&gt;=3.8"`` into ``>=3.8``.
    """

    def __init__(self) -> None:
        self.base: str | None = None
        self.anchors: list[tuple[str, dict[str, str | None], str]] = []
        self._current: tuple[str, dict[str, str | None]] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            href = dict(attrs).get("href")
            if href:
                self.base = href
        elif tag == "a":
            self.finish()
            attr_map = {k.lower(): v for k, v in attrs}
            href = attr_map.get("href")
            if href:
                self._current = (href, attr_map)
                self._text = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self.finish()

    def finish(self) -> None:
        if self._current is not None:
            href, attrs = self._current
            self.anchors.append((href, attrs, "".join(self._text).strip()))
            self._current = None


@cache
def _anchor_parser() -> Callable[[_Anchors], HTMLParser]:
    """The ``HTMLParser`` subclass feeding an :class:`_Anchors`, built on first use: indexes
    serve JSON (PEP 691) nearly always, and ``html.parser`` (with ``html.entities``) costs
    ~2 ms of start-up to import."""
    from html.parser import HTMLParser

    class _AnchorParser(HTMLParser):
        def __init__(self, sink: _Anchors) -> None:
            super().__init__(convert_charrefs=True)
            self.sink = sink

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.sink.handle_starttag(tag, attrs)

        def handle_data(self, data: str) -> None:
            self.sink.handle_data(data)

        def handle_endtag(self, tag: str) -> None:
            self.sink.handle_endtag(tag)

        def close(self) -> None:
            super().close()
            self.sink.finish()

    return _AnchorParser


def _collect(text: str, page_url: str) -> tuple[str, list[tuple[str, dict[str, str | None], str]]]:
    collected = _Anchors()
    parser = _anchor_parser()(collected)
    try:
        parser.feed(text)
        parser.close()
    except AssertionError:
        # html.parser (3.10+) raises AssertionError on some malformed markup (an unknown
        # ``<![keyword`` marked section). Keep the anchors read before it, like a browser.
        collected.finish()
    base = page_url
    if collected.base:
        try:
            base = urljoin(page_url, collected.base)
        except ValueError:
            pass  # an unusable <base href>: resolve against the page URL
    return base, collected.anchors


def _links_to_files(text: str, page_url: str, index: str | None) -> list[DistFile]:
    base, anchors = _collect(text, page_url)
    resolver = _LinkResolver(base)
    files = []
    for href, attrs, _text in anchors:
        dist = _file_from_link(href, attrs, resolver, index)
        if dist is not None:
            files.append(dist)
    return files


def _check_json_page(data: Any, page_url: str) -> list[Any]:
    """The page's ``files`` list; IndexError_ when the JSON is not shaped like a project page."""
    # Decoded JSON can be anything: a page whose shape is wrong is an IndexError_ (a clear
    # message naming the page), never a TypeError/AttributeError escaping to the user.
    if not isinstance(data, Mapping):
        raise IndexError_(
            f"the index page {page_url} is not a PEP 691 project page "
            f"(a JSON {type(data).__name__}, not an object)",
            url=page_url,
        )
    raw_files = data.get("files")
    if raw_files is not None and not isinstance(raw_files, list):
        raise IndexError_(
            f"the index page {page_url} is not a PEP 691 project page "
            f"(`files` is a {type(raw_files).__name__}, not a list)",
            url=page_url,
        )
    return raw_files or []


# A usable file entry of a JSON page, with its (project, version) and its URL split from the
# fragment: the checks every listed file passes (a str filename naming a wheel or sdist, a str
# URL that resolves) have been made; nothing else of the entry has been read.
_JsonEntry = tuple[Mapping[str, Any], tuple[NormalizedName, Version], str, str]


def _json_entries(
    raw_files: Iterable[Any], resolver: _LinkResolver, only: NormalizedName | None = None
) -> Iterator[_JsonEntry]:
    """The usable entries of a page's ``files``, in page order (only project ``only``'s, if
    given). This loop is what a 30,000-file page costs: it is kept to lookups, with
    ``type(...) is dict`` tried before the ABC check (decoded JSON is dicts; ABCs cost 4x)."""
    for entry in raw_files:
        if type(entry) is not dict and not isinstance(entry, Mapping):
            continue
        filename, url = entry.get("filename"), entry.get("url")
        if not isinstance(filename, str) or not isinstance(url, str):
            continue
        name_version = _name_version_of(filename)
        if name_version is None or (only is not None and name_version[0] != only):
            continue
        try:
            absolute, fragment = resolver.resolve(url)
        except ValueError:
            continue  # a malformed URL: skip the entry, as for a malformed filename
        yield entry, name_version, absolute, fragment


def _json_yanked(entry: Mapping[str, Any]) -> str | None:
    """PEP 691 ``yanked`` (a bool or a reason) as :attr:`DistFile.yanked`: None / "" / reason."""
    yanked = entry.get("yanked", False)
    if isinstance(yanked, str):
        return yanked
    return "" if yanked else None


def _json_dist(checked: _JsonEntry, index: str | None) -> DistFile:
    entry, name_version, absolute, fragment = checked
    hashes_raw = entry.get("hashes")
    if type(hashes_raw) is dict or isinstance(hashes_raw, Mapping):
        hashes = {str(k).lower(): str(v).lower() for k, v in hashes_raw.items()}
    else:
        hashes = {}
    if not hashes and fragment:
        hashes = _parse_hash_value(fragment) or {}
    if "core-metadata" in entry:
        core = _core_metadata_json(entry["core-metadata"])
    else:
        dist_info = entry.get("dist-info-metadata", False)
        # False (absent) is by far the most common value: skip the call.
        core = False if dist_info is False else _core_metadata_json(dist_info)
    size = entry.get("size")
    upload_time = entry.get("upload-time")
    requires_python = entry.get("requires-python")
    return DistFile._from_page(
        name_version,
        entry["filename"],
        absolute,
        hashes,
        requires_python.strip() or None if isinstance(requires_python, str) else None,
        _json_yanked(entry),
        core,
        size if isinstance(size, int) and not isinstance(size, bool) else None,
        upload_time if isinstance(upload_time, str) else None,
        index,
    )


# A group's decoded file entries, or (from a stored parse, see JsonGroups) their marshal bytes.
_Entries = list[Mapping[str, Any]] | bytes


def _build_json(
    entries: _Entries, resolver: _LinkResolver, index: str | None
) -> tuple[DistFile, ...]:
    if isinstance(entries, bytes):
        # Decoded only now: the entries of the versions a resolver never reads (nearly all)
        # never become objects. JsonGroups.from_bytes checked the blob's checksum.
        entries = marshal.loads(entries)
    # The entries passed _json_entries' checks once; they pass them again (the checks are
    # pure), which recomputes what the DistFile needs without having kept it per file.
    return tuple(_json_dist(checked, index) for checked in _json_entries(entries, resolver))


# --- pages grouped by version, built lazily (what the resolver reads) -----------------------

# Serialises the first build of a lazily built group, so every reader sees the same objects.
_BUILD_LOCK = threading.Lock()


class FileGroup:
    """The files of one version, from one page or several, in order; built on first use.

    ``yanked`` (every file is yanked) is known at once; ``files`` are the
    :class:`DistFile` objects, which for a JSON page are only built when first read: a
    resolver reads a handful of the thousands of versions a popular project lists.
    """

    __slots__ = ("version", "yanked", "_build", "_files")

    def __init__(
        self, version: Version, yanked: bool, build: Callable[[], tuple[DistFile, ...]]
    ) -> None:
        self.version = version
        self.yanked = yanked
        self._build: Callable[[], tuple[DistFile, ...]] | None = build
        self._files: tuple[DistFile, ...] | None = None

    @classmethod
    def of(cls, version: Version, files: Sequence[DistFile]) -> FileGroup:
        """A group of files already built (HTML pages, find-links, direct URLs)."""
        built = tuple(files)
        group = cls(version, all(f.yanked is not None for f in built), lambda: built)
        group._files, group._build = built, None
        return group

    @classmethod
    def concat(cls, groups: Sequence[FileGroup]) -> FileGroup:
        """The files of ``groups`` (of one version), one group after the other."""
        if len(groups) == 1:
            return groups[0]
        parts = tuple(groups)
        return cls(
            parts[0].version,
            all(g.yanked for g in parts),
            lambda: tuple(f for g in parts for f in g.files),
        )

    @property
    def files(self) -> tuple[DistFile, ...]:
        files = self._files
        if files is None:
            build = self._build
            built = build() if build is not None else ()
            with _BUILD_LOCK:
                if self._files is None:
                    self._files, self._build = built, None
                files = self._files
        return files

    def __repr__(self) -> str:
        return f"FileGroup({self.version}, yanked={self.yanked})"


# One version's entries on a JSON page: (str of the version, every file yanked, the entries
# in page order).
_JsonGroup = tuple[str, bool, _Entries]

# Starts every JsonGroups blob; the number is the blob's format. A stored parse must be what
# this code would make of the same page: bump it whenever that changes, including when
# _json_entries accepts or rejects other entries (a group's files are built by running it
# again over the stored entries, which must all pass).
_GROUPS_MAGIC = b"torchup-json-groups-1\n"
_CRC_SIZE = 4
# marshal's format 4 (Python 3.4+), pinned so every supported Python writes the same bytes.
_MARSHAL_VERSION = 4


@dataclass(frozen=True)
class JsonGroups:
    """One project's usable entries on a PEP 691 page, grouped by version, as plain data
    (str, bool, int, bytes, list, dict) that :meth:`to_bytes` stores for :meth:`from_bytes`
    to read back much faster than the page is decoded and grouped.

    ``groups`` holds each version in order of first appearance as ``(str(version), every
    file yanked, entries in page order)``; ``order[i]`` is the group of the page's i-th usable
    entry. The entries are the decoded JSON objects that passed the page checks for
    ``project`` against ``page_url`` (which their relative URLs resolve against); read from a
    blob, each group's entries are still their ``marshal`` bytes, decoded when the group's
    files are built.
    """

    page_url: str
    project: NormalizedName
    groups: list[_JsonGroup]
    order: list[int]

    @classmethod
    def from_json(cls, data: Mapping[str, Any], page_url: str, project: str) -> JsonGroups:
        """Group ``project``'s files on a decoded PEP 691 page: :func:`parse_json_page`'s
        checks and errors, and its files of ``project``, as decoded entries."""
        raw_files = _check_json_page(data, page_url)
        name = canonicalize_name(project)
        index_of: dict[Version, int] = {}
        by_group: list[list[Mapping[str, Any]]] = []
        order: list[int] = []
        previous: Version | None = None
        current = 0
        for entry, (_name, version), _url, _fragment in _json_entries(
            raw_files, _LinkResolver(page_url), name
        ):
            # Indexes list a release's files together and equal strings give one (memoised)
            # Version object: mostly no hashing at all. An equal but distinct object still
            # finds its group through the dict.
            if version is not previous:
                current = index_of.setdefault(version, len(by_group))
                if current == len(by_group):
                    by_group.append([])
                previous = version
            by_group[current].append(entry)
            order.append(current)
        groups: list[_JsonGroup] = [
            (str(version), all(_json_yanked(e) is not None for e in entries), entries)
            for version, entries in zip(index_of, by_group, strict=True)
        ]
        return cls(page_url, name, groups, order)

    def to_bytes(self, source: bytes) -> bytes:
        """A blob that :meth:`from_bytes` turns back into these groups when given the same
        ``source`` (what identifies the page body they were made from: a digest).

        Each group's entries are marshalled on their own, so that reading the blob back
        creates no object per file (a popular project lists tens of thousands), and the whole
        is checksummed. Entries decoded from JSON always marshal; others may raise
        ``ValueError``."""
        groups = [
            (
                text,
                yanked,
                entries if isinstance(entries, bytes) else marshal.dumps(entries, _MARSHAL_VERSION),
            )
            for text, yanked, entries in self.groups
        ]
        body = marshal.dumps(
            (source, self.page_url, self.project, groups, self.order), _MARSHAL_VERSION
        )
        return _GROUPS_MAGIC + zlib.crc32(body).to_bytes(_CRC_SIZE, "big") + body

    @classmethod
    def from_bytes(
        cls, data: bytes, *, source: bytes, page_url: str, project: str
    ) -> JsonGroups | None:
        """The groups :meth:`to_bytes` stored for ``source``, ``page_url`` and ``project``;
        None for any other blob: made for another body, page or project, of another format,
        truncated or corrupt. Never raises.

        The checksum catches damage; the structure is checked too (types, one group per
        version, ``order`` naming every group and no other), so :meth:`PageFiles.from_groups`
        cannot fail on what this returns. A group's entries are what :meth:`to_bytes` wrote
        (the checksum vouches for them) and their fields are checked again, as any page's
        are, when the group's files are built."""
        start = len(_GROUPS_MAGIC) + _CRC_SIZE
        if len(data) < start or not data.startswith(_GROUPS_MAGIC):
            return None
        body = memoryview(data)[start:]
        if zlib.crc32(body) != int.from_bytes(data[len(_GROUPS_MAGIC) : start], "big"):
            return None
        try:
            stored = marshal.loads(body)
        except (EOFError, ValueError, TypeError):
            return None
        if type(stored) is not tuple or len(stored) != 5:
            return None
        stamp, url, name, groups, order = stored
        if (
            type(stamp) is not bytes
            or stamp != source
            or type(url) is not str
            or url != page_url
            or type(name) is not str
            or name != canonicalize_name(project)
            or type(groups) is not list
            or type(order) is not list
        ):
            return None
        try:
            if not _well_formed(groups, order):
                return None
        except (TypeError, ValueError):  # unhashable items in order; a version too long to parse
            return None
        return cls(url, NormalizedName(name), groups, order)


def _well_formed(groups: list[Any], order: list[Any]) -> bool:
    """Whether unmarshalled ``groups`` and ``order`` have the shape :meth:`JsonGroups.to_bytes`
    gives them: (str, bool, bytes) groups of distinct valid versions, each named in ``order``
    (a list of group numbers)."""
    versions: set[Version] = set()
    for group in groups:
        if type(group) is not tuple or len(group) != 3:
            return False
        text, yanked, entries = group
        if type(text) is not str or type(yanked) is not bool or type(entries) is not bytes:
            return False
        version = _valid_version(text)
        if version is None or version in versions:
            return False
        versions.add(version)
    named = Counter(order)
    # Counters compare 1.0 and True equal to 1: the type is checked too.
    return len(named) == len(groups) and all(type(i) is int and 0 <= i < len(groups) for i in named)


class PageFiles:
    """One project's files on one page (or find-links location): in page order (``files()``)
    and grouped by version (``groups``, versions in order of first appearance, each group's
    files in page order), the files of a JSON page built only when read."""

    __slots__ = ("groups", "_all")

    def __init__(
        self, groups: dict[Version, FileGroup], all_files: Callable[[], tuple[DistFile, ...]]
    ) -> None:
        self.groups = groups
        self._all = all_files

    @classmethod
    def from_files(cls, files: Iterable[DistFile]) -> PageFiles:
        built = tuple(files)
        by_version: dict[Version, list[DistFile]] = {}
        for f in built:
            by_version.setdefault(f.version, []).append(f)
        groups = {v: FileGroup.of(v, fs) for v, fs in by_version.items()}
        return cls(groups, lambda: built)

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], page_url: str, *, project: str, index: str | None = None
    ) -> PageFiles:
        """``parse_json_page(data, page_url, index=index)``'s files of ``project`` (same
        checks, same errors, same DistFile values) without building any DistFile yet."""
        return cls.from_groups(JsonGroups.from_json(data, page_url, project), index)

    @classmethod
    def from_groups(cls, grouped: JsonGroups, index: str | None = None) -> PageFiles:
        """The files of a grouped JSON page, each group's built only when first read.

        Only the entries are kept, no object per file (and none at all for a group still in
        its marshal bytes): a page's thousands of small objects, kept for the whole run, are
        what Python's cyclic GC would walk again and again."""
        resolver = _LinkResolver(grouped.page_url)
        in_order = [
            FileGroup(_version(text), yanked, partial(_build_json, entries, resolver, index))
            for text, yanked, entries in grouped.groups
        ]
        order = grouped.order

        def all_files() -> tuple[DistFile, ...]:
            # Built through the groups, so each file is one object whichever way it is read:
            # the page's n-th file is the next one not yet taken from its group.
            pending = [iter(group.files) for group in in_order]
            return tuple(next(pending[i]) for i in order)

        return cls({group.version: group for group in in_order}, all_files)

    def files(self) -> tuple[DistFile, ...]:
        return self._all()

    def __bool__(self) -> bool:
        return bool(self.groups)


# --- public parsers ------------------------------------------------------------------------


def parse_html_page(
    text: str, page_url: str, *, project: str | None = None, index: str | None = None
) -> ProjectPage:
    """Parse a PEP 503 project page. Relative hrefs resolve against ``<base href>`` or
    ``page_url`` (the URL the page was finally served from). The project name is ``project``
    if given, else the last path segment of ``page_url``."""
    name = canonicalize_name(project) if project else _name_from_url(page_url)
    return ProjectPage(name, tuple(_links_to_files(text, page_url, index)), page_url)


def parse_json_page(
    data: Mapping[str, Any], page_url: str, *, project: str | None = None, index: str | None = None
) -> ProjectPage:
    """Parse a PEP 691 project page (already decoded from JSON). Tolerates missing optional
    keys; a file entry without ``filename`` or ``url`` is skipped.

    ``yanked`` may be a bool or a reason string (PEP 691); it becomes None / "" / reason.
    """
    raw_files = _check_json_page(data, page_url)
    raw_name = data.get("name") if isinstance(data.get("name"), str) else None
    raw_name = raw_name or project
    name = canonicalize_name(str(raw_name)) if raw_name else _name_from_url(page_url)
    checked = _json_entries(raw_files, _LinkResolver(page_url))
    return ProjectPage(name, tuple(_json_dist(c, index) for c in checked), page_url)


def parse_project_list_html(text: str) -> list[NormalizedName]:
    """Project names (normalized, page order, no duplicates) from a PEP 503 root page."""
    _base, anchors = _collect(text, "")
    names: dict[NormalizedName, None] = {}
    for href, _attrs, label in anchors:
        # PEP 503 says the text is the name; fall back to the href's last segment.
        try:
            segments = [s for s in urlsplit(href).path.split("/") if s]
        except ValueError:
            segments = []  # a malformed href
        raw = label or (unquote(segments[-1]) if segments else "")
        if raw:
            names[canonicalize_name(raw)] = None
    return list(names)


def parse_project_list_json(data: Mapping[str, Any], url: str = "") -> list[NormalizedName]:
    """Project names (normalized, page order, no duplicates) from a PEP 691 root page.

    Raises :class:`IndexError_` (naming ``url``) when the JSON is not shaped like one."""
    names: dict[NormalizedName, None] = {}
    if not isinstance(data, Mapping) or not isinstance(data.get("projects") or [], list):
        shown = url or "the index's root page"
        raise IndexError_(f"{shown} is not a PEP 691 project list", url=url)
    for entry in data.get("projects") or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            names[canonicalize_name(entry["name"])] = None
    return list(names)


def parse_find_links(
    source: str | Sequence[str] | Iterable[str], base_url: str, *, index: str | None = None
) -> list[DistFile]:
    """Files from a find-links location, for every project it holds.

    ``source`` is either the HTML of a find-links page (a ``str``), or the names of the files in
    a local directory (any other iterable of str), which resolve against ``base_url`` (a
    ``file://`` URL ending in ``/``). Names that are not wheels or sdists are skipped.
    """
    if isinstance(source, str):
        return _links_to_files(source, base_url, index)
    base = base_url if base_url.endswith("/") else base_url + "/"
    files = []
    for name in sorted(source):
        if not is_distribution_filename(name):
            continue
        # Quote the name the way a server would, so url round-trips to the same filename.
        files.append(DistFile(filename=name, url=urljoin(base, quote(name)), index=index))
    return files
