"""One error hierarchy for everything torchup reports to a user.

Every error carries structured fields (what failed, where, how to fix it) and formats itself
as one readable paragraph in ``__str__``; the CLI prints that paragraph instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "TorchupError",
    "ConfigError",
    "RequirementError",
    "NetworkError",
    "IndexError_",
    "MetadataError",
    "HashMismatchError",
    "InvalidWheelError",
    "ResolutionError",
    "LockError",
    "InstallError",
    "EnvironmentError_",
    "BuildError",
    "VcsError",
    "NotImplementedCommand",
]


class TorchupError(Exception):
    """Root of every error torchup reports; ``hint`` says how to fix it."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message


class ConfigError(TorchupError):
    """A configuration file or option is invalid; names the file, line and key."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(where + message, hint=hint)
        self.path = path
        self.line = line
        self.key = key


class RequirementError(ConfigError):
    """A requirement string or requirements-file line cannot be parsed."""


class NetworkError(TorchupError):
    """An HTTP request failed after retries; the URL is always redacted."""

    def __init__(
        self, message: str, *, url: str, status: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.url = url
        self.status = status


class IndexError_(TorchupError):
    """An index page could not be read or parsed."""

    def __init__(self, message: str, *, url: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.url = url


class MetadataError(TorchupError):
    """A distribution's core metadata could not be obtained or is invalid."""

    def __init__(self, message: str, *, url: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.url = url


class HashMismatchError(TorchupError):
    """A downloaded file does not match the hash the index or lock promised."""

    def __init__(self, *, url: str, expected: str, actual: str, algorithm: str = "sha256") -> None:
        super().__init__(
            f"the file at {url} has {algorithm} {actual}, but {expected} was expected",
            hint="the file changed on the server or was tampered with; nothing was installed",
        )
        self.url = url
        self.expected = expected
        self.actual = actual


class InvalidWheelError(TorchupError):
    """A wheel archive is malformed or hostile (bad paths, RECORD mismatch, zip bomb)."""

    def __init__(self, message: str, *, filename: str, hint: str | None = None) -> None:
        super().__init__(f"{filename}: {message}", hint=hint)
        self.filename = filename


class ResolutionError(TorchupError):
    """No set of versions satisfies the requirements; ``message`` holds the explanation."""

    exit_code = 1


class LockError(TorchupError):
    """A lock file is missing, stale, invalid, or has no entry for this environment."""


class InstallError(TorchupError):
    """Installing or uninstalling a distribution failed; the environment was left as it was."""


class EnvironmentError_(TorchupError):
    """No usable Python interpreter or virtual environment was found."""


class BuildError(TorchupError):
    """Building a source distribution or local project with PEP 517 failed."""


class VcsError(TorchupError):
    """A git source could not be fetched or checked out; ``url`` is the repository."""

    def __init__(self, message: str, *, url: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.url = url


class NotImplementedCommand(TorchupError):
    """A command that torchup mirrors from uv but does not implement yet."""

    def __init__(self, command: str) -> None:
        super().__init__(
            f"`torchup {command}` is not implemented yet",
            hint="see `torchup --help` for the commands that work today",
        )
        self.command = command
