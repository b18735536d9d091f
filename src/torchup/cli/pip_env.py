"""`torchup pip uninstall|list|freeze|show|check|tree`: inspect and trim an environment."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from torchup.cli import output
from torchup.cli.context import Context
from torchup.cli.pip_install import _validate_if_strict, environment_lock, select_interpreter
from torchup.errors import ConfigError

__all__ = ["run_uninstall", "run_list", "run_freeze", "run_show", "run_check", "run_tree"]


def _installed(ns: argparse.Namespace):  # type: ignore[no-untyped-def]
    from torchup.install.site import scan_site_packages

    ctx = Context(ns)
    interp = select_interpreter(ctx, ns, read_only=getattr(ns, "pip_command", "") != "uninstall")
    return ctx, interp, scan_site_packages(interp.site_packages)


def _listed(ns: argparse.Namespace, *, needs_interpreter: bool):  # type: ignore[no-untyped-def]
    """What `pip list` / `pip freeze` show: the environment's distributions, or with pip's and
    uv's ``--path DIR`` (repeatable) those in DIR, which needs no environment unless
    ``needs_interpreter`` (markers or tags are read)."""
    from pathlib import Path

    from torchup.install.site import scan_site_packages

    if not ns.path:
        return _installed(ns)
    for folder in ns.path:
        if not Path(folder).is_dir():
            raise ConfigError(f"--path {folder}: no such directory", hint="name a site-packages folder")
    ctx = Context(ns)
    interp = select_interpreter(ctx, ns, read_only=True) if needs_interpreter else None
    return ctx, interp, scan_site_packages([Path(p) for p in ns.path])


def run_uninstall(ns: argparse.Namespace) -> int:
    from packaging.utils import canonicalize_name

    from torchup.install.wheel import uninstall
    from torchup.requirements import parse_requirements_file

    started = time.monotonic()
    ctx, interp, installed = _installed(ns)
    names: list[str] = [canonicalize_name(n.split("==")[0].split("[")[0]) for n in ns.packages]
    for path in ns.requirements:
        names += [r.name for r in parse_requirements_file(path, env=dict(ctx.env)).requirements if r.name]
    if not names:
        from torchup.errors import ConfigError

        raise ConfigError("nothing to uninstall", hint="name packages or pass -r FILE")
    removed = []
    with environment_lock(interp.sys_prefix):
        for name in names:
            dist = installed.get(name)  # type: ignore[call-overload]
            if dist is None:
                output.warn(f"skipping {name}: it is not installed")
                continue
            if not ns.dry_run:
                uninstall(dist.name, interp.scheme)
            removed.append(f" - {dist.canonical_name}=={dist.version}")
    if ns.dry_run:  # (uv gives no time for what was not done)
        output.info(f"Would uninstall {output.counted(len(removed), 'package')}")
    else:
        output.info(f"Uninstalled {output.counted(len(removed), 'package')} in {(time.monotonic() - started) * 1000:.0f}ms")
    for line in removed:
        print(line, file=sys.stderr)
    return 0


def run_list(ns: argparse.Namespace) -> int:
    from packaging.utils import canonicalize_name

    from torchup.install.site import format_list, format_outdated, not_required

    if ns.outdated and ns.format == "freeze":
        raise ConfigError(
            "--outdated cannot be used with --format freeze",
            hint="use --format columns or --format json",
        )
    if ns.outdated and ns.uptodate:
        raise ConfigError(
            "--outdated and --uptodate cannot be used together", hint="pick one of them"
        )
    ctx, interp, installed = _listed(
        ns, needs_interpreter=ns.not_required or ns.outdated or ns.uptodate
    )
    dists = list(installed.values())
    if ns.not_required:
        dists = not_required(installed, interp.markers)
    if ns.editable:
        dists = [d for d in dists if d.editable]
    if ns.exclude_editable:
        dists = [d for d in dists if not d.editable]
    skip = {canonicalize_name(n) for n in ns.exclude}
    dists = [d for d in dists if d.canonical_name not in skip]
    if ns.outdated:
        text = format_outdated(_outdated(ctx, interp, dists), ns.format)
    elif ns.uptodate:
        # pip's -u: looked up on the indexes and nothing newer there (URL installs are not)
        newer = {dist.canonical_name for dist, _, _ in _outdated(ctx, interp, dists)}
        looked_up = [d for d in dists if d.direct_url is None and d.canonical_name not in newer]
        text = format_list(looked_up, ns.format)
    else:
        text = format_list(dists, ns.format)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


def _outdated(ctx: Context, interp: Any, dists: list[Any]) -> list[tuple[Any, str, str]]:
    """(distribution, newest version, "wheel" or "sdist") for each of ``dists`` that the
    indexes have a newer installable version of (see :func:`newer_versions`). Distributions
    installed from a URL or folder are not looked up (no index has them)."""
    indexes, find_links = ctx.index_sources()
    looked_up = [d for d in dists if d.direct_url is None]
    newer = newer_versions(
        ctx.finder([*indexes, *find_links]), ctx.index_policy(indexes, find_links),
        interp.target(), [(d.canonical_name, d.version) for d in looked_up],
    )
    return [(d, *newer[d.canonical_name]) for d in looked_up if d.canonical_name in newer]


def newer_versions(
    finder: Any, policy: Any, target: Any, packages: Sequence[tuple[str, str]]
) -> dict[str, tuple[str, str]]:
    """name -> (newest version, "wheel" or "sdist") for each (name, version) of ``packages``
    that the indexes ``policy`` routes it to have a newer installable version of: one
    ``target``'s tags and Python accept, not yanked, and a pre-release only when ``version``
    is one (as pip)."""
    from packaging.version import Version

    from torchup.resolver.candidates import group_candidates

    requests = [(name, policy.sources_for(name, target)) for name, _ in packages]
    for project, sources in finder.biggest_first(requests):
        finder.prefetch([project], sources)  # the pages are read in parallel
    found = {}
    for (name, have), (_, sources) in zip(packages, requests, strict=True):
        installed = Version(have)
        newest = None
        for version, choice in group_candidates(finder.files(name, sources), target).items():
            if version.is_prerelease and not installed.is_prerelease:
                continue
            if choice.yanked or not choice.usable or (newest and version <= newest.version):
                continue
            newest = choice
        if newest is not None and newest.version > installed:
            kind = "wheel" if getattr(newest.best, "is_wheel", False) else "sdist"
            found[name] = (str(newest.version), kind)
    return found


def run_freeze(ns: argparse.Namespace) -> int:
    from torchup.install.site import format_freeze

    _, _, installed = _listed(ns, needs_interpreter=False)
    dists = [d for d in installed.values() if not (ns.exclude_editable and d.editable)]
    text = format_freeze(dists, exclude=ns.exclude)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


def run_show(ns: argparse.Namespace) -> int:
    from torchup.install.site import format_show

    _, interp, installed = _installed(ns)
    text, missing = format_show(ns.packages, installed, interp.markers, files=ns.files)
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    for name in missing:
        output.warn(f"package(s) not found: {name}")
    return 1 if missing and not text else 0


def run_check(ns: argparse.Namespace) -> int:
    from torchup.install.site import check_requirements, format_check

    _, interp, installed = _installed(ns)
    problems = check_requirements(installed, interp.markers)
    if not problems:
        print("No broken requirements found.")
        return 0
    sys.stdout.write(format_check(problems).rstrip("\n") + "\n")
    return 1


def tree_options(ns: argparse.Namespace) -> Any:
    """The TreeOptions the tree display flags ask for (`pip tree`, `tree`); a negative
    ``--depth`` is refused here, before any work."""
    from torchup.install.tree import TreeOptions

    if ns.depth < 0:
        raise ConfigError(f"--depth {ns.depth} is negative", hint="pass 0 or more levels")
    return TreeOptions(
        packages=tuple(ns.package), prune=tuple(ns.prune), depth=ns.depth, invert=ns.invert,
        dedupe=not ns.no_dedupe, show_specifiers=getattr(ns, "show_version_specifiers", False),
    )


def run_tree(ns: argparse.Namespace) -> int:
    import dataclasses

    from torchup.install.tree import format_tree

    options = tree_options(ns)
    ctx, interp, installed = _installed(ns)
    if ns.outdated:
        latest = {dist.canonical_name: newest for dist, newest, _ in _outdated(ctx, interp, list(installed.values()))}
        options = dataclasses.replace(options, latest=latest)
    sys.stdout.write(format_tree(installed, interp.markers, options))
    _validate_if_strict(ns, interp, installed)
    return 0
