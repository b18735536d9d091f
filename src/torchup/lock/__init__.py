"""PEP 751 locks: data (:mod:`.model`), files (:mod:`.io`), choosing for a machine (:mod:`.select`)."""

from torchup.lock.io import (
    DEFAULT_LOCK_NAME,
    dumps_lock,
    loads_lock,
    read_lock,
    validate_lock,
    write_lock,
)
from torchup.lock.model import (
    LOCK_VERSION,
    TORCHUP_LOCK_SCHEMA,
    EnvironmentNote,
    Lock,
    LockDataError,
    LockedArchive,
    LockedDependency,
    LockedDirectory,
    LockedFile,
    LockedPackage,
    LockedVcs,
    LockMetadata,
    input_hash,
)
from torchup.lock.select import ArtifactKind, Selected, select_for_target, select_packages

__all__ = [
    "DEFAULT_LOCK_NAME",
    "LOCK_VERSION",
    "TORCHUP_LOCK_SCHEMA",
    "ArtifactKind",
    "EnvironmentNote",
    "Lock",
    "LockDataError",
    "LockMetadata",
    "LockedArchive",
    "LockedDependency",
    "LockedDirectory",
    "LockedFile",
    "LockedPackage",
    "LockedVcs",
    "Selected",
    "dumps_lock",
    "input_hash",
    "loads_lock",
    "read_lock",
    "select_for_target",
    "select_packages",
    "validate_lock",
    "write_lock",
]
