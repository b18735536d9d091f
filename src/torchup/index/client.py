"""The HTTP client: the only module that talks to the network (and reads ``file://`` indexes).

One :class:`HttpClient` per run, shared by threads (``urllib3.PoolManager`` is thread-safe).
Everything a user's environment decides (``SSL_CERT_FILE``, proxies, ``NETRC``, ``--offline``)
arrives as constructor arguments; nothing here reads environment variables.

Index pages go through the cache's ``simple-v1`` bucket with HTTP revalidation (ETag /
Last-Modified -> conditional request -> 304 reuses the cached body; ``Cache-Control``
``max-age`` / ``no-cache`` / ``no-store`` honoured). A JSON page's files of one project, as
grouped for the resolver, are kept in ``simple-parsed-v1`` with the digest of the body they
were read from, so an unchanged page (PyPI sends the same bytes again on every run) is not
decoded and grouped again. "Not found" (404, 403 as download.pytorch.org answers, 410) is
data: :meth:`HttpClient.fetch_page` returns None.
Credentials never appear in messages or cache keys: every URL shown goes through
:func:`redact_url`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, TypeVar
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from packaging.utils import NormalizedName, canonicalize_name

from torchup.cache import Cache, PageEntry
from torchup.errors import HashMismatchError, IndexError_, NetworkError
from torchup.index.simple import (
    JSON_CONTENT_TYPE,
    DistFile,
    JsonGroups,
    PageFiles,
    ProjectPage,
    parse_find_links,
    parse_html_page,
    parse_json_page,
    parse_project_list_html,
    parse_project_list_json,
)
from torchup.requirements import file_url_path

if TYPE_CHECKING:
    import ssl

    import urllib3

__all__ = [
    "ACCEPT_SIMPLE",
    "HttpClient",
    "HeadResult",
    "SuffixResult",
    "DownloadResult",
    "StreamBody",
    "RangeNotSupported",
    "OfflineError",
    "redact_url",
    "strip_credentials",
    "path_to_url",
]

logger = logging.getLogger("torchup.http")

ACCEPT_SIMPLE = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
_NOT_FOUND = frozenset({403, 404, 410})
_Parsed = TypeVar("_Parsed")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHUNK = 256 * 1024
_MAX_RETRY_AFTER = 60.0


class RangeNotSupported(NetworkError):
    """The server answered a Range request with the whole file (200) or refused it (416).

    The response body was not read: the caller decides whether a full download is worth it.
    """


class OfflineError(NetworkError):
    """``offline=True`` and the answer is not in the cache."""


@dataclass(frozen=True)
class HeadResult:
    """What a HEAD request said about a file."""

    url: str
    status: int
    size: int | None
    accept_ranges: bool
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class SuffixResult:
    """The last bytes of a file: ``data`` starts at offset ``start`` of a ``total``-byte file."""

    data: bytes
    start: int
    total: int


class StreamBody:
    """An open response body: iterate for chunks; ``size`` is the Content-Length if known."""

    def __init__(self, chunks: Iterator[bytes], size: int | None) -> None:
        self._chunks = chunks
        self.size = size

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: where it is, its size, and its hashes (always sha256)."""

    path: Path
    size: int
    hashes: Mapping[str, str]


# --- URL helpers (pure) ------------------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL with its password (or a lone token-like user name) replaced by ``****``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, _password = userinfo.partition(":")
    netloc = f"{user}:****@{hostport}" if sep else f"****@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def _is_default_cafile(path: str, default: str | None) -> bool:
    """Whether ``path`` is ``default``, the CA file ``ssl.create_default_context()`` loads here
    (``ssl.get_default_verify_paths().cafile``)."""
    try:
        return default is not None and os.path.samefile(path, default)
    except OSError:
        return False


def _hashed_trust_dir(cafile: str | None, capath: str | None) -> str | None:
    """``capath`` when a context may trust it alone instead of loading ``cafile`` too: it is
    an OpenSSL hashed directory (``<subject hash>.<n>`` names), which OpenSSL reads one
    certificate at a time as verifications need them, and ``cafile`` (the bundle OpenSSL's
    defaults load whole, ~150 certificates and ~30 ms of CPU per command) lives in it, as
    Debian's, Ubuntu's and Alpine's ``ca-certificates.crt`` does, made from the same
    certificates. None when that cannot be seen (Fedora's bundle lives apart from any hashed
    directory): the full defaults are loaded. A verification that still fails against the
    directory alone is retried with the full defaults (see ``HttpClient._request``).
    """
    if not capath:
        return None
    try:
        real_dir = os.path.realpath(capath)
        if cafile and os.path.dirname(os.path.realpath(cafile)) != real_dir:
            return None
        with os.scandir(real_dir) as entries:
            hashed = any(_is_hashed_name(entry.name) for entry in entries)
    except OSError:
        return None
    return real_dir if hashed else None


def _is_hashed_name(name: str) -> bool:
    """``5ad8a5d6.0``: how OpenSSL's c_rehash names a certificate by its subject hash."""
    stem, dot, number = name.partition(".")
    return bool(dot) and len(stem) == 8 and number.isdigit() and all(c in "0123456789abcdef" for c in stem)


def strip_credentials(url: str) -> str:
    """The URL without any ``user:password@`` part (what caches and lock files may store)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def path_to_url(path: str | os.PathLike[str]) -> str:
    """A ``file://`` URL for a local path (directories get a trailing slash)."""
    resolved = Path(path).resolve()
    url = resolved.as_uri()
    return url + "/" if resolved.is_dir() and not url.endswith("/") else url


def _is_file_url(url: str) -> bool:
    return url.startswith("file:") or "://" not in url


def _local_path(url: str) -> Path:
    if "://" not in url and not url.startswith("file:"):
        return Path(url)
    return Path(file_url_path(url))


def _open_local(url: str) -> BinaryIO:
    """Open a local file for a ``file://`` URL (or path); missing files are a 404 NetworkError."""
    try:
        return _local_path(url).open("rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise NetworkError(f"{url} does not exist", url=url, status=404) from exc


def _parse_cache_control(value: str | None) -> dict[str, str | None]:
    directives: dict[str, str | None] = {}
    for part in (value or "").split(","):
        key, sep, arg = part.strip().partition("=")
        if key:
            directives[key.lower()] = arg.strip('"') if sep else None
    return directives


def _page_project(url: str) -> str:
    """The canonical project name a ``<index>/<project>/`` page URL names."""
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return canonicalize_name(unquote(last))


def _max_age(cache_control: str | None) -> float | None:
    directives = _parse_cache_control(cache_control)
    if "no-cache" in directives or "no-store" in directives:
        return None
    try:
        return float(directives["max-age"] or "")
    except (KeyError, ValueError):
        return None


def _is_fresh(entry: PageEntry, now: float) -> bool:
    """True while ``max-age`` says the cached page may be used without asking the server."""
    max_age = _max_age(entry.cache_control)
    return max_age is not None and 0 <= now - entry.fetched_at < max_age


def _unless_max_age(cached: PageEntry | None, cache_control: str | None) -> PageEntry | None:
    """``cached``, unless the new ``Cache-Control`` has a max-age: then the fetch time is
    what keeps the page fresh and must be stored even when nothing else changed."""
    return cached if _max_age(cache_control) is None else None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils

    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


def _no_proxy_matches(host: str, no_proxy: Sequence[str]) -> bool:
    host = host.lower()
    for entry in no_proxy:
        entry = entry.strip().lower().lstrip(".")
        if not entry:
            continue
        if entry == "*" or host == entry or host.endswith("." + entry):
            return True
    return False


def _content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes 10-19/100`` -> (10, 20, 100): start, end (exclusive), total (None if ``*``)."""
    if not value or not value.startswith("bytes "):
        return None
    span, _, total = value[6:].partition("/")
    first, _, last = span.partition("-")
    try:
        return int(first), int(last) + 1, None if total.strip() == "*" else int(total)
    except ValueError:
        return None


def _range_problem(spec: str, parsed: tuple[int, int, int | None], received: int) -> str | None:
    """Why a 206 answer does not fit the request ``spec`` (``bytes=a-b`` / ``bytes=-n``)."""
    start, end, total = parsed
    if end - start != received:
        return f"Content-Range announces {end - start} bytes, {received} arrived"
    if start < 0 or end <= start or (total is not None and end > total):
        return f"Content-Range {start}-{end - 1}/{total} is impossible"
    first, _, last = spec[len("bytes=") :].partition("-")
    if first == "":  # a suffix: the last n bytes, so it must end at the total
        if total is None or end != total or received > int(last):
            return f"Content-Range {start}-{end - 1}/{total} is not the last {last} bytes"
    elif start != int(first) or end > int(last) + 1:
        return f"Content-Range {start}-{end - 1} is not the requested {first}-{last}"
    return None


def _decode_text(body: bytes, content_type: str | None) -> str:
    charset = "utf-8"
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _new_hashers(hashes: Mapping[str, str] | None) -> dict[str, Any]:
    algos = {"sha256"} | {a for a in (hashes or {}) if a in hashlib.algorithms_available}
    return {a: hashlib.new(a) for a in sorted(algos)}


# --- the client ----------------------------------------------------------------------------


@dataclass
class _Page:
    url: str  # final URL (after redirects), credential-free
    body: bytes
    content_type: str | None


class HttpClient:
    """HTTP(S) and ``file://`` access for indexes and distribution files. Thread-safe.

    ``retries`` counts extra attempts for connection errors, 5xx and 429 (honouring
    ``Retry-After``), with exponential ``backoff`` seconds; then :class:`NetworkError`.
    ``offline`` serves pages only from the cache (:class:`OfflineError` otherwise) and refuses
    file transfers. ``refresh`` revalidates every cached page regardless of ``max-age``.
    ``clock`` (seconds since the epoch) exists so tests can age cached pages.
    """

    def __init__(
        self,
        cache: Cache | None = None,
        *,
        retries: int = 3,
        timeout: float = 30.0,
        backoff: float = 0.5,
        netrc_path: str | os.PathLike[str] | None = None,
        ssl_cert_file: str | os.PathLike[str] | None = None,
        insecure_hosts: Sequence[str] = (),
        proxy_url: str | None = None,
        no_proxy: str | Sequence[str] | None = None,
        offline: bool = False,
        refresh: bool = False,
        refresh_projects: frozenset[str] = frozenset(),
        user_agent: str | None = None,
        max_connections: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache if cache is not None else Cache(None)
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self.offline = offline
        self.refresh = refresh
        self.refresh_projects = refresh_projects  # canonical names whose pages are revalidated
        self._netrc_path = Path(netrc_path) if netrc_path else None
        self._ssl_cert_file = str(ssl_cert_file) if ssl_cert_file else None
        # `--allow-insecure-host`: "host" (any port) or "host:port", whose certificates are
        # not checked (a private index with a self-signed certificate).
        self._insecure_hosts = frozenset(h.strip().lower() for h in insecure_hosts if h.strip())
        self._proxy_url = proxy_url or None
        if isinstance(no_proxy, str):
            no_proxy = no_proxy.split(",")
        self._no_proxy = tuple(s.strip() for s in no_proxy or () if s.strip())
        if user_agent is None:
            from torchup import __version__

            user_agent = f"torchup/{__version__}"
        self._user_agent = user_agent
        self._max_connections = max_connections
        self._clock = clock  # injectable so tests can age cached pages
        self._lock = threading.Lock()
        self._tls_lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        # Whether _tls trusts a hashed directory alone (see _hashed_trust_dir): a verification
        # failure then retries once with the full trust store before it is reported.
        self._tls_is_partial = False
        # Connection pools by (through the proxy?, certificates checked?)
        self._managers: dict[tuple[bool, bool], urllib3.PoolManager] = {}
        # Credentials seen in any URL, reused for other URLs on the same host (pip and uv do
        # the same: an index URL's token also unlocks its file URLs).
        self._credentials: dict[str, tuple[str, str]] = {}
        self._netrc_loaded = False
        self._netrc: Any = None

    # --- connection setup -------------------------------------------------------------

    def warm_up(self) -> None:
        """Start building the TLS context in a background thread; returns at once.

        Loading the trust store takes ~20 ms, mostly in OpenSSL with the GIL released: a
        command that calls this first overlaps it with its own start-up (reading inputs,
        finding the interpreter) instead of making the first page requests wait for it. Any
        error is left for the first request to raise, where it is reported properly.
        """
        if self.offline:
            return

        def build() -> None:
            try:
                self._shared_ssl_context()
            except Exception:  # noqa: BLE001 - the first request raises it again, in context
                pass

        threading.Thread(target=build, name="torchup-tls", daemon=True).start()

    def _shared_ssl_context(self) -> ssl.SSLContext:
        """One TLS context for every connection pool (built once; see :meth:`warm_up`)."""
        with self._tls_lock:
            if self._tls is None:
                self._tls = self._ssl_context()
            return self._tls

    def _ssl_context(self, *, full: bool = False) -> ssl.SSLContext:
        """The trust store for verified connections: the system's (plus any other CA file
        named), or with ``full=False`` its hashed directory alone when that is as good (see
        :func:`_hashed_trust_dir`)."""
        import ssl

        # The system trust store; SSL_CERT_FILE (passed in by the CLI) adds to it, unless it is
        # the very file OpenSSL's defaults just loaded (it reads SSL_CERT_FILE itself when
        # this process has it set): loading 150 certificates twice cost ~30 ms a command.
        paths = ssl.get_default_verify_paths()
        named = self._ssl_cert_file
        extra = named if named and not _is_default_cafile(named, paths.cafile) else None
        lazy_dir = None if full or extra else _hashed_trust_dir(paths.cafile, paths.capath)
        self._tls_is_partial = lazy_dir is not None
        if lazy_dir is not None:
            return ssl.create_default_context(capath=lazy_dir)
        context = ssl.create_default_context()
        if extra:
            try:
                context.load_verify_locations(cafile=extra)
            except (OSError, ssl.SSLError) as exc:
                raise NetworkError(
                    f"cannot load the certificates in {extra}: {exc}",
                    url=extra,
                    hint="check that --cert or SSL_CERT_FILE points at a PEM bundle",
                ) from exc
        return context

    def _trust_everything(self, used: ssl.SSLContext | None) -> bool:
        """After a TLS failure with the store ``used``: whether to try again, with the full
        store. Replaces a partial store by the full one (and the pools that hold it); True too
        when another thread did so since ``used`` was taken; False when ``used`` was full
        already, so the failure stands."""
        with self._tls_lock:
            if not self._tls_is_partial:
                return used is not None and used is not self._tls
            self._tls = self._ssl_context(full=True)
        logger.debug("TLS verification failed against the hashed directory alone; retrying "
                     "with the full trust store")
        with self._lock:
            stale = [key for key in self._managers if key[1]]
            for key in stale:
                self._managers.pop(key).clear()
        return True

    def _is_insecure(self, host: str, port: int | None) -> bool:
        hosts = self._insecure_hosts
        return bool(hosts) and (host in hosts or (port is not None and f"{host}:{port}" in hosts))

    def _manager(self, host: str, port: int | None = None) -> urllib3.PoolManager:
        import urllib3

        with self._lock:
            use_proxy = bool(self._proxy_url) and not _no_proxy_matches(host, self._no_proxy)
            verify = not self._is_insecure(host, port)
            manager = self._managers.get((use_proxy, verify))
            if manager is not None:
                return manager
            tls: dict[str, Any]
            if verify:
                tls = {"ssl_context": self._shared_ssl_context()}
            else:
                import warnings

                tls = {"cert_reqs": "CERT_NONE", "assert_hostname": False}
                # The user asked for it by name; urllib3 would repeat it on every request.
                warnings.filterwarnings(
                    "ignore", category=urllib3.exceptions.InsecureRequestWarning
                )
            if use_proxy:
                assert self._proxy_url is not None
                proxy_headers = None
                proxy = urlsplit(self._proxy_url)
                if proxy.username is not None:
                    auth = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
                    proxy_headers = urllib3.make_headers(proxy_basic_auth=auth)
                manager = urllib3.ProxyManager(
                    strip_credentials(self._proxy_url),
                    num_pools=32,
                    maxsize=self._max_connections,
                    proxy_headers=proxy_headers,
                    **tls,
                )
            else:
                manager = urllib3.PoolManager(num_pools=32, maxsize=self._max_connections, **tls)
            self._managers[(use_proxy, verify)] = manager
            return manager

    def _auth_for(self, url: str) -> tuple[str, dict[str, str]]:
        """(credential-free URL, Authorization header if any) for ``url``."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        clean = strip_credentials(url)
        creds: tuple[str, str] | None = None
        if parts.username is not None:
            creds = (unquote(parts.username), unquote(parts.password or ""))
            with self._lock:
                self._credentials[host] = creds
        else:
            with self._lock:
                creds = self._credentials.get(host)
            if creds is None:
                creds = self._netrc_credentials(host)
        if creds is None:
            return clean, {}
        token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode("ascii")
        return clean, {"Authorization": f"Basic {token}"}

    def _netrc_credentials(self, host: str) -> tuple[str, str] | None:
        if self._netrc_path is None:
            return None
        with self._lock:
            if not self._netrc_loaded:
                self._netrc_loaded = True
                import netrc

                try:
                    self._netrc = netrc.netrc(str(self._netrc_path))
                except (OSError, netrc.NetrcParseError) as exc:
                    logger.warning("ignoring %s: %s", self._netrc_path, exc)
            if self._netrc is None:
                return None
            found = self._netrc.authenticators(host)
        if not found:
            return None
        login, _account, password = found
        return (login or "", password or "")

    # --- the request loop ---------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        preload: bool = True,
        decode: bool = True,
        _redirects: int = 0,
    ) -> urllib3.BaseHTTPResponse:
        """Send one idempotent request, retrying connection errors, 5xx and 429.

        Returns the final response of any status other than a retried one; with
        ``preload=False`` the caller must ``release_conn()`` / ``close()`` it.
        """
        import urllib3
        from urllib3.exceptions import HTTPError, MaxRetryError, ResponseError, SSLError

        if self.offline:
            raise OfflineError(
                f"cannot fetch {redact_url(url)} in offline mode",
                url=redact_url(url),
                hint="run without --offline, or fetch it once while online",
            )
        clean, auth = self._auth_for(url)
        shown = redact_url(url)
        all_headers = {"User-Agent": self._user_agent, **auth, **(headers or {})}
        where = urlsplit(clean)
        host = (where.hostname or "").lower()
        manager = self._manager(host, where.port)
        insecure = self._is_insecure(host, where.port)
        timeout = urllib3.Timeout(connect=self.timeout, read=self.timeout)
        # urllib3 follows redirects (and drops Authorization across hosts); we do the retries.
        # Not from an --allow-insecure-host host: its unverified pool would fetch the target
        # unverified too, so each hop is requested here, through the pool its host gets.
        retry = urllib3.Retry(
            total=None, connect=0, read=0, status=0, other=0,
            redirect=0 if insecure else 10, raise_on_redirect=not insecure,
        )
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                response = manager.request(
                    method,
                    clean,
                    headers=all_headers,
                    preload_content=preload,
                    decode_content=decode,
                    timeout=timeout,
                    retries=retry,
                )
            except HTTPError as exc:
                reason: BaseException = exc
                if isinstance(exc, MaxRetryError) and exc.reason is not None:
                    reason = exc.reason
                if isinstance(reason, SSLError) or isinstance(exc, SSLError):
                    used = manager.connection_pool_kw.get("ssl_context")
                    if not insecure and self._trust_everything(used):
                        manager = self._manager(host, where.port)
                        continue
                    raise NetworkError(
                        f"TLS verification failed for {shown}: {reason}",
                        url=shown,
                        hint="if a proxy or private index re-signs TLS, point SSL_CERT_FILE "
                        "(or --cert) at its CA bundle; --allow-insecure-host HOST skips the check "
                        "for one host",
                    ) from exc
                if isinstance(reason, ResponseError) and "redirect" in str(reason):
                    # A redirect loop is not transient: retrying it only multiplies the
                    # requests (4 attempts x 11 redirects before). Fail at once, and say so.
                    raise NetworkError(
                        f"{shown} redirects in a loop (more than 10 redirects)",
                        url=shown,
                        hint="the index URL or a proxy in front of it is misconfigured",
                    ) from exc
                if attempt >= self.retries:
                    raise NetworkError(
                        f"could not reach {shown}: {_describe(reason)}"
                        + (f" (tried {attempt + 1} times)" if attempt else ""),
                        url=shown,
                        hint="check the network connection, proxy settings and the index URL",
                    ) from exc
                delay = self.backoff * (2**attempt)
                logger.debug("%s %s failed (%s); retrying in %.1fs", method, shown, reason, delay)
            else:
                logger.debug(
                    "%s %s -> %d (%.0f ms)",
                    method,
                    shown,
                    response.status,
                    (time.monotonic() - started) * 1000,
                )
                location = response.headers.get("Location") if insecure else None
                if location and response.status in (301, 302, 303, 307, 308):
                    response.drain_conn()
                    response.release_conn()
                    if _redirects >= 10:
                        raise NetworkError(
                            f"{shown} redirects in a loop (more than 10 redirects)",
                            url=shown,
                            hint="the index URL or a proxy in front of it is misconfigured",
                        )
                    return self._request(
                        "GET" if response.status == 303 else method, urljoin(clean, location),
                        headers, preload=preload, decode=decode, _redirects=_redirects + 1,
                    )
                if response.status not in _RETRY_STATUSES or attempt >= self.retries:
                    return response
                delay = _retry_after(response.headers.get("Retry-After"))
                if delay is None:
                    delay = self.backoff * (2**attempt)
                delay = min(delay, _MAX_RETRY_AFTER)
                response.drain_conn()
                response.release_conn()
                logger.debug(
                    "%s %s -> %d; retrying in %.1fs", method, shown, response.status, delay
                )
            attempt += 1
            time.sleep(delay)

    def _raise_status(self, url: str, status: int, what: str = "fetch") -> NoReturn:
        shown = redact_url(url)
        hint = None
        if status in (401, 403):
            hint = "the index wants credentials: put them in the URL or in ~/.netrc"
        elif status in _RETRY_STATUSES:
            hint = "the server is failing; try again later"
        raise NetworkError(
            f"could not {what} {shown}: HTTP {status}"
            + (
                f" after {self.retries + 1} attempts"
                if status in _RETRY_STATUSES and self.retries
                else ""
            ),
            url=shown,
            status=status,
            hint=hint,
        )

    # --- pages --------------------------------------------------------------------------

    def _get_page(self, url: str, *, accept: str = ACCEPT_SIMPLE) -> _Page | None:
        """GET an index page through the cache. None when the server says "not found"."""
        if _is_file_url(url):
            return self._local_page(url)
        key = strip_credentials(url)
        shown = redact_url(url)
        cached = self.cache.read_page(key)
        now = self._clock()
        refresh = self.refresh or (
            bool(self.refresh_projects) and _page_project(url) in self.refresh_projects
        )
        if cached is not None and (self.offline or (not refresh and _is_fresh(cached, now))):
            logger.debug("page %s served from cache", shown)
            return _Page(cached.url, cached.body, cached.content_type)
        if self.offline:
            raise OfflineError(
                f"{shown} is not in the cache and torchup is offline",
                url=shown,
                hint="run once without --offline to fill the cache",
            )
        headers = {"Accept": accept, "Accept-Encoding": "gzip, deflate"}
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        response = self._request("GET", url, headers)
        status = response.status
        if status == 304 and cached is not None:
            cache_control = response.headers.get("Cache-Control", cached.cache_control)
            refreshed = PageEntry(
                url=cached.url,
                body=cached.body,
                content_type=cached.content_type,
                etag=response.headers.get("ETag", cached.etag),
                last_modified=response.headers.get("Last-Modified", cached.last_modified),
                cache_control=cache_control,
                fetched_at=now,
            )
            # Only max-age makes fetched_at matter; without it an unchanged entry is not
            # rewritten (see Cache.write_page).
            self.cache.write_page(key, refreshed, previous=_unless_max_age(cached, cache_control))
            logger.debug("page %s not modified (304); reused cached copy", shown)
            return _Page(cached.url, cached.body, cached.content_type)
        if status in _NOT_FOUND:
            return None
        if status != 200:
            self._raise_status(url, status)
        final_url = strip_credentials(_final_url(response, url))
        body = response.data
        content_type = response.headers.get("Content-Type")
        cache_control = response.headers.get("Cache-Control")
        if "no-store" not in _parse_cache_control(cache_control):
            self.cache.write_page(
                key,
                PageEntry(
                    url=final_url,
                    body=body,
                    content_type=content_type,
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                    cache_control=cache_control,
                    fetched_at=now,
                ),
                # An index without validators (PyPI's JSON pages) sends the whole page again
                # on every run: a byte-identical one is not rewritten (see Cache.write_page).
                previous=_unless_max_age(cached, cache_control),
            )
        return _Page(final_url, body, content_type)

    def cached_page_size(self, url: str) -> int | None:
        """The size of the page at ``url`` as last cached (None: not cached, or a local page).
        One stat(): callers use it to guess which pages take longest."""
        if _is_file_url(url):
            return None
        try:
            return self.cache.path("simple-v1", strip_credentials(url)).stat().st_size
        except OSError:
            return None

    def _local_page(self, url: str) -> _Page | None:
        path = _local_path(url)
        base = path_to_url(path) if path.exists() else url
        if path.is_dir():
            index = path / "index.html"
            if index.is_file():
                return _Page(base, index.read_bytes(), "text/html")
            # A plain directory: list it as a find-links page would.
            names = sorted(p.name for p in path.iterdir() if p.is_file())
            body = "".join(f'<a href="{quote(n)}">{n}</a>\n' for n in names).encode()
            return _Page(base, body, "text/html")
        if path.is_file():
            kind = JSON_CONTENT_TYPE if path.suffix == ".json" else "text/html"
            return _Page(base, path.read_bytes(), kind)
        return None

    def fetch_page(
        self, url: str, *, project: str | None = None, index: str | None = None
    ) -> ProjectPage | None:
        """The project page at ``url`` (HTML or JSON, by Content-Type), or None if the index
        does not have the project (404/403/410, or a missing local directory).

        Raises :class:`NetworkError` for other failures, :class:`OfflineError` when offline
        and not cached. ``project`` overrides the name taken from the URL; ``index`` is stored
        in every :attr:`DistFile.index`.
        """
        return self._parsed_page(
            url,
            lambda page: parse_json_page(
                self._json_body(page, url), page.url, project=project, index=index
            ),
            lambda text, base: parse_html_page(text, base, project=project, index=index),
        )

    def fetch_page_files(
        self, url: str, *, project: str, index: str | None = None
    ) -> PageFiles | None:
        """``project``'s files on the page at ``url``: :meth:`fetch_page`'s files whose
        :attr:`DistFile.project` is ``project``, grouped by version, and for a JSON page built
        only when read (:class:`PageFiles`). None, and errors, as for :meth:`fetch_page`."""
        name = canonicalize_name(project)

        def from_html(text: str, base: str) -> PageFiles:
            parsed = parse_html_page(text, base, project=project, index=index)
            return PageFiles.from_files(f for f in parsed.files if f.project == name)

        return self._parsed_page(
            url,
            lambda page: PageFiles.from_groups(self._json_groups(page, url, name), index),
            from_html,
        )

    def _parsed_page(
        self,
        url: str,
        from_json: Callable[[_Page], _Parsed],
        from_html: Callable[[str, str], _Parsed],
    ) -> _Parsed | None:
        """Fetch the page at ``url`` and parse it by its Content-Type: a JSON page as it is,
        an HTML page as text with the URL it was served from (the base of its links). A page
        that fails to parse is dropped from the cache."""
        page = self._get_page(url)
        if page is None:
            return None
        with self._forget_bad_page(url):
            if page.content_type and JSON_CONTENT_TYPE in page.content_type:
                return from_json(page)
            return from_html(_decode_text(page.body, page.content_type), page.url)

    def _json_groups(self, page: _Page, url: str, project: NormalizedName) -> JsonGroups:
        """``project``'s files on the JSON ``page`` (fetched for ``url``), grouped by version.

        Read from the ``simple-parsed-v1`` cache when it holds the groups made from this very
        body (the same sha256 digest) served from the same URL: PyPI sends its pages without
        validators, so every run downloads them again, nearly always byte-identical, and
        reading the stored groups costs a fraction of decoding and grouping the JSON.
        Otherwise the page is decoded and grouped, and the groups stored for the next run,
        best effort: a cache that cannot be read or written only costs that time again.
        """
        def parse() -> JsonGroups:
            return JsonGroups.from_json(self._json_body(page, url), page.url, project)

        if not self.cache.persistent:
            # --no-cache: nothing stored would outlive this run, which reads each page once.
            return parse()
        key = f"{strip_credentials(url)} {project}"
        # sha256, not blake2b: OpenSSL's uses the CPU's SHA instructions, 7 ms for the 26 pages
        # (12.5 MB) of a warm install here against blake2b's 13 ms. Both release the GIL on
        # large inputs, so other pages' threads go on meanwhile. A digest stored by another
        # algorithm simply does not match: a miss, and the parse is stored again.
        source = hashlib.sha256(page.body).digest()
        try:
            blob = self.cache.read("simple-parsed-v1", key)
        except OSError as exc:
            logger.debug("parsed pages cannot be cached: %s", exc)
            return parse()
        if blob is not None:
            found = JsonGroups.from_bytes(blob, source=source, page_url=page.url, project=project)
            if found is not None:
                return found
        groups = parse()
        try:
            self.cache.write("simple-parsed-v1", key, groups.to_bytes(source))
        except OSError as exc:
            logger.debug("could not store the parse of %s: %s", redact_url(url), exc)
        return groups

    @staticmethod
    def _json_body(page: _Page, url: str) -> Any:
        """The decoded body of a JSON page; IndexError_ when it is not valid JSON."""
        try:
            return json.loads(page.body)
        except ValueError as exc:
            raise IndexError_(
                f"the index page {redact_url(url)} is not valid JSON: {exc}",
                url=redact_url(url),
                hint="the index sent a broken page; try again, or report it to the "
                "index's owners if it persists",
            ) from exc

    @contextlib.contextmanager
    def _forget_bad_page(self, url: str) -> Iterator[None]:
        """Drop the cached copy of a page that fails to parse.

        Pages are cached before they are parsed; without this a single garbled response
        (a broken proxy, a half-deployed mirror) would be served from the cache for its whole
        ``max-age``, and in ``--offline`` mode forever, even after the index is fixed.
        """
        try:
            yield
        except IndexError_:
            if not _is_file_url(url):
                with contextlib.suppress(OSError):
                    self.cache.remove("simple-v1", strip_credentials(url))
            raise

    def fetch_find_links(self, url: str, *, index: str | None = None) -> list[DistFile]:
        """Every wheel/sdist a find-links location offers: an HTML page (http or local file)
        or a plain local directory. A missing location gives an empty list."""
        if _is_file_url(url):
            path = _local_path(url)
            if path.is_dir() and not (path / "index.html").is_file():
                names = [p.name for p in path.iterdir() if p.is_file()]
                return parse_find_links(names, path_to_url(path), index=index)
        page = self._get_page(url, accept="text/html")
        if page is None:
            return []
        text = _decode_text(page.body, page.content_type)
        return parse_find_links(text, page.url, index=index)

    def fetch_project_list(self, url: str) -> list[str]:
        """Project names on an index's root page (PEP 503 or 691); empty if not found."""
        page = self._get_page(url)
        if page is None:
            return []
        if page.content_type and JSON_CONTENT_TYPE in page.content_type:
            with self._forget_bad_page(url):
                try:
                    data = json.loads(page.body)
                except ValueError as exc:
                    # Was an uncaught JSONDecodeError (exit 70); now a clear IndexError_.
                    raise IndexError_(
                        f"the index page {redact_url(url)} is not valid JSON: {exc}",
                        url=redact_url(url),
                    ) from exc
                return list(parse_project_list_json(data, redact_url(url)))
        return list(parse_project_list_html(_decode_text(page.body, page.content_type)))

    # --- files --------------------------------------------------------------------------

    def fetch_bytes(self, url: str) -> bytes | None:
        """GET a small file whole (a PEP 658 ``.metadata`` file); None when not found
        (404/403/410). Not cached here: callers cache what they derive from it."""
        if _is_file_url(url):
            path = _local_path(url)
            return path.read_bytes() if path.is_file() else None
        response = self._request("GET", url, {"Accept-Encoding": "gzip, deflate"})
        if response.status in _NOT_FOUND:
            return None
        if response.status != 200:
            self._raise_status(url, response.status)
        return bytes(response.data)

    def head(self, url: str) -> HeadResult:
        """HEAD ``url``: size and whether byte ranges are accepted. Raises for errors."""
        if _is_file_url(url):
            with _open_local(url) as f:
                return HeadResult(url, 200, os.fstat(f.fileno()).st_size, True)
        response = self._request("HEAD", url, {"Accept-Encoding": "identity"})
        if response.status != 200:
            self._raise_status(url, response.status, "inspect")
        length = response.headers.get("Content-Length")
        return HeadResult(
            redact_url(_final_url(response, url)),
            response.status,
            int(length) if length and length.isdigit() else None,
            "bytes" in response.headers.get("Accept-Ranges", "").lower(),
            dict(response.headers),
        )

    def get_range(self, url: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the file (``end`` exclusive, like a slice).

        Raises :class:`RangeNotSupported` (body unread) when the server ignores the Range.
        May return fewer bytes when the file is shorter.
        """
        if end <= start:
            return b""
        if _is_file_url(url):
            with _open_local(url) as f:
                f.seek(start)
                return f.read(end - start)
        return self._ranged(url, f"bytes={start}-{end - 1}")[0]

    def get_suffix(self, url: str, n: int) -> SuffixResult:
        """The last ``n`` bytes (all of a shorter file) plus where they start and the total size.

        Raises :class:`RangeNotSupported` (body unread) when the server ignores the Range.
        """
        if _is_file_url(url):
            with _open_local(url) as f:
                total = os.fstat(f.fileno()).st_size
                start = max(0, total - n)
                f.seek(start)
                return SuffixResult(f.read(), start, total)
        data, first, size = self._ranged(url, f"bytes=-{n}")
        return SuffixResult(data, first, size if size is not None else first + len(data))

    def _ranged(self, url: str, spec: str) -> tuple[bytes, int, int | None]:
        attempt = 0
        while True:
            try:
                return self._ranged_once(url, spec)
            except _TransientReadError:
                if attempt >= self.retries:
                    raise
                attempt += 1
                time.sleep(self.backoff * (2 ** (attempt - 1)))

    def _ranged_once(self, url: str, spec: str) -> tuple[bytes, int, int | None]:
        response = self._request(
            "GET", url, {"Range": spec, "Accept-Encoding": "identity"}, preload=False, decode=False
        )
        try:
            if response.status == 206:
                parsed = _content_range(response.headers.get("Content-Range"))
                try:
                    data = response.read()
                except Exception as exc:
                    _reraise_read_error(exc, url)
                    raise
                if parsed is None:
                    raise NetworkError(
                        f"{redact_url(url)} answered a Range request without Content-Range",
                        url=redact_url(url),
                        status=206,
                    )
                problem = _range_problem(spec, parsed, len(data))
                if problem:
                    # A server that answers ranges wrongly is treated like one that ignores
                    # them: the caller falls back to reading the file from the start, instead
                    # of parsing bytes placed at the wrong offset.
                    raise RangeNotSupported(
                        f"{redact_url(url)} answered a Range request wrongly ({problem})",
                        url=redact_url(url),
                        status=206,
                    )
                return data, parsed[0], parsed[2]
            if response.status in (200, 416):
                raise RangeNotSupported(
                    f"{redact_url(url)} does not serve byte ranges (HTTP {response.status})",
                    url=redact_url(url),
                    status=response.status,
                )
            self._raise_status(url, response.status)
        finally:
            if response.status == 206:
                response.release_conn()
            else:
                # Do not drain a possibly huge body just to reuse the connection.
                response.close()

    @contextlib.contextmanager
    def stream(self, url: str, chunk_size: int = _CHUNK) -> Iterator[StreamBody]:
        """Stream the file's raw bytes (no content decoding). Leaving the ``with`` block early
        closes the connection, so a caller may stop reading at any point. A connection that
        breaks mid-body raises :class:`NetworkError`."""
        if _is_file_url(url):
            with _open_local(url) as f:
                size = os.fstat(f.fileno()).st_size
                yield StreamBody(iter(lambda: f.read(chunk_size), b""), size)
            return
        response = self._request(
            "GET", url, {"Accept-Encoding": "identity"}, preload=False, decode=False
        )
        completed = False
        try:
            if response.status != 200:
                self._raise_status(url, response.status, "download")
            length = response.headers.get("Content-Length")
            yield StreamBody(
                response.stream(chunk_size, decode_content=False),
                int(length) if length and length.isdigit() else None,
            )
            completed = True
        except Exception as exc:
            _reraise_read_error(exc, url)
            raise
        finally:
            if completed and response.length_remaining in (0, None):
                response.release_conn()
            else:
                response.close()

    def download(
        self,
        url: str,
        dest: str | os.PathLike[str],
        *,
        hashes: Mapping[str, str] | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> DownloadResult:
        """Download ``url`` to ``dest``, hashing while streaming.

        The file is written to a temporary name next to ``dest`` and renamed only when every
        hash in ``hashes`` (``{"sha256": hex}``; unknown algorithms are ignored) matches;
        otherwise nothing is left behind and :class:`HashMismatchError` is raised. A dropped
        connection restarts the download (up to ``retries`` times). ``on_progress(done,
        total)`` is called after every chunk (``total`` None when unknown).
        """
        import tempfile

        dest_path = Path(dest)
        dest_path.parent.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=dest_path.parent)
            tmp = Path(tmp_name)
            try:
                hashers = _new_hashers(hashes)
                done = 0
                with os.fdopen(fd, "wb") as out, self.stream(url) as body:
                    total = body.size
                    for chunk in body:
                        out.write(chunk)
                        for h in hashers.values():
                            h.update(chunk)
                        done += len(chunk)
                        if on_progress is not None:
                            on_progress(done, total)
                digests = {a: h.hexdigest() for a, h in hashers.items()}
                for algo, expected in (hashes or {}).items():
                    actual = digests.get(algo)
                    if actual is not None and actual != expected.lower():
                        raise HashMismatchError(
                            url=redact_url(url), expected=expected, actual=actual, algorithm=algo
                        )
                os.replace(tmp, dest_path)
                return DownloadResult(dest_path, done, digests)
            except _TransientReadError as exc:
                tmp.unlink(missing_ok=True)
                if attempt >= self.retries:
                    raise NetworkError(
                        f"the download of {redact_url(url)} kept breaking off: {exc}",
                        url=redact_url(url),
                        hint="check the network connection and try again",
                    ) from exc
                attempt += 1
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    def close(self) -> None:
        """Close pooled connections (the client stays usable; pools reopen on demand)."""
        with self._lock:
            for manager in self._managers.values():
                manager.clear()


class _TransientReadError(NetworkError):
    """The connection broke while a body was being read; the caller may restart."""


def _reraise_read_error(exc: BaseException, url: str) -> None:
    from urllib3.exceptions import HTTPError

    if isinstance(exc, HTTPError):
        raise _TransientReadError(
            f"reading {redact_url(url)} failed: {_describe(exc)}", url=redact_url(url)
        ) from exc


def _final_url(response: urllib3.BaseHTTPResponse, requested: str) -> str:
    # urllib3 reports the last request's URL, possibly only its path: resolve it.
    return urljoin(requested, response.url) if response.url else requested


def _describe(reason: BaseException) -> str:
    text = str(reason)
    # urllib3 wraps OS errors as "<HTTPConnection object at 0x...>: Failed to establish a new
    # connection: [Errno 111] Connection refused"; the part after the object repr is the story.
    if ">: " in text:
        text = text.split(">: ", 1)[1]
    return text or type(reason).__name__
