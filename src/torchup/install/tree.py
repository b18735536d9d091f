"""Dependency trees as ``uv pip tree`` and ``uv tree`` print them.

Pure: :func:`render_tree` draws any graph of named, versioned packages (names normalized,
``name vVERSION``, children sorted by name, a subtree shown once and then marked ``(*)``);
:func:`format_tree` is ``torchup pip tree``'s graph, from what
:func:`torchup.install.site.scan_site_packages` read and the environment's marker values
(Requires-Dist markers evaluated with no extras, as ``pip check`` and uv do). `torchup tree`
builds its graph from a lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from torchup.install.site import InstalledDistribution

__all__ = ["TreeEdge", "TreeOptions", "format_tree", "node_of", "render_tree"]

_DEDUPED_NOTE = "(*) Package tree already displayed"
_CYCLE_NOTE = "(*) Package tree is a cycle and cannot be shown"


@dataclass(frozen=True)
class TreeOptions:
    """What to show. ``packages``: the roots (default: what nothing else requires, or with
    ``invert`` what requires nothing); ``prune``: left out with their subtrees; ``depth``: levels
    below the roots; ``latest``: newer versions to show beside the installed ones (by name);
    ``sizes``: the bytes of each package's file (by node, uv tree's --show-sizes)."""

    packages: tuple[str, ...] = ()
    prune: tuple[str, ...] = ()
    depth: int = 255
    invert: bool = False
    dedupe: bool = True
    show_specifiers: bool = False
    latest: Mapping[str, str] = field(default_factory=dict)
    sizes: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TreeEdge:
    """``parent`` requires ``child`` through ``requirement`` (its Requires-Dist line, when
    known). ``note`` goes beside the package drawn at this edge's lower end (uv tree's
    ``(extra: gpu)``); a parent's children are sorted by ``rank``, then name."""

    parent: NormalizedName
    child: NormalizedName
    requirement: Requirement | None = None
    note: str = ""
    rank: int = 0


def _specifier_text(req: Requirement | None) -> str:
    """uv's rendering: the clauses by version (lower bound first), ``*`` for none."""
    if req is None:
        return "*"

    def key(spec: object) -> tuple[int, Version | str]:
        text = getattr(spec, "version", "")
        try:
            return 0, Version(text.rstrip(".*"))
        except InvalidVersion:
            return 1, text

    clauses = sorted(req.specifier, key=key)
    return ", ".join(str(c) for c in clauses) or "*"


def format_tree(
    installed: Mapping[str, InstalledDistribution],
    environment: Mapping[str, str],
    options: TreeOptions = TreeOptions(),
) -> str:
    """``pip tree``: the installed distributions (empty text when there is nothing to show)."""
    dists = {d.canonical_name: d for d in installed.values()}
    edges: dict[tuple[NormalizedName, NormalizedName], TreeEdge] = {}
    for name, dist in dists.items():
        for req in dist.dependencies(environment):
            child = canonicalize_name(req.name)
            if child != name and child in dists:
                edges.setdefault((name, child), TreeEdge(name, child, req))
    return render_tree({n: d.version for n, d in dists.items()}, edges.values(), options)


def node_of(name: str, version: str) -> NormalizedName:
    """The node of ``name`` at ``version``, for a graph that holds a package at several
    versions (a universal lock: numpy 1.26 for Python 3.9, 2.2 for the rest). A node is
    otherwise the package's normalized name."""
    return NormalizedName(f"{canonicalize_name(name)} {version}")


def _name_of(node: str) -> str:
    return node.partition(" ")[0]


def render_tree(
    versions: Mapping[NormalizedName, str],
    edges: Iterable[TreeEdge],
    options: TreeOptions = TreeOptions(),
) -> str:
    """The tree of the packages in ``versions`` along ``edges``, as text. The keys are the
    graph's nodes: normalized names, or :func:`node_of` a name and version where a package
    has several; ``options.packages`` / ``prune`` / ``latest`` speak of names."""
    pruned_names = {canonicalize_name(p) for p in options.prune}
    pruned = {n for n in versions if _name_of(n) in pruned_names}
    children: dict[NormalizedName, list[TreeEdge]] = {name: [] for name in versions}
    has_parent: set[NormalizedName] = set()
    for edge in edges:
        if edge.parent in pruned or edge.child in pruned:
            continue
        above, below = (edge.child, edge.parent) if options.invert else (edge.parent, edge.child)
        children[above].append(edge)
        has_parent.add(below)

    def below_of(edge: TreeEdge) -> NormalizedName:
        return edge.parent if options.invert else edge.child

    def sort_key(node: NormalizedName) -> tuple[str, Version | str]:
        # By name, then (the versions of one package) by version.
        try:
            return _name_of(node), Version(versions[node])
        except InvalidVersion:
            return _name_of(node), versions[node]

    keys = {node: sort_key(node) for node in versions}  # (a version parsed once, not per sort)
    order = keys.__getitem__

    for under in children.values():
        under.sort(key=lambda e: (e.rank, order(below_of(e))))
    if options.packages:
        # The requested packages that none of the others leads to (uv draws a requested
        # package that is in another one's tree only there).
        requested = {canonicalize_name(p) for p in options.packages}
        wanted = sorted(
            (n for n in versions if _name_of(n) in requested and n not in pruned), key=order
        )
        descendants = {
            w: _reachable(map(below_of, children[w]), children, below_of) for w in wanted
        }
        candidates = wanted
        roots = [w for w in wanted if not any(w in descendants[o] for o in wanted if o != w)]
    else:
        candidates = sorted((n for n in versions if n not in pruned), key=order)
        roots = [n for n in candidates if n not in has_parent]
    # A cycle that nothing else leads to (a requires b, b requires a) has no such root: its
    # first member by name stands in for it, among the others, as in uv.
    reached = _reachable(roots, children, below_of)
    for name in candidates:
        if name not in reached:
            roots.append(name)
            reached |= _reachable([name], children, below_of)
    roots.sort(key=order)

    lines: list[str] = []
    expanded: set[NormalizedName] = set()
    marked = False

    def latest(name: NormalizedName, repeat: bool) -> str:
        # As uv: after the edge's own note, and only where the package is first drawn.
        newest = options.latest.get(_name_of(name))
        return "" if repeat or newest is None else f" (latest: v{newest})"

    def size(node: NormalizedName) -> str:
        n = options.sizes.get(node)
        return "" if n is None else f" ({human_bytes(n)})"

    def edge_note(edge: TreeEdge) -> str:
        note = f" {edge.note}" if edge.note else ""
        if not options.show_specifiers:
            return note
        if options.invert:
            return f"{note} [requires: {_name_of(edge.child)} {_specifier_text(edge.requirement)}]"
        return f"{note} [required: {_specifier_text(edge.requirement)}]"

    def walk(name: NormalizedName, prefix: str, depth: int, path: frozenset[str]) -> None:
        nonlocal marked
        edges = children[name] if depth < options.depth else []
        for i, edge in enumerate(edges):
            last = i == len(edges) - 1
            child = below_of(edge)
            seen = child in path or (options.dedupe and child in expanded)
            line = (
                prefix + ("└── " if last else "├── ") + f"{_name_of(child)} v{versions[child]}"
                + edge_note(edge) + size(child) + latest(child, seen)
            )
            if seen and children[child]:
                lines.append(line + " (*)")
                marked = True
                continue
            lines.append(line)
            if options.dedupe:
                expanded.add(child)
            walk(child, prefix + ("    " if last else "│   "), depth + 1, path | {child})

    for root in roots:
        lines.append(f"{_name_of(root)} v{versions[root]}" + size(root) + latest(root, False))
        expanded.add(root)
        walk(root, "", 0, frozenset({root}))
    if marked:
        # Without de-duplication only a cycle is cut short.
        lines.append(_DEDUPED_NOTE if options.dedupe else _CYCLE_NOTE)
    return "\n".join(lines) + "\n" if lines else ""


def human_bytes(n: int) -> str:
    """uv's size text: ``879B``, ``71.4KiB``, ``1.2MiB`` (binary units, one decimal above
    bytes)."""
    if n < 1024:
        return f"{n}B"
    value, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f}{unit}"


def _reachable(
    roots: Iterable[NormalizedName],
    children: Mapping[NormalizedName, list[TreeEdge]],
    below_of: Callable[[TreeEdge], NormalizedName],
) -> set[NormalizedName]:
    seen: set[NormalizedName] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(below_of(edge) for edge in children[name])
    return seen
