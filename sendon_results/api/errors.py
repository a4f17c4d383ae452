"""The API's one kind of error: a status and the fields it is about, answered as JSON."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, errors: list[dict[str, str]]) -> None:
        super().__init__(errors)
        self.status = status
        self.errors = errors


def error(status: int, field: str, message: str) -> ApiError:
    return ApiError(status, [{"field": field, "message": message}])
