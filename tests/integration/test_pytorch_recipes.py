"""Every recipe in ``docs/pytorch.md`` runs, as written, against the PyTorch-like world.

The commands are read from the doc (``$ `` lines in ``console`` blocks; ``text`` blocks whose first
line is ``# <filename>`` are written as files) and run in-process, with only these changes:

* URLs: ``https://download.pytorch.org/whl`` and ``https://mirror.example.com/pytorch/whl`` become
  the world's ``/whl``, ``https://pypi.org/simple`` its ``/pypi``; every ``pip`` command gets
  ``--index-url <world>/pypi`` (unless it names an index URL) and ``--torch-index-url
  <world>/whl`` (unless it names one, or ``TORCHUP_TORCH_INDEX_URL`` is set), so the world stands
  in for download.pytorch.org and PyPI.
* ``pip install`` / ``pip sync`` install into a fresh virtual environment of this interpreter;
  macOS recipes cannot install here, so their ``pip install`` runs as ``pip compile
  --python-platform macos``.
* ``pip compile`` also writes ``--report`` JSON, to check which index served each file.
* Machine facts come from the detection overrides (``TORCHUP_CUDA_DRIVER_VERSION`` ...).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.integration.pytorch_cli import index_of
from tests.support.pythons import torch_world_python
from tests.support.pytorch_index import NIGHTLY, NIGHTLY_VISION, PYTORCH_TRITON_NIGHTLY, World

from torchup.cli.main import main
from torchup.install.interpreters import Interpreter, query_interpreter
from torchup.install.site import scan_site_packages
from torchup.install.venv import create_venv

DOC = Path(__file__).resolve().parents[2] / "docs" / "pytorch.md"
# The Python the recipes run for: this one, or pyenv's 3.12/3.11 where the torch world has no
# wheels for this one (see torch_world_python); compiles get --python-version then.
_HERE = f"{sys.version_info.major}.{sys.version_info.minor}"
_WORLD_PYTHON = torch_world_python(Path(getattr(sys, "_base_executable", sys.executable)))
if _WORLD_PYTHON is None:
    pytest.skip(
        "no Python 3.11/3.12 to run the recipes with (the torch world has no wheels for this "
        "one)", allow_module_level=True,
    )
PY, PY_EXE = _WORLD_PYTHON


@dataclass
class Recipe:
    name: str
    title: str
    commands: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


def load_recipes() -> dict[str, Recipe]:
    """``### Title`` sections of the doc that say ``*Tested by `test_recipe_x`.*``."""
    text = DOC.read_text(encoding="utf-8")
    recipes: dict[str, Recipe] = {}
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        title = section.splitlines()[0].strip()
        tested = re.findall(r"\*Tested by `(test_recipe_\w+)`\.\*", section)
        assert len(tested) == 1, f"recipe {title!r} must name exactly one test"
        recipe = Recipe(tested[0], title)
        for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
            if lang == "console":
                recipe.commands += [ln[2:] for ln in body.splitlines() if ln.startswith("$ ")]
            elif lang == "text":
                first, _, rest = body.partition("\n")
                assert first.startswith("# "), f"{title}: a text block starts with '# <file>'"
                recipe.files[first[2:].strip()] = rest
        assert recipe.name not in recipes, f"{recipe.name} named twice"
        recipes[recipe.name] = recipe
    return recipes


RECIPES = load_recipes()


@dataclass
class Outcome:
    argv: list[str]
    rc: int
    out: str
    err: str
    installed: dict[str, str] = field(default_factory=dict)  # install/sync: name -> version
    pins: dict[str, str] = field(default_factory=dict)  # compile: name -> version
    indexes: dict[str, str] = field(default_factory=dict)  # compile: name -> index served it


@pytest.fixture(scope="module")
def base_interpreter(tmp_path_factory: pytest.TempPathFactory) -> Interpreter:
    return query_interpreter(PY_EXE, cache_dir=tmp_path_factory.mktemp("recipe-interp"))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One torchup cache for the recipes: the world never changes, and downloading the same
    wheels for every recipe only costs time (routing is decided before the cache is asked)."""
    return tmp_path_factory.mktemp("recipe-cache")


class Kitchen:
    """Runs a recipe's commands in ``tmp_path`` (the working directory)."""

    def __init__(
        self,
        world: World,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        base: Interpreter,
    ) -> None:
        self.world = world
        self.capsys = capsys
        self.mp = monkeypatch
        self.tmp = tmp_path
        self.base_interp = base
        self.base = f"{world.server.url}/whl"
        self.pypi = world.url("pypi")
        self.venv: Interpreter | None = None
        self._n = 0
        monkeypatch.chdir(tmp_path)

    def substitute(self, text: str) -> str:
        return (
            text.replace("https://download.pytorch.org/whl", self.base)
            .replace("https://mirror.example.com/pytorch/whl", self.base)
            .replace("https://pypi.org/simple", self.pypi)
        )

    def recipe(self, name: str) -> Recipe:
        recipe = RECIPES[name]
        for filename, body in recipe.files.items():
            (self.tmp / filename).write_text(self.substitute(body), encoding="utf-8")
        return recipe

    def fresh_venv(self) -> Interpreter:
        self._n += 1
        path = self.tmp / ".venv"
        self.venv = create_venv(path, self.base_interp, clear=path.exists())
        return self.venv

    def run(
        self,
        command: str,
        *,
        platform: str | None = None,
        env: Mapping[str, str] | None = None,
        replace: Mapping[str, str] | None = None,
        fresh_venv: bool = True,
    ) -> Outcome:
        tokens = shlex.split(command)
        cmd_env = dict(env or {})
        while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0]):
            key, _, value = tokens.pop(0).partition("=")
            cmd_env[key] = self.substitute(value)
        assert tokens[0] == "torchup", command
        argv = [self.substitute(t) for t in tokens[1:]]
        for old, new in (replace or {}).items():
            argv = [new if a == old else a for a in argv]
        installing = argv[:2] in (["pip", "install"], ["pip", "sync"])
        if installing and platform == "macos":
            # No macOS environment here: resolve for macOS instead of installing.
            argv[1] = "compile"
            argv = [a for a in argv if a != "-r"]
            installing = False
        self._n += 1
        report = self.tmp / f"report-{self._n}.json"
        if argv[:2] == ["pip", "compile"]:
            argv += ["--report", str(report)]
            if PY != _HERE and not {"--python-version", "--python", "-p"} & set(argv):
                argv += ["--python-version", PY]
            if platform and "--python-platform" not in argv:
                argv += ["--python-platform", platform]
        if argv[0] == "pip":
            if "--index-url" not in argv:
                argv += ["--index-url", self.pypi]
            if "--torch-index-url" not in argv and "TORCHUP_TORCH_INDEX_URL" not in cmd_env:
                argv += ["--torch-index-url", self.base]
        if installing:
            if fresh_venv or self.venv is None:
                self.fresh_venv()
            argv += ["--python", str(self.tmp / ".venv")]
        for key, value in cmd_env.items():
            self.mp.setenv(key, value)
        self.capsys.readouterr()
        try:
            rc = main(argv)
        finally:
            for key in cmd_env:
                self.mp.delenv(key, raising=False)
        captured = self.capsys.readouterr()
        outcome = Outcome(argv, rc, captured.out, captured.err)
        if rc == 0 and installing:
            assert self.venv is not None
            found = scan_site_packages(self.venv.site_packages)
            outcome.installed = {name: dist.version for name, dist in found.items()}
        if rc == 0 and report.exists():
            for item in json.loads(report.read_text(encoding="utf-8"))["install"]:
                name = item["metadata"]["name"]
                outcome.pins[name] = item["metadata"]["version"]
                outcome.indexes[name] = index_of(item["download_info"]["url"])
        return outcome


@pytest.fixture
def kitchen(
    pytorch_world: World,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    base_interpreter: Interpreter,
    shared_cache: Path,
) -> Kitchen:
    monkeypatch.setenv("TORCHUP_CACHE_DIR", str(shared_cache))
    return Kitchen(pytorch_world, capsys, monkeypatch, tmp_path, base_interpreter)


def _ok(outcome: Outcome) -> Outcome:
    assert outcome.rc == 0, f"{' '.join(outcome.argv)}\n{outcome.err}"
    return outcome


def _has(got: Mapping[str, str], expected: Mapping[str, str]) -> None:
    wrong = {n: got.get(n) for n, v in expected.items() if got.get(n) != v}
    assert not wrong, f"expected {dict(expected)}; got {wrong}"


def _no_cuda(got: Mapping[str, str]) -> None:
    assert not [n for n in got if n.startswith("nvidia-") or n == "triton"], sorted(got)


# --- the doc and this file agree ----------------------------------------------------------------


def test_every_recipe_has_a_test_and_commands() -> None:
    tests = {name for name in globals() if name.startswith("test_recipe_")}
    assert set(RECIPES) == tests
    for recipe in RECIPES.values():
        assert recipe.commands, recipe.title
        assert all(c.split()[0] == "torchup" or "=" in c.split()[0] for c in recipe.commands)


def test_doc_sends_projects_to_projects_md() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "docs/projects.md" in text
    assert "[tool.uv.sources]" in text  # mentioned, with the pointer; recipes stay pip-level


# --- recipes ------------------------------------------------------------------------------------


def test_recipe_cpu_only_ci(kitchen: Kitchen) -> None:
    recipe = kitchen.recipe("test_recipe_cpu_only_ci")
    assert len(recipe.commands) == 2
    for command in recipe.commands:
        got = _ok(kitchen.run(command)).installed
        _has(got, {"torch": "2.9.1+cpu", "torchvision": "0.24.1+cpu", "filelock": "3.20.0"})
        _no_cuda(got)


def test_recipe_cuda_server_auto(kitchen: Kitchen) -> None:
    detect, install = kitchen.recipe("test_recipe_cuda_server_auto").commands
    machine = {"TORCHUP_CUDA_DRIVER_VERSION": "570.195.03", "TORCHUP_GPU_COMPUTE_CAPABILITY": "9.0"}
    shown = _ok(kitchen.run(detect, env=machine))
    assert "Torch backend: cu128" in shown.out
    got = _ok(kitchen.run(install, env=machine)).installed
    _has(
        got,
        {
            "torch": "2.9.1+cu128",
            "torchvision": "0.24.1+cu128",
            "triton": "3.5.1",
            "nvidia-cuda-runtime-cu12": "12.8.90",
        },
    )
    # An old driver: the CPU build, and a warning that names the driver to install.
    old = kitchen.run(install, env={**machine, "TORCHUP_CUDA_DRIVER_VERSION": "470.256.02"})
    _has(_ok(old).installed, {"torch": "2.9.1+cpu"})
    assert "upgrade the driver to >= 560.28.03" in old.err


def test_recipe_cuda_compile_for_a_server(kitchen: Kitchen) -> None:
    compile_, sync = kitchen.recipe("test_recipe_cuda_compile_for_a_server").commands
    # The server's Python is this interpreter's version here, so `pip sync` can install it.
    compiled = _ok(kitchen.run(compile_, replace={"3.12": PY}))
    _has(compiled.pins, {"torch": "2.9.1+cu128", "torchvision": "0.24.1+cu128", "triton": "3.5.1"})
    assert compiled.indexes["torch"] == compiled.indexes["triton"] == "whl/cu128"
    assert compiled.indexes["nvidia-cudnn-cu12"] == compiled.indexes["numpy"] == "pypi"
    written = (kitchen.tmp / "requirements.txt").read_text(encoding="utf-8")
    assert "torch==2.9.1+cu128\n" in written
    got = _ok(kitchen.run(sync)).installed
    assert got == {n: v for n, v in compiled.pins.items()}
    # Without the backend, the error says what to add.
    bare = kitchen.run(sync.replace("--torch-backend cu128 ", ""))
    assert bare.rc == 1 and "pass --torch-backend cu128" in bare.err


def test_recipe_rocm(kitchen: Kitchen) -> None:
    backend, pip_style = kitchen.recipe("test_recipe_rocm").commands
    got = _ok(kitchen.run(backend)).installed
    _has(got, {"torch": "2.9.1+rocm6.4", "pytorch-triton-rocm": "3.5.1", "filelock": "3.20.0"})
    _no_cuda(got)
    got = _ok(kitchen.run(pip_style)).installed
    # pip's behaviour: the only index serves everything, its own filelock included.
    _has(got, {"torch": "2.9.1+rocm6.4", "pytorch-triton-rocm": "3.5.1", "filelock": "3.13.1"})


def test_recipe_xpu(kitchen: Kitchen) -> None:
    (install,) = kitchen.recipe("test_recipe_xpu").commands
    got = _ok(kitchen.run(install)).installed
    _has(got, {"torch": "2.9.1+xpu", "torchvision": "0.24.1+xpu", "pytorch-triton-xpu": "3.5.0"})
    _no_cuda(got)


def test_recipe_apple_silicon(kitchen: Kitchen) -> None:
    plain, auto, nightly = kitchen.recipe("test_recipe_apple_silicon").commands
    nvidia = {"TORCHUP_CUDA_DRIVER_VERSION": "580.95.05"}  # must not matter for a Mac
    for command, index in ((plain, "pypi"), (auto, "whl/cpu")):
        mac = _ok(kitchen.run(command, platform="macos", env=nvidia))
        _has(mac.pins, {"torch": "2.9.1", "torchvision": "0.24.1"})
        assert mac.indexes["torch"] == mac.indexes["torchvision"] == index
        _no_cuda(mac.pins)
    mac = _ok(kitchen.run(nightly, platform="macos"))
    _has(
        mac.pins,
        {"torch": NIGHTLY, "torchvision": NIGHTLY_VISION, "torchaudio": NIGHTLY},
    )
    assert {mac.indexes[n] for n in ("torch", "torchvision", "torchaudio")} == {"whl/nightly/cpu"}
    assert "pytorch-triton" not in mac.pins
    # The pitfall the recipe warns about: a labelled pin on a Mac, with the fix in the error.
    bad = kitchen.run(plain.replace("torch torchvision", "torch==2.9.1+cpu"), platform="macos")
    assert bad.rc == 1 and "`torch==2.9.1; sys_platform == 'darwin'`" in bad.err


def test_recipe_one_file_for_every_machine(kitchen: Kitchen) -> None:
    recipe = kitchen.recipe("test_recipe_one_file_for_every_machine")
    mac, linux_cpu, linux_gpu, markers_linux, markers_mac = recipe.commands
    expected = [
        (mac, "requirements-macos.txt", "2.5.1", "0.20.1", "whl/cpu"),
        (linux_cpu, "requirements-linux-cpu.txt", "2.5.1+cpu", "0.20.1+cpu", "whl/cpu"),
        (linux_gpu, "requirements-linux-gpu.txt", "2.5.1+cu124", "0.20.1+cu124", "whl/cu124"),
    ]
    for command, output, torch, vision, index in expected:
        result = _ok(kitchen.run(command))
        _has(result.pins, {"torch": torch, "torchvision": vision})
        assert result.indexes["torch"] == result.indexes["torchvision"] == index
        assert f"torch=={torch}\n" in (kitchen.tmp / output).read_text(encoding="utf-8")
        if "+cu124" in torch:
            _has(result.pins, {"triton": "3.1.0", "nvidia-cuda-runtime-cu12": "12.4.127"})
        else:
            _no_cuda(result.pins)
    linux = _ok(kitchen.run(markers_linux))
    _has(linux.pins, {"torch": "2.4.1+cpu"})
    assert linux.indexes["torch"] == "whl/cpu"
    _no_cuda(linux.pins)
    mac_result = _ok(kitchen.run(markers_mac))
    _has(mac_result.pins, {"torch": "2.4.1"})
    # --extra-index-url comes first: the macOS wheel is the unlabelled one on whl/cpu.
    assert mac_result.indexes["torch"] == "whl/cpu"


def test_recipe_nightlies(kitchen: Kitchen) -> None:
    for command in kitchen.recipe("test_recipe_nightlies").commands:
        got = _ok(kitchen.run(command)).installed
        _has(
            got,
            {
                "torch": f"{NIGHTLY}+cu128",
                "torchvision": f"{NIGHTLY_VISION}+cu128",
                "torchaudio": f"{NIGHTLY}+cu128",
                "pytorch-triton": PYTORCH_TRITON_NIGHTLY,
            },
        )


def test_recipe_pinned_third_party_packages(kitchen: Kitchen) -> None:
    (command,) = kitchen.recipe("test_recipe_pinned_third_party_packages").commands
    result = _ok(kitchen.run(command, platform="linux"))
    _has(
        result.pins, {"certifi": "2024.2.2", "torch": "2.9.1+cu128", "torchvision": "0.24.1+cu128"}
    )
    assert result.indexes["certifi"] == "pypi"
    assert result.indexes["torchvision"] == "whl/cu128"
    # The recipe's other claims: an old pin both indexes have, and no pin at all.
    for certifi, version in (("certifi==2022.12.7", "2022.12.7"), ("certifi", "2025.10.5")):
        (kitchen.tmp / "requirements-pinned.in").write_text(f"{certifi}\ntorch\n")
        other = _ok(kitchen.run(command, platform="linux"))
        _has(other.pins, {"certifi": version})
        assert other.indexes["certifi"] == "pypi"


def test_recipe_mirror(kitchen: Kitchen) -> None:
    commands = kitchen.recipe("test_recipe_mirror").commands
    assert len(commands) == 2
    for command in commands:
        outcome = _ok(kitchen.run(command))
        assert "--torch-index-url" not in outcome.argv or kitchen.base in outcome.argv
        _has(outcome.installed, {"torch": "2.9.1+cu128", "triton": "3.5.1"})


def test_recipe_check_an_environment(kitchen: Kitchen) -> None:
    (detect,) = kitchen.recipe("test_recipe_check_an_environment").commands
    _ok(kitchen.run("torchup pip install --torch-backend cu130 torch"))
    machine = {"TORCHUP_CUDA_DRIVER_VERSION": "575.57.08", "TORCHUP_GPU_COMPUTE_CAPABILITY": "9.0"}
    result = kitchen.run(detect, env=machine)
    assert result.rc == 1, result.out
    assert (
        "Installed torch: torch 2.9.1+cu130 needs NVIDIA driver >= 580.65.06; you have 575.57.08: "
        "torch.cuda.is_available() will be False; run `torchup pip install --torch-backend auto "
        "torch` to get cu128"
    ) in result.out
    data = json.loads(kitchen.run(detect + " --json", env=machine).out)
    assert data["installed_torch"]["usable"] is False
    fine = kitchen.run(detect, env={**machine, "TORCHUP_CUDA_DRIVER_VERSION": "580.95.05"})
    assert fine.rc == 0, fine.out


def test_switching_the_backend_replaces_the_installed_torch(kitchen: Kitchen) -> None:
    """An installed torch build satisfies `torch`, but asking for another backend means
    another build: it is replaced, not kept as installed."""
    first = kitchen.run("torchup pip install torch --torch-backend cpu")
    assert first.rc == 0, first.err
    assert first.installed["torch"].endswith("+cpu")
    second = kitchen.run("torchup pip install torch --torch-backend cu128", fresh_venv=False)
    assert second.rc == 0, second.err
    assert second.installed["torch"].endswith("+cu128"), second.err
