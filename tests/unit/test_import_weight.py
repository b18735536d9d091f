"""What the modules of a plain `pip install` import: start-up time is import time.

A warm install into a fresh venv reads a requirements file, parses JSON index pages, scans an
empty (or small) site-packages and routes packages; none of that needs the HTML page parser,
``difflib`` (error hints), ``shlex`` (option lines), ``configparser`` (setup.cfg),
``importlib.metadata`` (the site scan parses METADATA itself) or the torch backend tables.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

NOT_ON_THE_INSTALL_PATH = (
    "html.parser",
    "difflib",
    "shlex",
    "configparser",
    "importlib.metadata",
    "torchup.torch.backend",
    "torchup.torch.detect",
)


def _newly_imported(code: str) -> list[str]:
    """Modules that ``code`` imports beyond what the interpreter had already loaded."""
    script = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"{code}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return list(json.loads(out[-1]))


def test_install_path_modules_stay_light(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "demo-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    code = f"""
import torchup.config, torchup.index.simple, torchup.install.plan, torchup.requirements
import torchup.resolver.session, torchup.resolver.sources, torchup.torch
from torchup.install.site import scan_site_packages
from torchup.torch import routing
assert set(scan_site_packages([{str(site)!r}])) == {{"demo"}}
rf = torchup.requirements.parse_requirements_text("six==1.17.0\\nidna==3.10  # pinned\\n", "r.txt")
assert len(rf.requirements) == 2
torchup.index.simple.parse_json_page(
    {{"name": "six", "files": [{{"filename": "six-1.17.0-py2.py3-none-any.whl",
      "url": "six-1.17.0-py2.py3-none-any.whl", "hashes": {{}}}}]}},
    "https://pypi.org/simple/six/",
)
assert not routing.is_pytorch_index_url("https://pypi.org/simple")
assert routing.is_torch_family("torch")
"""
    loaded = _newly_imported(code)
    assert [m for m in NOT_ON_THE_INSTALL_PATH if m in loaded] == []


def test_lazy_names_still_load_on_use() -> None:
    code = """
import torchup.torch as t
from torchup.torch import DEFAULT_INDEX_BASE, choose_backend
from torchup.torch.backend import DEFAULT_INDEX_BASE as same
from torchup.index.simple import parse_html_page
assert DEFAULT_INDEX_BASE is same and callable(choose_backend) and t.CPU.name == "cpu"
page = parse_html_page(
    '<a href="six-1.17.0-py2.py3-none-any.whl" data-requires-python="&gt;=2.7">x</a>',
    "https://example.org/simple/six/",
)
assert page.files[0].requires_python == ">=2.7"
"""
    loaded = _newly_imported(code)
    assert "html.parser" in loaded and "torchup.torch.backend" in loaded


def test_reading_the_inputs_does_not_import_the_resolver(tmp_path: Path) -> None:
    """`pip install -r` requests the root requirements' index pages right after reading them
    (prefetch_root_pages), before the resolver is imported: importing it first (~10-20 ms on
    this machine) delayed every page by as much."""
    req = tmp_path / "req.txt"
    req.write_text("six==1.17.0\nidna==3.10 ; python_version >= '3'\n")
    code = f"""
from torchup.cli.main import build_parser
from torchup.cli.context import Context
from torchup.cli.resolve_cmd import read_inputs
ns = build_parser().parse_args(["pip", "install", "-r", {str(req)!r}])
inputs = read_inputs(Context(ns, env={{}}), files=ns.requirements)
assert [r.requirement.name for r in inputs.requirements] == ["six", "idna"]
assert inputs.requirements[0].origin
"""
    loaded = _newly_imported(code)
    assert "torchup.requirements" in loaded
    assert [m for m in loaded if m.startswith("torchup.resolver")] == []
    # git sources are checked out while reading the inputs: only when there is one
    assert "torchup.install.vcs" not in loaded
