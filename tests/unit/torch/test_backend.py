"""Backends, the release/driver/architecture tables, and choose_backend."""

from __future__ import annotations

import pytest
from packaging.version import Version

from torchup.errors import ConfigError
from torchup.torch.backend import (
    CPU,
    TORCH_RELEASES,
    XPU,
    Backend,
    architecture_name,
    backend_of_version,
    backends_for_torch,
    choose_backend,
    cuda_arch_list,
    cuda_minor_compat_floor,
    cuda_needs_driver,
    driver_version_tuple,
    has_kernels,
    index_url,
    local_label,
    normalize_machine,
    normalize_os,
    normalize_windows_driver_version,
    parse_backend,
    parse_backend_or_auto,
    parse_local_label,
    pypi_default_backend,
    release_for,
    rocm_supports,
)
from torchup.torch.detect import Detection, Gpu

CU118, CU121, CU124 = Backend("cuda", (11, 8)), Backend("cuda", (12, 1)), Backend("cuda", (12, 4))
CU126, CU128 = Backend("cuda", (12, 6)), Backend("cuda", (12, 8))
CU129, CU130 = Backend("cuda", (12, 9)), Backend("cuda", (13, 0))
ROCM64 = Backend("rocm", (6, 4))


# --- parsing and names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "version", "name"),
    [
        ("cpu", "cpu", (), "cpu"),
        (" CPU ", "cpu", (), "cpu"),
        ("xpu", "xpu", (), "xpu"),
        ("cu128", "cuda", (12, 8), "cu128"),
        ("CU118", "cuda", (11, 8), "cu118"),
        ("cu130", "cuda", (13, 0), "cu130"),
        ("cu92", "cuda", (9, 2), "cu92"),
        ("rocm6.4", "rocm", (6, 4), "rocm6.4"),
        ("rocm6.2.4", "rocm", (6, 2, 4), "rocm6.2.4"),
        ("rocm7.1", "rocm", (7, 1), "rocm7.1"),
    ],
)
def test_parse_backend(text: str, kind: str, version: tuple[int, ...], name: str) -> None:
    backend = parse_backend(text)
    assert (backend.kind, backend.version, backend.name, str(backend)) == (
        kind,
        version,
        name,
        name,
    )


@pytest.mark.parametrize(
    "text", ["", "gpu", "cuda", "cu1", "cu12.8", "cu128x", "rocm", "rocm6", "rocm-6.4", "metal"]
)
def test_parse_backend_rejects_garbage_naming_valid_forms(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_backend(text)
    assert info.value.key == "torch-backend"
    assert "cu<NNN>" in str(info.value) and "rocm" in str(info.value) and "auto" in str(info.value)


def test_auto_is_not_a_concrete_backend() -> None:
    with pytest.raises(ConfigError, match="choose_backend"):
        parse_backend("auto")
    assert parse_backend_or_auto(" Auto ") == "auto"
    assert parse_backend_or_auto("cu126") == CU126


@pytest.mark.parametrize(
    ("backend", "channel", "base", "url"),
    [
        (CU128, "stable", None, "https://download.pytorch.org/whl/cu128"),
        (CU128, "nightly", None, "https://download.pytorch.org/whl/nightly/cu128"),
        (CPU, "test", None, "https://download.pytorch.org/whl/test/cpu"),
        (Backend("rocm", (6, 2, 4)), "stable", None, "https://download.pytorch.org/whl/rocm6.2.4"),
        (XPU, "nightly", None, "https://download.pytorch.org/whl/nightly/xpu"),
        (
            ROCM64,
            "stable",
            "https://mirror.example/pytorch/whl/",
            "https://mirror.example/pytorch/whl/rocm6.4",
        ),
    ],
)
def test_index_url(backend: Backend, channel: str, base: str | None, url: str) -> None:
    kwargs = {"base": base} if base else {}
    assert index_url(backend, channel, **kwargs) == url


def test_index_url_rejects_unknown_channel() -> None:
    with pytest.raises(ConfigError, match="nightly"):
        index_url(CPU, "beta")


def test_local_label_and_back() -> None:
    assert local_label(CU128) == "+cu128"
    assert local_label(Backend("rocm", (6, 2, 4))) == "+rocm6.2.4"
    assert local_label(CPU) == "+cpu"


@pytest.mark.parametrize(
    ("label", "backend"),
    [
        ("cu124", CU124),
        ("cpu", CPU),
        ("cpu.cxx11.abi", CPU),
        ("rocm6.2.4", Backend("rocm", (6, 2, 4))),
        ("xpu", XPU),
        ("git35c6c7c6", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_local_label(label: str | None, backend: Backend | None) -> None:
    assert parse_local_label(label) == backend


def test_backend_of_version() -> None:
    assert backend_of_version("2.5.1+cu124") == CU124
    assert backend_of_version(Version("2.6.0+rocm6.2.4")) == Backend("rocm", (6, 2, 4))
    assert backend_of_version("2.11.0") is None


def test_backends_order_by_version() -> None:
    assert sorted([CU130, CU118, CU128]) == [CU118, CU128, CU130]
    assert CU130.describe() == "CUDA 13.0 (cu130)" and CPU.describe() == "CPU only (cpu)"
    assert not CPU.is_accelerated and XPU.is_accelerated


# --- drivers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "linux", "windows"),
    [
        (CU118, "520.61.05", "520.06"),
        (CU121, "530.30.02", "531.14"),
        (CU124, "550.54.14", "551.61"),
        (CU126, "560.28.03", "560.76"),
        (CU128, "570.26", "570.65"),
        (CU129, "575.51.03", "576.02"),
        (CU130, "580.65.06", "580"),  # NVIDIA lists no Windows minimum: the 13.x floor
        (Backend("cuda", (12, 5)), "525.60.13", "528.33"),  # unknown toolkit: 12.x floor
    ],
)
def test_cuda_needs_driver(backend: Backend, linux: str, windows: str) -> None:
    assert cuda_needs_driver(backend) == linux
    assert cuda_needs_driver(backend, os="windows") == windows
    assert cuda_needs_driver(backend, os="win32") == windows


def test_cuda_needs_driver_only_for_cuda() -> None:
    with pytest.raises(ValueError):
        cuda_needs_driver(CPU)
    assert cuda_minor_compat_floor(CPU) is None
    assert cuda_minor_compat_floor(CU118) == "450.80.02"
    assert cuda_minor_compat_floor(CU128, os="windows") == "528.33"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("580.159.04", (580, 159, 4)),
        ("570.26", (570, 26)),
        ("550", (550,)),
        ("535.54.03b", (535, 54, 3)),
    ],
)
def test_driver_version_tuple(text: str, parts: tuple[int, ...]) -> None:
    assert driver_version_tuple(text) == parts


@pytest.mark.parametrize(
    ("text", "nvidia"),
    [("32.0.15.8157", "581.57"), ("31.0.15.5222", "552.22"), ("576.80", "576.80"), ("x", "x")],
)
def test_normalize_windows_driver_version(text: str, nvidia: str) -> None:
    assert normalize_windows_driver_version(text) == nvidia


@pytest.mark.parametrize(
    ("os_name", "os_norm"),
    [("Linux", "linux"), ("Darwin", "macos"), ("win32", "windows"), ("Windows", "windows")],
)
def test_normalize_os(os_name: str, os_norm: str) -> None:
    assert normalize_os(os_name) == os_norm


@pytest.mark.parametrize(
    ("machine", "norm"), [("AMD64", "x86_64"), ("x86_64", "x86_64"), ("arm64", "aarch64")]
)
def test_normalize_machine(machine: str, norm: str) -> None:
    assert normalize_machine(machine) == norm


# --- releases ----------------------------------------------------------------------------------


def test_release_table_is_consistent() -> None:
    versions = [r.version for r in TORCH_RELEASES]
    assert versions == sorted(versions)
    assert {(2, m) for m in range(4, 12)} <= set(versions)
    for release in TORCH_RELEASES:
        for name in release.cuda + release.rocm + release.cuda_aarch64 + (release.pypi_cuda,):
            assert parse_backend(name).name == name
        assert release.pypi_cuda in release.cuda or release.version == (2, 0)
        for name in release.cuda:
            assert cuda_arch_list(parse_backend(name), release.label)
        for name in release.rocm:
            assert rocm_supports(parse_backend(name), "gfx90a")
    # NOTES.md: torchvision/torchaudio pairing.
    assert [(r.label, r.torchvision) for r in TORCH_RELEASES if r.version >= (2, 4)] == [
        ("2.4", "0.19"),
        ("2.5", "0.20"),
        ("2.6", "0.21"),
        ("2.7", "0.22"),
        ("2.8", "0.23"),
        ("2.9", "0.24"),
        ("2.10", "0.25"),
        ("2.11", "0.26"),
    ]


@pytest.mark.parametrize(
    ("version", "os_name", "machine", "names"),
    [
        (None, "linux", "x86_64", ["cu130", "cu128", "cu126", "rocm7.2", "xpu", "cpu"]),
        ("2.11.0+cu130", "linux", "x86_64", ["cu130", "cu128", "cu126", "rocm7.2", "xpu", "cpu"]),
        ("2.4.1", "linux", "x86_64", ["cu124", "cu121", "cu118", "rocm6.1", "cpu"]),
        (
            "2.5.1",
            "linux",
            "x86_64",
            ["cu124", "cu121", "cu118", "rocm6.2", "rocm6.1", "xpu", "cpu"],
        ),
        (
            "2.6.0",
            "linux",
            "x86_64",
            ["cu126", "cu124", "cu118", "rocm6.2.4", "rocm6.1", "xpu", "cpu"],
        ),
        (
            "2.7.1",
            "linux",
            "x86_64",
            ["cu128", "cu126", "cu118", "rocm6.3", "rocm6.2.4", "xpu", "cpu"],
        ),
        (
            "2.8.0",
            "linux",
            "x86_64",
            ["cu129", "cu128", "cu126", "rocm6.4", "rocm6.3", "xpu", "cpu"],
        ),
        (
            "2.9.1",
            "linux",
            "x86_64",
            ["cu130", "cu128", "cu126", "rocm6.4", "rocm6.3", "xpu", "cpu"],
        ),
        (
            "2.10.0",
            "linux",
            "x86_64",
            ["cu130", "cu128", "cu126", "rocm7.1", "rocm7.0", "xpu", "cpu"],
        ),
        ("2.11.0", "windows", "AMD64", ["cu130", "cu128", "cu126", "xpu", "cpu"]),
        ("2.11.0", "macos", "arm64", ["cpu"]),
        ("2.9.0", "linux", "aarch64", ["cu130", "cu128", "cu126", "cpu"]),
        ("2.7.0", "linux", "aarch64", ["cu128", "cpu"]),
        ("2.5.1", "linux", "aarch64", ["cpu"]),
        (
            "2.12.0.dev20260301",
            "linux",
            "x86_64",
            ["cu130", "cu128", "cu126", "rocm7.2", "xpu", "cpu"],
        ),
    ],
)
def test_backends_for_torch(
    version: str | None, os_name: str, machine: str, names: list[str]
) -> None:
    assert [b.name for b in backends_for_torch(version, os=os_name, machine=machine)] == names


def test_release_for_approximates_with_a_note() -> None:
    assert release_for("2.11.0") == (TORCH_RELEASES[-1], None)
    newer, note = release_for("2.13.0")
    assert newer is TORCH_RELEASES[-1] and note and "newer" in note
    older, note = release_for("1.13.1")
    assert older is TORCH_RELEASES[0] and note and "older" in note
    with pytest.raises(ConfigError):
        release_for("not a version")


@pytest.mark.parametrize(
    ("version", "os_name", "machine", "name"),
    [
        ("2.11.0", "linux", "x86_64", "cu130"),
        ("2.10.0", "linux", "x86_64", "cu128"),
        ("2.7.1", "linux", "x86_64", "cu126"),
        ("2.5.1", "linux", "x86_64", "cu124"),
        ("2.11.0", "windows", "AMD64", "cpu"),
        ("2.11.0", "macos", "arm64", "cpu"),
        ("2.11.0", "linux", "aarch64", "cpu"),
    ],
)
def test_pypi_default_backend(version: str, os_name: str, machine: str, name: str) -> None:
    assert pypi_default_backend(version, os=os_name, machine=machine).name == name


# --- architectures -----------------------------------------------------------------------------


def test_cuda_arch_lists() -> None:
    assert cuda_arch_list(CU130, "2.11") == ("7.5", "8.0", "8.6", "9.0", "10.0", "12.0+PTX")
    assert "7.0" not in cuda_arch_list(CU128, "2.7.1")  # 2.7's cu128 dropped Volta ...
    assert "7.0" in cuda_arch_list(CU128, "2.8.0")  # ... and 2.8 brought sm_70 back (#157517)
    assert cuda_arch_list(CU126, "2.11")[:2] == ("5.0", "6.0")
    assert "11.0" in cuda_arch_list(CU130, "2.11", machine="aarch64")
    assert cuda_arch_list(CPU) == ()
    assert cuda_arch_list(Backend("cuda", (13, 2)), "2.11") == cuda_arch_list(CU130, "2.11")


@pytest.mark.parametrize(
    ("capability", "backend", "torch", "ok"),
    [
        ((6, 1), CU126, "2.11", True),  # sm_60 cubin runs on sm_61
        ((6, 1), CU128, "2.11", False),  # cu128 drops Pascal
        ((7, 0), CU130, "2.11", False),  # CUDA 13 drops Volta
        ((7, 0), CU128, "2.8", True),
        ((7, 0), CU128, "2.7", False),
        ((12, 0), CU126, "2.11", False),  # Blackwell needs cu128+
        ((12, 0), CU128, "2.7", True),
        ((12, 1), CU130, "2.11", True),
        ((10, 3), CU128, "2.9", True),
        ((8, 9), CU124, "2.4", True),
        ((9, 0), CU130, "2.11", True),
        ((3, 7), CU118, "2.4", True),
        ((3, 5), CU118, "2.4", False),
        ((13, 0), CU130, "2.11", True),  # future GPU: JIT from the sm_120 PTX
        ((13, 0), CU128, "2.11", False),  # no PTX in 2.8+'s cu128
    ],
)
def test_has_kernels(capability: tuple[int, int], backend: Backend, torch: str, ok: bool) -> None:
    assert has_kernels(capability, cuda_arch_list(backend, torch)) is ok


@pytest.mark.parametrize(
    ("capability", "name"),
    [
        ((3, 7), "Kepler"),
        ((5, 2), "Maxwell"),
        ((6, 1), "Pascal"),
        ((7, 0), "Volta"),
        ((7, 5), "Turing"),
        ((8, 6), "Ampere"),
        ((8, 9), "Ada"),
        ((9, 0), "Hopper"),
        ((12, 0), "Blackwell"),
    ],
)
def test_architecture_name(capability: tuple[int, int], name: str) -> None:
    assert architecture_name(capability) == name


@pytest.mark.parametrize(
    ("backend", "arch", "ok"),
    [
        ("rocm7.2", "gfx1151", True),
        ("rocm7.1", "gfx1151", False),
        ("rocm6.4", "gfx950", False),
        ("rocm7.0", "gfx950", True),
        ("rocm6.2", "gfx1101", False),
        ("rocm6.1", "gfx1101", True),
    ],
)
def test_rocm_supports(backend: str, arch: str, ok: bool) -> None:
    assert rocm_supports(parse_backend(backend), arch) is ok


# --- choose_backend: NVIDIA matrix -------------------------------------------------------------

DRIVERS = {
    "470": "470.256.02",
    "535": "535.183.01",
    "550": "550.144.03",
    "570": "570.133.20",
    "580": "580.95.05",
}
CAPS = {"6.1": (6, 1), "8.6": (8, 6), "9.0": (9, 0), "12.0": (12, 0)}

# (driver, capability) -> chosen backend for (newest torch, 2.4.1, 2.7.1); "!" = with a warning
# (minor-version compatibility, missing kernels, or no usable CUDA build at all).
MATRIX: dict[tuple[str, str], tuple[str, str, str]] = {
    ("470", "6.1"): ("cpu!", "cu118!", "cu118!"),
    ("470", "8.6"): ("cpu!", "cu118!", "cu118!"),
    ("470", "9.0"): ("cpu!", "cu118!", "cu118!"),
    ("470", "12.0"): ("cpu!", "cu118!", "cu118!"),
    ("535", "6.1"): ("cu126!", "cu121", "cu118"),
    ("535", "8.6"): ("cu128!", "cu121", "cu118"),
    ("535", "9.0"): ("cu128!", "cu121", "cu118"),
    ("535", "12.0"): ("cu128!", "cu121!", "cu128!"),
    ("550", "6.1"): ("cu126!", "cu124", "cu118"),
    ("550", "8.6"): ("cu128!", "cu124", "cu118"),
    ("550", "9.0"): ("cu128!", "cu124", "cu118"),
    ("550", "12.0"): ("cu128!", "cu124!", "cu128!"),
    ("570", "6.1"): ("cu126", "cu124", "cu126"),
    ("570", "8.6"): ("cu128", "cu124", "cu128"),
    ("570", "9.0"): ("cu128", "cu124", "cu128"),
    ("570", "12.0"): ("cu128", "cu124!", "cu128"),
    ("580", "6.1"): ("cu126", "cu124", "cu126"),
    ("580", "8.6"): ("cu130", "cu124", "cu128"),
    ("580", "9.0"): ("cu130", "cu124", "cu128"),
    ("580", "12.0"): ("cu130", "cu124!", "cu128"),
}
CASES = [
    (driver, cap, torch, expected[i])
    for (driver, cap), expected in MATRIX.items()
    for i, torch in enumerate([None, "2.4.1", "2.7.1"])
]


@pytest.mark.parametrize(("driver", "cap", "torch", "expected"), CASES)
def test_choose_backend_nvidia_matrix(
    driver: str, cap: str, torch: str | None, expected: str
) -> None:
    detection = Detection(
        gpus=(Gpu("nvidia", name="GPU", compute_capability=CAPS[cap]),),
        nvidia_driver=DRIVERS[driver],
    )
    choice = choose_backend(detection, torch)
    assert choice.backend.name == expected.rstrip("!")
    assert bool(choice.warnings) == expected.endswith("!"), choice.warnings
    assert choice.reasons  # every choice is explained
    if choice.backend.kind == "cuda" and not choice.warnings:
        assert f"chose {choice.backend.name}" in choice.reasons[-1]


def test_torch_241_with_a_cu130_driver_gets_cu124() -> None:
    detection = Detection(
        gpus=(Gpu("nvidia", name="H100", compute_capability=(9, 0)),),
        nvidia_driver="580.159.04",
        cuda_driver_version=(13, 0),
    )
    assert choose_backend(detection).backend == CU130
    choice = choose_backend(detection, Version("2.4.1"))
    assert choice.backend == CU124
    assert any("ships CUDA builds cu124, cu121, cu118" in r for r in choice.reasons)
    assert choice.torch_version == "2.4.1"


def test_choice_explains_skipped_builds() -> None:
    detection = Detection(
        gpus=(Gpu("nvidia", name="GTX 1080 Ti", compute_capability=(6, 1)),),
        nvidia_driver="580.95.05",
    )
    choice = choose_backend(detection)
    assert choice.backend == CU126
    text = "\n".join(choice.reasons)
    assert "cu130 skipped: no kernels for GTX 1080 Ti (sm_61)" in text
    assert "cu128 skipped: no kernels for GTX 1080 Ti (sm_61)" in text


def test_mixed_gpus_need_a_build_with_kernels_for_all() -> None:
    detection = Detection(
        gpus=(
            Gpu("nvidia", name="A100", compute_capability=(8, 0)),
            Gpu("nvidia", name="V100", compute_capability=(7, 0)),
        ),
        nvidia_driver="580.95.05",
    )
    assert choose_backend(detection).backend == CU128  # cu130 lacks sm_70
    assert choose_backend(detection, "2.7.1").backend == CU126  # 2.7's cu128 lacked sm_70 too


def test_no_build_for_every_gpu_takes_the_best_with_a_warning() -> None:
    detection = Detection(
        gpus=(
            Gpu("nvidia", name="K80", compute_capability=(3, 7)),
            Gpu("nvidia", name="H100", compute_capability=(9, 0)),
        ),
        nvidia_driver="580.95.05",
    )
    choice = choose_backend(detection)
    assert choice.backend == CU130
    assert "K80 (sm_37)" in choice.warnings[0]


def test_driver_api_version_alone_decides() -> None:
    detection = Detection(
        gpus=(Gpu("nvidia", compute_capability=(9, 0)),), cuda_driver_version=(12, 8)
    )
    choice = choose_backend(detection)
    assert choice.backend == CU128 and not choice.warnings
    older = Detection(gpus=detection.gpus, cuda_driver_version=(12, 2))
    assert choose_backend(older).backend == CU128  # 12.x minor-version compatibility
    assert choose_backend(older).warnings


def test_wsl_uses_the_windows_driver_table() -> None:
    # 570.50: Linux's 12.8 minimum is 570.26, Windows' is 570.65.
    gpus = (Gpu("nvidia", compute_capability=(8, 6)),)
    assert choose_backend(Detection(gpus=gpus, nvidia_driver="570.50"), "2.8.0").backend == CU128
    wsl = Detection(gpus=gpus, nvidia_driver="570.50", wsl=True)
    assert choose_backend(wsl, "2.8.0").backend == CU126
    assert choose_backend(wsl, "2.8.0", os="windows").backend == CU126


def test_unknown_compute_capability_is_assumed_supported() -> None:
    detection = Detection(gpus=(Gpu("nvidia", name="Tesla K80"),), nvidia_driver="580.95.05")
    choice = choose_backend(detection)
    assert choice.backend == CU130
    assert any("compute capability unknown" in r for r in choice.reasons)
    driver_only = choose_backend(Detection(nvidia_driver="580.95.05"))
    assert driver_only.backend == CU130


def test_nvidia_gpu_without_driver_falls_back_to_cpu() -> None:
    choice = choose_backend(Detection(gpus=(Gpu("nvidia", pci_id="10de:2330"),)))
    assert choice.backend == CPU
    assert "TORCHUP_CUDA_DRIVER_VERSION" in choice.warnings[0]


def test_torch_newer_than_the_tables_warns() -> None:
    detection = Detection(nvidia_driver="580.95.05")
    choice = choose_backend(detection, "2.12.0.dev20260301")
    assert choice.backend == CU130
    assert "newer than torchup's tables" in choice.warnings[0]


def test_aarch64_cuda_builds() -> None:
    detection = Detection(
        gpus=(Gpu("nvidia", name="GH200", compute_capability=(9, 0)),), nvidia_driver="580.95.05"
    )
    assert choose_backend(detection, "2.9.0", machine="aarch64").backend == CU130
    choice = choose_backend(detection, "2.5.1", machine="aarch64")
    assert choice.backend == CPU and "no CUDA builds" in choice.warnings[0]


# --- choose_backend: other vendors and platforms -----------------------------------------------


def test_no_gpu_is_cpu() -> None:
    choice = choose_backend(Detection())
    assert choice.backend == CPU and not choice.warnings
    assert "no GPU detected" in choice.reasons[-1]


def test_macos_is_cpu_with_mps_note() -> None:
    gpus = (Gpu("apple", name="Apple M2 Pro GPU"),)
    choice = choose_backend(Detection(gpus=gpus, os="macos"), os="macos", machine="arm64")
    assert choice.backend == CPU
    assert any("MPS" in r for r in choice.reasons)


@pytest.mark.parametrize(
    ("archs", "torch", "expected", "warned"),
    [
        (("gfx1100",), None, "rocm7.2", False),
        (("gfx1100",), "2.7.1", "rocm6.3", False),
        (("gfx1100",), "2.4.1", "rocm6.1", False),
        (("gfx942", "gfx90a"), "2.9.0", "rocm6.4", False),
        (("gfx950",), "2.9.0", "cpu", True),  # MI355X needs ROCm 7
        (("gfx950",), "2.10.0", "rocm7.1", False),
        (("gfx1151",), "2.10.0", "cpu", True),  # Strix Halo: ROCm 7.2 builds only
        (("gfx1151",), None, "rocm7.2", False),
        (("gfx1031",), None, "rocm7.2", True),  # HSA_OVERRIDE_GFX_VERSION=10.3.0
        (("gfx1036", "gfx1100"), None, "rocm7.2", True),  # iGPU next to a dGPU
    ],
)
def test_choose_rocm(
    archs: tuple[str, ...], torch: str | None, expected: str, warned: bool
) -> None:
    gpus = tuple(Gpu("amd", arch=a) for a in archs)
    choice = choose_backend(Detection(gpus=gpus, amd_archs=tuple(sorted(archs))), torch)
    assert choice.backend.name == expected
    assert bool(choice.warnings) is warned


def test_rocm_override_and_hidden_igpu_hints() -> None:
    lone = choose_backend(Detection(gpus=(Gpu("amd", arch="gfx1031"),), amd_archs=("gfx1031",)))
    assert "HSA_OVERRIDE_GFX_VERSION=10.3.0" in lone.warnings[0]
    both = choose_backend(Detection(amd_archs=("gfx1036", "gfx1100")))
    assert "HIP_VISIBLE_DEVICES" in both.warnings[0] and "gfx1036" in both.warnings[0]


def test_amd_off_linux_is_cpu() -> None:
    choice = choose_backend(Detection(amd_archs=("gfx1100",)), os="windows")
    assert choice.backend == CPU and "no ROCm builds" in choice.warnings[0]


@pytest.mark.parametrize(
    ("pci_id", "torch", "os_name", "expected", "warned"),
    [
        ("8086:56a0", None, "linux", "xpu", False),  # Arc A770
        ("8086:e20b", "2.7.1", "windows", "xpu", False),  # Arc B580
        ("8086:7d55", "2.5.1", "linux", "xpu", False),  # Meteor Lake iGPU
        ("8086:3e92", None, "linux", "xpu", True),  # UHD 630: not an XPU target
        ("8086:56a0", "2.4.1", "linux", "cpu", True),  # no XPU wheels before 2.5
    ],
)
def test_choose_xpu(
    pci_id: str, torch: str | None, os_name: str, expected: str, warned: bool
) -> None:
    detection = Detection(gpus=(Gpu("intel", pci_id=pci_id),), intel=True)
    choice = choose_backend(detection, torch, os=os_name)
    assert choice.backend.name == expected
    assert bool(choice.warnings) is warned


def test_nvidia_wins_over_intel_igpu() -> None:
    detection = Detection(
        gpus=(
            Gpu("nvidia", compute_capability=(8, 9)),
            Gpu("intel", pci_id="8086:4680"),
        ),
        nvidia_driver="581.57",
        intel=True,
    )
    assert choose_backend(detection, os="windows").backend == CU130


def test_choice_to_dict_and_index_url() -> None:
    choice = choose_backend(Detection(nvidia_driver="580.95.05"), "2.11.0")
    assert choice.index_url() == "https://download.pytorch.org/whl/cu130"
    assert choice.index_url("nightly") == "https://download.pytorch.org/whl/nightly/cu130"
    data = choice.to_dict()
    assert data["backend"] == "cu130" and data["torch"] == "2.11.0"
    assert isinstance(data["reasons"], list) and data["warnings"] == []
