"""resolve_cmd.prefetch_root_pages: `pip install` / `pip sync` start reading the root
requirements' index pages before the resolver is even imported; the resolver then finds them
(one Finder per command, Context.finder) instead of asking again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.integration.test_pip_install import Venv, index_args, publish
from tests.support.cli import Cli
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, build_wheel

from torchup.cli.context import Context
from torchup.cli.parser import build_parser
from torchup.cli.resolve_cmd import prefetch_root_pages, read_inputs, resolve_inputs
from torchup.target import Target


def _pages(server: IndexServer) -> list[str]:
    return sorted(r.path.strip("/").split("/")[-1] for r in server.requests if r.path.endswith("/"))


def test_prefetched_pages_are_the_resolvers(index_server: IndexServer, tmp_path: Path) -> None:
    publish(
        index_server, tmp_path / "dists",
        DistSpec("app", "1.0", requires_dist=("dep",)), DistSpec("dep", "1.0"),
        DistSpec("winonly", "1.0"), DistSpec("direct", "1.0"),
    )
    index_server.publish("whl/cpu", [build_wheel(DistSpec("torch", "2.5.1+cpu"), tmp_path / "torch")])
    direct = next((tmp_path / "dists").glob("direct-*.whl"))
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(
        "app==1.0\nwinonly ; sys_platform == 'win32'\ntorch\n"
        f"direct @ {direct.as_uri()}\n"
    )
    ns = build_parser().parse_args(
        ["pip", "compile", str(reqs), "--torch-backend", "cpu", *index_args(index_server)]
    )
    ctx = Context(
        ns,
        env={
            "TORCHUP_CACHE_DIR": str(tmp_path / "cache"),
            "TORCHUP_TORCH_INDEX_URL": index_server.index_url("whl"),
        },
    )
    inputs = read_inputs(ctx, files=[str(reqs)])
    target = Target.for_platform("3.12", "linux")
    index_server.reset_stats()
    prefetch_root_pages(ctx, inputs, target)
    finder = ctx.finder([*ctx.index_sources()[0]])
    for fut in list(finder._pages.values()):
        fut.result(30)
    # Only app: winonly's marker excludes Linux, torch's index waits for the backend choice,
    # direct comes from its URL.
    assert _pages(index_server) == ["app"]
    run = resolve_inputs(ctx, ns, inputs, target=target)
    assert {p.name: str(p.version) for p in run.result.packages} == {
        "app": "1.0", "dep": "1.0", "torch": "2.5.1+cpu", "direct": "1.0"
    }
    # The resolver read app's prefetched page: every page once.
    assert _pages(index_server) == ["app", "dep", "torch"]


def test_install_and_sync_read_each_page_once(
    cli: Cli, make_venv: Callable[..., Venv], index_server: IndexServer, tmp_path: Path
) -> None:
    publish(index_server, tmp_path / "dists", DistSpec("app", "1.0", requires_dist=("dep",)), DistSpec("dep", "1.0"))
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("app==1.0\ndep==1.0\n")
    venv = make_venv()
    index_server.reset_stats()
    # --no-cache: a temporary cache, so every page read shows as a request
    cli.ok("pip", "install", "-r", reqs, "--python", venv.root, "--no-cache", *index_args(index_server))
    assert _pages(index_server) == ["app", "dep"]
    assert venv.metadata_versions() == {"app": "1.0", "dep": "1.0"}
    other = make_venv("other")
    index_server.reset_stats()
    cli.ok("pip", "sync", reqs, "--python", other.root, "--no-cache", *index_args(index_server))
    assert _pages(index_server) == ["app", "dep"]
    assert other.metadata_versions() == {"app": "1.0", "dep": "1.0"}
