"""Plain-words explanations of a PubGrub failure (pure; knows nothing about torch).

:func:`explain` walks the derivation tree the way pub's ``solver.md`` describes ("Because ...,
we can conclude ..."; numbered lines for conclusions used more than once) with our own wording:

* version sets are rendered relative to the package's universe: ``torch>=2.5.1``,
  ``torch<2.5.1``, ``torch==2.5.1+rocm6.2``, ``foo 1.0 | 1.2``, ``every version of foo``;
  a set that came from a requirement is shown as the provider wrote it;
* the root is "you" / "your requirements";
* unavailable versions carry their reason ("foo==2.0 requires Python >=3.12"), a requirement
  that matches nothing lists what does exist, a missing package says why;
* a requirement that stands for one or two local builds says so: "torchaudio>=2 (only
  2.2.1+cu118)" (the step readers of uv's reports miss);
* runs of facts of one kind (many versions rejected for one reason, many versions with the same
  dependency) are merged into one line before writing.

The caller appends domain hints (``hints=``); this module never guesses them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from torchup.resolver.pubgrub import (
    ROOT,
    Dependency,
    Derived,
    Incompatibility,
    NoVersions,
    RootCause,
    Term,
    Unavailable,
    Universe,
)

__all__ = ["Names", "explain", "simplify", "describe_versions"]


class Names(Protocol):
    """What the report needs from a provider (a full ``Provider`` qualifies).

    ``missing_reason(package) -> str | None`` is used too when the provider has it.
    """

    def display(self, package: Any) -> str: ...

    def format_requirement(self, package: Any, requirement: Any) -> str | None: ...


_MAX_LISTED = 6  # versions written out one by one before a listing is cut short


def explain(
    incompatibility: Incompatibility[Any],
    provider: Names,
    hints: Sequence[str] = (),
    *,
    root: object = None,
) -> str:
    """The explanation of ``incompatibility`` (the root of a derivation tree), then ``hints``.

    ``root`` is the root package key; None finds it from the tree (the failure's own term, or
    :data:`~torchup.resolver.pubgrub.ROOT`). Cost: linear in the tree size, plus O(universe)
    per distinct version set rendered; no recursion, so trees thousands deep are fine.
    """
    writer = _Writer(provider, _find_root(incompatibility, root))
    writer.learn_requirements(incompatibility)
    text = writer.write(writer.simplify(incompatibility))
    for hint in hints:
        text += f"\n\nhint: {hint}"
    return text


def simplify(
    incompatibility: Incompatibility[Any], provider: Names, *, root: object = None
) -> Incompatibility[Any]:
    """The tree :func:`explain` writes: runs of same-kind facts merged into one fact.

    Facts merge when they differ only in the versions of their first term (one reason for
    many versions, one dependency of many versions); every derived node still follows from
    its two causes. Nodes are shared with the input where nothing changed. Cost: linear.
    """
    return _Writer(provider, _find_root(incompatibility, root)).simplify(incompatibility)


def _find_root(incompatibility: Incompatibility[Any], root: object) -> object:
    if root is not None:
        return root
    return incompatibility.terms[0].package if incompatibility.terms else ROOT


def describe_versions(name: str, mask: int, universe: Universe) -> str:
    """Render the versions in ``mask`` compactly, relative to ``universe``.

    The result names exactly that set within the universe under PEP 440 matching (with
    pre-releases): ``foo`` (all versions), ``foo==1.0``, ``foo>=1.0``, ``foo>=1.0,<2.0 | >=3.0``,
    ``foo!=1.5``, or a list ``foo 1.0 | 1.2`` when no specifier says it. Cost: one sort of the
    universe, then O(runs of consecutive versions) small checks.
    """
    return _Ordered(universe).render(name, mask)


class _Ordered:
    """A universe in PEP 440 order, for rendering sets of its versions."""

    def __init__(self, universe: Universe) -> None:
        self.universe = universe
        self.versions = sorted(universe.versions)
        self.bits = [universe.index[v] for v in self.versions]
        # Specifier quirks (local labels, pre/post releases, zero padding) only ever involve
        # versions with the same release as a version named in the specifier; plain ordering
        # decides the rest. So a candidate is checked against those groups only.
        self.by_release: dict[tuple[int, ...], list[Version]] = {}
        for version in self.versions:
            self.by_release.setdefault(_release(version), []).append(version)

    def render(self, name: str, mask: int) -> str:
        universe = self.universe
        allowed = mask & universe.all_versions
        if allowed == universe.all_versions:
            return name if len(universe) != 1 else f"{name}=={universe.versions[0]}"
        if not allowed:
            return f"no version of {name}"
        if not allowed & (allowed - 1):  # one version: skip the O(universe) scan
            only = universe.versions[allowed.bit_length() - 1]
            if self._names_exactly(f"=={only}", allowed, [only]):
                return f"{name}=={only}"
            return f"{name} {only}"
        inside = [bool(allowed >> bit & 1) for bit in self.bits]
        members = [v for v, ok in zip(self.versions, inside, strict=True) if ok]
        runs: list[tuple[int, int]] = []
        for i, ok in enumerate(inside):
            if ok and runs and runs[-1][1] == i - 1:
                runs[-1] = (runs[-1][0], i)
            elif ok:
                runs.append((i, i))
        outside = [v for v, ok in zip(self.versions, inside, strict=True) if not ok]
        if len(runs) > 1 and len(outside) <= (5 if len(runs) > 3 else 2):
            excluded = ",".join(f"!={v}" for v in outside)
            if self._names_exactly(excluded, allowed, outside):
                return name + excluded
        if len(runs) > 3:
            if len(members) <= _MAX_LISTED or len(runs) > 8:
                return _listing(name, members)
        if len(runs) == 1:
            text, is_spec = self._run(*runs[0], alone=True)
            return name + text if is_spec else f"{name} {text}"
        parts = [self._run(start, end, alone=False) for start, end in runs]
        head, is_spec = parts[0]
        return name + (head if is_spec else f" {head}") + "".join(f" | {p}" for p, _ in parts[1:])

    def _run(self, start: int, end: int, *, alone: bool) -> tuple[str, bool]:
        """Text for ``versions[start:end+1]`` alone, and whether it starts as a specifier.

        A lone version inside a union is written bare ("foo<1 | 1.5 | >=2"). A run whose ends
        cannot be bounded (a local build next to its public version) has its end release
        group(s) written bare and the rest as a specifier, or failing that is listed.
        """
        ordered = self.versions
        if start == end and not alone:
            return str(ordered[start]), False
        spec = self._spec(start, end)
        if spec is not None:
            return spec, True
        first, last = _release(ordered[start]), _release(ordered[end])
        after_head, before_tail = start, end
        while after_head <= end and _release(ordered[after_head]) == first:
            after_head += 1
        while before_tail >= start and _release(ordered[before_tail]) == last:
            before_tail -= 1
        for middle_start, middle_end in ((start, before_tail), (after_head, end)):
            if middle_start > middle_end:
                continue
            middle = self._spec(middle_start, middle_end)
            if middle is None:
                continue
            head = [str(v) for v in ordered[start:middle_start]]
            tail = [str(v) for v in ordered[middle_end + 1 : end + 1]]
            return " | ".join([*head, middle, *tail]), not head
        return _capped([str(v) for v in ordered[start : end + 1]]), False

    def _spec(self, start: int, end: int) -> str | None:
        """A specifier naming exactly ``versions[start:end+1]`` in the universe, if any."""
        ordered = self.versions
        run_mask = 0
        for bit in self.bits[start : end + 1]:
            run_mask |= 1 << bit
        candidates: list[str] = []
        if start == end:
            candidates.append(f"=={ordered[start]}")
        elif ordered[start].public == ordered[end].public:  # sorted: so the whole run shares it
            candidates.append(f"=={ordered[start].public}")
        lowers = [""]
        if start > 0:
            low, below = ordered[start], ordered[start - 1]
            lowers = [f">={low}", f">{below}", f">={low.public}", f">{below.public}"]
        uppers = [""]
        if end < len(ordered) - 1:
            high, above = ordered[end], ordered[end + 1]
            uppers = [f"<{above}", f"<={high}", f"<{above.public}", f"<={high.public}"]
        candidates.extend(",".join(p for p in (lo, up) if p) for lo in lowers for up in uppers)
        anchors = [ordered[i] for i in (start - 1, start, end, end + 1) if 0 <= i < len(ordered)]
        for spec in dict.fromkeys(c for c in candidates if c):
            if self._names_exactly(spec, run_mask, anchors):
                return spec
        return None

    def _names_exactly(self, spec: str, allowed: int, anchors: Sequence[Version]) -> bool:
        """Whether ``spec`` matches exactly the versions in ``allowed`` (see ``by_release``)."""
        try:
            specifier = SpecifierSet(spec)
        except InvalidSpecifier:
            return False
        index = self.universe.index
        for release in dict.fromkeys(_release(v) for v in anchors):
            for version in self.by_release.get(release, ()):
                matches = specifier.contains(version, prereleases=True)
                if matches != bool(allowed >> index[version] & 1):
                    return False
        # Away from the anchors, ordering decides: the smallest and largest versions stand in.
        for version in (self.versions[0], self.versions[-1]):
            if specifier.contains(version, prereleases=True) != bool(allowed >> index[version] & 1):
                return False
        return True


def _release(version: Version) -> tuple[int, ...]:
    release = version.release
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    return release


def _capped(versions: Sequence[str]) -> str:
    if len(versions) <= _MAX_LISTED:
        return " | ".join(versions)
    return " | ".join(versions[:_MAX_LISTED]) + f" | ... ({len(versions)} versions)"


def _listing(name: str, members: Sequence[Version]) -> str:
    return f"{name} {_capped([str(v) for v in members])}"


def _available(universe: Universe) -> str:
    ordered = sorted(universe.versions)
    if len(ordered) <= _MAX_LISTED:
        return ", ".join(str(v) for v in ordered)
    return f"{len(ordered)} versions from {ordered[0]} to {ordered[-1]}"


def _set_of(term: Term[Any]) -> int:
    """The versions a term talks about: its own for a positive term, the required ones else."""
    if term.positive:
        return term.mask & term.universe.all_versions
    return ~term.mask & term.universe.all_versions


class _Writer:
    """One explanation: names, rendered sets and line numbers are cached per instance."""

    def __init__(self, provider: Names, root: object) -> None:
        self._provider = provider
        self._root = root
        self._known: dict[tuple[object, int], str] = {}  # (package, version set) -> as written
        self._names: dict[object, str] = {}
        self._ordered: dict[Universe, _Ordered] = {}
        self._rendered: dict[tuple[Universe, int], str] = {}
        self._derivations: dict[Incompatibility[Any], int] = {}
        self._numbers: dict[Incompatibility[Any], int] = {}
        self._lines: list[tuple[str, int | None]] = []

    # -- names and version sets -----------------------------------------------------------
    def _name(self, package: object) -> str:
        name = self._names.get(package)
        if name is None:
            name = self._provider.display(package)
            self._names[package] = name
        return name

    def _requirement(self, package: object, requirement: object, term: Term[Any] | None) -> str:
        text = self._provider.format_requirement(package, requirement)
        if text:
            if term is not None:
                self._known.setdefault((package, _set_of(term)), text)
            return text
        if term is None:
            return self._name(package)
        return self._constraint(term)

    def _constraint(self, term: Term[Any], *, exact: bool = False, note: bool = False) -> str:
        """The term's version set; all versions is the bare name.

        A set that some requirement in the tree allows is shown as that requirement was
        written, except for ``exact`` (the versions a fact is about: "foo==1.0 depends on").
        With ``note``, such a text is followed by the one or two versions it stands for when
        they are local builds it does not spell out ("torch==2.2.1 (only 2.2.1+cu118)"): the
        step readers of uv's reports miss.
        """
        versions = _set_of(term)
        known = None if exact and term.positive else self._known.get((term.package, versions))
        if known is None:
            return self._render(term.package, versions, term.universe)
        if note and versions.bit_count() <= 2:
            members = sorted(term.universe.members(versions))
            if any(v.local is not None and str(v) not in known for v in members):
                return f"{known} (only {' and '.join(str(v) for v in members)})"
        return known

    def _render(self, package: object, versions: int, universe: Universe) -> str:
        key = (universe, versions)
        text = self._rendered.get(key)
        if text is None:
            ordered = self._ordered.get(universe)
            if ordered is None:
                ordered = self._ordered[universe] = _Ordered(universe)
            text = self._rendered[key] = ordered.render(self._name(package), versions)
        return text

    def _is_all(self, term: Term[Any]) -> bool:
        return _set_of(term) == term.universe.all_versions and len(term.universe) > 1

    def _subject(self, term: Term[Any], inc: Incompatibility[Any]) -> str:
        if self._is_all(term):
            return f"every version of {self._name(term.package)}"
        return self._constraint(term, exact=inc.external)

    def _any(self, term: Term[Any]) -> str:
        if self._is_all(term):
            return f"any version of {self._name(term.package)}"
        return self._constraint(term)

    # -- one incompatibility --------------------------------------------------------------
    def describe(self, inc: Incompatibility[Any]) -> str:
        cause = inc.cause
        if isinstance(cause, Dependency):
            depender = inc.terms[0]
            if len(inc.terms) == 2:
                wanted = self._requirement(inc.terms[1].package, cause.requirement, inc.terms[1])
            else:  # a version that depends on another version of itself
                wanted = self._requirement(depender.package, cause.requirement, None)
            if depender.package == self._root:
                return f"you require {wanted}"
            return f"{self._subject(depender, inc)} depends on {wanted}"
        if isinstance(cause, NoVersions):
            depender = inc.terms[0]
            wanted = self._requirement(cause.package, cause.requirement, None)
            nothing = self._nothing(cause)
            if depender.package == self._root:
                return f"you require {wanted}, but {nothing}"
            return f"{self._subject(depender, inc)} depends on {wanted}, but {nothing}"
        if isinstance(cause, Unavailable):
            return f"{self._subject(inc.terms[0], inc)} {cause.reason}"
        if isinstance(cause, RootCause):
            return "your requirements apply"  # only ever seen in hand-built trees
        return self._derived(inc)

    def _nothing(self, cause: NoVersions[Any]) -> str:
        name = self._name(cause.package)
        if len(cause.universe) == 0:
            missing = getattr(self._provider, "missing_reason", None)
            reason = missing(cause.package) if missing is not None else None
            return f"{name} is not available ({reason})" if reason else f"{name} was not found"
        return f"no version of {name} matches (available: {_available(cause.universe)})"

    def _is_failure(self, inc: Incompatibility[Any]) -> bool:
        terms = inc.terms
        return not terms or (
            len(terms) == 1 and terms[0].package == self._root and terms[0].positive
        )

    def _derived(self, inc: Incompatibility[Any]) -> str:
        if self._is_failure(inc):
            return "your requirements cannot be satisfied"
        # The root is always selected, so "root and X" is just "X".
        terms = [t for t in inc.terms if not (t.package == self._root and t.positive)]
        positive = [t for t in terms if t.positive]
        negative = [t for t in terms if not t.positive]
        needs = " or ".join(self._constraint(t, note=True) for t in negative)
        if not negative:
            if len(positive) == 1:
                term = positive[0]
                if self._is_all(term):
                    return f"no version of {self._name(term.package)} can be used"
                return f"{self._constraint(term, note=True)} cannot be used"
            if len(positive) == 2:
                return f"{self._any(positive[0])} is incompatible with {self._any(positive[1])}"
            listed = ", ".join(self._any(t) for t in positive[:-1])
            return f"{listed} and {self._any(positive[-1])} cannot all be used together"
        if not positive:
            if len(negative) == 1:
                return f"{needs} is required"
            if len(negative) == 2:
                return f"either {needs} is required"
            return f"one of {needs} is required"
        if len(positive) == 1:
            return f"{self._subject(positive[0], inc)} requires {needs}"
        together = " and ".join(self._constraint(t) for t in positive)
        return f"{together} together require {needs}"

    # -- two incompatibilities in one sentence (pub's "andToString") ------------------------
    def _and(
        self,
        a: Incompatibility[Any],
        b: Incompatibility[Any],
        a_line: int | None = None,
        b_line: int | None = None,
    ) -> str:
        for text in (
            self._requires_both(a, b, a_line, b_line),
            self._requires_through(a, b, a_line, b_line),
            self._requires_forbidden(a, b, a_line, b_line),
        ):
            if text is not None:
                return text
        return f"{self.describe(a)}{_ref(a_line)} and {self.describe(b)}{_ref(b_line)}"

    def _needs(self, inc: Incompatibility[Any]) -> str:
        """What ``inc``'s positive side needs: the requirement as written for a dependency."""
        if isinstance(inc.cause, Dependency) and len(inc.terms) == 2:
            return self._requirement(inc.terms[1].package, inc.cause.requirement, inc.terms[1])
        return " or ".join(self._constraint(t) for t in inc.terms if not t.positive)

    def _claim(self, inc: Incompatibility[Any], positive: Term[Any], needs: str) -> str:
        """Say "<positive> depends on <needs>" in the right voice for the root and for facts."""
        dependency = isinstance(inc.cause, Dependency)
        if positive.package == self._root:
            return f"you require {needs}" if dependency else f"{needs} is required"
        verb = "depends on" if dependency else "requires"
        return f"{self._subject(positive, inc)} {verb} {needs}"

    def _requires_both(
        self,
        a: Incompatibility[Any],
        b: Incompatibility[Any],
        a_line: int | None,
        b_line: int | None,
    ) -> str | None:
        if len(a.terms) == 1 or len(b.terms) == 1:
            return None
        a_pos = _single(a, positive=True)
        b_pos = _single(b, positive=True)
        if a_pos is None or b_pos is None:
            return None
        if a_pos.package != b_pos.package or a_pos.mask != b_pos.mask:
            return None
        both = f"both {self._needs(a)}{_ref(a_line)} and {self._needs(b)}{_ref(b_line)}"
        dependency = isinstance(a.cause, Dependency) and isinstance(b.cause, Dependency)
        if a_pos.package == self._root:
            return f"you require {both}" if dependency else f"{both} are required"
        verb = "depends on" if dependency else "requires"
        return f"{self._subject(a_pos, a)} {verb} {both}"

    def _requires_through(
        self,
        a: Incompatibility[Any],
        b: Incompatibility[Any],
        a_line: int | None,
        b_line: int | None,
    ) -> str | None:
        if len(a.terms) == 1 or len(b.terms) == 1:
            return None
        for prior, latter, prior_line, latter_line in (
            (a, b, a_line, b_line),
            (b, a, b_line, a_line),
        ):
            negative = _single(prior, positive=False)
            latter_pos = _single(latter, positive=True)
            prior_pos = [t for t in prior.terms if t.positive]
            if negative is None or latter_pos is None or len(prior_pos) != 1:
                continue
            if negative.package != latter_pos.package:
                continue
            if _set_of(negative) & ~_set_of(latter_pos):
                continue  # some of what prior needs is not covered by latter
            verb = "depends on" if isinstance(latter.cause, Dependency) else "requires"
            first = self._claim(prior, prior_pos[0], self._needs(prior))
            return (
                f"{first}{_ref(prior_line)}, which {verb} {self._needs(latter)}{_ref(latter_line)}"
            )
        return None

    def _requires_forbidden(
        self,
        a: Incompatibility[Any],
        b: Incompatibility[Any],
        a_line: int | None,
        b_line: int | None,
    ) -> str | None:
        if len(a.terms) != 1 and len(b.terms) != 1:
            return None
        pairs = ((a, b, a_line, b_line), (b, a, b_line, a_line))
        for prior, latter, prior_line, latter_line in pairs:
            if len(latter.terms) != 1 or not latter.terms[0].positive:
                continue
            negative = _single(prior, positive=False)
            prior_pos = [t for t in prior.terms if t.positive]
            if negative is None or len(prior_pos) != 1:
                continue
            forbidden = latter.terms[0]
            if negative.package != forbidden.package or _set_of(negative) & ~_set_of(forbidden):
                continue
            first = self._claim(prior, prior_pos[0], self._needs(prior))
            return (
                f"{first}{_ref(prior_line)}, which {self._why_forbidden(latter)}{_ref(latter_line)}"
            )
        return None

    def _why_forbidden(self, inc: Incompatibility[Any]) -> str:
        cause = inc.cause
        if isinstance(cause, Unavailable):
            return cause.reason
        if isinstance(cause, NoVersions):
            wanted = self._requirement(cause.package, cause.requirement, None)
            return f"depends on {wanted}, but {self._nothing(cause)}"
        if isinstance(cause, Dependency):
            return f"depends on {self._requirement(inc.terms[0].package, cause.requirement, None)}"
        return "cannot be used"

    # -- the tree ---------------------------------------------------------------------------
    def learn_requirements(self, top: Incompatibility[Any]) -> None:
        """Remember how each requirement in the tree was written, to show its set that way."""
        for node in _count(top):
            cause = node.cause
            if isinstance(cause, Dependency) and len(node.terms) == 2:
                self._requirement(node.terms[1].package, cause.requirement, node.terms[1])

    def simplify(self, top: Incompatibility[Any]) -> Incompatibility[Any]:
        """Merge runs of same-kind facts (rejections for one reason, equal dependencies)."""
        counts = _count(top)
        refs: dict[Incompatibility[Any], int] = {}
        memo: dict[Incompatibility[Any], Incompatibility[Any]] = {}
        stack: list[tuple[Incompatibility[Any], bool]] = [(top, False)]
        while stack:
            node, expanded = stack.pop()
            if node in memo:
                continue
            cause = node.cause
            if not isinstance(cause, Derived):
                memo[node] = node
                refs[node] = counts[node]
                continue
            if not expanded:
                stack.append((node, True))
                stack.extend((child, False) for child in (cause.conflict, cause.other))
                continue
            new = self._collapse(node, cause, memo[cause.conflict], memo[cause.other], refs)
            memo[node] = new
            refs[new] = counts[node]
        return memo[top]

    def _collapse(
        self,
        node: Incompatibility[Any],
        cause: Derived[Any],
        conflict: Incompatibility[Any],
        other: Incompatibility[Any],
        refs: dict[Incompatibility[Any], int],
    ) -> Incompatibility[Any]:
        changed = True
        while changed:
            changed = False
            if conflict.external and other.external:
                key = self._merge_key(conflict)
                if key is not None and key == self._merge_key(other):
                    merged = _merge(conflict, other)
                    if _same_terms(merged, node):
                        return merged
            for derived, fact in ((conflict, other), (other, conflict)):
                if derived.external or not fact.external or refs.get(derived, 1) > 1:
                    continue
                key = self._merge_key(fact)
                inner = derived.cause
                if key is None or not isinstance(inner, Derived):
                    continue
                for rest, inner_fact in (
                    (inner.conflict, inner.other),
                    (inner.other, inner.conflict),
                ):
                    if inner_fact.external and self._merge_key(inner_fact) == key:
                        conflict, other = rest, _merge(inner_fact, fact)
                        changed = True
                        break
                if changed:
                    break
        if conflict is cause.conflict and other is cause.other:
            return node
        return Incompatibility(node.terms, Derived(conflict, other))

    def _merge_key(self, inc: Incompatibility[Any]) -> tuple[object, ...] | None:
        """Facts with equal keys differ only in the first term's versions."""
        cause = inc.cause
        first = inc.terms[0] if inc.terms else None
        if first is None or not first.positive or first.package == self._root:
            return None
        if isinstance(cause, Unavailable) and len(inc.terms) == 1:
            return ("unavailable", first.package, cause.reason)
        if isinstance(cause, NoVersions):
            text = self._requirement(cause.package, cause.requirement, None)
            return ("no-versions", first.package, cause.package, text)
        if isinstance(cause, Dependency) and len(inc.terms) == 2:
            dep = inc.terms[1]
            text = self._requirement(dep.package, cause.requirement, dep)
            return ("dependency", first.package, dep.package, dep.mask, text)
        return None

    def write(self, top: Incompatibility[Any]) -> str:
        if top.external:
            text = self.describe(top)
            return text[:1].upper() + text[1:] + "."
        self._derivations = _count(top)
        # Depth-first with explicit generators: derivation trees can be thousands deep.
        stack: list[Iterator[tuple[Incompatibility[Any], bool]]] = [self._visit(top, False)]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
            elif child[0] not in self._numbers:
                stack.append(self._visit(*child))
        numbered = [n for _, n in self._lines if n is not None]
        width = len(f"({max(numbered)}) ") if numbered else 0
        out: list[str] = []
        for message, number in self._lines:
            if not message:
                if out and out[-1]:
                    out.append("")
                continue
            prefix = f"({number}) ".ljust(width) if number is not None else " " * width
            out.append(prefix + message)
        return "\n".join(out)

    def _emit(self, inc: Incompatibility[Any], message: str, numbered: bool) -> None:
        number = None
        if numbered:
            number = len(self._numbers) + 1
            self._numbers[inc] = number
        self._lines.append((message, number))

    def _visit(
        self, inc: Incompatibility[Any], conclusion: bool
    ) -> Iterator[tuple[Incompatibility[Any], bool]]:
        """pub's error-reporting walk; yields children to write before continuing."""
        cause = inc.cause
        assert isinstance(cause, Derived)
        numbered = conclusion or self._derivations[inc] > 1
        conjunction = "So," if numbered else "And"
        conflict, other = cause.conflict, cause.other
        text = self.describe(inc)
        if not conflict.external and not other.external:
            conflict_line = self._numbers.get(conflict)
            other_line = self._numbers.get(other)
            if conflict_line is not None and other_line is not None:
                message = (
                    f"Because {self.describe(conflict)} ({conflict_line}) and "
                    f"{self.describe(other)} ({other_line}), {text}."
                )
                self._emit(inc, message, numbered)
            elif conflict_line is not None or other_line is not None:
                with_line, without = (
                    (conflict, other) if conflict_line is not None else (other, conflict)
                )
                yield without, False
                line = self._numbers[with_line]
                message = f"{conjunction} because {self.describe(with_line)} ({line}), {text}."
                self._emit(inc, message, numbered)
            elif self._single_line(conflict) or self._single_line(other):
                first, second = (conflict, other) if self._single_line(other) else (other, conflict)
                yield first, False
                yield second, False
                self._emit(inc, f"Thus, {text}.", numbered)
            else:
                yield conflict, True
                self._lines.append(("", None))
                yield other, False
                line = self._numbers[conflict]
                message = f"{conjunction} because {self.describe(conflict)} ({line}), {text}."
                self._emit(inc, message, numbered)
        elif not conflict.external or not other.external:
            derived, fact = (conflict, other) if not conflict.external else (other, conflict)
            derived_line = self._numbers.get(derived)
            if derived_line is not None:
                message = f"Because {self._and(fact, derived, None, derived_line)}, {text}."
                self._emit(inc, message, numbered)
            elif self._collapsible(derived):
                inner = derived.cause
                assert isinstance(inner, Derived)
                inner_derived, inner_fact = (
                    (inner.conflict, inner.other)
                    if not inner.conflict.external
                    else (inner.other, inner.conflict)
                )
                yield inner_derived, False
                message = f"{conjunction} because {self._and(inner_fact, fact)}, {text}."
                self._emit(inc, message, numbered)
            else:
                yield derived, False
                self._emit(inc, f"{conjunction} because {self.describe(fact)}, {text}.", numbered)
        else:
            self._emit(inc, f"Because {self._and(conflict, other)}, {text}.", numbered)

    def _single_line(self, inc: Incompatibility[Any]) -> bool:
        cause = inc.cause
        return isinstance(cause, Derived) and cause.conflict.external and cause.other.external

    def _collapsible(self, inc: Incompatibility[Any]) -> bool:
        if self._derivations[inc] > 1:
            return False
        cause = inc.cause
        assert isinstance(cause, Derived)
        if cause.conflict.external == cause.other.external:
            return False  # two facts read better unmerged; two derivations are too much
        inner = cause.conflict if not cause.conflict.external else cause.other
        return inner not in self._numbers


def _ref(line: int | None) -> str:
    return f" ({line})" if line is not None else ""


def _single(inc: Incompatibility[Any], *, positive: bool) -> Term[Any] | None:
    found = [t for t in inc.terms if t.positive == positive]
    return found[0] if len(found) == 1 else None


def _same_terms(a: Incompatibility[Any], b: Incompatibility[Any]) -> bool:
    return {t.package: t.mask for t in a.terms} == {t.package: t.mask for t in b.terms}


def _merge(a: Incompatibility[Any], b: Incompatibility[Any]) -> Incompatibility[Any]:
    """The fact ``a`` widened to ``b``'s versions of the first term (keys already equal)."""
    first = a.terms[0]
    widened = Term(first.package, first.mask | b.terms[0].mask, first.universe)
    return Incompatibility((widened, *a.terms[1:]), a.cause)


def _count(top: Incompatibility[Any]) -> dict[Incompatibility[Any], int]:
    """How many times each node is used as a cause (the top counts once)."""
    counts: dict[Incompatibility[Any], int] = {top: 1}
    stack = [top]
    while stack:
        node = stack.pop()
        cause = node.cause
        if not isinstance(cause, Derived):
            continue
        for child in (cause.conflict, cause.other):
            if child in counts:
                counts[child] += 1
            else:
                counts[child] = 1
                stack.append(child)
    return counts
