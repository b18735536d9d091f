# ruff: noqa: W291  (the seed tables below keep their trailing spaces verbatim)
"""Tests for torchup.config: pyproject/uv tables, setup.cfg, environment, and pyproject edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchup.config import (
    UV_KNOWN_KEYS,
    ConflictItem,
    IndexConfig,
    ProjectConfig,
    Settings,
    SourceConfig,
    ToolConfig,
    add_dependency,
    add_index,
    find_pyproject,
    load_project,
    parse_timestamp,
    read_setup_cfg,
    remove_dependency,
    remove_source,
    set_source,
    toml_key_lines,
)
from torchup.errors import ConfigError, RequirementError

# The pyproject tables of the five seed reports (uv issues 10712, 9651, 9310, 5945), verbatim.
# Some are fragments (a bare `dependencies = [...]` at top level): they must load all the same.
SEEDS: dict[str, str] = {
    "000_1": """\
[project]
name = "myproject"
version = "0.1.0"
description = "Add your description here"
readme = "README.md"
requires-python = ">=3.11"
dependencies = [
    "pytorch-triton-rocm>=3.1.0", 
    "torch>=2.5.1"
]

[tool.uv.sources]
torch = [{ index = "pytorch-rocm" }]
pytorch-triton-rocm = [{ index = "pytorch-rocm" }]

[[tool.uv.index]]
name = "pytorch-rocm"
url = "https://download.pytorch.org/whl/rocm6.2"
explicit = true
""",
    "000_2": """\
[tool.uv.sources]
torch = [{ index = "pytorch-rocm" }]

[[tool.uv.index]]
name = "pytorch-rocm"
url = "https://download.pytorch.org/whl/rocm6.2"
explicit = true
""",
    "000_3": """\
[[tool.uv.index]]
name = "pytorch-rocm"
url = "https://download.pytorch.org/whl/rocm6.2"

[tool.uv]
index-strategy = "unsafe-best-match"
""",
    "000_4": """\
[tool.uv]
index-strategy = "unsafe-best-match"
""",
    "001_5": """\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.12.0"
dependencies = [
  "torch>=2.5.1",
  "torchvision>=0.20.1",
]

[tool.uv.sources]
torch = [
    { index = "pytorch-cpu", marker = "platform_system != 'Darwin'" },
]
torchvision = [
    { index = "pytorch-cpu", marker = "platform_system != 'Darwin'" },
]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true
""",
    "001_6": """\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.12.0"
dependencies = [
  "torch>=2.5.1", "pytorch-triton",
]

[tool.uv.sources]
torch = [
    { index = "pytorch-cpu"},
]
torchvision = [
    { index = "pytorch-cpu"},
]
pytorch-triton = [
    { index = "pytorch-cpu"},
]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/nightly/cpu"
explicit = true
""",
    "001_7": """\
dependencies = [
    "torch",
    "torchaudio",
    "torchvision",
]

[tool.uv]
environments = [
    "platform_system == 'Darwin'",
]

[tool.uv.sources]
torch = { url = "https://download.pytorch.org/whl/nightly/cpu/torch-2.6.0.dev20241126-cp312-none-macosx_11_0_arm64.whl" }
torchaudio = { url = "https://download.pytorch.org/whl/nightly/cpu/torchaudio-2.5.0.dev20241126-cp312-cp312-macosx_11_0_arm64.whl" }
torchvision = { url = "https://download.pytorch.org/whl/nightly/cpu/torchvision-0.20.0.dev20241126-cp312-cp312-macosx_11_0_arm64.whl" }
""",
    "001_8": """\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.12.0"
dependencies = [
  "torch===2.6.0.dev20241204; platform_system == 'Darwin'",
  "torchvision===0.20.0.dev20241205; platform_system == 'Darwin'",
  "torch==2.6.0.dev20241204+cpu; platform_system != 'Darwin'",
  "torchvision==0.20.0.dev20241205+cpu; platform_system != 'Darwin'",
  "pytorch-triton; platform_system != 'Darwin'",
]

[tool.uv.sources]
torch = [
    { index = "pytorch-cpu" },
]
torchvision = [
    { index = "pytorch-cpu" },
]
pytorch-triton = [
    { index = "pytorch-cpu" },
]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/nightly"
explicit = true
""",
    "002_10": """\
[project]
name = "test"
version = "0.1.0"
description = "Test pytorch dependencies"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["torch==2.5.1", "torchvision==0.20.1"]

[tool]
[tool.uv]
[tool.uv.sources]
[[tool.uv.sources.torch]]
index = "pytorch-cpu"
marker = "platform_system != 'Darwin'"

[[tool.uv.sources.torchvision]]
index = "pytorch-cpu"
marker = "platform_system != 'Darwin'"

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true
""",
    "002_9": """\
[project]
name = "test"
version = "0.1.0"
description = "Test pytorch dependencies"
readme = "README.md"
requires-python = ">=3.11"
dependencies = []

[project.optional-dependencies]
cpu = [
  "torch==2.5.1",
  "torchvision==0.20.1",
]
gpu = [
  "torch==2.5.1",
  "torchvision==0.20.1",
]

[tool]
[tool.uv]
conflicts = [
  [
    { extra = "cpu" },
    { extra = "gpu" },
  ],
]

[tool.uv.sources]
[[tool.uv.sources.torch]]
index = "pytorch-cpu"
marker = "platform_system != 'Darwin'"
extra = "cpu"

[[tool.uv.sources.torchvision]]
index = "pytorch-cpu"
marker = "platform_system != 'Darwin'"
extra = "cpu"

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true
""",
    "003_11": """\
dependencies = [
    "torch==2.4.1 ; sys_platform == 'darwin' and platform_machine == 'arm64'",
    "torch==2.4.1+cpu ; sys_platform !='darwin'",
]

[tool.uv]
index-strategy = "unsafe-best-match"
extra-index-url = ["https://download.pytorch.org/whl/cpu"]
""",
    "003_12": """\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.12"
dependencies = ["torch==2.4.1 ; sys_platform == 'darwin'", "torch==2.4.1+cpu ;  sys_platform != 'darwin'"]

[tool.uv]
index-strategy = "unsafe-best-match"
extra-index-url = ["https://download.pytorch.org/whl/cpu"]
""",
    "003_13": """\
[project]
name = "uv"
version = "0.1.0"
description = "Add your description here"
readme = "README.md"
requires-python = ">=3.10"
dependencies = [
    # bunch of irrelevant deps
]

[project.optional-dependencies]
torch-gpu = [
    "torch==2.4.1+cu118;sys_platform == 'linux' and extra == 'torch-gpu' and extra != 'torch-cpu'", 
    "torch==2.4.1;sys_platform == 'darwin'",
    "torchmetrics>=1.4.3",
]
torch-cpu = [
    "torch==2.4.1+cpu;sys_platform == 'linux' and extra != 'torch-gpu' and extra == 'torch-cpu'", 
    "torch==2.4.1;sys_platform == 'darwin'",
    "torchmetrics>=1.4.3",
]
classic = [
    "lightgbm>=4.5.0",
    "scikit-learn>=1.5.2",
    "xgboost>=2.1.1",
]


[tool.uv.sources]
torch = [
  { index = "torch-cpu", marker = "sys_platform == 'linux' and extra != 'torch-gpu' and extra == 'torch-cpu'"},
  { index = "torch-cu118", marker = "sys_platform == 'linux' and extra == 'torch-gpu' and extra != 'torch-cpu'"},
]

[[tool.uv.index]]
name = "torch-cu118"
url = "https://download.pytorch.org/whl/cu118"
explicit = true

[[tool.uv.index]]
name = "torch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true
""",
}


def load(text: str) -> ProjectConfig:
    return ProjectConfig.from_pyproject(text, "pyproject.toml")


# -- seeds ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_table_loads_verbatim(name: str) -> None:
    project = load(SEEDS[name])
    assert project.tool_table == "uv"
    assert project.warnings == ()
    # Whatever loads must survive a to_dict/from_dict round trip.
    assert ProjectConfig.from_dict(project.to_dict()) == project


def test_seed_000_rocm_explicit_index() -> None:
    project = load(SEEDS["000_1"])
    assert project.name == "myproject"
    assert [str(r) for r in project.dependencies] == ["pytorch-triton-rocm>=3.1.0", "torch>=2.5.1"]
    assert project.tool.indexes == (
        IndexConfig(
            url="https://download.pytorch.org/whl/rocm6.2", name="pytorch-rocm", explicit=True
        ),
    )
    assert project.tool.sources["pytorch-triton-rocm"] == (
        SourceConfig(kind="index", index="pytorch-rocm"),
    )
    assert load(SEEDS["000_3"]).tool.index_strategy == "unsafe-best-match"


def test_seed_001_markers_and_url_sources() -> None:
    project = load(SEEDS["001_5"])
    (torch,) = project.tool.sources["torch"]
    assert torch.index == "pytorch-cpu" and str(torch.marker) == 'platform_system != "Darwin"'
    assert str(project.requires_python) == ">=3.12.0"
    fragment = load(SEEDS["001_7"])
    assert [str(m) for m in fragment.tool.environments] == ['platform_system == "Darwin"']
    assert fragment.tool.sources["torchaudio"][0].kind == "url"
    nightly = load(SEEDS["001_8"])
    assert len(nightly.dependencies) == 5
    assert nightly.tool.indexes[0].url == "https://download.pytorch.org/whl/nightly"


def test_seed_002_conflicting_extras_with_per_extra_sources() -> None:
    project = load(SEEDS["002_9"])
    assert set(project.optional_dependencies) == {"cpu", "gpu"}
    assert project.tool.conflicts == ((ConflictItem(extra="cpu"), ConflictItem(extra="gpu")),)
    (torch,) = project.tool.sources["torch"]
    assert torch.extra == "cpu" and torch.index == "pytorch-cpu"


def test_seed_003_extra_index_url_and_marker_split() -> None:
    project = load(SEEDS["003_12"])
    assert project.tool.extra_index_urls == ("https://download.pytorch.org/whl/cpu",)
    assert project.tool.index_strategy == "unsafe-best-match"
    assert [str(r.marker) for r in project.dependencies] == [
        'sys_platform == "darwin"',
        'sys_platform != "darwin"',
    ]
    gpu = load(SEEDS["003_13"])
    assert [s.index for s in gpu.tool.sources["torch"]] == ["torch-cpu", "torch-cu118"]
    assert set(gpu.optional_dependencies) == {"torch-gpu", "torch-cpu", "classic"}


def test_seed_003_string_extra_index_url_is_reported_where_it_is_written() -> None:
    # The trap in seed 003: a string where uv wants a list.
    text = SEEDS["003_12"].replace(
        'extra-index-url = ["https://download.pytorch.org/whl/cpu"]',
        'extra-index-url = "https://download.pytorch.org/whl/cpu"',
    )
    with pytest.raises(ConfigError) as info:
        load(text)
    assert str(info.value).startswith(
        "pyproject.toml:9: `tool.uv.extra-index-url`: expected an array of URLs"
    )
    assert info.value.line == 9 and info.value.key == "tool.uv.extra-index-url"


# -- line finding -----------------------------------------------------------------------------


def test_toml_key_lines() -> None:
    lines = toml_key_lines(SEEDS["002_9"])
    assert lines[("project", "optional-dependencies", "gpu", 1)] == 16
    assert lines[("tool", "uv", "conflicts", 0, 1, "extra")] == 24
    assert lines[("tool", "uv", "sources", "torchvision", 0, "extra")] == 37
    assert lines[("tool", "uv", "index", 0, "explicit")] == 42
    tricky = "\n".join(
        [
            'a = """multi',
            'line "" string"""',
            "b = 'lit'  # comment [x]",
            '"quoted.key" = { c = [1, 2,',
            "  {d = 1979-05-27T07:32:00Z}] }",
            "[[t.u]]",
            "x = 1",
            "[[t.u]]",
            "x = 2",
            "[t.u.v]",
            "y = '''",
            "ml'''",
            "",
        ]
    )
    lines = toml_key_lines(tricky)
    assert lines[("b",)] == 3
    assert lines[("quoted.key", "c", 2, "d")] == 5
    assert lines[("t", "u", 1, "x")] == 9
    assert lines[("t", "u", 1, "v", "y")] == 11


# -- errors -----------------------------------------------------------------------------------

BASE = """\
[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = [
    "torch>=2.4",
]

[project.optional-dependencies]
cu128 = ["torch"]

[tool.uv]
index-strategy = "first-index"

[tool.uv.sources]
torch = { index = "pytorch-cu128", extra = "cu128" }

[[tool.uv.index]]
name = "pytorch-cu128"
url = "https://download.pytorch.org/whl/cu128"
explicit = true
"""

BAD_PYPROJECT = [
    # (replace this, with that, expected message start)
    (
        '"torch>=2.4"',
        '"torch>=="',
        "pyproject.toml:6: `project.dependencies[0]`: invalid requirement",
    ),
    (
        'version = "0.1.0"',
        'version = "zero"',
        "pyproject.toml:3: `project.version`: invalid version",
    ),
    (
        '">=3.10"',
        '"3.10+"',
        "pyproject.toml:4: `project.requires-python`: invalid version specifier",
    ),
    (
        'index-strategy = "first-index"',
        'index-strategy = "best"',
        "pyproject.toml:13: `tool.uv.index-strategy`: unknown value 'best'",
    ),
    (
        'index-strategy = "first-index"',
        'index-stratgy = "first-index"',
        "pyproject.toml:13: `tool.uv.index-stratgy`: unknown key in [tool.uv]",
    ),
    (
        'index-strategy = "first-index"',
        "prerelease = true",
        "pyproject.toml:13: `tool.uv.prerelease`: expected a string",
    ),
    (
        'index-strategy = "first-index"',
        'environments = ["sys_platform = linux"]',
        "pyproject.toml:13: `tool.uv.environments[0]`: invalid marker",
    ),
    (
        'index-strategy = "first-index"',
        'torch-backend = "cuda"',
        "pyproject.toml:13: `tool.uv.torch-backend`: unknown torch backend 'cuda'",
    ),
    (
        'index-strategy = "first-index"',
        'exclude-newer = "last week"',
        "pyproject.toml:13: `tool.uv.exclude-newer`: invalid timestamp",
    ),
    (
        'index-strategy = "first-index"',
        'conflicts = [[{ extra = "cu128" }]]',
        "pyproject.toml:13: `tool.uv.conflicts[0]`: a conflict set needs at least two items",
    ),
    (
        'index-strategy = "first-index"',
        'conflicts = [[{ extra = "cu128" }, { extra = "cpu" }]]',
        "pyproject.toml:13: `tool.uv.conflicts[0][1].extra`: conflict names extra 'cpu'",
    ),
    (
        "explicit = true",
        'explicit = "yes"',
        "pyproject.toml:21: `tool.uv.index[0].explicit`: expected true or false, got a string ('yes')",
    ),
    (
        "explicit = true",
        'explicit = true\nformat = "html"',
        "pyproject.toml:22: `tool.uv.index[0].format`: unknown value 'html'",
    ),
    (
        "explicit = true",
        'explicit = true\nurll = "x"',
        "pyproject.toml:22: `tool.uv.index[0].urll`: unknown key in an index entry",
    ),
    (
        'url = "https://download.pytorch.org/whl/cu128"',
        'url = "download.pytorch.org"',
        "pyproject.toml:20: `tool.uv.index[0].url`: expected a URL",
    ),
    (
        'name = "pytorch-cu128"\n',
        "",
        "pyproject.toml:20: `tool.uv.index[0].explicit`: an explicit index needs a `name`",
    ),
    (
        'index = "pytorch-cu128", extra',
        'index = "pytorch", extra',
        "pyproject.toml:16: `tool.uv.sources.torch.index`: source for 'torch' names index 'pytorch'",
    ),
    (
        'extra = "cu128" }',
        'extra = "cu126" }',
        "pyproject.toml:16: `tool.uv.sources.torch.extra`: source for 'torch' names extra 'cu126'",
    ),
    (
        '{ index = "pytorch-cu128", extra = "cu128" }',
        '{ extra = "cu128" }',
        "pyproject.toml:16: `tool.uv.sources.torch`: a source needs exactly one of",
    ),
    (
        '{ index = "pytorch-cu128", extra = "cu128" }',
        '{ index = "pytorch-cu128", tag = "v1" }',
        "pyproject.toml:16: `tool.uv.sources.torch.tag`: `tag` only applies to git sources",
    ),
    (
        '{ index = "pytorch-cu128", extra = "cu128" }',
        '[{ index = "pytorch-cu128" }, { url = "https://x/t.whl" }]',
        "pyproject.toml:16: `tool.uv.sources.torch[0]`: with several sources",
    ),
    (
        '{ index = "pytorch-cu128", extra = "cu128" }',
        '"pytorch-cu128"',
        "pyproject.toml:16: `tool.uv.sources.torch`: expected a table or an array of tables",
    ),
    (
        "[tool.uv]\n",
        "[tool.uv]\nextra-index-url = [1]\n",
        "pyproject.toml:13: `tool.uv.extra-index-url[0]`: expected a string",
    ),
    (
        'cu128 = ["torch"]',
        'cu128 = "torch"',
        "pyproject.toml:10: `project.optional-dependencies.cu128`: expected an array",
    ),
    (
        "[tool.uv]\n",
        '[tool.uv]\nextra-index-url = [\n  "https://x.org/simple",\n  "not a url",\n]\n',
        "pyproject.toml:15: `tool.uv.extra-index-url[1]`: expected a URL",
    ),
    ('name = "demo"', 'name = "demo"\nname = "again"', "pyproject.toml:3: invalid TOML"),
    (
        "[tool.uv]\n",
        '[tool.uv]\ncache-keys = [{ file = "a.txt", env = "X" }]\n',
        "pyproject.toml:13: `tool.uv.cache-keys[0]`: a cache key is one of",
    ),
    (
        "[tool.uv]\n",
        '[tool.uv]\nextra-build-dependencies = { ext = [{ match-runtime = true }] }\n',
        "pyproject.toml:13: `tool.uv.extra-build-dependencies.ext[0]`: an extra build dependency",
    ),
    (
        "[tool.uv]\n",
        '[tool.uv]\nextra-build-dependencies = { ext = [{ requirement = "torch>=2", match-runtime = true }] }\n',
        "pyproject.toml:13: `tool.uv.extra-build-dependencies.ext[0].requirement`: `torch>=2` has match-runtime",
    ),
    (
        "[tool.uv]\n",
        '[tool.uv]\nextra-build-dependencies = { ext = [{ requirement = "torch @ https://x.org/t.whl", match-runtime = true }] }\n',
        "pyproject.toml:13: `tool.uv.extra-build-dependencies.ext[0].requirement`: `torch @ https://x.org/t.whl` has",
    ),
    (
        "[tool.uv]\n",
        '[tool.uv]\ndependency-metadata = [{ name = "fa", requires = ["x"] }]\n',
        "pyproject.toml:13: `tool.uv.dependency-metadata[0]`: a dependency-metadata entry has",
    ),
    (
        "[tool.uv]\n",
        '[tool.uv]\nno-build-isolation-package = ["not a name"]\n',
        "pyproject.toml:13: `tool.uv.no-build-isolation-package[0]`: invalid package name",
    ),
]


@pytest.mark.parametrize("old,new,message", BAD_PYPROJECT)
def test_pyproject_errors_name_file_line_and_key(old: str, new: str, message: str) -> None:
    assert old in BASE
    with pytest.raises(ConfigError) as info:
        load(BASE.replace(old, new, 1))
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.hint


def test_build_settings_load_and_round_trip() -> None:
    """uv's build keys: no-build-isolation(-package), extra-build-dependencies, cache-keys,
    build-constraint-dependencies, dependency-metadata."""
    from torchup.config import CacheKey, ToolConfig

    project = load(BASE.replace("[tool.uv]\n", """[tool.uv]
no-build-isolation-package = ["Flash_Attn"]
cache-keys = [{ file = "pyproject.toml" }, { dir = "src" }, { env = "CUDA_HOME" }, { git = { commit = true } }]
extra-build-dependencies = { flash-attn = ["ninja>=1.11", { requirement = "torch", match-runtime = true }] }
build-constraint-dependencies = ["setuptools<70"]
dependency-metadata = [{ name = "Flash_Attn", version = "2.6.3", requires-dist = ["torch", "einops"], requires-python = ">=3.9" }, { name = "other" }]
""", 1))
    tool = project.tool
    assert tool.no_build_isolation_package == ("flash-attn",)
    assert [str(r) for r in tool.build_constraint_dependencies] == ["setuptools<70"]
    flash, other = tool.dependency_metadata
    assert (flash.name, flash.version, str(flash.requires_python)) == ("flash-attn", "2.6.3", ">=3.9")
    assert flash.metadata_text("2.6.3").splitlines()[-2:] == ["Requires-Dist: torch", "Requires-Dist: einops"]
    assert (other.version, other.requires_dist) == (None, ())
    assert tool.cache_keys == (
        CacheKey("file", "pyproject.toml"), CacheKey("dir", "src"), CacheKey("env", "CUDA_HOME"),
        CacheKey("git"),
    )
    (ninja, torch) = tool.extra_build_dependencies["flash-attn"]
    assert (str(ninja.requirement), ninja.match_runtime) == ("ninja>=1.11", False)
    assert (str(torch.requirement), torch.match_runtime) == ("torch", True)
    assert ToolConfig.from_dict(tool.to_dict()) == tool


def test_base_loads() -> None:
    project = load(BASE)
    assert project.tool.sources["torch"][0].extra == "cu128"


def test_dependency_groups_include_and_dev_dependencies_merge() -> None:
    text = """\
[dependency-groups]
Test = ["pytest>=8", { include-group = "lint" }]
lint = ["ruff"]
dev = [{ include-group = "test" }]

[tool.uv]
dev-dependencies = ["ipython"]
default-groups = ["dev"]
"""
    project = load(text)
    groups = {k: [str(r) for r in v] for k, v in project.dependency_groups.items()}
    assert groups == {
        "test": ["pytest>=8", "ruff"],
        "lint": ["ruff"],
        "dev": ["pytest>=8", "ruff", "ipython"],
    }
    assert project.tool.default_groups == ("dev",)


def test_dependency_group_cycle() -> None:
    text = '[dependency-groups]\na = [{ include-group = "b" }]\nb = [{ include-group = "a" }]\n'
    with pytest.raises(ConfigError, match=r"pyproject.toml:3: .*include each other: a -> b -> a"):
        load(text)


# -- which table, warnings ----------------------------------------------------------------------


def test_uv_only_keys_are_warnings_not_errors() -> None:
    text = '[tool.uv]\ncache-dir = ".cache"\nmanaged = true\nworkspace = { members = ["a"] }\npackage = false\n'
    project = load(text)
    assert project.tool.package is False
    assert project.warnings == (
        "pyproject.toml:2: `cache-dir` in [tool.uv] is not used by torchup; ignoring it",
        "pyproject.toml:3: `managed` in [tool.uv] is not used by torchup; ignoring it",
        "pyproject.toml:4: `workspace` in [tool.uv] is not used by torchup; ignoring it",
    )
    assert {"cache-dir", "managed", "workspace", "pip"} <= UV_KNOWN_KEYS


def test_torchup_table_wins_over_uv() -> None:
    text = """\
[tool.uv]
index-strategy = "unsafe-best-match"

[tool.torchup]
torch-backend = "CU128"
torch-backends = ["cpu", "cu128", "rocm6.4"]
torch-channel = "nightly"
torch-index-url = "https://mirror.example/whl"
exclude-newer = "2024-06-01"
prerelease = "if-necessary-or-explicit"
resolution = "lowest-direct"
override-dependencies = ["numpy<2"]
constraint-dependencies = ["pillow!=11.0.0"]
required-environments = "sys_platform == 'linux'"
find-links = ["./wheels"]
no-index = false
index-url = "https://pypi.org/simple"
"""
    project = load(text)
    tool = project.tool
    assert project.tool_table == "torchup"
    assert tool.index_strategy is None  # [tool.uv] is not read at all
    assert tool.torch_backend == "cu128"
    assert tool.torch_backends == ("cpu", "cu128", "rocm6.4")
    assert tool.torch_channel == "nightly"
    assert (
        tool.exclude_newer is not None
        and tool.exclude_newer.isoformat() == "2024-06-01T00:00:00+00:00"
    )
    assert [str(r) for r in tool.override_dependencies] == ["numpy<2"]
    assert len(tool.required_environments) == 1
    assert "both [tool.torchup] and [tool.uv]" in project.warnings[0]
    assert ToolConfig.from_dict(tool.to_dict()) == tool


def test_index_ignored_uv_keys_warn() -> None:
    text = '[[tool.uv.index]]\nname = "x"\nurl = "https://x.org/simple"\npublish-url = "https://x.org/upload"\nignore-error-codes = [403]\nauthenticate = "never"\n'
    project = load(text)
    assert project.tool.indexes[0].ignore_error_codes == (403,)
    assert project.tool.indexes[0].authenticate == "never"
    assert project.warnings == (
        "pyproject.toml: `tool.uv.index[0].publish-url` is not used by torchup; ignoring it",
    )


def test_timestamps() -> None:
    assert parse_timestamp("2024-06-01T12:00:00Z").isoformat() == "2024-06-01T12:00:00+00:00"
    assert parse_timestamp("2024-06-01T14:00:00+02:00").hour == 12
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


# -- environment ------------------------------------------------------------------------------


def test_settings_from_env() -> None:
    env = {
        "TORCHUP_INDEX_URL": "https://pypi.org/simple",
        "TORCHUP_EXTRA_INDEX_URL": "https://a.org/simple https://b.org/simple",
        "TORCHUP_INDEX": "pytorch=https://download.pytorch.org/whl/cu128 https://c.org/simple",
        "TORCHUP_FIND_LINKS": "./wheels, https://d.org/links",
        "TORCHUP_NO_INDEX": "false",
        "TORCHUP_INDEX_STRATEGY": "unsafe-best-match",
        "TORCHUP_PRERELEASE": "allow",
        "TORCHUP_RESOLUTION": "lowest",
        "TORCHUP_EXCLUDE_NEWER": "2024-06-01T00:00:00Z",
        "TORCHUP_CACHE_DIR": "/tmp/cache",
        "TORCHUP_NO_CACHE": "1",
        "TORCHUP_OFFLINE": "yes",
        "TORCHUP_TORCH_BACKEND": "cu126",
        "TORCHUP_TORCH_CHANNEL": "test",
        "TORCHUP_TORCH_INDEX_URL": "https://mirror.example/whl",
        "TORCHUP_HTTP_RETRIES": "5",
        "TORCHUP_HTTP_TIMEOUT": "2.5",
        "TORCHUP_CUDA_DRIVER_VERSION": "550.54.14",
        "TORCHUP_GPU_COMPUTE_CAPABILITY": "8.6",
        "TORCHUP_AMD_GPU_ARCH": "gfx90a,GFX1100",
        "SSL_CERT_FILE": "/etc/ca.pem",
        "NETRC": "/root/.netrc",
        "HTTPS_PROXY": "http://upper:3128",
        "https_proxy": "http://lower:3128",
        "NO_PROXY": "localhost",
        "VIRTUAL_ENV": "/venv",
        "NO_COLOR": "1",
        "TORCHUP_DEFAULT_INDEX": "",  # empty counts as unset
    }
    settings = Settings.from_env(env)
    assert settings.extra_index_urls == ("https://a.org/simple", "https://b.org/simple")
    assert settings.indexes == (
        IndexConfig(url="https://download.pytorch.org/whl/cu128", name="pytorch"),
        IndexConfig(url="https://c.org/simple"),
    )
    assert settings.find_links == ("./wheels", "https://d.org/links")
    assert settings.no_index is False and settings.no_cache is True and settings.offline is True
    assert settings.http_retries == 5 and settings.http_timeout == 2.5
    assert settings.amd_gpu_arch == ("gfx90a", "gfx1100")
    assert settings.https_proxy == "http://lower:3128"
    assert settings.no_proxy == "localhost"
    assert settings.default_index is None
    assert settings.no_color is True
    assert Settings.from_dict(settings.to_dict()) == settings
    assert Settings.from_env({}) == Settings()


BAD_ENV = [
    ("TORCHUP_HTTP_RETRIES", "many"),
    ("TORCHUP_HTTP_RETRIES", "-1"),
    ("TORCHUP_HTTP_TIMEOUT", "0"),
    ("TORCHUP_HTTP_TIMEOUT", "nan"),
    ("TORCHUP_NO_INDEX", "maybe"),
    ("TORCHUP_INDEX_STRATEGY", "best"),
    ("TORCHUP_PRERELEASE", "yes"),
    ("TORCHUP_RESOLUTION", "newest"),
    ("TORCHUP_TORCH_BACKEND", "cuda12"),
    ("TORCHUP_TORCH_CHANNEL", "beta"),
    ("TORCHUP_EXCLUDE_NEWER", "soon"),
    ("TORCHUP_CUDA_DRIVER_VERSION", "v550"),
    ("TORCHUP_GPU_COMPUTE_CAPABILITY", "sm_86"),
    ("TORCHUP_AMD_GPU_ARCH", "mi300"),
    ("TORCHUP_INDEX_URL", "pypi"),
    ("TORCHUP_EXTRA_INDEX_URL", "https://ok.org pypi"),
    ("TORCHUP_INDEX", "bad name=https://x.org"),
]


@pytest.mark.parametrize("name,value", BAD_ENV)
def test_settings_errors_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert str(info.value).startswith(f"environment variable {name}=")
    assert info.value.key == name and info.value.hint


# -- setup.cfg --------------------------------------------------------------------------------

SETUP_CFG = """\
[metadata]
name = legacy-project
version = 1.2.3

[options]
python_requires = >=3.9
install_requires =
    numpy>=1.24
    torch>=2.0 ; sys_platform == "linux"

[options.extras_require]
CUDA =
    nvidia-ml-py
docs = file: docs-requirements.txt
"""


def test_setup_cfg() -> None:
    project = read_setup_cfg(SETUP_CFG)
    assert project.name == "legacy-project" and project.version == "1.2.3"
    assert str(project.requires_python) == ">=3.9"
    assert [str(r) for r in project.dependencies] == [
        "numpy>=1.24",
        'torch>=2.0; sys_platform == "linux"',
    ]
    assert list(project.optional_dependencies) == ["cuda"]
    assert project.dynamic == ("docs",)


def test_setup_cfg_error_line() -> None:
    with pytest.raises(ConfigError) as info:
        read_setup_cfg(SETUP_CFG.replace("torch>=2.0", "torch>="))
    assert str(info.value).startswith("setup.cfg:9: invalid requirement 'torch>=")
    with pytest.raises(ConfigError, match=r"^setup.cfg:2: invalid setup.cfg"):
        read_setup_cfg("[metadata]\n[metadata\n")


# -- edits ------------------------------------------------------------------------------------

EDITABLE = """\
[project]
name = "demo"  # keep this comment
version = "0.1.0"
dependencies = [
    "numpy>=1.26",  # numbers
    "torch>=2.4 ; sys_platform == 'linux'",
]

# Extras for each backend.
[project.optional-dependencies]
cpu = ["torch"]

[tool.uv.sources]
[[tool.uv.sources.torch]]
index = "pytorch-cpu"
extra = "cpu"

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true
"""


def test_add_dependency_appends_and_keeps_formatting() -> None:
    out = add_dependency(EDITABLE, "pillow>=10")
    assert out == EDITABLE.replace(
        "sys_platform == 'linux'\",\n]", 'sys_platform == \'linux\'",\n    "pillow>=10",\n]'
    )
    load(out)


def test_add_dependency_replaces_same_name_and_marker_in_place() -> None:
    out = add_dependency(EDITABLE, "numpy>=2")
    assert '    "numpy>=2",  # numbers\n' in out
    assert out.count("numpy") == 1
    # A requirement with another marker is a different entry.
    out = add_dependency(EDITABLE, "torch==2.8.0; sys_platform == 'darwin'")
    assert out.count("torch") == EDITABLE.count("torch") + 1


def test_add_dependency_to_extra_and_new_group() -> None:
    out = add_dependency(EDITABLE, "torchvision", extra="CPU")
    assert 'cpu = ["torch", "torchvision"]' in out
    out = add_dependency(out, "pytest>=8", group="dev")
    project = load(out)
    assert [str(r) for r in project.dependency_groups["dev"]] == ["pytest>=8"]
    assert "# Extras for each backend." in out and "# keep this comment" in out


def test_add_dependency_rejects_bad_requirement() -> None:
    with pytest.raises(RequirementError):
        add_dependency(EDITABLE, "torch>=")


def test_remove_dependency() -> None:
    out = remove_dependency(EDITABLE, "NumPy")
    assert "numpy" not in out and "# keep this comment" in out
    load(out)
    with pytest.raises(ConfigError, match="`pillow` is not a dependency in `project.dependencies`"):
        remove_dependency(EDITABLE, "pillow")
    with pytest.raises(ConfigError, match="not a dependency in `dependency-groups.dev`"):
        remove_dependency(EDITABLE, "pytest", group="dev")


def test_removing_the_last_dependency_leaves_an_empty_list() -> None:
    text = '[project]\nname = "x"\ndependencies = [\n    "requests>=2",\n]\n'
    assert remove_dependency(text, "requests") == '[project]\nname = "x"\ndependencies = []\n'
    # a comment of the user's in the list is kept (so the list stays as it is written)
    commented = '[project]\nname = "x"\ndependencies = [\n    # pinned by ops\n    "requests",\n]\n'
    assert "# pinned by ops" in remove_dependency(commented, "requests")


def test_add_index_first_and_update() -> None:
    out = add_index(
        EDITABLE, url="https://download.pytorch.org/whl/cu128", name="pytorch-cu128", explicit=True
    )
    project = load(out)
    assert [i.name for i in project.tool.indexes] == ["pytorch-cu128", "pytorch-cpu"]
    again = add_index(out, url="https://download.pytorch.org/whl/cu126", name="pytorch-cu128")
    project = load(again)
    assert project.tool.indexes[0] == IndexConfig(
        url="https://download.pytorch.org/whl/cu126", name="pytorch-cu128"
    )
    fresh = add_index('[project]\nname = "x"\n', url="https://x.org/simple", name="x")
    assert load(fresh).tool.indexes == (IndexConfig(url="https://x.org/simple", name="x"),)


def test_set_and_remove_source() -> None:
    out = set_source(
        EDITABLE, "torch", {"index": "pytorch-cpu", "marker": "sys_platform == 'linux'"}
    )
    project = load(out)
    assert project.tool.sources["torch"] == (
        SourceConfig(
            kind="index", index="pytorch-cpu", marker=project.tool.sources["torch"][0].marker
        ),
    )
    assert "[[tool.uv.sources.torch]]" not in out
    both = set_source(
        EDITABLE,
        "torchvision",
        [
            SourceConfig(kind="index", index="pytorch-cpu", extra="cpu"),
            {
                "url": "https://x.org/torchvision-0.20.1-py3-none-any.whl",
                "marker": "sys_platform == 'darwin'",
            },
        ],
    )
    assert len(load(both).tool.sources["torchvision"]) == 2
    removed = remove_source(out, "Torch")
    assert "torch" not in load(removed).tool.sources
    assert remove_source(EDITABLE, "absent") == EDITABLE


# -- the disk edge ----------------------------------------------------------------------------


def test_load_project_and_find_pyproject(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert load_project(tmp_path) is None
    (tmp_path / "setup.cfg").write_text(SETUP_CFG)
    assert load_project(tmp_path).name == "legacy-project"  # type: ignore[union-attr]
    (tmp_path / "pyproject.toml").write_text('[tool.uv]\nindex-strategy = "unsafe-best-match"\n')
    merged = load_project(tmp_path)
    assert merged is not None and merged.name == "legacy-project"
    assert merged.tool.index_strategy == "unsafe-best-match"
    (tmp_path / "pyproject.toml").write_text(BASE)
    assert load_project(tmp_path).name == "demo"  # type: ignore[union-attr]
    assert find_pyproject(tmp_path / "sub") == (tmp_path / "pyproject.toml").absolute()
