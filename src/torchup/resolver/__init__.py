"""torchup.resolver: PubGrub (:mod:`.pubgrub`) and its explanations (:mod:`.report`)."""

from torchup.resolver.pubgrub import (
    ROOT,
    Cause,
    Dependency,
    Derived,
    Incompatibility,
    NoSolution,
    NoVersions,
    Provider,
    Reporter,
    Resolution,
    RootCause,
    RootPackage,
    Term,
    TooManySteps,
    Unavailable,
    Universe,
    resolve,
)
from torchup.resolver.report import describe_versions, explain

__all__ = [
    "ROOT",
    "Cause",
    "Dependency",
    "Derived",
    "Incompatibility",
    "NoSolution",
    "NoVersions",
    "Provider",
    "Reporter",
    "Resolution",
    "RootCause",
    "RootPackage",
    "Term",
    "TooManySteps",
    "Unavailable",
    "Universe",
    "describe_versions",
    "explain",
    "resolve",
]
