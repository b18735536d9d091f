"""Core metadata of a wheel without downloading the wheel.

A resolver needs a wheel's ``METADATA`` (its dependencies), not the wheel. torch wheels are
~900 MB; their METADATA is ~40 KB at the end of the zip. :class:`MetadataFetcher` gets it by
the cheapest path the server allows, and logs which path it took and what it cost
(``torchup.metadata`` logger, INFO):

1. ``cache``: the ``metadata-v1`` bucket, keyed by the file's sha256 (or URL without one);
   metadata of a given file never changes, so entries never expire.
2. ``pep658``: the ``<url>.metadata`` file when the index advertises it (hash verified).
3. ``range``: HTTP Range reads of the zip: the last 64 KiB (end of central directory and,
   in wheels, the tail of the central directory where ``*.dist-info/`` entries sit), then the
   ``METADATA`` member's local header and data. ZIP64 is handled. ~3 requests, ~100 KB.
4. ``stream``: the server ignores Range: stream the body, walking local file headers, and
   stop as soon as ``METADATA`` is complete (the rest of the body is never read).
5. ``download``: streaming cannot find the member's end (stored with a data descriptor):
   download the whole file to a temporary file and read it with :mod:`zipfile`.

sdists have no static metadata: :meth:`MetadataFetcher.fetch` returns None ("needs a build").
The zip parsing helpers are pure functions over bytes.
"""

from __future__ import annotations

import logging
import re
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from packaging.metadata import InvalidMetadata, Metadata
from packaging.specifiers import InvalidSpecifier
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion

from torchup.cache import Cache
from torchup.errors import HashMismatchError, MetadataError, TorchupError
from torchup.index.client import RangeNotSupported, redact_url, strip_credentials

if TYPE_CHECKING:
    from torchup.index.client import HttpClient
    from torchup.index.simple import DistFile

__all__ = [
    "MetadataFetcher",
    "parse_metadata",
    "find_metadata_in_zip",
    "TAIL_BYTES",
]

logger = logging.getLogger("torchup.metadata")

# Covers the end-of-central-directory record and, for wheels, the last few hundred central
# directory entries, which include the *.dist-info/ ones (wheels write dist-info last).
TAIL_BYTES = 64 * 1024
# A METADATA file larger than this is not metadata but an attack (or a broken wheel).
_MAX_METADATA = 64 * 1024 * 1024
# Extra bytes read after a member's data so a local header with a longer extra field than the
# central one still fits in one request.
_LOCAL_SLACK = 1024

_EOCD = struct.Struct("<4sHHHHIIH")  # 22 bytes
_ZIP64_LOCATOR = struct.Struct("<4sIQI")  # 20 bytes
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")  # 56 bytes
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")  # 46 bytes
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes
_SIG_EOCD = b"PK\x05\x06"
_SIG_ZIP64_LOCATOR = b"PK\x06\x07"
_SIG_ZIP64_EOCD = b"PK\x06\x06"
_SIG_CENTRAL = b"PK\x01\x02"
_SIG_LOCAL = b"PK\x03\x04"
_SIG_DESCRIPTOR = b"PK\x07\x08"


@cache
def _metadata_re() -> re.Pattern[str]:
    # Compiled on first use: only reading METADATA out of a remote wheel needs it.
    return re.compile(r"^([^/]+)\.dist-info/METADATA$")


class _ZipFormatError(ValueError):
    """The bytes are not the zip structure expected (parsing helpers raise only this)."""


class _NeedMore(Exception):
    """A parse step needs bytes ``[start, end)`` of the file that are not in the buffer."""

    def __init__(self, start: int, end: int) -> None:
        super().__init__(start, end)
        self.start = start
        self.end = end


# --- pure zip helpers ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    """One central directory entry of a zip."""

    name: str
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int
    local_offset: int
    extra_len: int


@dataclass(frozen=True)
class _Directory:
    """Where a zip's central directory is, from its end records."""

    offset: int  # absolute offset of the central directory
    size: int
    entries: int


class _Sparse:
    """Known byte ranges of a remote file, as merged ``(start, data)`` segments."""

    def __init__(self, data: bytes = b"", start: int = 0) -> None:
        self.segments: list[tuple[int, bytes]] = []
        if data:
            self.add(start, data)

    def add(self, start: int, data: bytes) -> None:
        segments = sorted([*self.segments, (start, data)], key=lambda s: s[0])
        merged: list[tuple[int, bytes]] = []
        for seg_start, seg_data in segments:
            if merged and seg_start <= merged[-1][0] + len(merged[-1][1]):
                prev_start, prev_data = merged[-1]
                overlap = prev_start + len(prev_data) - seg_start
                merged[-1] = (prev_start, prev_data + seg_data[overlap:])
            else:
                merged.append((seg_start, seg_data))
        self.segments = merged

    def get(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``; raises :class:`_NeedMore` unless all are known."""
        for seg_start, data in self.segments:
            if seg_start <= start and end <= seg_start + len(data):
                return data[start - seg_start : end - seg_start]
        raise _NeedMore(start, end)

    def missing(self, start: int, end: int) -> tuple[int, int]:
        """``[start, end)`` shrunk so it does not re-read known bytes at either edge (a
        known segment inside the range is re-read: one request beats two)."""
        for seg_start, data in self.segments:
            seg_end = seg_start + len(data)
            if seg_start <= start < seg_end:
                start = seg_end
            if seg_start < end <= seg_end:
                end = seg_start
        return start, max(start, end)

    def segment_ending_at(self, end: int) -> tuple[int, bytes]:
        for seg_start, data in self.segments:
            if seg_start + len(data) == end:
                return seg_start, data
        raise _ZipFormatError("the end of the file was not read")

    def segment_containing(self, pos: int) -> tuple[int, bytes]:
        """The segment holding ``pos`` (or ending exactly at it)."""
        for seg_start, data in self.segments:
            if seg_start <= pos <= seg_start + len(data):
                return seg_start, data
        raise _NeedMore(pos, pos + 1)


def _find_directory(known: _Sparse, total: int) -> tuple[_Directory, int]:
    """Locate the central directory; returns it and where it ends (the EOCD / ZIP64 record).

    The end of the file must be known. Raises :class:`_NeedMore` for a ZIP64 record outside
    the known bytes.
    """
    tail_start, tail = known.segment_ending_at(total)
    pos = tail.rfind(_SIG_EOCD)
    while pos >= 0:
        # A comment may contain the signature: the real record's comment length fits exactly.
        if pos + _EOCD.size <= len(tail):
            fields = _EOCD.unpack_from(tail, pos)
            if pos + _EOCD.size + fields[7] == len(tail):
                break
        pos = tail.rfind(_SIG_EOCD, 0, pos)
    if pos < 0:
        raise _ZipFormatError("no end-of-central-directory record (not a zip file?)")
    _sig, _disk, _cd_disk, _n_disk, entries, cd_size, cd_offset, _clen = fields
    eocd_abs = tail_start + pos
    if entries != 0xFFFF and cd_size != 0xFFFFFFFF and cd_offset != 0xFFFFFFFF:
        return _Directory(cd_offset, cd_size, entries), eocd_abs
    # ZIP64: the locator sits right before the EOCD and points at the ZIP64 EOCD record.
    locator = known.get(eocd_abs - _ZIP64_LOCATOR.size, eocd_abs)
    sig, _disk64, record_offset, _ndisks = _ZIP64_LOCATOR.unpack(locator)
    if sig != _SIG_ZIP64_LOCATOR:
        raise _ZipFormatError("ZIP64 sizes without a ZIP64 locator")
    fields64 = _ZIP64_EOCD.unpack(known.get(record_offset, record_offset + _ZIP64_EOCD.size))
    if fields64[0] != _SIG_ZIP64_EOCD:
        raise _ZipFormatError("bad ZIP64 end-of-central-directory record")
    return _Directory(fields64[9], fields64[8], fields64[7]), record_offset


def _zip64_extra(
    extra: bytes, size: int, csize: int, offset: int | None
) -> tuple[int, int, int | None]:
    """Replace 0xFFFFFFFF placeholders from the ZIP64 extra field (id 0x0001), in spec order."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 0x0001:
            values = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        pos += 4 + length
    return size, csize, offset


def _parse_entries(data: bytes, pos: int, end: int) -> list[_Member] | None:
    """Central directory entries from ``data[pos:end]``; None unless they tile it exactly."""
    members = []
    while pos < end:
        if pos + _CENTRAL.size > end:
            return None
        fields = _CENTRAL.unpack_from(data, pos)
        if fields[0] != _SIG_CENTRAL:
            return None
        flags, method, crc, csize, size = fields[3], fields[4], fields[7], fields[8], fields[9]
        nlen, elen, clen, offset = fields[10], fields[11], fields[12], fields[16]
        name_end = pos + _CENTRAL.size + nlen
        next_pos = name_end + elen + clen
        if next_pos > end:
            return None
        raw_name = data[pos + _CENTRAL.size : name_end]
        extra = data[name_end : name_end + elen]
        size, csize, local = _zip64_extra(extra, size, csize, offset)
        assert local is not None
        # Bit 11: UTF-8 names; otherwise cp437 (what zipfile does too).
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        members.append(_Member(name, method, flags, crc, csize, size, local, elen))
        pos = next_pos
    return members if pos == end else None


def _directory_members(known: _Sparse, directory: _Directory, cd_end: int) -> list[_Member]:
    """The central directory entries among the known bytes.

    When only the directory's tail is known, entries are recovered by finding the earliest
    entry signature from which entries chain exactly to the directory's end (a signature
    inside a file name cannot do that). Raises :class:`_NeedMore` for the rest of the
    directory when the known tail holds no whole entry.
    """
    seg_start, data = known.segment_containing(cd_end)
    if directory.offset >= seg_start:
        members = _parse_entries(data, directory.offset - seg_start, cd_end - seg_start)
        if members is None:
            raise _ZipFormatError("corrupt central directory")
        return members
    pos = data.find(_SIG_CENTRAL)
    while 0 <= pos < cd_end - seg_start:
        members = _parse_entries(data, pos, cd_end - seg_start)
        if members is not None:
            return members
        pos = data.find(_SIG_CENTRAL, pos + 1)
    raise _NeedMore(directory.offset, seg_start)


def _pick_metadata(members: Iterable[_Member], project: str | None) -> _Member | None:
    """The ``<name>-<version>.dist-info/METADATA`` member, preferring ``project``'s own."""
    found = []
    for member in members:
        match = _metadata_re().match(member.name)
        if match:
            found.append((match.group(1), member))
    if project is not None:
        for dist_info, member in found:
            if canonicalize_name(dist_info.rpartition("-")[0] or dist_info) == project:
                return member
    return found[0][1] if len(found) == 1 else None


def _inflate(member: _Member, payload: bytes) -> bytes:
    if member.size > _MAX_METADATA:
        raise _ZipFormatError(f"METADATA claims {member.size} bytes")
    if member.method == 0:
        data = payload
    elif member.method == 8:
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(payload, _MAX_METADATA + 1)
        except zlib.error as exc:
            raise _ZipFormatError(f"METADATA does not inflate: {exc}") from exc
    else:
        raise _ZipFormatError(f"METADATA uses compression method {member.method}")
    if len(data) != member.size or zlib.crc32(data) != member.crc:
        raise _ZipFormatError("METADATA fails its CRC/size check")
    return data


def _member_data(known: _Sparse, member: _Member) -> bytes:
    """The member's (compressed) bytes, via its local header. Raises :class:`_NeedMore`."""
    start = member.local_offset
    fields = _LOCAL.unpack(known.get(start, start + _LOCAL.size))
    if fields[0] != _SIG_LOCAL:
        raise _ZipFormatError("bad local file header")
    data_start = start + _LOCAL.size + fields[9] + fields[10]
    return known.get(data_start, data_start + member.compressed_size)


def _locate_metadata(known: _Sparse, total: int, project: str | None) -> bytes:
    """METADATA from the known bytes of a ``total``-byte zip (pure).

    Raises :class:`_NeedMore` naming the bytes to fetch next; the caller adds them and calls
    again. Tries the known tail of the central directory before asking for all of it.
    """
    directory, cd_end = _find_directory(known, total)
    member = _pick_metadata(_directory_members(known, directory, cd_end), project)
    if member is None:
        seg_start, _data = known.segment_containing(cd_end)
        if directory.offset < seg_start:
            raise _NeedMore(directory.offset, seg_start)
        raise _ZipFormatError("no *.dist-info/METADATA in the archive")
    try:
        payload = _member_data(known, member)
    except _NeedMore as need:
        if need.start != member.local_offset:
            raise
        # Ask for header + data at once: the local extra field is usually as long as the
        # central one, and the slack covers the cases where it is longer.
        end = (
            member.local_offset
            + _LOCAL.size
            + len(member.name.encode())
            + member.extra_len
            + member.compressed_size
            + _LOCAL_SLACK
        )
        raise _NeedMore(member.local_offset, min(total, end)) from None
    return _inflate(member, payload)


def find_metadata_in_zip(data: bytes, project: str | None = None) -> bytes:
    """METADATA of a whole wheel held in memory (pure; the range path uses the same steps).

    Raises ``ValueError`` when there is no (unique) METADATA or the zip is malformed.
    """
    try:
        return _locate_metadata(_Sparse(data, 0), len(data), project)
    except _NeedMore as exc:
        raise _ZipFormatError("the zip's offsets point outside the file") from exc


# --- streaming (no Range) ------------------------------------------------------------------


class _ChunkReader:
    """Reads exact byte counts from an iterator of chunks; ``consumed`` counts pulled bytes.

    Keeps a read offset into the current buffer instead of deleting consumed bytes, so that
    walking thousands of small headers costs O(bytes), not O(headers x chunk size).
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self._pos = 0
        self.consumed = 0

    def _available(self) -> int:
        return len(self._buf) - self._pos

    def _pull(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self.consumed += len(chunk)
                self._buf = self._buf[self._pos :] + chunk
                self._pos = 0
                return True
        return False

    def read(self, n: int) -> bytes:
        while self._available() < n:
            if not self._pull():
                raise _ZipFormatError("unexpected end of stream")
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out

    def read_some(self) -> bytes:
        if not self._available() and not self._pull():
            raise _ZipFormatError("unexpected end of stream")
        out = self._buf[self._pos :]
        self._buf, self._pos = b"", 0
        return out

    def unread(self, data: bytes) -> None:
        self._buf = data + self._buf[self._pos :]
        self._pos = 0

    def skip(self, n: int) -> None:
        while n > 0:
            if not self._available() and not self._pull():
                raise _ZipFormatError("unexpected end of stream")
            take = min(n, self._available())
            self._pos += take
            n -= take


class _NeedFullFile(Exception):
    """The stream's local headers do not say where a member ends; read the central directory."""


def _stream_metadata(reader: _ChunkReader, project: str | None) -> bytes:
    """Walk local file headers until ``METADATA`` is read; never reads past its end."""
    candidates: list[bytes] = []
    while True:
        sig = reader.read(4)
        if sig != _SIG_LOCAL:
            # The central directory (or garbage) starts: no more members.
            if candidates:
                return candidates[0]
            raise _ZipFormatError("no *.dist-info/METADATA in the archive")
        fields = _LOCAL.unpack(sig + reader.read(_LOCAL.size - 4))
        flags, method, crc, csize, size, nlen, elen = (
            fields[2],
            fields[3],
            fields[6],
            fields[7],
            fields[8],
            fields[9],
            fields[10],
        )
        raw_name = reader.read(nlen)
        extra = reader.read(elen)
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        size, csize, _ = _zip64_extra(extra, size, csize, None)
        zip64 = any(
            tag == 0x0001
            for tag, _len in _iter_extra(extra)  # sizes in the descriptor are 8 bytes then
        )
        match = _metadata_re().match(name)
        wanted = match is not None
        if not flags & 0x08:
            if wanted:
                member = _Member(name, method, flags, crc, csize, size, 0, elen)
                data = _inflate(member, reader.read(csize))
                assert match is not None
                if project is None or _matches(match.group(1), project):
                    return data
                candidates.append(data)
            else:
                reader.skip(csize)
            continue
        # Sizes follow the data in a descriptor: only a deflate stream tells where it ends.
        if method != 8:
            raise _NeedFullFile(name)
        inflater = zlib.decompressobj(-15)
        out = bytearray()
        while not inflater.eof:
            chunk = reader.read_some()
            try:
                piece = inflater.decompress(chunk)
            except zlib.error as exc:
                raise _ZipFormatError(f"{name} does not inflate: {exc}") from exc
            if wanted:
                out += piece
                if len(out) > _MAX_METADATA:
                    raise _ZipFormatError("METADATA is implausibly large")
        reader.unread(inflater.unused_data)
        head = reader.read(4)
        if head != _SIG_DESCRIPTOR:
            reader.unread(head)
        descriptor = reader.read(20 if zip64 else 12)
        crc = struct.unpack_from("<I", descriptor)[0]
        if wanted:
            if zlib.crc32(bytes(out)) != crc:
                raise _ZipFormatError("METADATA fails its CRC check")
            assert match is not None
            if project is None or _matches(match.group(1), project):
                return bytes(out)
            candidates.append(bytes(out))


def _iter_extra(extra: bytes) -> Iterator[tuple[int, int]]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        yield tag, length
        pos += 4 + length


def _matches(dist_info_stem: str, project: str) -> bool:
    return canonicalize_name(dist_info_stem.rpartition("-")[0] or dist_info_stem) == project


# --- metadata parsing (pure) ---------------------------------------------------------------


def parse_metadata(data: bytes, dist: DistFile | None = None) -> Metadata:
    """Parse METADATA leniently, but insist on what resolution needs.

    Unknown or malformed fields a resolver never reads (classifiers, license, ...) are left
    unvalidated. ``Name``, ``Version`` and ``Requires-Dist`` must be valid, and Name/Version
    must match ``dist``'s filename, else :class:`MetadataError`. An invalid
    ``Requires-Python`` becomes None and invalid ``Provides-Extra`` values are normalized
    without validation (both are seen in old, still-installable wheels).
    """
    url = redact_url(dist.url) if dist is not None else None
    where = dist.filename if dist is not None else "METADATA"
    metadata = Metadata.from_email(data, validate=False)
    try:
        name = metadata.name
        version = metadata.version
        metadata.requires_dist  # noqa: B018 - validates and caches the parsed requirements
    except (InvalidMetadata, InvalidVersion, ValueError) as exc:
        raise MetadataError(f"{where} has invalid core metadata: {exc}", url=url) from exc
    try:
        metadata.requires_python  # noqa: B018 - validate now, not deep inside the resolver
    except (InvalidMetadata, InvalidSpecifier, ValueError) as exc:
        logger.warning("%s: ignoring invalid Requires-Python (%s)", where, exc)
        metadata.__dict__["requires_python"] = None
    try:
        metadata.provides_extra  # noqa: B018
    except (InvalidMetadata, ValueError):
        raw = metadata._raw.get("provides_extra") or []
        metadata.__dict__["provides_extra"] = [canonicalize_name(e) for e in raw]
    if dist is not None:
        if canonicalize_name(name) != dist.project or version != dist.version:
            raise MetadataError(
                f"{where} contains metadata for {name} {version}, not for "
                f"{dist.project} {dist.version}",
                url=url,
                hint="the index serves a mislabelled file; report it to the index's owners",
            )
    return metadata


# --- the fetcher ---------------------------------------------------------------------------


class _Cost:
    """Bytes and requests one fetch spent (for the log line)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.requests = 0

    def add(self, data: bytes) -> bytes:
        self.bytes += len(data)
        self.requests += 1
        return data


class MetadataFetcher:
    """Gets wheels' core metadata by the cheapest path (see the module docstring).

    Thread-safe; concurrent requests for the same file share one fetch. ``stats()`` counts
    how many fetches took each path and the bytes transferred.
    """

    def __init__(
        self,
        client: HttpClient,
        cache: Cache | None = None,
        *,
        max_workers: int = 8,
        tail_bytes: int = TAIL_BYTES,
    ) -> None:
        self.client = client
        self.cache = cache if cache is not None else client.cache
        self.max_workers = max_workers
        self.tail_bytes = tail_bytes
        self._lock = threading.Lock()
        self._memo: dict[str, Metadata] = {}
        self._inflight: dict[str, Future[Metadata]] = {}
        self._no_range_hosts: set[str] = set()
        self._stats: dict[str, int] = {
            "cache": 0,
            "pep658": 0,
            "range": 0,
            "stream": 0,
            "download": 0,
            "bytes": 0,
        }

    def stats(self) -> dict[str, int]:
        """A snapshot of path counters (``cache``, ``pep658``, ``range``, ``stream``,
        ``download``) and total ``bytes`` transferred."""
        with self._lock:
            return dict(self._stats)

    @staticmethod
    def cache_key(dist: DistFile) -> str:
        """``sha256:<hex>`` when the index gave a hash, else the credential-free URL."""
        sha = dist.sha256
        return f"sha256:{sha}" if sha else f"url:{strip_credentials(dist.url)}"

    def fetch(self, dist: DistFile) -> Metadata | None:
        """The wheel's core metadata; None for an sdist (it needs a build).

        Raises :class:`MetadataError` (invalid or mismatched metadata, broken zip),
        :class:`HashMismatchError` (PEP 658 file with a wrong hash), :class:`NetworkError`.
        """
        if not dist.is_wheel:
            return None
        key = self.cache_key(dist)
        with self._lock:
            if key in self._memo:
                return self._memo[key]
            future = self._inflight.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._inflight[key] = future
        if not owner:
            return future.result()
        try:
            metadata = self._fetch(dist, key)
        except BaseException as exc:
            with self._lock:
                del self._inflight[key]
            future.set_exception(exc)
            raise
        with self._lock:
            self._memo[key] = metadata
            del self._inflight[key]
        future.set_result(metadata)
        return metadata

    def fetch_many(
        self, dists: Iterable[DistFile], *, return_exceptions: bool = False
    ) -> dict[DistFile, Metadata | None | TorchupError]:
        """Fetch several files' metadata concurrently (``max_workers`` threads).

        The first error is raised after all fetches finish, unless ``return_exceptions``,
        in which case a failed file maps to its :class:`TorchupError`.
        """
        unique = list(dict.fromkeys(dists))
        results: dict[DistFile, Metadata | None | TorchupError] = {}
        with ThreadPoolExecutor(
            max_workers=max(1, min(self.max_workers, len(unique))),
            thread_name_prefix="torchup-metadata",
        ) as pool:
            futures = {dist: pool.submit(self.fetch, dist) for dist in unique}
        first_error: BaseException | None = None
        for dist, future in futures.items():
            error = future.exception()
            if error is None:
                results[dist] = future.result()
            elif return_exceptions and isinstance(error, TorchupError):
                results[dist] = error
            elif first_error is None:
                first_error = error
        if first_error is not None:
            raise first_error
        return results

    # --- paths ------------------------------------------------------------------------

    def _count(self, path: str, cost: _Cost | None) -> None:
        with self._lock:
            self._stats[path] += 1
            if cost is not None:
                self._stats["bytes"] += cost.bytes

    def _fetch(self, dist: DistFile, key: str) -> Metadata:
        cached = self.cache.read("metadata-v1", key)
        if cached is not None:
            try:
                metadata = parse_metadata(cached, dist)
            except MetadataError:
                logger.debug("%s: discarding an invalid cached METADATA", dist.filename)
            else:
                self._count("cache", None)
                return metadata
        cost = _Cost()
        path, data = self._obtain(dist, cost)
        metadata = parse_metadata(data, dist)
        self.cache.write("metadata-v1", key, data)
        self._count(path, cost)
        logger.info(
            "%s: METADATA via %s, %s in %d request%s",
            dist.filename,
            path,
            _human(cost.bytes),
            cost.requests,
            "" if cost.requests == 1 else "s",
        )
        return metadata

    def _obtain(self, dist: DistFile, cost: _Cost) -> tuple[str, bytes]:
        if dist.has_core_metadata:
            data = self.client.fetch_bytes(dist.metadata_url)
            if data is not None:
                cost.add(data)
                self._verify_pep658(dist, data)
                return "pep658", data
            logger.debug("%s: advertised .metadata is missing; reading the wheel", dist.filename)
            cost.requests += 1
        project = dist.project
        host = urlsplit(dist.url).netloc
        with self._lock:
            ranges_ok = host not in self._no_range_hosts
        range_error: _ZipFormatError | None = None
        try:
            if ranges_ok:
                try:
                    return "range", self._by_range(dist, cost, project)
                except RangeNotSupported as exc:
                    with self._lock:
                        self._no_range_hosts.add(host)
                    logger.info(
                        "%s: the server ignores HTTP Range or answers it wrongly (%s); "
                        "streaming the wheel instead (slow for big wheels)",
                        redact_url(dist.url),
                        exc.message,
                    )
                except _ZipFormatError as exc:
                    # The ranged bytes did not make a zip. Either the wheel is broken (the
                    # stream below says so too) or the server answered the ranges with the
                    # wrong bytes; reading the file from its start tells which, instead of
                    # failing resolution on a server's Range bug.
                    range_error = exc
                    logger.info(
                        "%s: the ranged reads did not make a valid zip (%s); reading the "
                        "wheel from its start instead",
                        redact_url(dist.url),
                        exc,
                    )
            try:
                return "stream", self._by_stream(dist, cost, project)
            except _NeedFullFile as exc:
                logger.info(
                    "%s: %s has no sizes in its local header; downloading the whole wheel",
                    dist.filename,
                    exc,
                )
                return "download", self._by_download(dist, cost, project)
        except _ZipFormatError as exc:
            # Both ways failed: the wheel really is malformed. The central directory's view
            # (the range path's error) names the problem best.
            raise MetadataError(
                f"cannot read METADATA from {dist.filename}: {range_error or exc}",
                url=redact_url(dist.url),
                hint="the wheel is malformed or the server sent something else",
            ) from exc

    def _verify_pep658(self, dist: DistFile, data: bytes) -> None:
        import hashlib

        for algo, expected in dist.core_metadata_hashes.items():
            if algo not in hashlib.algorithms_available:
                continue
            actual = hashlib.new(algo, data).hexdigest()
            if actual != expected:
                raise HashMismatchError(
                    url=redact_url(dist.metadata_url),
                    expected=expected,
                    actual=actual,
                    algorithm=algo,
                )

    def _by_range(self, dist: DistFile, cost: _Cost, project: str) -> bytes:
        try:
            suffix = self.client.get_suffix(dist.url, self.tail_bytes)
            cost.add(suffix.data)
            known, total = _Sparse(suffix.data, suffix.start), suffix.total
        except RangeNotSupported:
            # Some servers refuse suffix ranges but honour explicit ones; HEAD tells.
            cost.requests += 1
            head = self.client.head(dist.url)
            cost.requests += 1
            if not head.accept_ranges or head.size is None:
                raise
            total = head.size
            start = max(0, total - self.tail_bytes)
            known = _Sparse(cost.add(self.client.get_range(dist.url, start, total)), start)
        # Each step may need bytes that are not known yet: fetch exactly those and go again.
        for _attempt in range(8):
            try:
                return _locate_metadata(known, total, project)
            except _NeedMore as need:
                if need.start < 0 or need.end > total or need.start >= need.end:
                    raise _ZipFormatError("the zip's offsets point outside the file") from None
                start, end = known.missing(need.start, need.end)
                if start >= end:
                    raise _ZipFormatError("the zip's structure is inconsistent") from None
                known.add(start, cost.add(self.client.get_range(dist.url, start, end)))
        raise _ZipFormatError("the zip's structure needs too many reads")

    def _by_stream(self, dist: DistFile, cost: _Cost, project: str) -> bytes:
        with self.client.stream(dist.url) as body:
            reader = _ChunkReader(body)
            try:
                return _stream_metadata(reader, project)
            finally:
                cost.bytes += reader.consumed
                cost.requests += 1

    def _by_download(self, dist: DistFile, cost: _Cost, project: str) -> bytes:
        import zipfile

        # In the cache (big wheels may not fit a RAM-backed /tmp); Cache.prune() removes the
        # directory if this process is killed before it does.
        scratch = self.cache.bucket("archives-v1")
        with tempfile.TemporaryDirectory(prefix=".tmp-metadata-", dir=scratch) as tmp:
            target = Path(tmp) / dist.filename
            result = self.client.download(dist.url, target, hashes=dist.hashes)
            cost.bytes += result.size
            cost.requests += 1
            # Every way a broken zip fails is a _ZipFormatError (a MetadataError for the user):
            # BadZipFile from the constructor and zlib.error / EOFError from read() used to
            # escape as internal errors.
            try:
                with zipfile.ZipFile(target) as archive:
                    members = [
                        _Member(i.filename, 0, 0, 0, 0, i.file_size, 0, 0)
                        for i in archive.infolist()
                    ]
                    member = _pick_metadata(members, project)
                    if member is None:
                        raise _ZipFormatError("no *.dist-info/METADATA in the archive")
                    if member.size > _MAX_METADATA:
                        raise _ZipFormatError(f"METADATA claims {member.size} bytes")
                    return archive.read(member.name)
            except (
                zipfile.BadZipFile, NotImplementedError, zlib.error, EOFError, RuntimeError, OSError,
                ValueError, struct.error,
            ) as exc:
                raise _ZipFormatError(str(exc) or type(exc).__name__) from exc


def _human(n: int) -> str:
    size, unit = float(n), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
