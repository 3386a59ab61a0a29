"""Domain errors raised by services; views and the API turn them into clear 4xx answers."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class InvalidInput(DomainError):
    """Bad values: `fields` maps each field to its reasons."""

    code = "invalid"


class NotPermitted(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class IllegalState(DomainError):
    status_code = 409
    code = "illegal_state"
