"""A hermetic package index over real HTTP, for tests.

``IndexServer(root_dir)`` serves any number of indexes from one ``ThreadingHTTPServer`` on
127.0.0.1 (ephemeral port, background thread). Index names may contain slashes
(``"whl/nightly/cu128"``); the longest known index name that prefixes a request path wins.

URL layout (``<index>`` is an index name, files are served next to the pages, as on
download.pytorch.org)::

    /<index>/                     project list (PEP 503 HTML or PEP 691 JSON)
    /<index>/<project>/           project page; non-normalized names and a missing slash -> 301
    /<index>/<filename>           a distribution file (GET/HEAD, Range, ETag, Last-Modified)
    /<index>/<filename>.metadata  PEP 658 core metadata of a wheel (when pep658 is on)

Anchors link files by absolute path with the filename percent-quoted (``+`` -> ``%2B``, like
download.pytorch.org), with ``#sha256=`` unless hashes are off.

Switches: attributes ``pep658``, ``json``, ``range`` (server-wide defaults, all True) and
``configure(index, pep658=, json=, range=, missing_status=, hashes=)`` per index (None = inherit).
``pep658`` may also be ``"unadvertised"``: ``.metadata`` files are served but pages carry no
``data-core-metadata`` (what the PyPI these machines reach does). ``json=False`` answers HTML
whatever the Accept header says. ``range=False`` ignores Range and sends no ``Accept-Ranges``.
``missing_status`` is the status for anything missing under a known index (404, or 403 like
download.pytorch.org); unknown indexes answer 404.

Fault injection (for reliability tests): ``fail(path_contains, status=503, times=1)`` answers the
next matching requests with ``status``; ``truncate(path_contains, after_bytes, times=1)`` sends the
full headers but closes the connection after ``after_bytes`` body bytes.

Accounting: every request appends a :class:`RequestRecord` to ``.requests`` (thread-safe; read
a snapshot with ``list(server.requests)``); ``bytes_sent(path_contains)`` sums response body
bytes; ``reset_stats()`` clears both. Files are streamed with ``os.sendfile`` (never loaded).

Richer faults (resets, stalls, wrong lengths, lying Range answers, swapped bodies, redirect
loops, 429 with Retry-After) live in ``tests/support/faults.py``: ``FaultInjector(server)`` sets
``fault_hook``, which sees every request first.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import html
import json
import os
import shutil
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

from packaging.metadata import parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from .wheels import file_sha256

__all__ = ["IndexConfig", "IndexServer", "RequestRecord"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_V1_TYPE = "application/vnd.pypi.simple.v1+html"
_CHUNK = 1 << 20

Pep658 = bool | Literal["unadvertised"]


@dataclass(frozen=True)
class RequestRecord:
    """One handled request. ``bytes_sent`` counts body bytes only (what a download costs)."""

    method: str
    path: str
    status: int
    bytes_sent: int
    headers: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class IndexConfig:
    """Per-index overrides; None means "use the server-wide attribute"."""

    pep658: Pep658 | None = None
    json: bool | None = None
    range: bool | None = None
    missing_status: int = 404
    hashes: bool = True


@dataclass(frozen=True)
class _FileEntry:
    filename: str
    path: Path
    project: str  # canonical name
    version: str
    size: int
    mtime: float
    requires_python: str | None
    metadata: bytes | None  # wheel METADATA (PEP 658), None for sdists

    @property
    def metadata_sha256(self) -> str | None:
        return hashlib.sha256(self.metadata).hexdigest() if self.metadata is not None else None


@dataclass(frozen=True)
class _Resolved:
    """What a request path names."""

    index: str
    kind: Literal["list", "project", "file", "metadata", "redirect", "missing"]
    target: str = ""


def _parse_filename(filename: str) -> tuple[str, str] | None:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return str(name), str(version)
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return str(name), str(version)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def _read_wheel_metadata(path: Path) -> bytes | None:
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            parts = name.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                return zf.read(name)
    return None


def _requires_python(metadata: bytes | None, path: Path) -> str | None:
    if metadata is None and path.name.endswith(".tar.gz"):
        metadata = _read_sdist_pkg_info(path)
    if metadata is None:
        return None
    # The raw header, not a re-rendered SpecifierSet: pages show what the uploader wrote.
    raw, _ = parse_email(metadata)
    return raw.get("requires_python")


def _read_sdist_pkg_info(path: Path) -> bytes | None:
    import tarfile

    try:
        with tarfile.open(path) as tf:
            for member in tf.getmembers():
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "PKG-INFO":
                    f = tf.extractfile(member)
                    return f.read() if f else None
    except tarfile.TarError:
        return None
    return None


def _sparse_copy(src: Path, dst: Path) -> None:
    """Copy keeping holes: zero chunks become seeks (shutil.copyfile would fill them in)."""
    zero = bytes(_CHUNK)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            if chunk == zero[: len(chunk)]:
                fout.seek(len(chunk), os.SEEK_CUR)
            else:
                fout.write(chunk)
        fout.truncate()
    shutil.copystat(src, dst)


def _http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def _parse_accept(header: str) -> list[tuple[str, float]]:
    out = []
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            out.append((media.lower(), q))
    return out


class IndexServer:
    """A multi-index PEP 503/691/658 server. Use as a context manager or call start()/stop()."""

    def __init__(self, root_dir: Path) -> None:
        self.root_dir = Path(root_dir)
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.pep658: Pep658 = True
        self.json: bool = True
        self.range: bool = True
        self._lock = threading.RLock()
        self._indexes: dict[str, dict[str, _FileEntry]] = {}
        self._configs: dict[str, IndexConfig] = {}
        self._yanked: dict[tuple[str, str], str] = {}
        self._changed = time.time()
        self._failures: list[list] = []  # [path_contains, status, times_left]
        self._truncations: list[list] = []  # [path_contains, after_bytes, times_left]
        self._requests: list[RequestRecord] = []
        # ``tests/support/faults.py`` installs a hook here: called first for every request with
        # (handler, head); returning True means the hook answered it (or broke it on purpose).
        self.fault_hook: Callable[[_Handler, bool], bool] | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> IndexServer:
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"index_server": self})
        httpd = _Server(("127.0.0.1", 0), handler)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"IndexServer:{httpd.server_address[1]}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("IndexServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:43121``."""
        return f"http://127.0.0.1:{self.port}"

    def index_url(self, name: str = "simple") -> str:
        return f"{self.url}/{name.strip('/')}"

    # --- content --------------------------------------------------------------------------------

    def publish(self, index_name: str, paths: Path | Iterable[Path]) -> list[Path]:
        """Hard-link (or sparse-copy) dist files into ``index_name``; return the served paths.

        Publishing a filename that already exists in the index replaces it.
        """
        index_name = index_name.strip("/")
        if isinstance(paths, (str, os.PathLike)):
            paths = [Path(paths)]
        directory = self.root_dir / index_name
        directory.mkdir(parents=True, exist_ok=True)
        published = []
        entries = []
        for src in map(Path, paths):
            parsed = _parse_filename(src.name)
            if parsed is None:
                raise ValueError(f"not a distribution filename: {src.name}")
            dst = directory / src.name
            if dst.exists() or dst.is_symlink():
                if dst.samefile(src):
                    pass
                else:
                    dst.unlink()
            if not dst.exists():
                try:
                    os.link(src, dst)
                except OSError:
                    _sparse_copy(src, dst)
            metadata = _read_wheel_metadata(dst) if dst.name.endswith(".whl") else None
            st = dst.stat()
            entries.append(
                _FileEntry(
                    filename=dst.name,
                    path=dst,
                    project=parsed[0],
                    version=parsed[1],
                    size=st.st_size,
                    mtime=st.st_mtime,
                    requires_python=_requires_python(metadata, dst),
                    metadata=metadata,
                )
            )
            published.append(dst)
        with self._lock:
            files = self._indexes.setdefault(index_name, {})
            for entry in entries:
                files[entry.filename] = entry
            self._changed = time.time()
        return published

    def configure(
        self,
        index_name: str,
        *,
        pep658: Pep658 | None = None,
        json: bool | None = None,
        range: bool | None = None,
        missing_status: int | None = None,
        hashes: bool | None = None,
    ) -> None:
        """Set per-index switches; arguments left as None keep their current value."""
        index_name = index_name.strip("/")
        with self._lock:
            old = self._configs.get(index_name, IndexConfig())
            self._configs[index_name] = IndexConfig(
                pep658=old.pep658 if pep658 is None else pep658,
                json=old.json if json is None else json,
                range=old.range if range is None else range,
                missing_status=old.missing_status if missing_status is None else missing_status,
                hashes=old.hashes if hashes is None else hashes,
            )
            self._indexes.setdefault(index_name, {})
            self._changed = time.time()

    def yank(self, index_name: str, filename: str, reason: str = "") -> None:
        with self._lock:
            self._yanked[(index_name.strip("/"), filename)] = reason
            self._changed = time.time()

    def unyank(self, index_name: str, filename: str) -> None:
        with self._lock:
            self._yanked.pop((index_name.strip("/"), filename), None)
            self._changed = time.time()

    def indexes(self) -> dict[str, list[str]]:
        """Index name -> sorted filenames published there."""
        with self._lock:
            return {name: sorted(files) for name, files in self._indexes.items()}

    def file_url(self, index_name: str, filename: str) -> str:
        return f"{self.index_url(index_name)}/{urllib.parse.quote(filename)}"

    # --- fault injection ------------------------------------------------------------------------

    def fail(self, path_contains: str, status: int = 503, times: int = 1) -> None:
        with self._lock:
            self._failures.append([path_contains, status, times])

    def truncate(self, path_contains: str, after_bytes: int, times: int = 1) -> None:
        with self._lock:
            self._truncations.append([path_contains, after_bytes, times])

    def _take(self, rules: list[list], path: str) -> int | None:
        with self._lock:
            for rule in rules:
                if rule[0] in path and rule[2] > 0:
                    rule[2] -= 1
                    return int(rule[1])
        return None

    # --- accounting -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot copy of the request log."""
        with self._lock:
            return list(self._requests)

    def bytes_sent(self, path_contains: str = "") -> int:
        with self._lock:
            return sum(r.bytes_sent for r in self._requests if path_contains in r.path)

    def reset_stats(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, record: RequestRecord) -> int:
        with self._lock:
            self._requests.append(record)
            return len(self._requests) - 1

    def _amend(self, position: int, record: RequestRecord, bytes_sent: int) -> None:
        """Correct a record's byte count after a short send (if stats were not reset since)."""
        with self._lock:
            if position < len(self._requests) and self._requests[position] is record:
                self._requests[position] = dataclasses.replace(record, bytes_sent=bytes_sent)

    # --- request routing (used by the handler) --------------------------------------------------

    def _config(self, index: str) -> tuple[Pep658, bool, bool, int, bool]:
        with self._lock:
            cfg = self._configs.get(index, IndexConfig())
            return (
                self.pep658 if cfg.pep658 is None else cfg.pep658,
                self.json if cfg.json is None else cfg.json,
                self.range if cfg.range is None else cfg.range,
                cfg.missing_status,
                cfg.hashes,
            )

    def _resolve(self, raw_path: str) -> _Resolved | None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(raw_path).path)
        with self._lock:
            names = sorted(self._indexes, key=len, reverse=True)
            for index in names:
                prefix = "/" + index
                if path == prefix:
                    return _Resolved(index, "redirect", prefix + "/")
                if not path.startswith(prefix + "/"):
                    continue
                rest = path[len(prefix) + 1 :]
                if rest == "":
                    return _Resolved(index, "list")
                files = self._indexes[index]
                if rest in files:
                    return _Resolved(index, "file", rest)
                base = rest.removesuffix(".metadata")
                if base != rest and base in files and files[base].metadata is not None:
                    return _Resolved(index, "metadata", base)
                project = rest[:-1] if rest.endswith("/") else rest
                if "/" in project or not project:
                    return _Resolved(index, "missing")
                canonical = canonicalize_name(project)
                if not any(e.project == canonical for e in files.values()):
                    return _Resolved(index, "missing")
                if project != canonical or not rest.endswith("/"):
                    return _Resolved(index, "redirect", f"{prefix}/{canonical}/")
                return _Resolved(index, "project", canonical)
        return None

    def _project_files(self, index: str, project: str) -> list[tuple[_FileEntry, str | None]]:
        with self._lock:
            entries = [e for e in self._indexes[index].values() if e.project == project]
            return [
                (e, self._yanked.get((index, e.filename)))
                for e in sorted(entries, key=lambda e: e.filename)
            ]

    def _render_list(self, index: str, as_json: bool) -> bytes:
        with self._lock:
            projects = sorted({e.project for e in self._indexes[index].values()})
        if as_json:
            doc = {"meta": {"api-version": "1.1"}, "projects": [{"name": p} for p in projects]}
            return json.dumps(doc, indent=1).encode()
        anchors = "\n".join(f'    <a href="/{index}/{p}/">{p}</a><br/>' for p in projects)
        return (
            '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" '
            f'content="1.0">\n    <title>Simple index</title>\n  </head>\n  <body>\n{anchors}\n'
            "  </body>\n</html>\n"
        ).encode()

    def _render_project(self, index: str, project: str, as_json: bool) -> bytes:
        pep658, _, _, _, hashes = self._config(index)
        advertise = pep658 is True
        files = self._project_files(index, project)
        if as_json:
            out_files = []
            for entry, yanked in files:
                item: dict[str, object] = {
                    "filename": entry.filename,
                    "url": f"/{index}/{urllib.parse.quote(entry.filename)}",
                    "hashes": {"sha256": file_sha256(entry.path)} if hashes else {},
                    "requires-python": entry.requires_python,
                    "size": entry.size,
                    "upload-time": datetime.fromtimestamp(entry.mtime, timezone.utc).strftime(
                        "%Y-%m-%dT%H:%M:%S.%fZ"
                    ),
                    "yanked": (yanked or True) if yanked is not None else False,
                }
                core: object = False
                if advertise and entry.metadata is not None:
                    core = {"sha256": entry.metadata_sha256}
                item["core-metadata"] = core
                item["dist-info-metadata"] = core
                out_files.append(item)
            versions = sorted({e.version for e, _ in files}, key=Version)
            doc = {
                "meta": {"api-version": "1.1"},
                "name": project,
                "files": out_files,
                "versions": versions,
            }
            return json.dumps(doc, indent=1).encode()
        lines = []
        for entry, yanked in files:
            href = f"/{index}/{urllib.parse.quote(entry.filename)}"
            if hashes:
                href += f"#sha256={file_sha256(entry.path)}"
            attrs = [f'href="{html.escape(href)}"']
            if entry.requires_python:
                attrs.append(f'data-requires-python="{html.escape(entry.requires_python)}"')
            if advertise and entry.metadata is not None:
                value = f"sha256={entry.metadata_sha256}"
                attrs.append(f'data-dist-info-metadata="{value}"')
                attrs.append(f'data-core-metadata="{value}"')
            if yanked is not None:
                attrs.append(f'data-yanked="{html.escape(yanked)}"')
            lines.append(f"    <a {' '.join(attrs)}>{html.escape(entry.filename)}</a><br/>")
        body = "\n".join(lines)
        return (
            '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" '
            f'content="1.0">\n    <title>Links for {project}</title>\n  </head>\n  <body>\n'
            f"    <h1>Links for {project}</h1>\n{body}\n  </body>\n</html>\n"
        ).encode()

    def _page_mtime(self, index: str) -> float:
        with self._lock:
            mtimes = [e.mtime for e in self._indexes[index].values()]
            return max([self._changed, *mtimes])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 makes parallel clients wait a SYN retransmit (1 s) when more
    # connect at once than that; a resolver's parallel prefetch easily does.
    request_queue_size = 128
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client killed mid-request (the reliability tests SIGKILL torchup on purpose) or a
        # connection the fault injector reset is expected here: no traceback on stderr.
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    index_server: IndexServer  # set on the bound subclass
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections like they would on PyPI
    server_version = "torchup-test-index/1.0"
    # TCP_NODELAY: headers and body go out as separate writes; with Nagle on, each keep-alive
    # response then waited ~40 ms for the client's delayed ACK (pages took 40 ms, not 1 ms).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests read .requests instead

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    # --- response helpers -----------------------------------------------------------------------

    def _finish(self, status: int, sent: int) -> tuple[int, RequestRecord]:
        """Log the request. Called *before* the headers go out, so a client that has its answer
        always finds the record; a short send amends it afterwards."""
        record = RequestRecord(self.command, self.path, status, sent, dict(self.headers.items()))
        return self.index_server._record(record), record

    def _simple(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        head: bool = False,
    ) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        send_body = bool(body) and not head and status != 304
        self._finish(status, len(body) if send_body else 0)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _not_modified(self, etag: str, mtime: float) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
            return "*" in tags or etag in tags
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                return False
            return int(mtime) <= since
        return False

    # --- dispatch -------------------------------------------------------------------------------

    def _handle(self, head: bool) -> None:
        server = self.index_server
        try:
            hook = server.fault_hook
            if hook is not None and hook(self, head):
                return
            status = server._take(server._failures, self.path)
            if status is not None:
                self._simple(status, f"injected failure {status}\n".encode(), head=head)
                return
            resolved = server._resolve(self.path)
            if resolved is None:
                self._simple(404, b"Not Found\n", {"Content-Type": "text/plain"}, head=head)
                return
            pep658, json_on, range_on, missing, _ = server._config(resolved.index)
            if resolved.kind == "missing" or (resolved.kind == "metadata" and not pep658):
                # download.pytorch.org (S3 behind CloudFront) answers 403 with an XML body.
                self._simple(
                    missing,
                    b"<Error><Code>AccessDenied</Code></Error>\n"
                    if missing == 403
                    else b"Not Found\n",
                    {"Content-Type": "text/plain"},
                    head=head,
                )
                return
            if resolved.kind == "redirect":
                self._simple(301, b"", {"Location": resolved.target}, head=head)
                return
            if resolved.kind in ("list", "project"):
                self._serve_page(resolved, json_on, head)
                return
            with server._lock:
                entry = server._indexes[resolved.index][resolved.target]
            if resolved.kind == "metadata":
                assert entry.metadata is not None
                self._serve_bytes(entry.metadata, entry.mtime, head)
                return
            self._serve_file(entry, range_on, head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _serve_page(self, resolved: _Resolved, json_on: bool, head: bool) -> None:
        server = self.index_server
        as_json = False
        content_type = "text/html; charset=utf-8"
        accept = _parse_accept(self.headers.get("Accept", ""))
        supported = [HTML_V1_TYPE, "text/html"] + ([JSON_TYPE] if json_on else [])
        best: tuple[float, int, str] | None = None
        for position, (media, q) in enumerate(accept):
            if q <= 0:
                continue
            candidates = supported if media in ("*/*", "application/*") else [media]
            for candidate in candidates:
                if candidate in supported:
                    rank = (q, -position, candidate)
                    if best is None or rank[:2] > best[:2]:
                        best = rank
                    break
        if best is not None and best[2] == JSON_TYPE:
            as_json, content_type = True, JSON_TYPE
        elif best is not None and best[2] == HTML_V1_TYPE:
            content_type = HTML_V1_TYPE
        if resolved.kind == "list":
            body = server._render_list(resolved.index, as_json)
        else:
            body = server._render_project(resolved.index, resolved.target, as_json)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        mtime = server._page_mtime(resolved.index)
        headers = {
            "Content-Type": content_type,
            "ETag": etag,
            "Last-Modified": _http_date(mtime),
            "Vary": "Accept",
            "Cache-Control": "max-age=600, public",
        }
        if self._not_modified(etag, mtime):
            self._simple(304, b"", headers, head=head)
            return
        self._simple(200, body, headers, head=head)

    def _serve_bytes(self, body: bytes, mtime: float, head: bool) -> None:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": etag,
            "Last-Modified": _http_date(mtime),
        }
        if self._not_modified(etag, mtime):
            self._simple(304, b"", headers, head=head)
            return
        self._simple(200, body, headers, head=head)

    def _range(self, size: int) -> tuple[int, int] | None | Literal["unsatisfiable"]:
        """The inclusive byte range asked for, None to send the whole file."""
        header = self.headers.get("Range")
        if not header or not header.strip().startswith("bytes="):
            return None
        spec = header.strip()[len("bytes=") :]
        if "," in spec:
            return None  # multipart ranges are optional (RFC 9110 14.2): send everything
        first, sep, last = (s.strip() for s in spec.partition("-"))
        if not sep:
            return None
        try:
            if first == "":
                n = int(last)
                if n <= 0:
                    return "unsatisfiable"
                return (max(0, size - n), size - 1) if size else "unsatisfiable"
            start = int(first)
            end = int(last) if last else size - 1
        except ValueError:
            return None
        if start >= size or end < start:
            return "unsatisfiable"
        return start, min(end, size - 1)

    def _serve_file(self, entry: _FileEntry, range_on: bool, head: bool) -> None:
        st = entry.path.stat()
        size = st.st_size
        etag = f'"{st.st_ino:x}-{size:x}-{st.st_mtime_ns:x}"'
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": etag,
            "Last-Modified": _http_date(st.st_mtime),
        }
        if range_on:
            headers["Accept-Ranges"] = "bytes"
        if self._not_modified(etag, st.st_mtime):
            self._simple(304, b"", headers, head=head)
            return
        wanted = self._range(size) if range_on else None
        if wanted is not None and self.headers.get("If-Range"):
            if self.headers["If-Range"].strip() not in (etag, headers["Last-Modified"]):
                wanted = None  # the client's copy is stale: send the whole file
        if wanted == "unsatisfiable":
            headers["Content-Range"] = f"bytes */{size}"
            self._simple(416, b"", headers, head=head)
            return
        if wanted is None:
            status, start, length = 200, 0, size
        else:
            status, start, length = 206, wanted[0], wanted[1] - wanted[0] + 1
            headers["Content-Range"] = f"bytes {wanted[0]}-{wanted[1]}/{size}"
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        if head:
            self._finish(status, 0)
            self.end_headers()
            return
        limit = self.index_server._take(self.index_server._truncations, self.path)
        to_send = length if limit is None else min(length, limit)
        position, record = self._finish(status, to_send)
        self.end_headers()
        sent = 0
        try:
            with open(entry.path, "rb") as f:
                sock = self.connection.fileno()
                while sent < to_send:
                    # sendfile streams from the page cache (holes read as zeros): no big buffers.
                    n = os.sendfile(sock, f.fileno(), start + sent, min(to_send - sent, 1 << 24))
                    if n == 0:
                        break
                    sent += n
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            raise
        finally:
            if sent != to_send:
                self.index_server._amend(position, record, sent)
        if sent < length:
            self.close_connection = True  # the client must see the short body as an error
