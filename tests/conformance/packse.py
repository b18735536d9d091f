"""packse resolver scenarios: load the TOML files and publish them as real indexes.

The scenarios (https://github.com/astral-sh/packse, vendored under
``/work/shared/conformance/packse/scenarios``) describe small package universes and the result a
resolver must reach. This module turns each into real distributions, built the way packse
builds them (``packse/build.py`` and ``packse/scenario.py``):

* every version gets an sdist and a ``py3-none-any`` wheel unless ``sdist = false`` /
  ``wheel = false``;
* ``wheel_tags`` (only when a wheel is built) publishes one wheel per listed tag, and the
  ``py3-none-any`` wheel only when that tag is listed too;
* ``requires_python`` defaults to ``>=3.8`` and goes into the core metadata (the index server
  shows it as ``data-requires-python``);
* ``extras`` become ``Requires-Dist: <req>; extra == "<name>"`` (+ ``Provides-Extra``);
* ``yanked = true`` yanks every file of that version (PEP 592);
* sdists carry static ``PKG-INFO`` metadata (Metadata-Version 2.3, no ``Dynamic``) as
  hatchling writes it, so a resolver may read an sdist's dependencies without a build.

Package names are used as written ("a", "b"): each scenario gets its own index on one shared
:class:`~tests.support.server.IndexServer` (index name = scenario name), so names never clash.
Pure data + file writing; the test module runs the CLI.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from packaging.requirements import Requirement

from tests.support.server import IndexServer
from tests.support.wheels import (
    DistSpec,
    _tree_files,
    build_wheel,
    dist_name,
    metadata_text,
    sdist_filename,
)

__all__ = [
    "SCENARIO_ROOT",
    "PLATFORMS",
    "PackageVersion",
    "Scenario",
    "load_scenarios",
    "dist_specs",
    "build_scenario",
    "publish_scenarios",
]

# The vendored scenario files; PACKSE_SCENARIOS points elsewhere (a packse checkout's scenarios/).
SCENARIO_ROOT = Path(
    os.environ.get("PACKSE_SCENARIOS", "/work/shared/conformance/packse/scenarios")
)

# packse's defaults (scenario.py): PackageMetadata.requires_python, and the Python version the
# uv scenario tests run with when a scenario names none.
DEFAULT_REQUIRES_PYTHON = ">=3.8"
DEFAULT_PYTHON = "3.12"

# packse/uv --python-platform names -> torchup's (torchup.target.PLATFORM_NAMES).
PLATFORMS = {
    "x86_64-manylinux2014": "x86_64-manylinux_2_17",
    "x86_64-manylinux_2_17": "x86_64-manylinux_2_17",
    "x86_64-unknown-linux-gnu": "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu": "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin": "x86_64-apple-darwin",
    "aarch64-apple-darwin": "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc": "x86_64-pc-windows-msvc",
}


@dataclass(frozen=True)
class PackageVersion:
    """One ``[packages.<name>.versions."<version>"]`` table."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    requires_python: str | None = DEFAULT_REQUIRES_PYTHON
    sdist: bool = True
    wheel: bool = True
    yanked: bool = False
    wheel_tags: tuple[str, ...] = ()

    def requires_dist(self) -> tuple[str, ...]:
        """Requires-Dist lines: plain requirements, then each extra's (with an extra marker)."""
        out = list(self.requires)
        for extra, reqs in self.extras.items():
            for text in reqs:
                req = Requirement(text)
                marker = f'extra == "{extra}"'
                if req.marker is not None:
                    marker = f"({req.marker}) and {marker}"
                req.marker = None
                out.append(f"{req}; {marker}")
        return tuple(out)


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    description: str
    root_requires: tuple[str, ...]
    packages: tuple[PackageVersion, ...]
    satisfiable: bool
    expected_packages: Mapping[str, str]
    explanation: str | None
    universal: bool = False
    python: str | None = None  # [resolver_options] python (the --python-version override)
    environment_python: str | None = None  # [environment] python (the interpreter)
    prereleases: bool = False
    python_platform: str | None = None
    no_build: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()
    required_environments: tuple[str, ...] = ()
    root_requires_python: str | None = None

    @property
    def group(self) -> str:
        return self.path.parent.name

    @property
    def target_python(self) -> str:
        """The Python version to resolve for: the override, else the interpreter's version."""
        return self.python or self.environment_python or DEFAULT_PYTHON

    @property
    def package_names(self) -> set[str]:
        return {p.name for p in self.packages}


def _load(path: Path) -> Scenario:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    packages: list[PackageVersion] = []
    for pname, pdata in data.get("packages", {}).items():
        for version, vdata in (pdata.get("versions") or {}).items():
            vdata = vdata or {}
            packages.append(
                PackageVersion(
                    name=pname,
                    version=version,
                    requires=tuple(vdata.get("requires", ())),
                    extras={k: tuple(v) for k, v in (vdata.get("extras") or {}).items()},
                    requires_python=vdata.get("requires_python", DEFAULT_REQUIRES_PYTHON),
                    sdist=vdata.get("sdist", True),
                    wheel=vdata.get("wheel", True),
                    yanked=vdata.get("yanked", False),
                    wheel_tags=tuple(vdata.get("wheel_tags", ())),
                )
            )
    opts = data.get("resolver_options", {})
    env = data.get("environment", {})
    expected = data.get("expected", {})
    root = data.get("root", {})
    return Scenario(
        name=data["name"],
        path=path,
        description=data.get("description", ""),
        root_requires=tuple(root.get("requires", ())),
        root_requires_python=root.get("requires_python"),
        packages=tuple(packages),
        satisfiable=bool(expected["satisfiable"]),
        expected_packages=dict(expected.get("packages", {})),
        explanation=expected.get("explanation"),
        universal=bool(opts.get("universal", False)),
        python=opts.get("python"),
        environment_python=env.get("python"),
        prereleases=bool(opts.get("prereleases", False)),
        python_platform=opts.get("python_platform"),
        no_build=tuple(opts.get("no_build", ())),
        no_binary=tuple(opts.get("no_binary", ())),
        required_environments=tuple(opts.get("required_environments", ())),
    )


def load_scenarios(root: Path = SCENARIO_ROOT) -> list[Scenario]:
    """Every scenario under ``root`` (recursively), sorted by folder then name."""
    paths = sorted(root.rglob("*.toml"), key=lambda p: (p.parent.name, p.stem))
    return [_load(p) for p in paths]


def dist_specs(version: PackageVersion) -> tuple[list[DistSpec], DistSpec | None]:
    """The wheels (one per tag) and the sdist (or None) packse would publish for a version."""
    base = DistSpec(
        version.name,
        version.version,
        requires_dist=version.requires_dist(),
        requires_python=version.requires_python,
    )
    wheels: list[DistSpec] = []
    if version.wheel:
        tags = version.wheel_tags or ("py3-none-any",)
        for tag in dict.fromkeys(tags):
            wheels.append(
                DistSpec(
                    base.name,
                    base.version,
                    requires_dist=base.requires_dist,
                    requires_python=base.requires_python,
                    tags=tag,
                )
            )
    return wheels, (base if version.sdist else None)


def _write_sdist(spec: DistSpec, dest_dir: Path) -> Path:
    """An sdist like hatchling's: static PKG-INFO (Metadata-Version 2.3, nothing Dynamic).

    Same tree as :func:`tests.support.wheels.build_sdist` (its in-tree backend builds it), but
    with the metadata version hatchling writes, which PEP 643 lets a resolver trust.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / sdist_filename(spec)
    base = f"{dist_name(spec.name)}-{spec.normalized_version}"
    files = _tree_files(spec)
    files["PKG-INFO"] = metadata_text(spec, metadata_version="2.3").encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for rel in sorted(files):
            data = files[rel]
            info = tarfile.TarInfo(f"{base}/{rel}")
            info.size = len(data)
            info.mtime = 1704067200
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    with open(path, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return path


def build_scenario(scenario: Scenario, dest_dir: Path) -> tuple[list[Path], list[str]]:
    """Build a scenario's files into ``dest_dir``; return (paths, filenames to yank)."""
    paths: list[Path] = []
    yanked: list[str] = []
    for version in scenario.packages:
        wheels, sdist = dist_specs(version)
        built = [build_wheel(w, dest_dir) for w in wheels]
        if sdist is not None:
            built.append(_write_sdist(sdist, dest_dir))
        paths += built
        if version.yanked:
            yanked += [p.name for p in built]
    return paths, yanked


def publish_scenarios(
    server: IndexServer, scenarios: Iterable[Scenario], build_root: Path, *, workers: int = 4
) -> dict[str, str]:
    """Build and publish every scenario as the index ``<scenario name>``; name -> index URL."""
    scenarios = list(scenarios)

    def one(scenario: Scenario) -> str:
        paths, yanked = build_scenario(scenario, build_root / scenario.name)
        # An index that exists but is empty still answers (404 per project), as packse's does.
        server.configure(scenario.name)
        server.publish(scenario.name, paths)
        for filename in yanked:
            server.yank(scenario.name, filename)
        return server.index_url(scenario.name)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        urls = list(pool.map(one, scenarios))
    return {s.name: url for s, url in zip(scenarios, urls, strict=True)}
