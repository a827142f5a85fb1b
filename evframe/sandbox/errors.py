"""Errors the sandbox answers with, as api3 ``{"exception": true, ...}`` replies."""

from __future__ import annotations

#: Bad script name or key; ``shotgun_api3`` raises ``AuthenticationFault`` for it.
ERR_AUTH = 102
#: Any other refused request (unknown type or field, bad filter, bad value...).
ERR_API = 103


class ApiError(Exception):
    """A request the sandbox refuses; becomes an api3 exception reply (HTTP 200)."""

    def __init__(self, message: str, code: int = ERR_API) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
