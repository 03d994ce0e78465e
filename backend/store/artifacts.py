"""The artifact root: safetensors files under a local folder or any fsspec URL.

Writes are atomic: bytes go to a temporary name next to the target, which is then renamed
(``os.replace`` locally, ``fs.mv`` elsewhere), so a reader never sees a half-written file.
Reads of local files are memory-mapped (a parsed safetensors header plus ``numpy`` views of
one ``np.memmap``): loading an (n, d) activation set costs a header read, not a copy.
No pickle anywhere.
"""

from __future__ import annotations

import json
import os
import re
import struct
import threading
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem

# Object stores whose PUT is already atomic: writing under a temporary name and renaming
# would only double the traffic (a "rename" there is copy + delete).
_ATOMIC_PUT_PROTOCOLS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"}

_NP_DTYPES = {
    "BOOL": np.dtype("bool"), "U8": np.dtype("u1"), "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8"),
}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(part: str) -> str:
    """A file-name-safe rendering of a kind or layer name (``blocks.3`` stays, ``layer:a/b``
    becomes ``layer_a_b``). Uniqueness comes from the SQL key, not from this name."""
    return _UNSAFE.sub("_", part) or "_"


def artifact_relpath(run_id: str, kind: str, epoch: int | None, layer: str | None) -> str:
    """``runs/<run_id>/<kind>/e<epoch>_<layer>.safetensors`` (``x`` for a missing part)."""
    e = "x" if epoch is None else str(epoch)
    lay = "x" if layer is None else safe_name(layer)
    return f"runs/{run_id}/{safe_name(kind)}/e{e}_{lay}.safetensors"


def mmap_safetensors(path: str) -> dict[str, np.ndarray] | None:
    """Read-only numpy views into a memory-mapped safetensors file, or ``None`` when it holds a
    dtype numpy lacks (bf16, fp8): the caller then falls back to a copying loader."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    if any(v["dtype"] not in _NP_DTYPES for v in header.values()):
        return None
    if not header:
        return {}
    # One mapping per file; plain ndarray views of it (np.memmap's subclass would leak into
    # every result computed from these arrays).
    buf = np.memmap(path, dtype=np.uint8, mode="r").view(np.ndarray)
    start = 8 + n
    out = {}
    for name, v in header.items():
        b, e = v["data_offsets"]
        out[name] = buf[start + b:start + e].view(_NP_DTYPES[v["dtype"]]).reshape(v["shape"])
    return out


class ArtifactFiles:
    """Files under one root URL. ``rel`` paths are relative to the root, with ``/``."""

    def __init__(self, root_url: str, cache_size: int = 64,
                 cache_bytes: int = 512 * 2**20):
        self.root_url = str(root_url)
        self.fs, self.root = fsspec.core.url_to_fs(self.root_url)
        self.local = isinstance(self.fs, LocalFileSystem)
        protocol = self.fs.protocol
        self.protocol = protocol[0] if isinstance(protocol, (tuple, list)) else protocol
        self._cache: OrderedDict[Hashable, dict[str, np.ndarray]] = OrderedDict()
        self._cache_size = cache_size
        # Memory-mapped entries cost no heap (the OS pages them); only copies loaded from a
        # remote root count against this budget.
        self._cache_bytes = cache_bytes
        self._heap: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    # paths ------------------------------------------------------------------
    def full(self, rel: str) -> str:
        """The path inside ``self.fs``."""
        return f"{self.root.rstrip('/')}/{rel}"

    def url(self, rel: str) -> str:
        """Where the file is, for humans and other tools (a plain path when local)."""
        return self.full(rel) if self.local else self.fs.unstrip_protocol(self.full(rel))

    # writing ----------------------------------------------------------------
    def write_atomic(self, rel: str, data: bytes) -> None:
        """Write ``data`` so that ``rel`` either keeps its old content or has all of the new."""
        target = self.full(rel)
        parent = target.rsplit("/", 1)[0]
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}-{target.rsplit('/', 1)[1]}"
        if self.local:
            os.makedirs(parent, exist_ok=True)
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())  # the rename must not land before the bytes
                os.replace(tmp, target)
            except BaseException:
                _silently(os.remove, tmp)
                raise
            return
        self.fs.makedirs(parent, exist_ok=True)
        if self.protocol in _ATOMIC_PUT_PROTOCOLS:
            self.fs.pipe_file(target, data)
            return
        try:
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, target)
        except BaseException:
            _silently(self.fs.rm, tmp)
            raise

    def remove(self, rel: str) -> None:
        """Remove one file; a missing file is not an error."""
        target = self.full(rel)
        if self.local:
            _silently(os.remove, target)
        else:
            _silently(self.fs.rm, target)
        self.forget(rel)

    def remove_tree(self, rel_dir: str) -> None:
        """Remove a folder and everything in it (missing is fine)."""
        target = self.full(rel_dir)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)
        with self._lock:
            for k in [k for k in self._cache if k[0].startswith(target + "/")]:
                self._drop(k)

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.full(rel))

    # reading ----------------------------------------------------------------
    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self.full(rel))

    def load_numpy(self, rel: str, version: Hashable) -> dict[str, np.ndarray]:
        """All arrays of one file, read-only. Cached (LRU) under (path, ``version``): the
        caller passes what changes on a re-put (size and write time of the SQL row); local
        files add their mtime so an out-of-band rewrite is noticed too."""
        target = self.full(rel)
        key: tuple[Any, ...] = (target, version)
        if self.local:
            key += (os.stat(target).st_mtime_ns,)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return dict(hit)
        arrays = mmap_safetensors(target) if self.local else None
        heap = 0
        if arrays is None:
            from safetensors.numpy import load
            arrays = load(self.read_bytes(rel))
            for a in arrays.values():
                a.setflags(write=False)  # shared through the cache: nobody may mutate it
            heap = sum(a.nbytes for a in arrays.values())
        with self._lock:
            for k in [k for k in self._cache if k[0] == target]:
                self._drop(k)   # an older version of the same file
            self._cache[key] = arrays
            self._heap[key] = heap
            while len(self._cache) > 1 and (len(self._cache) > self._cache_size or
                                            sum(self._heap.values()) > self._cache_bytes):
                self._drop(next(iter(self._cache)))
        return dict(arrays)

    def _drop(self, key: Hashable) -> None:
        self._cache.pop(key, None)
        self._heap.pop(key, None)

    def forget(self, rel: str) -> None:
        target = self.full(rel)
        with self._lock:
            for k in [k for k in self._cache if k[0] == target]:
                self._drop(k)


def _silently(fn, *args) -> None:
    try:
        fn(*args)
    except (FileNotFoundError, OSError):
        pass
