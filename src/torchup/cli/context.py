"""Composition root: turns CLI flags + environment into the objects commands work with.

The only place that builds caches, HTTP clients, finders, targets and index policies from
user input. Environment variables are read once, through :func:`torchup.config.read_env`.

Imports are lazy (no ``dataclasses``, ``datetime`` or :mod:`torchup.cache` at import time):
``torchup venv`` and ``torchup cache dir`` are dominated by start-up.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from torchup.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from typing import Any

    from torchup.cache import Bucket, Cache
    from torchup.index.client import HttpClient
    from torchup.index.finder import Finder, IndexSource
    from torchup.install.interpreters import Interpreter
    from torchup.resolver.sources import IndexPin
    from torchup.target import Target

__all__ = ["Context", "PYPI_SIMPLE", "page_workers"]


def page_workers(cpu_count: int | None) -> int:
    """How many index pages a command reads at once: 4 on one or two cores, 8 from four on.

    Each page thread costs a TLS handshake and, while the others run Python, a GIL hand-off
    per 16 KB read. On this 2-core bench machine, a warm 26-package install with 4 instead
    of 8 took 55-70 ms less CPU (median of 12-14 interleaved runs: 0.57 vs 0.63 s) and was
    20-45 ms faster; a cold `pip compile jupyter` (~100 pages) was not slower (1.34 vs
    1.37 s). With more cores that CPU runs on otherwise idle ones, and more requests in
    flight help on a high-latency link, so bigger machines keep 8."""
    return 8 if (cpu_count or 1) >= 4 else 4

PYPI_SIMPLE = "https://pypi.org/simple"


def _opt(ns: argparse.Namespace, name: str, default: Any = None) -> Any:
    return getattr(ns, name, default)


def _env_flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


# uv's environment variables torchup honours, each as a fallback for its TORCHUP_ twin (same
# meaning and format): CI set up for uv (a private index in UV_INDEX_URL, say) keeps working
# when the command's first word changes. UV_CACHE_DIR is not one: uv's cache is not torchup's.
UV_ENV_FALLBACKS = {
    "TORCHUP_INDEX_URL": "UV_INDEX_URL",
    "TORCHUP_DEFAULT_INDEX": "UV_DEFAULT_INDEX",
    "TORCHUP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
    "TORCHUP_INDEX": "UV_INDEX",
    "TORCHUP_FIND_LINKS": "UV_FIND_LINKS",
    "TORCHUP_INDEX_STRATEGY": "UV_INDEX_STRATEGY",
    "TORCHUP_PRERELEASE": "UV_PRERELEASE",
    "TORCHUP_RESOLUTION": "UV_RESOLUTION",
    "TORCHUP_EXCLUDE_NEWER": "UV_EXCLUDE_NEWER",
    "TORCHUP_OFFLINE": "UV_OFFLINE",
    "TORCHUP_NO_CACHE": "UV_NO_CACHE",
    "TORCHUP_TORCH_BACKEND": "UV_TORCH_BACKEND",
    "TORCHUP_HTTP_TIMEOUT": "UV_HTTP_TIMEOUT",
    "TORCHUP_INSECURE_HOST": "UV_INSECURE_HOST",
    "TORCHUP_BUILD_CONSTRAINT": "UV_BUILD_CONSTRAINT",
    "TORCHUP_REQUIRE_HASHES": "UV_REQUIRE_HASHES",
    "TORCHUP_NO_VERIFY_HASHES": "UV_NO_VERIFY_HASHES",
}


def with_uv_fallbacks(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with each unset TORCHUP_ variable of :data:`UV_ENV_FALLBACKS` taken from its
    uv twin when that is set (a TORCHUP_ variable always wins)."""
    out = dict(env)
    for ours, theirs in UV_ENV_FALLBACKS.items():
        if not out.get(ours) and out.get(theirs):
            out[ours] = out[theirs]
    return out


class Context:
    """Everything one command invocation needs, built lazily from flags and environment."""

    def __init__(
        self,
        ns: argparse.Namespace,
        env: Mapping[str, str] | None = None,
        _cache: Cache | None = None,
        _client: HttpClient | None = None,
    ) -> None:
        self.ns = ns
        self.env: Mapping[str, str] = with_uv_fallbacks(os.environ if env is None else env)
        self._cache = _cache
        self._client = _client
        # (every build, these packages' builds) without isolation, and extra build requirements
        # by package: see use_project_settings; the project environment's versions, for
        # match-runtime ones: see use_runtime_versions
        self._project_no_isolation: tuple[bool, frozenset[str]] = (False, frozenset())
        self._extra_build: Mapping[str, tuple[Any, ...]] = {}
        self._project_build_constraints: tuple[Any, ...] = ()
        self._file_build_constraints: list[Any] | None = None
        self._runtime_versions: Mapping[str, str] = {}
        self.runtime_torch_backend: str | None = None
        self._finders: dict[tuple[object, ...], Finder] = {}
        if _opt(ns, "keyring_provider") == "subprocess":
            # Accepted for uv's command lines, but no keyring lookup is made: saying so beats
            # a 401 from an index whose password was expected to come from there.
            raise ConfigError(
                "--keyring-provider subprocess is not supported yet",
                hint="put the credentials in ~/.netrc (or $NETRC) or in the index URL",
            )

    def __repr__(self) -> str:
        return f"Context(ns={self.ns!r}, env=..., _cache={self._cache!r}, _client={self._client!r})"

    # -- cache and network ---------------------------------------------------------------
    @property
    def cache(self) -> Cache:
        if self._cache is None:
            from torchup.cache import Cache

            if self._no_cache():
                self._cache = Cache(None)
            else:
                self._cache = Cache(self._checked_cache_dir())
        return self._cache

    def pyenv_root(self) -> Path | None:
        """``$PYENV_ROOT`` or ``~/.pyenv``, where interpreters are looked for after PATH; None
        when it does not exist."""
        root = Path(self.env.get("PYENV_ROOT") or Path.home() / ".pyenv")
        return root if root.exists() else None

    def find_python(self, request: str | None) -> Interpreter:
        """The interpreter ``request`` names (a version, a name, a path; None: the default), on
        PATH or under :meth:`pyenv_root`, described through the interpreter cache."""
        from torchup.install.interpreters import find_python

        return find_python(
            request,
            path_env=self.env.get("PATH", ""),
            pyenv_root=self.pyenv_root(),
            cache_dir=self.bucket("interpreters-v1"),
        )

    def bucket(self, name: Bucket) -> Path:
        """``self.cache.bucket(name)``, without importing :mod:`torchup.cache` (and with it
        ``dataclasses`` and ``hashlib``) when only a bucket's directory is needed, as
        ``torchup venv`` needs the interpreter cache's. Same layout: ``<root>/<bucket>``."""
        if self._cache is not None or self._no_cache():
            return self.cache.bucket(name)
        root = self._checked_cache_dir()
        path = root / name
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unusable_cache(root, exc) from None
        return path

    def warm_network(self) -> None:
        """Let the HTTP client build its TLS context while the command reads its inputs,
        unless no index will be asked (``--no-index``: find-links folders and local files)."""
        if not _opt(self.ns, "no_index"):
            self.client.warm_up()

    def hash_checking(self) -> str:
        """How the requirements' ``--hash`` values are used: "require" (--require-hashes or
        TORCHUP_REQUIRE_HASHES: every requirement needs one, and they are checked), "off"
        (uv's --no-verify-hashes, or TORCHUP_NO_VERIFY_HASHES unless --verify-hashes: not
        checked), else "verify" (checked where given, the default of uv and of torchup)."""
        if _opt(self.ns, "require_hashes") or _env_flag(self.env.get("TORCHUP_REQUIRE_HASHES")):
            return "require"
        flag = _opt(self.ns, "verify_hashes")  # the command line wins over the environment
        if flag is not None:
            return "verify" if flag else "off"
        return "off" if _env_flag(self.env.get("TORCHUP_NO_VERIFY_HASHES")) else "verify"

    def _no_cache(self) -> bool:
        return bool(_opt(self.ns, "no_cache")) or _env_flag(self.env.get("TORCHUP_NO_CACHE"))

    def _checked_cache_dir(self) -> Path:
        """The cache root, refused up front (a clear error, not a NotADirectoryError from deep
        inside a command) when a regular file stands where it or a parent must be a directory,
        e.g. TORCHUP_CACHE_DIR=/etc/hosts/cache. Creates nothing: the cache makes its buckets."""
        root = self.cache_dir()
        for path in (root, *root.parents):
            try:
                is_dir = path.is_dir()
            except OSError as exc:
                raise self._unusable_cache(root, exc) from None
            if is_dir:
                break
            if path.exists():
                raise self._unusable_cache(root, NotADirectoryError(f"{path} is not a directory"))
        return root

    def _unusable_cache(self, root: Path, exc: OSError) -> ConfigError:
        if _opt(self.ns, "cache_dir"):
            source = "--cache-dir"
        elif self.env.get("TORCHUP_CACHE_DIR"):
            source = "TORCHUP_CACHE_DIR"
        else:
            source = "the default location"
        blocker = next((p for p in (root, *root.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            reason = f"{blocker} is a file, not a directory"
        else:
            reason = exc.strerror or str(exc)
        return ConfigError(
            f"the cache directory {root} (from {source}) cannot be used: {reason}",
            key="cache-dir",
            hint="point --cache-dir or TORCHUP_CACHE_DIR at a directory torchup can create and "
            "write, or pass --no-cache to use a temporary cache",
        )

    def cache_dir(self) -> Path:
        explicit = _opt(self.ns, "cache_dir") or self.env.get("TORCHUP_CACHE_DIR")
        if explicit:
            return Path(explicit).expanduser().resolve()
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("torchup", appauthor=False))

    @property
    def offline(self) -> bool:
        return bool(_opt(self.ns, "offline")) or _env_flag(self.env.get("TORCHUP_OFFLINE"))

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            from torchup.cli.output import configure_logging
            from torchup.index.client import HttpClient

            configure_logging()  # before urllib3 and the index code can log (see output.py)

            retries = self._int_env("TORCHUP_HTTP_RETRIES", 3)
            timeout = float(self._int_env("TORCHUP_HTTP_TIMEOUT", 30))
            proxy = (
                self.env.get("HTTPS_PROXY")
                or self.env.get("https_proxy")
                or self.env.get("HTTP_PROXY")
                or self.env.get("http_proxy")
                or self.env.get("ALL_PROXY")
            )
            from packaging.utils import canonicalize_name

            self._client = HttpClient(
                self.cache,
                retries=retries,
                timeout=timeout,
                netrc_path=self._netrc_path(),
                ssl_cert_file=_opt(self.ns, "cert") or self.env.get("SSL_CERT_FILE"),
                insecure_hosts=[
                    *(_opt(self.ns, "allow_insecure_host") or ()),
                    *self.env.get("TORCHUP_INSECURE_HOST", "").split(),
                ],
                proxy_url=proxy,
                no_proxy=self.env.get("NO_PROXY") or self.env.get("no_proxy"),
                offline=self.offline,
                refresh=bool(_opt(self.ns, "refresh")),
                refresh_projects=frozenset(
                    canonicalize_name(n) for n in _opt(self.ns, "refresh_package") or ()
                ),
            )
        return self._client

    def _netrc_path(self) -> str | None:
        explicit = self.env.get("NETRC")
        if explicit:
            return explicit
        default = Path.home() / ".netrc"
        return str(default) if default.exists() else None

    def _int_env(self, name: str, default: int) -> int:
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(
                f"the environment variable {name}={raw!r} is not a whole number",
                key=name,
                hint=f"unset {name} or set it to a number such as {default}",
            ) from None

    # -- indexes -------------------------------------------------------------------------
    def index_sources(
        self,
        *,
        file_index_url: str | None = None,
        file_extra_urls: Sequence[str] = (),
        file_find_links: Sequence[str] = (),
        file_no_index: bool = False,
        project_indexes: Sequence[IndexSource] = (),
        project_find_links: Sequence[str] = (),
    ) -> tuple[list[IndexSource], list[IndexSource]]:
        """Ordered index sources and find-links sources, uv's precedence.

        ``--index`` / ``--extra-index-url`` come before the default index; ``--default-index``
        / ``--index-url`` replace PyPI; ``--no-index`` keeps only find-links.
        """
        from torchup.index.finder import IndexSource

        ns = self.ns
        env = self.env
        indexes: list[IndexSource] = []
        for raw in [*_opt(ns, "index", []), *_split_env(env.get("TORCHUP_INDEX"))]:
            name, url = _split_named(raw)
            indexes.append(IndexSource(url=_as_url(url), name=name))
        for url in [
            *_opt(ns, "extra_index_url", []),
            *_split_env(env.get("TORCHUP_EXTRA_INDEX_URL")),
            *file_extra_urls,
        ]:
            indexes.append(IndexSource(url=_as_url(url)))
        indexes.extend(project_indexes)
        default = (
            _opt(ns, "default_index")
            or _opt(ns, "index_url")
            or env.get("TORCHUP_DEFAULT_INDEX")
            or env.get("TORCHUP_INDEX_URL")
            or file_index_url
        )
        if not any(getattr(s, "default", False) for s in indexes):
            indexes.append(IndexSource(url=_as_url(default or PYPI_SIMPLE), name=None, default=True))
        no_index = bool(_opt(ns, "no_index")) or _env_flag(env.get("TORCHUP_NO_INDEX")) or file_no_index
        if no_index:
            indexes = []
        find_links = [
            IndexSource(url=_as_url(loc), kind="find-links")
            for loc in [
                *_opt(ns, "find_links", []),
                *_split_env(env.get("TORCHUP_FIND_LINKS")),
                *file_find_links,
                *project_find_links,
            ]
        ]
        return indexes, find_links

    def finder(self, sources: Sequence[IndexSource], strategy: str | None = None) -> Finder:
        """The Finder over ``sources`` for this command (``strategy``: the index strategy,
        default :attr:`index_strategy`): one per set of sources, so the pages fetched before
        resolving (:func:`~torchup.cli.resolve_cmd.prefetch_root_pages`) are the resolver's,
        and a second resolution (a build environment, another target) reads each page once
        too. It reads :func:`page_workers` pages at once."""
        from torchup.index.finder import Finder

        strategy = strategy or self.index_strategy
        key = (tuple(sources), strategy)
        finder = self._finders.get(key)
        if finder is None:
            finder = self._finders[key] = Finder(
                self.client, sources, strategy=strategy,  # type: ignore[arg-type]
                max_workers=page_workers(os.cpu_count()),
            )
        return finder

    @property
    def index_strategy(self) -> str:
        value = _opt(self.ns, "index_strategy") or self.env.get("TORCHUP_INDEX_STRATEGY") or "first-index"
        if value not in ("first-index", "unsafe-first-match", "unsafe-best-match"):
            raise ConfigError(
                f"unknown index strategy {value!r} (from TORCHUP_INDEX_STRATEGY)",
                key="index-strategy",
                hint="use first-index, unsafe-first-match or unsafe-best-match",
            )
        return value

    def torch_base_url(self) -> str:
        # From routing, which every resolution loads anyway (backend's tables load on demand).
        from torchup.torch.routing import DEFAULT_INDEX_BASE

        return (
            _opt(self.ns, "torch_index_url") or self.env.get("TORCHUP_TORCH_INDEX_URL") or DEFAULT_INDEX_BASE
        ).rstrip("/")

    def torch_channel(self, indexes: Sequence[IndexSource] = ()) -> str:
        channel = _opt(self.ns, "torch_channel") or self.env.get("TORCHUP_TORCH_CHANNEL")
        if channel:
            if channel not in ("stable", "test", "nightly"):
                raise ConfigError(
                    f"unknown torch channel {channel!r}", hint="use stable, test or nightly"
                )
            return str(channel)
        from torchup.torch import routing

        for s in indexes:
            if routing.is_pytorch_index_url(s.url) and "/nightly/" in s.url + "/":
                return "nightly"
        return "stable"

    def torch_backend_request(self) -> str | None:
        return _opt(self.ns, "torch_backend") or self.env.get("TORCHUP_TORCH_BACKEND") or None

    def detection_overrides(self) -> dict[str, str]:
        keys = ("TORCHUP_CUDA_DRIVER_VERSION", "TORCHUP_GPU_COMPUTE_CAPABILITY", "TORCHUP_AMD_GPU_ARCH")
        return {k: self.env[k] for k in keys if self.env.get(k)}

    def choose_backend(self, request: str, target: Target, torch_version: Any = None) -> tuple[str, Any]:
        """Resolve ``auto`` to a concrete backend for ``target`` (detecting this machine)."""
        from torchup.torch.backend import choose_backend, parse_backend_or_auto
        from torchup.torch.detect import detect

        parsed = parse_backend_or_auto(request)
        if parsed != "auto":
            if parsed.is_accelerated and target.environment.get("sys_platform") == "darwin":
                # PyTorch publishes no CUDA/ROCm/XPU builds for macOS: resolving against e.g.
                # /whl/cu128 could only fail ("torch has no wheel for macos"). The macOS CPU
                # wheels (with MPS) are the only build there is, so take them and say so.
                from torchup.torch.backend import CPU, Choice

                warning = (
                    f"--torch-backend {parsed.name} does not exist for macOS: PyTorch publishes "
                    "CPU builds only there (they include MPS); using cpu"
                )
                return CPU.name, Choice(CPU, (), (warning,), None)
            return parsed.name, None
        detection = detect(overrides=self.detection_overrides())
        env = target.environment
        os_name = {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(
            env.get("sys_platform", ""), "linux"
        )
        choice = choose_backend(
            detection, torch_version, os=os_name, machine=env.get("platform_machine", "x86_64")
        )
        return choice.backend.name, choice

    def index_policy(
        self,
        indexes: Sequence[IndexSource],
        find_links: Sequence[IndexSource],
        pins: Mapping[str, tuple[IndexPin, ...]] | None = None,
        *,
        active_extras: frozenset[str] = frozenset(),
        active_groups: frozenset[str] = frozenset(),
        torch_index_prefixes: Sequence[str] = (),
    ) -> Any:
        from torchup.index.finder import IndexSource
        from torchup.resolver.sources import IndexPolicy

        return IndexPolicy(
            indexes=tuple(indexes),
            find_links=tuple(find_links),
            pins=dict(pins or {}),
            torch_channel=self.torch_channel(indexes),
            torch_base_url=self.torch_base_url(),
            torch_index_prefixes=tuple(torch_index_prefixes),
            active_extras=active_extras,
            active_groups=active_groups,
            make_source=lambda url, name: IndexSource(url=url, name=name, explicit=True),
        )

    # -- targets -------------------------------------------------------------------------
    def target(self, python: str | None = None) -> Target:
        """``--python-version``/``--python-platform`` or the interpreter in use."""
        from torchup.target import Target

        version = _opt(self.ns, "python_version")
        platform = _opt(self.ns, "python_platform")
        if platform:
            return Target.for_platform(
                version or _current_python_version(python),
                platform,
                macos_version=self.macos_version(),
            )
        base = Target.from_interpreter(python or sys.executable)
        if version:
            return _with_python_version(base, version)
        return base

    def macos_version(self) -> tuple[int, int] | None:
        """MACOSX_DEPLOYMENT_TARGET (as uv reads it) for macOS targets, e.g. ``14.0``."""
        raw = self.env.get("MACOSX_DEPLOYMENT_TARGET")
        if not raw:
            return None
        try:
            parts = [int(p) for p in raw.split(".")[:2]]
        except ValueError:
            raise ConfigError(
                f"MACOSX_DEPLOYMENT_TARGET={raw!r} is not a macOS version",
                key="MACOSX_DEPLOYMENT_TARGET",
                hint="write it as 14.0",
            ) from None
        return (parts[0], parts[1] if len(parts) > 1 else 0)

    def active_conda_prefix(self) -> str | None:
        """``$CONDA_PREFIX`` of an activated Conda environment, except the base one (as uv:
        installing into base needs --system or --python, like any system Python)."""
        prefix = self.env.get("CONDA_PREFIX")
        if not prefix or self.env.get("CONDA_DEFAULT_ENV") in ("base", "root"):
            return None
        return prefix

    def use_project_settings(self, tool: Any) -> None:
        """Take a project's ``[tool.uv]`` build settings (``no-build-isolation``,
        ``no-build-isolation-package``, ``extra-build-dependencies``) as the last layer of
        :meth:`build_options`: project commands call this once they have read
        ``pyproject.toml``."""
        self._project_no_isolation = (
            bool(tool.no_build_isolation), frozenset(tool.no_build_isolation_package)
        )
        self._extra_build = tool.extra_build_dependencies
        self._project_build_constraints = tool.build_constraint_dependencies

    def use_runtime_versions(self, versions: Mapping[str, str], torch_backend: str | None) -> None:
        """The versions the environment being built for gets (canonical name -> version), and
        its torch backend: a ``match-runtime`` extra build requirement is pinned to them, and
        build environments take the torch family from that backend's index (``torch==
        2.9.1+cu130`` is only there). Unknown while locking, where such a requirement stays as
        written."""
        self._runtime_versions = versions
        self.runtime_torch_backend = torch_backend

    def _extra_build_requires(self, package: str | None) -> list[str]:
        if package is None or not self._extra_build:
            return []
        from packaging.utils import canonicalize_name

        out = []
        for entry in self._extra_build.get(canonicalize_name(package), ()):
            req = entry.requirement
            version = self._runtime_versions.get(canonicalize_name(req.name))
            if entry.match_runtime and version is not None:
                extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
                marker = f" ; {req.marker}" if req.marker is not None else ""
                out.append(f"{req.name}{extras}=={version}{marker}")
            else:
                out.append(str(req))
        return out

    def build_isolated(self, package: str | None) -> bool:
        """Whether ``package``'s build gets an isolated environment: not with
        ``--no-build-isolation``, nor when it is named by ``--no-build-isolation-package`` or
        the project's settings (flash-attn's build imports the installed torch)."""
        if _opt(self.ns, "no_build_isolation"):
            return False
        everything, named = self._project_no_isolation
        if everything:
            return False
        if package is None:
            return True
        from packaging.utils import canonicalize_name

        named = named | {
            canonicalize_name(n) for n in _opt(self.ns, "no_build_isolation_package") or ()
        }
        return canonicalize_name(package) not in named

    def build_options(self, package: str | None = None) -> dict[str, Any]:
        """``isolated`` and ``config_settings`` for a PEP 517 build of ``package`` (None: a
        project whose name is not known yet) (``--no-build-isolation[-package]``, ``-C
        KEY=VALUE``; a key given twice gets a list, as pip passes it)."""
        settings: dict[str, Any] = {}
        for item in _opt(self.ns, "config_settings") or ():
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError(
                    f"--config-settings {item!r} is not KEY=VALUE",
                    hint="write it as -C KEY=VALUE, e.g. -C --build-option=--plat-name=x",
                )
            if key in settings:
                old = settings[key]
                settings[key] = [*old, value] if isinstance(old, list) else [old, value]
            else:
                settings[key] = value
        return {
            "isolated": self.build_isolated(package),
            "config_settings": settings or None,
            "extra_requires": self._extra_build_requires(package),
        }

    def build_constraints(self) -> list[Any]:
        """Constraints on what build environments install (uv's ``-b`` /
        ``--build-constraints FILE``, ``UV_BUILD_CONSTRAINT`` (files separated by spaces) and a
        project's ``[tool.uv] build-constraint-dependencies``): pin setuptools for an old
        sdist without touching the project's own resolution. The files are read once."""
        if self._file_build_constraints is None:
            from torchup.requirements import parse_requirements_file

            files = list(_opt(self.ns, "build_constraints") or []) or (
                self.env.get("TORCHUP_BUILD_CONSTRAINT") or ""
            ).split()
            found: list[Any] = []
            for path in files:
                parsed = parse_requirements_file(path, constraint=True, env=self.env)
                found += [
                    r.requirement for r in (*parsed.requirements, *parsed.constraints)
                    if r.requirement is not None
                ]
            self._file_build_constraints = found
        return [*self._project_build_constraints, *self._file_build_constraints]

    def build_options_key(self, package: str | None = None) -> str:
        """A cache-key suffix for builds made with non-default build options ("" for the
        defaults): a wheel built with other settings, or against the environment's own
        packages, must not be reused for a default build, nor the reverse."""
        options: dict[str, Any] = dict(self.build_options(package))
        constraints = self.build_constraints() if options["isolated"] else []
        if constraints:
            # What the build environment may hold is part of what the wheel was built with.
            options["build_constraints"] = sorted(str(r) for r in constraints)
        if options == {"isolated": True, "config_settings": None, "extra_requires": []}:
            return ""
        import hashlib
        import json

        return "-" + hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:12]

    def exclude_newer(self) -> datetime | None:
        raw = _opt(self.ns, "exclude_newer") or self.env.get("TORCHUP_EXCLUDE_NEWER")
        if not raw:
            return None
        from datetime import datetime, timezone

        try:
            stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"--exclude-newer {raw!r} is not a date", hint="write it as 2024-06-30 or an RFC 3339 time"
            ) from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        return stamp

    def prerelease_mode(self, pre_from_file: bool = False, project: str | None = None) -> str:
        """Command line (--pre, --prerelease) > TORCHUP_PRERELEASE > ``project`` (a project's
        [tool.uv] setting) > the default, as uv layers them."""
        if _opt(self.ns, "pre") or pre_from_file:
            return "allow"
        mode = (
            _opt(self.ns, "prerelease") or self.env.get("TORCHUP_PRERELEASE") or project
            or "if-necessary-or-explicit"
        )
        valid = ("disallow", "allow", "if-necessary", "explicit", "if-necessary-or-explicit")
        if mode not in valid:
            raise ConfigError(f"unknown pre-release mode {mode!r}", hint="use one of: " + ", ".join(valid))
        return str(mode)

    def resolution_mode(self, project: str | None = None) -> str:
        """Command line > TORCHUP_RESOLUTION > ``project`` ([tool.uv]) > highest."""
        mode = _opt(self.ns, "resolution") or self.env.get("TORCHUP_RESOLUTION") or project or "highest"
        if mode not in ("highest", "lowest", "lowest-direct"):
            raise ConfigError(f"unknown resolution mode {mode!r}", hint="use highest, lowest or lowest-direct")
        return str(mode)


def _split_env(value: str | None) -> list[str]:
    return [v for v in (value or "").split() if v]


def _split_named(raw: str) -> tuple[str | None, str]:
    if "=" in raw and "://" in raw.split("=", 1)[1] and "://" not in raw.split("=", 1)[0]:
        name, url = raw.split("=", 1)
        return name, url
    return None, raw


def _as_url(location: str) -> str:
    if "://" in location:
        return location.rstrip("/") if not location.endswith("/simple/") else location
    path = Path(location).expanduser().resolve()
    return path.as_uri()


def _current_python_version(python: str | None) -> str:
    if python is None:
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    from torchup.target import Target

    return str(Target.from_interpreter(python).python_version)


def _with_python_version(base: Target, version: str) -> Target:
    """The same platform with another Python version (markers + interpreter tags)."""
    from torchup.target import PLATFORM_NAMES, Target

    env = base.environment
    sys_platform = env.get("sys_platform")
    machine = env.get("platform_machine", "x86_64")
    if sys_platform == "darwin":
        platform = "aarch64-apple-darwin" if machine == "arm64" else "x86_64-apple-darwin"
    elif sys_platform == "win32":
        platform = "windows"
    else:
        platform = "aarch64-manylinux_2_28" if machine == "aarch64" else "linux"
    assert platform in PLATFORM_NAMES
    return Target.for_platform(version, platform, torch_backend=base.torch_backend)
