"""Read a few row ranges of a stored array without reading the whole file (issue 14, target 2).

A frame of a class triple needs that triple's probe rows of one epoch's activations: about a
ninth of a 10-class probe, far less of a 100-class one. Safetensors stores each array as one
contiguous run of bytes after a JSON header, so the rows ``start:stop`` of an (n, d) array are
one byte range. This module reads those ranges: ``os.pread`` on a local root, ranged reads
(``fs.cat_ranges``) on an fsspec/S3 root.

**Integrity.** A whole file is checked against the SHA-256 recorded when it was written. A
ranged read cannot check that, so files of at least :data:`BLOCKED_MIN_BYTES` are written with
**block digests** (:func:`block_digests`, kept in the artifact row's meta under
:data:`BLOCKS_META`): the file cut into blocks of ``block_bytes`` (a power of two, 4 KiB or
more, at most :data:`MAX_BLOCKS` blocks), each with the first 8 bytes of its SHA-256. A ranged
read widens its byte ranges to whole blocks and checks each block once per file version
(:class:`DamagedFile` on a mismatch, like a whole read). Files without digests (small ones, and
every file stored before) are read whole, as before.

Every byte read from the artifact root through :class:`ArtifactFiles` is counted in
:data:`READS` (the scale benchmark's bytes-read-per-frame figure).
"""

from __future__ import annotations

import base64
import bisect
import functools
import hashlib
import json
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Artifact meta key holding ``"<block_bytes>:<base64 of 8-byte digests>"``.
BLOCKS_META = "_blocks"
BLOCKED_MIN_BYTES = 256 * 1024
MIN_BLOCK_BYTES = 4 * 1024
MAX_BLOCKS = 1024
_DIGEST = 8


class DamagedFile(Exception):
    """A file that is missing, truncated, or not what was written; the message says which."""


class ReadCounter:
    """Bytes read from the artifact root in this process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes += int(n)

    def reset(self) -> int:
        with self._lock:
            n, self.bytes = self.bytes, 0
            return n


READS = ReadCounter()


def block_digests(data: bytes) -> str | None:
    """``"<block_bytes>:<base64 digests>"`` for a file of ``data`` (None below
    :data:`BLOCKED_MIN_BYTES`: such files are read whole)."""
    if len(data) < BLOCKED_MIN_BYTES:
        return None
    bb = MIN_BLOCK_BYTES
    while -(-len(data) // bb) > MAX_BLOCKS:
        bb *= 2
    view = memoryview(data)
    digests = b"".join(hashlib.sha256(view[i:i + bb]).digest()[:_DIGEST]
                       for i in range(0, len(data), bb))
    return f"{bb}:{base64.b64encode(digests).decode()}"


@functools.lru_cache(maxsize=4096)
def parse_blocks(text: str | None) -> tuple[int, bytes] | None:
    """(block bytes, concatenated digests) of a ``blocks`` meta value (cached: every frame
    of an epoch reads the same file)."""
    if not text:
        return None
    bb, _, b64 = text.partition(":")
    return int(bb), base64.b64decode(b64)


@dataclass(frozen=True)
class Header:
    """A safetensors header: where each array's bytes are (absolute file offsets)."""

    arrays: dict[str, tuple[np.dtype, tuple[int, ...], int, int]]

    @classmethod
    def parse(cls, raw: bytes, dtypes: Mapping[str, np.dtype]) -> Header:
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        header.pop("__metadata__", None)
        start = 8 + n
        out = {}
        for name, v in header.items():
            if v["dtype"] not in dtypes:
                raise ValueError(f"dtype {v['dtype']} of {name!r} has no numpy equivalent")
            b, e = v["data_offsets"]
            out[name] = (dtypes[v["dtype"]], tuple(v["shape"]), start + b, start + e)
        return cls(out)


class RangedReader:
    """Ranged reads of files under one :class:`~backend.store.artifacts.ArtifactFiles`
    root; keeps parsed headers and which blocks were checked, per file version."""

    def __init__(self, files, dtypes: Mapping[str, np.dtype], cache_size: int = 512):
        self.files = files
        self.dtypes = dtypes
        self._headers: OrderedDict[Hashable, Header] = OrderedDict()
        self._checked: dict[Hashable, set[int]] = {}
        self._size = cache_size
        self._lock = threading.Lock()

    def _pread(self, target: str, spans: Sequence[tuple[int, int]]) -> list[bytes]:
        if self.files.local:
            out = []
            with open(target, "rb") as f:
                fd = f.fileno()
                for s, e in spans:
                    out.append(os.pread(fd, e - s, s))
        else:
            out = self.files.fs.cat_ranges([target] * len(spans), [s for s, _ in spans],
                                           [e for _, e in spans], on_error="return")
            # fsspec returns a failed range's exception in its place: raise it (a missing
            # object is FileNotFoundError, which callers report as a missing file, 409)
            for chunk in out:
                if isinstance(chunk, BaseException):
                    raise chunk
        READS.add(sum(len(b) for b in out))
        return out

    def header(self, target: str, key: Hashable) -> Header:
        with self._lock:
            h = self._headers.get(key)
            if h is not None:
                self._headers.move_to_end(key)
                return h
        [head] = self._pread(target, [(0, 8)])
        if len(head) < 8:
            raise DamagedFile("truncated: shorter than a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n > 100 * 2**20:
            raise DamagedFile("not a readable safetensors file (header length)")
        [body] = self._pread(target, [(8, 8 + n)])
        try:
            h = Header.parse(head + body, self.dtypes)
        except (ValueError, KeyError, TypeError, struct.error) as exc:
            raise DamagedFile(f"not a readable safetensors file ({exc})") from None
        with self._lock:
            self._headers[key] = h
            while len(self._headers) > self._size:
                old = next(iter(self._headers))
                self._headers.pop(old)
                self._checked.pop(old, None)
        return h

    def read(self, rel: str, version: Hashable, parts: Mapping[str, Sequence[tuple[int, int]]
                                                              | None],
             *, size: int, blocks: tuple[int, bytes]) -> dict[str, np.ndarray]:
        """For each ``name -> ranges`` of ``parts``: the rows ``start:stop`` of each range of
        the array, concatenated (``None``: the whole array). Names the file lacks are left
        out. Reads whole blocks and checks each block's digest once per file version."""
        target = self.files.full(rel)
        key: tuple = (target, version)
        if self.files.local:
            try:
                st = os.stat(target)
            except FileNotFoundError:
                raise DamagedFile("the file is missing") from None
            if st.st_size != size:
                raise DamagedFile(_size_reason(st.st_size, size))
            key += (st.st_mtime_ns,)
        bb, digests = blocks
        try:
            head = self.header(target, key)
        except FileNotFoundError:
            raise DamagedFile("the file is missing") from None
        wanted: dict[str, list[tuple[int, int]]] = {}
        for name, ranges in parts.items():
            if name not in head.arrays:
                continue
            dtype, shape, b, e = head.arrays[name]
            if e > size:
                raise DamagedFile(_size_reason(size, e))
            row = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64)) if shape else e - b
            rr = [(0, shape[0] if shape else 1)] if ranges is None else list(ranges)
            wanted[name] = [(b + r0 * row, b + r1 * row) for r0, r1 in rr]
        # whole blocks covering every byte range, merged
        need = sorted({k for spans in wanted.values() for s, e in spans if e > s
                       for k in range(s // bb, (e - 1) // bb + 1)})
        runs: list[list[int]] = []
        for k in need:
            if runs and runs[-1][1] == k:
                runs[-1][1] = k + 1
            else:
                runs.append([k, k + 1])
        spans = [(a * bb, min(z * bb, size)) for a, z in runs]
        try:
            chunks = self._pread(target, spans)
        except FileNotFoundError:
            raise DamagedFile("the file is missing") from None
        with self._lock:
            checked = self._checked.setdefault(key, set())
        starts = []
        for (a, z), (s, e), chunk in zip(runs, spans, chunks):
            if len(chunk) != e - s:
                raise DamagedFile(f"truncated: {s + len(chunk)} of {size} bytes")
            for k in range(a, z):
                if k in checked:
                    continue
                blk = memoryview(chunk)[(k - a) * bb:(k - a + 1) * bb]
                if hashlib.sha256(blk).digest()[:_DIGEST] != \
                        digests[k * _DIGEST:(k + 1) * _DIGEST]:
                    raise DamagedFile(f"block {k} ({bb} bytes at {k * bb}) differs from the "
                                      "one written (corrupted)")
                checked.add(k)
            starts.append(s)
        out = {}
        for name, spans_ in wanted.items():
            dtype, shape, _, _ = head.arrays[name]
            pieces = []
            for s, e in spans_:
                if e <= s:
                    continue
                i = bisect.bisect_right(starts, s) - 1   # the read span holding [s, e)
                off = s - starts[i]
                pieces.append(np.frombuffer(chunks[i], dtype=np.uint8, count=e - s,
                                            offset=off).view(dtype))
            flat = pieces[0].copy() if len(pieces) == 1 else \
                np.concatenate(pieces) if pieces else np.zeros(0, dtype)
            out[name] = flat.reshape(-1, *shape[1:]) if shape else flat.reshape(())
        return out


def _size_reason(actual: int, expected: int) -> str:
    if actual < expected:
        return f"truncated: {actual} of {expected} bytes"
    return f"{actual} bytes where {expected} were written"
