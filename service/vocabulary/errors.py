"""Typed domain errors; the HTTP edge maps each to its status code."""


class DomainError(Exception):
    """Base of every error the domain raises on purpose; `status` is its HTTP meaning."""

    status = 400

    def __init__(self, message: str, errors: dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors


class BadRequest(DomainError):
    status = 400


class Unauthorized(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Gone(DomainError):
    """It existed, and storage no longer keeps it (an object version a lifecycle rule expired)."""

    status = 410


class TooLarge(DomainError):
    status = 413


class Unprocessable(DomainError):
    status = 422


class Unavailable(DomainError):
    status = 503


class TooManyRequests(DomainError):
    """A quota or rate limit is reached; the message names it and the current figure. `retry_after`:
    the seconds after which the same request may succeed (every 429 sends it as Retry-After)."""

    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, retry_after)
