"""Fault injection for the test index server, hostile archives, kill points and state checks.

``FaultInjector(server)`` hooks an :class:`~tests.support.server.IndexServer` (through its
``fault_hook``) and breaks chosen requests on demand. Every rule matches requests whose path
(raw or percent-decoded) contains ``path_contains`` (ending it with ``$`` means "ends with":
``"app-1.0-py3-none-any.whl$"`` spares the ``.metadata`` file next to the wheel); ``times`` is how many matching requests it
breaks (-1: all of them, for "the server stays broken"), optionally only for one ``method`` or
only for requests carrying a ``Range`` header. Rules are tried in the order added; a request no
rule takes is served normally. Every fault answered is recorded in ``injector.log`` and, like any
request, in ``server.requests`` (so tests assert request counts).

Fault classes (one method each):

* ``status(path, code, retry_after=...)``: answer 5xx / 429 (``Retry-After`` seconds or an HTTP
  date), 403 / 404 / 410 with a short body. 5xx and 429 carry ``Retry-After: 0`` unless told
  otherwise, so retry tests do not sleep; pass ``retry_after=None`` to send none.
* ``reset(path, after_bytes)``: full headers, ``after_bytes`` of the body, then a TCP reset.
* ``truncate(path, after_bytes)``: full headers, ``after_bytes`` of the body, then a clean close.
* ``wrong_length(path, delta)``: ``Content-Length`` off by ``delta`` (> 0: the body ends early;
  < 0: more bytes arrive than announced, then the connection closes).
* ``stall(path, seconds, after_bytes=0, before_headers=False)``: go silent for at most
  ``seconds`` (bounded; ended early by :meth:`FaultInjector.close`), then close.
* ``slow(path, chunk, delay)``: send the body ``chunk`` bytes at a time, ``delay`` s apart.
* ``range_ignored(path)``: answer a Range request with 200 and the whole file, while still
  advertising ``Accept-Ranges: bytes``.
* ``range_wrong(path, mode)``: answer 206 with a lying ``Content-Range`` (``"shift"``: the
  range starts elsewhere; ``"total"``: the wrong file size; ``"short"``: fewer bytes than the
  header says) or, with ``mode="bytes"``, the right header and the wrong bytes.
* ``body(path, data=None, mutate=None, content_type=None)``: serve other bytes with status 200:
  a page that is malformed HTML or JSON, a file whose content differs from the listed sha256
  (``mutate=flip_byte()``), a corrupt zip (``mutate=corrupt_zip``).
* ``redirect(path, location=None)``: 302 to ``location``; by default to the same path (a loop).
* ``override_metadata(index, filename, data)``: the PEP 658 ``.metadata`` file (and its hash on
  the page) becomes ``data`` while the wheel keeps its own METADATA.

Missing projects answered 403 or 404 are the server's own ``configure(index, missing_status=)``.

The rest of this module:

* hostile wheels: :func:`hostile_wheel` builds wheels that a safe installer must refuse;
* state checks: :func:`environment_problems` (every installed distribution's RECORD files exist
  and hash right), :func:`staging_leftovers`, :func:`cache_problems` (every cache entry verifies)
  and :func:`cache_leftovers`, :func:`tree_snapshot`;
* kill points: :func:`torchup_command` runs torchup in a subprocess; with ``TORCHUP_TEST_KILL``
  set (``"<op>:<n>[:after]"``, op one of :data:`KILL_OPS`) the process SIGKILLs itself at the
  ``n``-th call of that operation, so an interruption lands exactly inside a download, a cache
  write, an install's renames or a lock file write.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import os
import signal
import socket
import struct
import sys
import threading
import urllib.parse
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .server import IndexServer

__all__ = [
    "KILL_ENV",
    "KILL_OPS",
    "Fault",
    "FaultInjector",
    "HOSTILE_KINDS",
    "cache_leftovers",
    "cache_problems",
    "corrupt_zip",
    "environment_problems",
    "flip_byte",
    "hostile_wheel",
    "killpoint_main",
    "staging_leftovers",
    "torchup_command",
    "tree_snapshot",
]

_STALL_LIMIT = 30.0  # no stall lasts longer than this, whatever a test asks for


# --------------------------------------------------------------------------------------------
# the fault injector
# --------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One rule. ``times`` left (-1 = unlimited); ``hits`` counts requests it broke."""

    kind: str
    path_contains: str
    times: int = 1
    method: str | None = None
    range_only: bool = False
    status: int = 503
    retry_after: str | None = None
    after_bytes: int = 0
    delta: int = 0
    seconds: float = 0.0
    before_headers: bool = False
    chunk: int = 4096
    mode: str = "shift"
    data: bytes | None = None
    mutate: Callable[[bytes], bytes] | None = None
    content_type: str | None = None
    location: str | None = None
    hits: int = 0

    def matches(self, method: str, path: str, headers: Any) -> bool:
        if self.times == 0:
            return False
        if self.method is not None and self.method != method:
            return False
        if self.range_only and not headers.get("Range"):
            return False
        decoded = urllib.parse.unquote(path)
        if self.path_contains.endswith("$"):  # "name.whl$": the path must end there
            suffix = self.path_contains[:-1]
            return path.endswith(suffix) or decoded.endswith(suffix)
        return self.path_contains in path or self.path_contains in decoded


@dataclass(frozen=True)
class Injected:
    kind: str
    method: str
    path: str


class FaultInjector:
    """Per-URL faults for one :class:`IndexServer` (see the module docstring)."""

    def __init__(self, server: IndexServer) -> None:
        self.server = server
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._stop = threading.Event()
        self.log: list[Injected] = []
        server.fault_hook = self._hook

    # --- rules ----------------------------------------------------------------------------

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        """Drop every rule (the log stays)."""
        with self._lock:
            self._rules.clear()

    def close(self) -> None:
        """Drop every rule, end running stalls and unhook from the server."""
        self.clear()
        self._stop.set()
        if self.server.fault_hook == self._hook:
            self.server.fault_hook = None

    def __enter__(self) -> FaultInjector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self, kind: str | None = None) -> int:
        with self._lock:
            return sum(1 for i in self.log if kind is None or i.kind == kind)

    def status(
        self,
        path_contains: str,
        code: int = 503,
        *,
        times: int = 1,
        retry_after: str | float | None = "0",
        method: str | None = None,
    ) -> Fault:
        if code not in (429, 500, 502, 503, 504):
            retry_after = None
        return self.add(
            Fault(
                "status",
                path_contains,
                times,
                method=method,
                status=code,
                retry_after=None if retry_after is None else str(retry_after),
            )
        )

    def reset(self, path_contains: str, after_bytes: int = 0, *, times: int = 1) -> Fault:
        return self.add(Fault("reset", path_contains, times, method="GET", after_bytes=after_bytes))

    def truncate(self, path_contains: str, after_bytes: int = 0, *, times: int = 1) -> Fault:
        return self.add(
            Fault("truncate", path_contains, times, method="GET", after_bytes=after_bytes)
        )

    def wrong_length(self, path_contains: str, delta: int, *, times: int = 1) -> Fault:
        return self.add(Fault("wrong_length", path_contains, times, method="GET", delta=delta))

    def stall(
        self,
        path_contains: str,
        seconds: float,
        *,
        after_bytes: int = 0,
        before_headers: bool = False,
        times: int = 1,
    ) -> Fault:
        return self.add(
            Fault(
                "stall",
                path_contains,
                times,
                method="GET",
                seconds=min(seconds, _STALL_LIMIT),
                after_bytes=after_bytes,
                before_headers=before_headers,
            )
        )

    def slow(
        self, path_contains: str, *, chunk: int = 1024, delay: float = 0.05, times: int = 1
    ) -> Fault:
        return self.add(
            Fault("slow", path_contains, times, method="GET", chunk=max(1, chunk), seconds=delay)
        )

    def range_ignored(self, path_contains: str, *, times: int = -1) -> Fault:
        return self.add(Fault("range_ignored", path_contains, times, range_only=True))

    def range_wrong(self, path_contains: str, mode: str = "shift", *, times: int = -1) -> Fault:
        if mode not in ("shift", "total", "short", "bytes"):
            raise ValueError(f"unknown range fault mode {mode!r}")
        return self.add(Fault("range_wrong", path_contains, times, range_only=True, mode=mode))

    def body(
        self,
        path_contains: str,
        data: bytes | None = None,
        *,
        mutate: Callable[[bytes], bytes] | None = None,
        content_type: str | None = None,
        times: int = 1,
    ) -> Fault:
        if (data is None) == (mutate is None):
            raise ValueError("pass exactly one of data= and mutate=")
        return self.add(
            Fault(
                "body",
                path_contains,
                times,
                method="GET",
                data=data,
                mutate=mutate,
                content_type=content_type,
            )
        )

    def redirect(self, path_contains: str, location: str | None = None, *, times: int = -1) -> Fault:
        return self.add(Fault("redirect", path_contains, times, location=location))

    def override_metadata(self, index_name: str, filename: str, data: bytes) -> None:
        """Serve ``data`` as the PEP 658 file of ``filename`` (the page advertises its hash)."""
        server = self.server
        index_name = index_name.strip("/")
        with server._lock:
            files = server._indexes[index_name]
            files[filename] = dataclasses.replace(files[filename], metadata=data)
            server._changed += 1.0

    # --- serving --------------------------------------------------------------------------

    def _take(self, method: str, path: str, headers: Any) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path, headers):
                    if rule.times > 0:
                        rule.times -= 1
                    rule.hits += 1
                    self.log.append(Injected(rule.kind, method, path))
                    return rule
        return None

    def _hook(self, handler: Any, head: bool) -> bool:
        fault = self._take(handler.command, handler.path, handler.headers)
        if fault is None:
            return False
        try:
            getattr(self, f"_do_{fault.kind}")(handler, fault, head)
        except OSError:  # the client went away (resets, timeouts): expected here
            handler.close_connection = True
        return True

    def _original(self, handler: Any) -> tuple[bytes, str]:
        """The body (and Content-Type) the server would have sent."""
        server = self.server
        resolved = server._resolve(handler.path)
        if resolved is None or resolved.kind in ("missing", "redirect"):
            return b"Not Found\n", "text/plain"
        if resolved.kind in ("list", "project"):
            _, json_on, *_ = server._config(resolved.index)
            as_json = json_on and "application/vnd.pypi.simple.v1+json" in handler.headers.get(
                "Accept", ""
            )
            if resolved.kind == "list":
                body = server._render_list(resolved.index, as_json)
            else:
                body = server._render_project(resolved.index, resolved.target, as_json)
            kind = "application/vnd.pypi.simple.v1+json" if as_json else "text/html"
            return body, kind
        with server._lock:
            entry = server._indexes[resolved.index][resolved.target]
        if resolved.kind == "metadata":
            return entry.metadata or b"", "application/octet-stream"
        return entry.path.read_bytes(), "application/octet-stream"

    @staticmethod
    def _headers(
        handler: Any, status: int, headers: dict[str, str], length: int | None, sent: int
    ) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        if length is not None:
            handler.send_header("Content-Length", str(length))
        handler._finish(status, sent)
        handler.end_headers()

    def _do_status(self, handler: Any, fault: Fault, head: bool) -> None:
        body = f"injected HTTP {fault.status}\n".encode()
        headers = {"Content-Type": "text/plain"}
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        self._headers(handler, fault.status, headers, len(body), 0 if head else len(body))
        if not head:
            handler.wfile.write(body)

    def _do_reset(self, handler: Any, fault: Fault, head: bool) -> None:
        body, kind = self._original(handler)
        sent = min(fault.after_bytes, len(body))
        self._headers(handler, 200, {"Content-Type": kind}, len(body), sent)
        handler.wfile.write(body[:sent])
        handler.wfile.flush()
        _reset_connection(handler)

    def _do_truncate(self, handler: Any, fault: Fault, head: bool) -> None:
        body, kind = self._original(handler)
        sent = min(fault.after_bytes, len(body))
        self._headers(handler, 200, {"Content-Type": kind}, len(body), sent)
        handler.wfile.write(body[:sent])
        handler.close_connection = True

    def _do_wrong_length(self, handler: Any, fault: Fault, head: bool) -> None:
        body, kind = self._original(handler)
        length = max(0, len(body) + fault.delta)
        self._headers(handler, 200, {"Content-Type": kind}, length, len(body))
        handler.wfile.write(body)
        handler.close_connection = True

    def _do_stall(self, handler: Any, fault: Fault, head: bool) -> None:
        if not fault.before_headers:
            body, kind = self._original(handler)
            sent = min(fault.after_bytes, len(body))
            self._headers(handler, 200, {"Content-Type": kind}, len(body), sent)
            handler.wfile.write(body[:sent])
            handler.wfile.flush()
        else:
            handler._finish(0, 0)
        self._stop.wait(fault.seconds)
        handler.close_connection = True

    def _do_slow(self, handler: Any, fault: Fault, head: bool) -> None:
        body, kind = self._original(handler)
        self._headers(handler, 200, {"Content-Type": kind}, len(body), len(body))
        for start in range(0, len(body), fault.chunk):
            handler.wfile.write(body[start : start + fault.chunk])
            handler.wfile.flush()
            if self._stop.wait(fault.seconds):
                handler.close_connection = True
                return

    def _do_range_ignored(self, handler: Any, fault: Fault, head: bool) -> None:
        body, kind = self._original(handler)
        headers = {"Content-Type": kind, "Accept-Ranges": "bytes"}
        self._headers(handler, 200, headers, len(body), 0 if head else len(body))
        if not head:
            handler.wfile.write(body)

    def _do_range_wrong(self, handler: Any, fault: Fault, head: bool) -> None:
        body, kind = self._original(handler)
        size = len(body)
        wanted = handler._range(size)
        if not isinstance(wanted, tuple):
            wanted = (0, size - 1)
        start, end = wanted
        data = body[start : end + 1]
        shown_start, shown_end, total = start, end, size
        if fault.mode == "shift":
            shift = max(1, size // 3)
            shown_start, shown_end = (start - shift, end - shift) if start >= shift else (
                start + shift,
                end + shift,
            )
        elif fault.mode == "total":
            total = size + 4096
        elif fault.mode == "short":
            data = data[: len(data) // 2]
        elif fault.mode == "bytes":
            data = bytes(b ^ 0x5A for b in data)
        headers = {
            "Content-Type": kind,
            "Accept-Ranges": "bytes",
            "Content-Range": f"bytes {shown_start}-{shown_end}/{total}",
        }
        self._headers(handler, 206, headers, len(data), 0 if head else len(data))
        if not head:
            handler.wfile.write(data)

    def _do_body(self, handler: Any, fault: Fault, head: bool) -> None:
        if fault.data is not None:
            body, kind = fault.data, fault.content_type or "text/html"
        else:
            original, kind = self._original(handler)
            assert fault.mutate is not None
            body = fault.mutate(original)
            kind = fault.content_type or kind
        self._headers(handler, 200, {"Content-Type": kind}, len(body), 0 if head else len(body))
        if not head:
            handler.wfile.write(body)

    def _do_redirect(self, handler: Any, fault: Fault, head: bool) -> None:
        location = fault.location or handler.path
        self._headers(handler, 302, {"Location": location}, 0, 0)


def _reset_connection(handler: Any) -> None:
    """Close the socket with SO_LINGER 0: the peer gets a TCP RST, not a FIN."""
    sock: socket.socket = handler.connection
    handler.close_connection = True
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        fd = sock.detach()
        os.close(fd)


def flip_byte(offset: int = -64) -> Callable[[bytes], bytes]:
    """A mutation that flips one byte (the file no longer matches its listed hash)."""

    def mutate(data: bytes) -> bytes:
        if not data:
            return b"\x00"
        buf = bytearray(data)
        buf[offset % len(buf)] ^= 0xFF
        return bytes(buf)

    return mutate


def corrupt_zip(data: bytes) -> bytes:
    """Overwrite the first member's data (the central directory stays readable)."""
    buf = bytearray(data)
    # the first local header: 30 bytes + name + extra, then the member data
    if buf[:4] == b"PK\x03\x04" and len(buf) > 64:
        name_len, extra_len = struct.unpack("<HH", bytes(buf[26:30]))
        start = 30 + name_len + extra_len
        csize = struct.unpack("<I", bytes(buf[18:22]))[0]
        for i in range(start, min(start + max(csize, 1), len(buf))):
            buf[i] ^= 0xA5
        return bytes(buf)
    return bytes(b ^ 0xA5 for b in buf)


# --------------------------------------------------------------------------------------------
# hostile wheels
# --------------------------------------------------------------------------------------------

HOSTILE_KINDS = (
    "dotdot",  # a member named ../../<sentinel>/pwned.py
    "absolute",  # a member with an absolute path into the sentinel dir
    "symlink",  # a symlink member pointing out of the tree
    "backslash",  # a member with a Windows separator
    "record_hash",  # a member whose RECORD hash is wrong
    "record_missing",  # a member RECORD does not list
    "record_malformed",  # a RECORD row with two fields
    "duplicate",  # the same member twice
    "bomb",  # a deflated member expanding > 64 MiB at > 200:1
    "metadata_name",  # METADATA names another project than the filename
    "metadata_version",  # METADATA has another version than the filename
    "two_dist_info",  # two .dist-info directories
    "no_record",  # no RECORD at all
)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def hostile_wheel(
    kind: str, dest_dir: Path, *, name: str = "evil", version: str = "1.0", sentinel: Path | None = None
) -> Path:
    """A wheel ``<name>-<version>-py3-none-any.whl`` with exactly one defect, ``kind``.

    ``sentinel`` is the directory the escaping kinds aim at (absolute and ``../`` paths,
    symlink targets). Everything else in the wheel is valid, so a refusal names that defect.
    """
    if kind not in HOSTILE_KINDS:
        raise ValueError(f"unknown hostile wheel kind {kind!r}")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    sentinel = Path(sentinel) if sentinel is not None else dest_dir / "sentinel"
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    meta_name, meta_version = name, version
    if kind == "metadata_name":
        meta_name = "somebody-else"
    if kind == "metadata_version":
        meta_version = "9.9"
    members: list[tuple[str, bytes, int | None]] = [
        (f"{dist}/__init__.py", b"VALUE = 'evil'\n", None),
    ]
    if kind == "dotdot":
        members.append((f"../../../../../../..{sentinel}/pwned.py", b"pwned = True\n", None))
    elif kind == "absolute":
        members.append((f"{sentinel}/pwned.py", b"pwned = True\n", None))
    elif kind == "symlink":
        members.append((f"{dist}/escape", str(sentinel).encode(), 0o120777 << 16))
    elif kind == "backslash":
        members.append((f"{dist}\\..\\..\\pwned.py", b"pwned = True\n", None))
    elif kind == "duplicate":
        members.append((f"{dist}/__init__.py", b"VALUE = 'second'\n", None))
    elif kind == "bomb":
        members.append((f"{dist}/bomb.bin", bytes(80 << 20), None))
    metadata = (
        f"Metadata-Version: 2.1\nName: {meta_name}\nVersion: {meta_version}\n\n"
    ).encode()
    members.append((f"{info}/METADATA", metadata, None))
    members.append(
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: hostile\nRoot-Is-Purelib: true\nTag: py3-none-any\n", None)
    )
    rows = []
    for member, data, _ in members:
        if kind == "record_missing" and member == f"{dist}/__init__.py":
            continue
        digest = _record_hash(data)
        if kind == "record_hash" and member == f"{dist}/__init__.py":
            digest = _record_hash(b"something else")
        rows.append([member, digest, str(len(data))])
    rows.append([f"{info}/RECORD", "", ""])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
    record_text = out.getvalue()
    if kind == "record_malformed":
        record_text += f"{dist}/extra.py,sha256=abc\n"
    if kind != "no_record":
        members.append((f"{info}/RECORD", record_text.encode(), None))
    if kind == "two_dist_info":  # after the real one, which index servers read first
        other = f"{dist}_other-{version}.dist-info/METADATA"
        members.append((other, b"Metadata-Version: 2.1\nName: other\nVersion: 1.0\n\n", None))
    path = dest_dir / f"{dist}-{version}-py3-none-any.whl"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for member, data, attr in members:
                zi = zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0))
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = attr if attr is not None else (0o100644 << 16)
                if kind == "bomb" and member.endswith("bomb.bin"):
                    zf.writestr(zi, data, compresslevel=9)
                else:
                    zf.writestr(zi, data)
    return path


# --------------------------------------------------------------------------------------------
# state checks
# --------------------------------------------------------------------------------------------


def _b64_digest(algo: str, path: Path) -> str:
    hasher = hashlib.new(algo)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            hasher.update(chunk)
    return base64.urlsafe_b64encode(hasher.digest()).decode().rstrip("=")


def environment_problems(site_packages: Path) -> list[str]:
    """What is wrong with the installed distributions: a ``.dist-info`` without RECORD, or a
    RECORD row whose file is missing or has another hash. Empty when consistent."""
    problems: list[str] = []
    site_packages = Path(site_packages)
    if not site_packages.is_dir():
        return problems
    for dist_info in sorted(site_packages.glob("*.dist-info")):
        record = dist_info / "RECORD"
        if not record.is_file():
            problems.append(f"{dist_info.name}: no RECORD")
            continue
        try:
            rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            problems.append(f"{dist_info.name}: unreadable RECORD ({exc})")
            continue
        for row in rows:
            if not row or not row[0]:
                continue
            path = Path(os.path.normpath(site_packages / row[0]))
            if not path.exists():
                problems.append(f"{dist_info.name}: {row[0]} is missing")
                continue
            if len(row) < 2 or not row[1]:
                continue
            algo, _, expected = row[1].partition("=")
            try:
                actual = _b64_digest(algo, path)
            except (OSError, ValueError) as exc:
                problems.append(f"{dist_info.name}: cannot hash {row[0]} ({exc})")
                continue
            if actual != expected:
                problems.append(f"{dist_info.name}: {row[0]} does not match its RECORD hash")
    return problems


def staging_leftovers(site_packages: Path) -> list[str]:
    """Staging and trash directories an install leaves behind when it is killed."""
    site_packages = Path(site_packages)
    if not site_packages.is_dir():
        return []
    return sorted(
        p.name
        for p in site_packages.iterdir()
        if p.name.startswith((".torchup-stage-", ".torchup-trash-"))
    )


_SCRATCH_PREFIXES = (".tmp-", ".unpack-", ".stale-", ".tmp")


def _is_scratch(path: Path, root: Path) -> bool:
    return any(part.startswith(_SCRATCH_PREFIXES) for part in path.relative_to(root).parts)


def cache_problems(cache_dir: Path) -> list[str]:
    """Every cache entry that does not verify (scratch files of killed writers are not entries;
    see :func:`cache_leftovers`):

    * ``archives-v1/<sha256>/<file>`` has that sha256; URL-keyed wheels are readable zips;
    * ``simple-v1`` entries decode (and JSON pages parse);
    * ``metadata-v1`` entries parse as core metadata;
    * ``wheels-v1/<sha256>/`` trees match their manifest.
    """
    from torchup.cache import PageEntry
    from torchup.index.metadata import parse_metadata
    from torchup.install.wheel import UnpackedWheel, _tree_intact

    problems: list[str] = []
    root = Path(cache_dir)
    archives = root / "archives-v1"
    if archives.is_dir():
        for path in sorted(p for p in archives.rglob("*") if p.is_file()):
            if _is_scratch(path, archives) or path.name.endswith(".lock"):
                continue
            key = path.relative_to(archives).parts[0]
            if len(key) == 64 and all(c in "0123456789abcdef" for c in key):
                # Read whole, not hashlib.file_digest: that is Python 3.11+, the tests run on 3.10.
                actual = hashlib.sha256(path.read_bytes()).hexdigest()
                if actual != key:
                    problems.append(f"archives-v1: {path.name} does not match its sha256 {key}")
            elif path.name.endswith(".whl"):
                try:
                    with zipfile.ZipFile(path) as zf:
                        bad = zf.testzip()
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    problems.append(f"archives-v1: {path.name} is not a valid zip ({exc})")
                else:
                    if bad is not None:
                        problems.append(f"archives-v1: {path.name} has a corrupt member {bad}")
    pages = root / "simple-v1"
    if pages.is_dir():
        for path in sorted(p for p in pages.rglob("*") if p.is_file()):
            if _is_scratch(path, pages) or path.name.endswith(".lock"):
                continue
            entry = PageEntry.from_bytes(path.read_bytes())
            if entry is None:
                problems.append(f"simple-v1: {path.name} does not decode")
            elif entry.content_type and "json" in entry.content_type:
                try:
                    json.loads(entry.body)
                except ValueError:
                    problems.append(f"simple-v1: {entry.url} holds invalid JSON")
    metadata = root / "metadata-v1"
    if metadata.is_dir():
        for path in sorted(p for p in metadata.rglob("*") if p.is_file()):
            if _is_scratch(path, metadata) or path.name.endswith(".lock"):
                continue
            try:
                parse_metadata(path.read_bytes())
            except Exception as exc:  # noqa: BLE001 - any failure is a corrupt entry
                problems.append(f"metadata-v1: {path.name} does not parse ({exc})")
    wheels = root / "wheels-v1"
    if wheels.is_dir():
        for entry_dir in sorted(p for p in wheels.iterdir() if p.is_dir()):
            if entry_dir.name.startswith(_SCRATCH_PREFIXES):
                continue
            manifest = entry_dir / "manifest.json"
            try:
                unpacked = UnpackedWheel.from_dict(
                    entry_dir / "tree", json.loads(manifest.read_text("utf-8"))
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"wheels-v1: {entry_dir.name} has no valid manifest ({exc})")
                continue
            if not _tree_intact(unpacked):
                problems.append(f"wheels-v1: {entry_dir.name} does not match its manifest")
    return problems


def cache_leftovers(cache_dir: Path) -> list[str]:
    """Scratch files and directories of killed writers (``torchup cache prune`` removes them
    once they are an hour old; a younger one may belong to a writer still running)."""
    root = Path(cache_dir)
    out: list[str] = []
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in list(dirnames) + filenames:
            if name.startswith(_SCRATCH_PREFIXES):
                out.append(str((Path(dirpath) / name).relative_to(root)))
                if name in dirnames:
                    dirnames.remove(name)
    return sorted(out)


def tree_snapshot(root: Path, *, skip: Iterable[str] = (".torchup.lock",)) -> dict[str, str]:
    """Every path under ``root`` -> sha256 of its content, "dir" or the link target."""
    out: dict[str, str] = {}
    skipped = set(skip)
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in dirnames + filenames:
            if name in skipped:
                continue
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# --------------------------------------------------------------------------------------------
# kill points (run torchup in a subprocess that SIGKILLs itself at a chosen operation)
# --------------------------------------------------------------------------------------------

KILL_ENV = "TORCHUP_TEST_KILL"
# op -> what it interrupts
KILL_OPS = {
    "replace": "os.replace: a cache write or a download being committed, a lock file write",
    "rename": "os.rename: an install's or uninstall's moves, an unpacked-wheel cache entry",
    "link": "os.link: staging a wheel's files",
    "chunk": "a download, after that many body chunks were written",
    "fsync": "a lock file write, after the data is written and before the rename",
    "mkstemp": "creating a scratch file (download, cache entry, lock file)",
}
REPO_ROOT = Path(__file__).resolve().parents[2]


def _kill_self() -> None:
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install_killpoint(spec: str) -> None:
    op, _, rest = spec.partition(":")
    count_text, _, when = rest.partition(":")
    limit = int(count_text or "1")
    after = when == "after"
    if op not in KILL_OPS:
        raise SystemExit(f"{KILL_ENV}: unknown operation {op!r}")
    calls = [0]
    lock = threading.Lock()

    def tick() -> bool:
        with lock:
            calls[0] += 1
            return calls[0] >= limit

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            hit = tick()
            if hit and not after:
                _kill_self()
            result = func(*args, **kwargs)
            if hit:
                _kill_self()
            return result

        return wrapper

    if op in ("replace", "rename", "link", "fsync"):
        setattr(os, op, wrap(getattr(os, op)))
    elif op == "mkstemp":
        import tempfile

        tempfile.mkstemp = wrap(tempfile.mkstemp)  # type: ignore[assignment]
    elif op == "chunk":
        from torchup.index import client

        original_iter = client.StreamBody.__iter__

        def chunks(self: Any) -> Any:
            for chunk in original_iter(self):
                yield chunk
                if tick():
                    _kill_self()

        client.StreamBody.__iter__ = chunks  # type: ignore[method-assign]


def killpoint_main(argv: Sequence[str] | None = None) -> int:
    """``torchup`` with the kill point from ``$TORCHUP_TEST_KILL`` armed (if set)."""
    spec = os.environ.get(KILL_ENV)
    if spec:
        _install_killpoint(spec)
    from torchup.cli.main import main

    return main(list(sys.argv[1:] if argv is None else argv))


def torchup_command(*args: str | os.PathLike[str]) -> list[str]:
    """The argv that runs ``torchup ARGS`` in a fresh interpreter (kill points honoured).
    Run it with ``cwd=REPO_ROOT`` (or with the repository on PYTHONPATH)."""
    code = "from tests.support.faults import killpoint_main; raise SystemExit(killpoint_main())"
    return [sys.executable, "-c", code, *map(str, args)]

