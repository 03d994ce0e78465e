"""The one error base of mixscope: every refusal the API, the CLI or the trainer reports as
"this field is wrong" or "this resource is missing" is a :class:`MixscopeError`.

An error says *what* went wrong (``field``: the dotted name of the offending query
parameter, body field or CLI flag, when there is one; ``where``: ``"query"``, ``"body"`` or
``"path"``) and its HTTP *class* (``status_code``). How that becomes an HTTP answer is
decided in one place, ``backend.api.app`` (its exception handlers); the CLI prints
``str(exc)``, which always starts with the field when there is one.

The kinds (each subclasses the builtin its callers used to catch, so ``except ValueError``
or ``except LookupError`` keeps working):

- :class:`InvalidInput` (422, a ``ValueError``): bad input, naming the field. ``QueryError``
  is the API's name for it.
- :class:`NotFound` (404, a ``LookupError``): a missing resource. A missing *run* is always
  ``backend.store.errors.RunNotFound``.
- :class:`Conflict` (409, a ``RuntimeError``): the resource's state refuses the request.
- :class:`Unavailable` (503, a ``RuntimeError``): a backing service cannot be reached.
- :class:`TooManyRequests` (429, a ``RuntimeError``): a client or a run has as much work
  queued as it may; ``retry_after`` (seconds) becomes the ``Retry-After`` header.
"""

from __future__ import annotations


class MixscopeError(Exception):
    """Base of every mixscope error. ``field`` names the offending input (or None),
    ``where`` where it was given (query, body, path); ``status_code`` is the HTTP class."""

    status_code: int = 500

    def __init__(self, message: str, *, field: str | None = None, where: str = "query"):
        super().__init__(message)
        self.field = field
        self.where = where


class InvalidInput(MixscopeError, ValueError):
    """Bad input; ``field`` names it (HTTP 422)."""

    status_code = 422


class QueryError(InvalidInput):
    """A bad query parameter (or body field: ``where="body"``) of an API request:
    ``QueryError(field, message)`` answers 422 with ``loc [where, field]`` and the message
    ``"<field>: <message>"``."""

    def __init__(self, field: str, message: str, where: str = "query"):
        super().__init__(message, field=field, where=where)


class NotFound(MixscopeError, LookupError):
    """A missing resource (HTTP 404)."""

    status_code = 404

    def __str__(self) -> str:  # a KeyError subclass would repr() the message
        return str(self.args[0]) if self.args else ""


class Conflict(MixscopeError, RuntimeError):
    """The resource's state refuses the request (HTTP 409)."""

    status_code = 409


class Unavailable(MixscopeError, RuntimeError):
    """A backing service (database, broker, object store) cannot be reached now (HTTP 503
    with ``Retry-After``); ``service`` names it."""

    status_code = 503
    retry_after: int | None = None
    service: str | None = None


class TooManyRequests(MixscopeError, RuntimeError):
    """Too much work queued already (HTTP 429 with ``Retry-After: retry_after``)."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int = 5, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = retry_after


def field_of(message: str) -> str | None:
    """The field a ``"<field>: <reason>"`` message starts with (the convention of the
    errors whose message names the field first), or None."""
    head, sep, _ = message.partition(":")
    head = head.strip()
    if sep and head and " " not in head:
        return head
    return None
