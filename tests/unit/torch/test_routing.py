"""Which packages come from a PyTorch index, URL recognition, local-label acceptance."""

from __future__ import annotations

import pytest
from packaging.version import Version

from torchup.torch.backend import CPU, XPU, Backend, parse_backend
from torchup.torch.routing import (
    PytorchIndex,
    TorchRouting,
    accepts_local_label,
    backend_from_url,
    channel_from_url,
    has_accelerator_builds,
    is_nightly_url,
    is_pytorch_index_url,
    is_torch_family,
    label_preference,
    parse_pytorch_index_url,
)

CU124, CU128, CU130 = Backend("cuda", (12, 4)), Backend("cuda", (12, 8)), Backend("cuda", (13, 0))
MIRROR = "https://mirror.example.org/pytorch/whl"


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("torch", True),
        ("Torch", True),
        ("TorchVision", True),
        ("torchaudio", True),
        ("torchao", True),
        ("torchcodec", True),
        ("fbgemm_gpu", True),
        ("xformers", True),
        ("triton", True),
        ("pytorch-triton", True),
        ("pytorch_triton_rocm", True),
        ("pytorch-triton-xpu", True),
        ("triton-rocm", True),
        ("torchtune", True),
        ("torchdata", True),
        ("nvidia-cudnn-cu12", False),  # PyPI has them current: never routed
        ("nvidia-cublas", False),
        ("numpy", False),
        ("certifi", False),
        ("markupsafe", False),
        ("torch-geometric", False),
        ("pytorch-lightning", False),
    ],
)
def test_is_torch_family(name: str, family: bool) -> None:
    assert is_torch_family(name) is family


def test_accelerator_built_subset() -> None:
    assert has_accelerator_builds("torch") and has_accelerator_builds("TorchVision")
    assert not has_accelerator_builds("triton") and not has_accelerator_builds("torchdata")
    assert not has_accelerator_builds("numpy")


@pytest.mark.parametrize(
    ("url", "mirrors", "expected"),
    [
        ("https://download.pytorch.org/whl/cu128", (), True),
        ("https://download.pytorch.org/whl/cu128/", (), True),
        ("https://download.pytorch.org/whl", (), True),
        ("https://download.pytorch.org/whl/nightly/cu128", (), True),
        ("http://download.pytorch.org/whl/cpu/torch/", (), True),
        ("https://download.pytorch.org/libtorch/cu128/", (), False),
        ("https://download.pytorch.org/whlx/cu128", (), False),
        ("https://download.pytorch.org.evil.example/whl/cu128", (), False),
        ("https://pypi.org/simple", (), False),
        ("file:///download.pytorch.org/whl/cu128", (), False),
        (f"{MIRROR}/cu128", (MIRROR,), True),
        (f"{MIRROR}/cu128", (), False),
        (f"{MIRROR}x/cu128", (MIRROR,), False),
        (f"{MIRROR}/nightly/rocm6.4", (MIRROR + "/",), True),
    ],
)
def test_is_pytorch_index_url(url: str, mirrors: tuple[str, ...], expected: bool) -> None:
    assert is_pytorch_index_url(url, mirrors) is expected


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        (
            "https://download.pytorch.org/whl/cu128",
            PytorchIndex("https://download.pytorch.org/whl", "stable", CU128),
        ),
        (
            "https://download.pytorch.org/whl/nightly/cu130/",
            PytorchIndex("https://download.pytorch.org/whl", "nightly", CU130),
        ),
        (
            "https://download.pytorch.org/whl/test/cpu",
            PytorchIndex("https://download.pytorch.org/whl", "test", CPU),
        ),
        (
            "https://download.pytorch.org/whl/rocm6.2.4/torch/",
            PytorchIndex("https://download.pytorch.org/whl", "stable", parse_backend("rocm6.2.4")),
        ),
        (
            "https://download.pytorch.org/whl/nightly/pytorch-triton/",
            PytorchIndex("https://download.pytorch.org/whl", "nightly", None),
        ),
        (
            "https://download.pytorch.org/whl",
            PytorchIndex("https://download.pytorch.org/whl", "stable", None),
        ),
        (f"{MIRROR}/xpu", PytorchIndex(MIRROR, "stable", XPU)),
        ("https://pypi.org/simple/torch/", None),
    ],
)
def test_parse_pytorch_index_url(url: str, parsed: PytorchIndex | None) -> None:
    assert parse_pytorch_index_url(url, [MIRROR]) == parsed


def test_channel_and_backend_from_url() -> None:
    assert channel_from_url("https://download.pytorch.org/whl/nightly/cpu") == "nightly"
    assert is_nightly_url("https://download.pytorch.org/whl/nightly/cpu")
    assert not is_nightly_url("https://download.pytorch.org/whl/test/cpu")
    assert not is_nightly_url("https://pypi.org/simple")
    assert channel_from_url("https://pypi.org/simple") is None
    assert backend_from_url("https://download.pytorch.org/whl/cu124") == CU124
    assert backend_from_url("https://download.pytorch.org/whl/torch_stable.html") is None
    assert backend_from_url(f"{MIRROR}/nightly/cu130", [MIRROR]) == CU130


def test_routing_sends_only_the_torch_family_to_the_pytorch_index() -> None:
    routing = TorchRouting(CU128)
    assert routing.index_url == "https://download.pytorch.org/whl/cu128"
    assert routing.index_for("torch") == "https://download.pytorch.org/whl/cu128"
    assert routing.index_for("Torch_Vision".replace("_", "")) == routing.index_url
    assert routing.index_for("pytorch-triton") == routing.index_url
    for other in ("numpy", "certifi", "requests", "nvidia-cudnn-cu12", "MarkupSafe", "jinja2"):
        assert routing.index_for(other) is None
        assert not routing.applies_to(other)


def test_routing_channels_and_mirrors() -> None:
    nightly = TorchRouting(CPU, "nightly")
    assert nightly.index_for("torch") == "https://download.pytorch.org/whl/nightly/cpu"
    mirrored = TorchRouting(CU130, base_url=MIRROR, mirror_prefixes=frozenset({MIRROR}))
    assert mirrored.index_for("torchaudio") == f"{MIRROR}/cu130"
    assert mirrored.is_pytorch_index(f"{MIRROR}/cu128")
    assert mirrored.is_pytorch_index("https://download.pytorch.org/whl/cpu")
    assert not mirrored.is_pytorch_index("https://pypi.org/simple")


def test_routing_from_index_url() -> None:
    routing = TorchRouting.from_index_url("https://download.pytorch.org/whl/nightly/cu128")
    assert routing == TorchRouting(CU128, "nightly")
    assert TorchRouting.from_index_url("https://pypi.org/simple") is None
    assert TorchRouting.from_index_url("https://download.pytorch.org/whl") is None
    mirrored = TorchRouting.from_index_url(f"{MIRROR}/cu124", [MIRROR])
    assert mirrored is not None and mirrored.base_url == MIRROR and mirrored.backend == CU124


@pytest.mark.parametrize(
    ("version", "backend", "os_name", "machine", "ok"),
    [
        ("2.5.1+cu124", CU124, "linux", "x86_64", True),
        ("2.5.1+cu121", CU124, "linux", "x86_64", False),
        ("2.5.1+rocm6.2", CU124, "linux", "x86_64", False),  # never another accelerator
        ("2.5.1+cpu", CU124, "linux", "x86_64", False),
        ("2.5.1+cu124", CPU, "linux", "x86_64", False),
        ("2.5.1+cpu.cxx11.abi", CPU, "linux", "x86_64", True),
        ("2.6.0+xpu", XPU, "windows", "AMD64", True),
        ("3.2.0+git35c6c7c6", CU128, "linux", "x86_64", True),  # pytorch-triton nightlies
        ("2.5.1", CPU, "macos", "arm64", True),  # macOS wheels carry no label
        ("2.5.1", CPU, "linux", "aarch64", True),  # neither did older aarch64 CPU wheels
        ("2.5.1", CPU, "windows", "AMD64", True),  # PyPI's Windows wheel is a CPU build
        ("2.5.1", CPU, "linux", "x86_64", False),  # PyPI's Linux x86_64 wheel is CUDA (seed 002)
        ("2.5.1", CU124, "linux", "x86_64", True),  # ... cu124 for torch 2.5
        ("2.11.0", CU130, "linux", "x86_64", True),  # ... cu130 for torch 2.11
        ("2.11.0", CU128, "linux", "x86_64", False),
        ("2.5.1", CU124, "windows", "AMD64", False),
        ("not-a-version", CPU, "linux", "x86_64", False),
    ],
)
def test_accepts_local_label(
    version: str, backend: Backend, os_name: str, machine: str, ok: bool
) -> None:
    assert accepts_local_label(version, backend, os_name, machine) is ok


def test_label_preference() -> None:
    available = ["2.4.1+cu124", "2.5.1", "2.5.1+cpu", "2.5.1+cu124", "2.5.0+cu121", "junk"]
    assert label_preference(CU124, available) == [
        Version("2.5.1+cu124"),
        Version("2.5.1"),
        Version("2.4.1+cu124"),
    ]
    assert label_preference(CPU, available, "macos", "arm64") == [
        Version("2.5.1+cpu"),
        Version("2.5.1"),
    ]
    assert label_preference(CPU, available) == [Version("2.5.1+cpu")]
