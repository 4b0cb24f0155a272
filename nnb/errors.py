"""The one error type users see: a one-line message, exit code 2 from the CLI."""

from __future__ import annotations


class NnbError(Exception):
    """A problem with the user's input (file, model, arguments), not a bug in nnb."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
