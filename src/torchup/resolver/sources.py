"""Which indexes may serve which package, for a Target (pure policy, no IO).

The rules, in order:
1. A package pinned by the user (``[tool.uv.sources]`` ``{ index = ... }``, with optional
   markers) comes only from its pinned index.
2. A torch-family package follows the torch family: if the user pinned a family member (torch) to a
   PyTorch index, the unpinned members (pytorch-triton-rocm, pytorch-triton, ...) come from that same
   index without configuration (seeds 000, 001). Else, with a torch backend chosen, from the
   backend's PyTorch index. Else from PyTorch indexes the user listed, else from the normal indexes.
3. Everything else comes from the normal (non-explicit) indexes, never from a PyTorch index: the
   stale certifi/markupsafe mirrored there can never shadow PyPI (seed 004, uv #9647). Only when
   every index the user gave is a PyTorch index (``--index-url .../whl/nightly/cu128``) do those
   serve everything, as with pip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.markers import Marker
from packaging.utils import NormalizedName

from torchup.target import Target
from torchup.torch import routing

__all__ = ["IndexPin", "IndexPolicy"]


@dataclass(frozen=True)
class IndexPin:
    """``package = { index = "name", marker = "..." }`` resolved to a source object."""

    source: Any
    marker: Marker | None = None
    extra: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class IndexPolicy:
    """The index configuration of one resolution. ``sources`` are ``IndexSource`` objects."""

    indexes: tuple[Any, ...] = ()  # ordered; explicit ones included but only used when pinned
    find_links: tuple[Any, ...] = ()
    pins: Mapping[str, tuple[IndexPin, ...]] = field(default_factory=dict)
    torch_channel: str = "stable"
    torch_base_url: str = "https://download.pytorch.org/whl"
    torch_index_prefixes: tuple[str, ...] = ()  # mirrors marked `torch-index = true`
    active_extras: frozenset[str] = frozenset()
    active_groups: frozenset[str] = frozenset()
    make_source: Any = None  # callable(url, name) -> IndexSource, for backend indexes

    # -- classification -----------------------------------------------------------------
    def is_torch_index(self, source: Any) -> bool:
        url = str(getattr(source, "url", ""))
        if any(url.startswith(p) for p in self.torch_index_prefixes):
            return True
        return routing.is_pytorch_index_url(url) or (
            bool(self.torch_base_url) and url.startswith(self.torch_base_url.rstrip("/") + "/")
        )

    def normal_indexes(self) -> list[Any]:
        """The indexes that serve packages outside the torch family.

        PyTorch indexes are left out (their stale mirrors must not shadow PyPI), except when
        the user named nothing else: ``--index-url https://download.pytorch.org/whl/nightly/cu128``
        alone (seed 004, pip's documented nightly command) must still find filelock, sympy,
        nvidia-* there, as pip does; without this fallback every such resolution failed with
        "filelock was not found".
        """
        usable = [s for s in self.indexes if not getattr(s, "explicit", False)]
        normal = [s for s in usable if not self.is_torch_index(s)]
        return normal or usable

    def _pins_for(self, name: str, target: Target) -> list[Any]:
        out = []
        for pin in self.pins.get(name, ()):
            if pin.extra and pin.extra not in self.active_extras:
                continue
            if pin.group and pin.group not in self.active_groups:
                continue
            if pin.marker is not None and not target.evaluate(
                pin.marker, sorted(self.active_extras) or []
            ):
                continue
            out.append(pin.source)
        return out

    def _backend_index(self, target: Target) -> Any | None:
        backend = target.torch_backend
        if not backend or backend == "auto" or self.make_source is None:
            return None
        # The backend tables load only when a torch backend is in play (~3 ms of start-up).
        from torchup.torch.backend import index_url as torch_index_url
        from torchup.torch.backend import parse_backend

        url = torch_index_url(parse_backend(backend), self.torch_channel, self.torch_base_url)
        return self.make_source(url, f"pytorch-{backend}")

    # -- the policy ---------------------------------------------------------------------
    def sources_for(self, name: NormalizedName, target: Target) -> Sequence[Any] | None:
        """The sources that may serve ``name`` for ``target``, in priority order."""
        pinned = self._pins_for(name, target)
        if pinned:
            return [*pinned, *self.find_links]
        normal = self.normal_indexes()
        if routing.is_torch_family(name):
            for member in sorted(self.pins):
                if routing.is_torch_family(member):
                    follow = [s for s in self._pins_for(member, target) if self.is_torch_index(s)]
                    if follow:
                        return [*follow, *self.find_links]
            backend_index = self._backend_index(target)
            if backend_index is not None:
                return [backend_index, *self.find_links]
            listed = [
                s
                for s in self.indexes
                if self.is_torch_index(s) and not getattr(s, "explicit", False)
            ]
            if listed:
                rest = [s for s in normal if s not in listed]
                return [*listed, *rest, *self.find_links]
        return [*normal, *self.find_links]

    def explain_missing(self, name: NormalizedName, target: Target) -> str | None:
        """A hint when ``name`` was not found: e.g. it is only on an explicit index."""
        # A torch-family package routed to the chosen backend's index is looked for nowhere
        # else: say which index that was, so "torch was not found" after `--torch-backend auto`
        # picked e.g. cu118 for an old driver names the index (and the way out).
        if routing.is_torch_family(name) and not self._pins_for(name, target):
            backend_index = self._backend_index(target)
            if backend_index is not None:
                url = str(getattr(backend_index, "url", ""))
                return (
                    f"with torch backend {target.torch_backend}, {name} comes only from {url}, "
                    f"which has no {name} or does not exist; pick another backend with "
                    "--torch-backend, or another torch version"
                )
        if not routing.is_torch_family(name):
            skipped = [
                s
                for s in self.indexes
                if not getattr(s, "explicit", False) and self.is_torch_index(s)
            ]
            if skipped and self.normal_indexes() and skipped[0] not in self.normal_indexes():
                urls = ", ".join(str(getattr(s, "url", "")) for s in skipped)
                return (
                    f"{name} was not looked for on the PyTorch indexes ({urls}): they serve only "
                    "the torch family; add an index that has it, or pin it to one with a source"
                )
        hidden = [s for s in self.indexes if getattr(s, "explicit", False)]
        if hidden:
            names = ", ".join(
                str(getattr(s, "name", None) or getattr(s, "url", "")) for s in hidden
            )
            return (
                f"{name} was looked for only on the default indexes; the explicit indexes ({names}) "
                f"serve only packages pinned to them: pin {name} to one with a source"
            )
        return None
