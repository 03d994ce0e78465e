"""Request-body limits and the JSON-safe echo of validation errors.

:class:`BodyLimit` is a pure ASGI middleware: a request whose ``Content-Length`` exceeds the
limit of its path is answered 413 before a byte of the body is read, and a body sent without
a length (chunked) is counted while it streams and refused as soon as it passes the limit,
so no body is ever buffered whole and a 50 MB upload cannot hold a worker of the API.

The limit is per path prefix, longest prefix wins: ``BodyLimit(app, default=1 MiB,
prefixes={"/api/ingest/": 64 MiB})``. ``create_app`` builds it from the settings
``MIXSCOPE_MAX_BODY_BYTES`` and ``MIXSCOPE_MAX_UPLOAD_BYTES`` (``UPLOAD_PREFIXES``); a router
needing large bodies puts its routes under one of those prefixes (``docs/contracts.md``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, status

#: Route prefixes whose bodies may reach ``Settings.max_upload_bytes`` (binary uploads).
UPLOAD_PREFIXES = ("/api/ingest/",)

#: At most this many validation errors are echoed; the rest are only counted.
MAX_ECHOED_ERRORS = 20
#: An echoed ``input`` longer than this (as JSON) is cut down to a short text.
MAX_ECHOED_INPUT = 200
#: An error message longer than this is cut (validators quote the value they refuse).
MAX_ECHOED_MESSAGE = 500


_UNION_TAG = re.compile(r"^[a-z][a-z-]*\[.*\]$")


def too_large(limit: int) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                         detail=f"request body: larger than the limit of {limit} bytes")


class BodyLimit:
    """Refuse request bodies over ``default`` bytes (or over the limit of the longest
    matching prefix in ``prefixes``) with a 413 ``{"detail": "request body: ..."}``."""

    def __init__(self, app, default: int, prefixes: Mapping[str, int] | None = None):
        self.app = app
        self.default = int(default)
        # Longest prefix first, so "/api/ingest/big/" can beat "/api/ingest/".
        self.prefixes = sorted((prefixes or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.prefixes:
            if path.startswith(prefix):
                return int(limit)
        return self.default

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope.get("path", ""))
        length = _content_length(scope)
        if length is not None and length > limit:
            return await _send_413(send, limit)
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException raised while reading the body through
                    # as the response (a 413), whichever way the route reads it.
                    raise too_large(limit)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except HTTPException as exc:  # raised outside FastAPI's handlers (e.g. a middleware)
            if exc.status_code != status.HTTP_413_CONTENT_TOO_LARGE or started:
                raise
            await _send_413(send, limit)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send, limit: int) -> None:
    body = json.dumps({"detail": too_large(limit).detail}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def json_safe(x: Any) -> Any:
    """``x`` with NaN/±inf as the strings "NaN"/"Infinity"/"-Infinity" and anything JSON
    cannot hold as its ``str`` (JSON has no non-finite numbers; the echo must encode)."""
    if isinstance(x, float):
        if math.isfinite(x):
            return x
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, Mapping):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    return str(x)


def short_input(x: Any) -> Any:
    """The echoed input: itself when small, else a cut-down text of it."""
    safe = json_safe(x)
    text = json.dumps(safe)
    if len(text) <= MAX_ECHOED_INPUT:
        return safe
    return text[:MAX_ECHOED_INPUT] + f"… ({len(text)} characters)"


def echoed_errors(errors: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The first :data:`MAX_ECHOED_ERRORS` of pydantic's ``errors`` made JSON-safe and small,
    each ``msg`` prefixed with the dotted field name; and how many there were in all."""
    out = []
    for e in errors[:MAX_ECHOED_ERRORS]:
        # pydantic names the branch of a union in `loc` ("list[constrained-int]"): not a field
        loc = [p if isinstance(p, int) else str(p)[:100] for p in e.get("loc", ())
               if not (isinstance(p, str) and _UNION_TAG.match(p))]
        field = ".".join(str(p) for p in loc if p not in ("body", "query", "path"))
        msg = str(e.get("msg", ""))
        if len(msg) > MAX_ECHOED_MESSAGE:  # a message may quote the whole input
            msg = msg[:MAX_ECHOED_MESSAGE] + "…"
        item: dict[str, Any] = {"type": str(e.get("type", "value_error")), "loc": loc,
                                "msg": f"{field}: {msg}" if field else msg}
        if "input" in e:
            item["input"] = short_input(e["input"])
        if e.get("ctx"):
            item["ctx"] = {str(k): short_input(v) for k, v in e["ctx"].items()}
        out.append(item)
    return out, len(errors)


# --- parse errors: where the body broke (issue 24, item 7) ----------------------------------

#: FastAPI's detail for a body it could not read (its cause is chained: ``__cause__``).
BODY_PARSE_FAILED = "There was an error parsing the body"
_LONG_NUMBER = re.compile(rb"-?\d{4000,}")


def line_column(doc: bytes | str, pos: int) -> tuple[int, int]:
    """1-based (line, column) of offset ``pos`` in ``doc``."""
    nl = b"\n" if isinstance(doc, bytes) else "\n"
    pos = max(0, min(int(pos), len(doc)))
    return doc.count(nl, 0, pos) + 1, pos - (doc.rfind(nl, 0, pos) + 1) + 1


def _at(doc: bytes | str, pos: int, unit: str) -> tuple[str, list[Any]]:
    line, col = line_column(doc, pos)
    return f"line {line}, column {col} ({unit} {pos})", [line, col]


#: Nesting reported as the place a too-deep body broke (the parser's own limit is Python's
#: recursion limit, about this deep).
DEEP = 500


def _too_deep_at(body: bytes) -> int | None:
    """Offset of the bracket that opens level ``DEEP + 1`` (strings skipped), or None."""
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(body):
        if in_string:
            if escaped:
                escaped = False
            elif ch == 0x5C:  # backslash
                escaped = True
            elif ch == 0x22:
                in_string = False
        elif ch == 0x22:
            in_string = True
        elif ch in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > DEEP:
                return i
        elif ch in (0x5D, 0x7D):
            depth -= 1
    return None


def body_parse_error(body: bytes, cause: BaseException) -> tuple[str, str, list[Any]]:
    """``(type, message, loc tail)`` of a body FastAPI could not parse, from the exception
    its parser raised: bytes that are not UTF-8 (the line and column of the first bad byte),
    JSON nested too deep for the parser, a number too long to convert (where it starts)."""
    if isinstance(cause, UnicodeDecodeError):
        where, loc = _at(body, cause.start, "byte")
        return "body_encoding", f"body: not UTF-8 at {where}: {cause.reason}", loc
    if isinstance(cause, RecursionError):
        pos = _too_deep_at(body)
        if pos is None:
            return "json_too_deep", "body: JSON nesting too deep to parse", []
        where, loc = _at(body, pos, "byte")
        return "json_too_deep", (f"body: JSON nesting too deep (over {DEEP} levels) at "
                                 f"{where}"), loc
    if isinstance(cause, ValueError) and (m := _LONG_NUMBER.search(body)):
        where, loc = _at(body, m.start(), "byte")
        return "json_number", (f"body: a number of {len(m.group().lstrip(b'-'))} digits at "
                               f"{where}: too long to read"), loc
    return "body_invalid", f"body: could not be parsed ({type(cause).__name__})", []


def json_invalid_message(doc: Any, pos: Any, reason: str) -> str:
    """The message of a JSON syntax error at offset ``pos`` of ``doc``, with its line and
    column (FastAPI's own says only "JSON decode error")."""
    if isinstance(doc, (str, bytes)) and isinstance(pos, int):
        where, _ = _at(doc, pos, "char")
        return f"body: invalid JSON at {where}: {reason}"
    return f"body: invalid JSON: {reason}"
