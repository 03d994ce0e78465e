"""The artifact root: safetensors files under a local folder or any fsspec URL.

Writes are atomic and two-phase: :meth:`ArtifactFiles.stage` puts the bytes under a temporary
name in ``<root>/.tmp/`` (outside every run's folder), :meth:`ArtifactFiles.commit` renames them
into place (``os.replace`` locally, ``fs.mv`` elsewhere; object stores whose PUT is atomic
upload at commit). The store commits inside the SQL transaction that checks the writer's
claim, so nothing lands in a run's folder once the run is deleted or its writer fenced off.
Temporary names carry the writer's pid and host, so a starting worker removes those of dead
writers (:meth:`ArtifactFiles.clean_orphans`).

Reads can be verified against the size and SHA-256 recorded at write time
(:class:`DamagedFile` says what is wrong).
Reads of local files are memory-mapped (a parsed safetensors header plus ``numpy`` views of
one ``np.memmap``): loading an (n, d) activation set costs a header read, not a copy.
Row ranges of large files are read without the rest (``ArtifactFiles.ranged``,
:mod:`backend.store.ranged`). No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import struct
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem

from backend.store.ranged import READS, DamagedFile, RangedReader, _size_reason
from backend.store.workers import pid_alive

# Object stores whose PUT is already atomic: writing under a temporary name and renaming
# would only double the traffic (a "rename" there is copy + delete).
_ATOMIC_PUT_PROTOCOLS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"}

_NP_DTYPES = {
    "BOOL": np.dtype("bool"), "U8": np.dtype("u1"), "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8"),
}

TMP_DIR = ".tmp"
_HOST = socket.gethostname()


@dataclass
class Staged:
    """Bytes staged for ``rel``: a temporary file (``tmp``) or, for atomic-PUT stores, the
    bytes themselves (``data``)."""

    rel: str
    tmp: str | None = None
    data: bytes | None = None
    done: bool = False


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def _remote_errors() -> tuple[type[BaseException], ...]:
    """Errors of a remote object store that are not ``OSError``s: botocore's timeouts and
    connection errors (s3fs passes them through untranslated). Reported as the object
    store being unreachable (503), never a 500."""
    out: list[type[BaseException]] = []
    try:
        from botocore.exceptions import BotoCoreError
        out.append(BotoCoreError)
    except ImportError:
        pass
    try:
        from aiohttp import ClientError
        out.append(ClientError)
    except ImportError:
        pass
    return tuple(out)



class ArtifactFiles:
    """Files under one root URL. ``rel`` paths are relative to the root, with ``/``."""

    def __init__(self, root_url: str, cache_size: int = 64,
                 cache_bytes: int = 512 * 2**20, timeout_s: float | None = None):
        self.root_url = str(root_url)
        options = {}
        if timeout_s is not None and self.root_url.startswith(("s3://", "s3a://")):
            # a frozen object store fails a read after timeout_s (503), never hangs it
            options["config_kwargs"] = {"connect_timeout": timeout_s,
                                        "read_timeout": timeout_s,
                                        "retries": {"max_attempts": 2}}
        self.fs, self.root = fsspec.core.url_to_fs(self.root_url, **options)
        self.local = isinstance(self.fs, LocalFileSystem)
        #: what a read of this root raises when the store cannot be reached (besides OSError)
        self.remote_errors = () if self.local else _remote_errors()
        protocol = self.fs.protocol
        self.protocol = protocol[0] if isinstance(protocol, (tuple, list)) else protocol
        self._cache: OrderedDict[Hashable, dict[str, np.ndarray]] = OrderedDict()
        self._cache_size = cache_size
        # Memory-mapped entries cost no heap (the OS pages them); only copies loaded from a
        # remote root count against this budget.
        self._cache_bytes = cache_bytes
        self._heap: dict[Hashable, int] = {}
        self._lock = threading.Lock()
        self.ranged = RangedReader(self, _NP_DTYPES)

    # paths ------------------------------------------------------------------
    def full(self, rel: str) -> str:
        """The path inside ``self.fs``."""
        return f"{self.root.rstrip('/')}/{rel}"

    def url(self, rel: str) -> str:
        """Where the file is, for humans and other tools (a plain path when local)."""
        return self.full(rel) if self.local else self.fs.unstrip_protocol(self.full(rel))

    # writing ----------------------------------------------------------------
    def _tmp_name(self) -> str:
        # <uuid>.<pid>.<host>: clean_orphans tells a dead local writer's file from a live one's
        return f"{self.root.rstrip('/')}/{TMP_DIR}/{uuid.uuid4().hex}.{os.getpid()}.{_HOST}"

    def stage(self, rel: str, data: bytes) -> Staged:
        """Put ``data`` where :meth:`commit` can move it to ``rel`` atomically."""
        if not self.local and self.protocol in _ATOMIC_PUT_PROTOCOLS:
            return Staged(rel, data=data)
        tmp = self._tmp_name()
        try:
            if self.local:
                os.makedirs(tmp.rsplit("/", 1)[0], exist_ok=True)
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())  # the rename must not land before the bytes
            else:
                self.fs.makedirs(tmp.rsplit("/", 1)[0], exist_ok=True)
                self.fs.pipe_file(tmp, data)
        except BaseException:
            self._remove_path(tmp)
            raise
        return Staged(rel, tmp=tmp)

    def commit(self, staged: Staged) -> None:
        """Move staged bytes into place: ``rel`` has either its old content or all the new."""
        target = self.full(staged.rel)
        parent = target.rsplit("/", 1)[0]
        if self.local:
            os.makedirs(parent, exist_ok=True)
            os.replace(staged.tmp, target)
        else:
            self.fs.makedirs(parent, exist_ok=True)
            if staged.data is not None:
                self.fs.pipe_file(target, staged.data)
            else:
                self.fs.mv(staged.tmp, target)
        staged.done = True
        self.forget(staged.rel)

    def discard(self, staged: Staged) -> None:
        """Drop staged bytes that were not committed (a no-op after :meth:`commit`)."""
        if not staged.done and staged.tmp is not None:
            self._remove_path(staged.tmp)
        staged.done = True

    def write_atomic(self, rel: str, data: bytes) -> None:
        """Write ``data`` so that ``rel`` either keeps its old content or has all of the new."""
        staged = self.stage(rel, data)
        try:
            self.commit(staged)
        finally:
            self.discard(staged)

    def _remove_path(self, path: str) -> None:
        if self.local:
            _silently(os.remove, path)
        else:
            _silently(self.fs.rm, path)

    def clean_orphans(self, foreign_age_s: float = 86400.0) -> list[str]:
        """Remove temporary files whose writer is gone: those of dead processes on this host,
        those of other hosts older than ``foreign_age_s``, and the older layout's
        ``.tmp-*`` files inside run folders older than an hour. Returns what was removed."""
        removed = []
        now = time.time()
        tmp_dir = f"{self.root.rstrip('/')}/{TMP_DIR}"
        try:
            entries = self.fs.ls(tmp_dir, detail=True) if self.fs.exists(tmp_dir) else []
        except (FileNotFoundError, OSError):
            entries = []
        for e in entries:
            path = e["name"]
            name = path.rsplit("/", 1)[-1]
            _, _, rest = name.partition(".")
            pid, _, host = rest.partition(".")
            age = now - _mtime(e, now)
            if host == _HOST and pid.isdigit():
                stale = not pid_alive(int(pid))
            else:
                stale = age > foreign_age_s
            if stale:
                self._remove_path(path)
                removed.append(path)
        if self.local:  # files the writers of earlier versions left next to their targets
            runs = self.full("runs")
            for dirpath, _dirs, files in os.walk(runs):
                for f in files:
                    path = os.path.join(dirpath, f)
                    if f.startswith(".tmp-"):
                        try:
                            old = now - os.stat(path).st_mtime > 3600
                        except OSError:
                            continue
                        if old:
                            _silently(os.remove, path)
                            removed.append(path)
        return removed

    def move(self, rel: str, new_rel: str) -> None:
        """Rename ``rel`` to ``new_rel`` (replacing it)."""
        src, dst = self.full(rel), self.full(new_rel)
        if self.local:
            os.makedirs(dst.rsplit("/", 1)[0], exist_ok=True)
            os.replace(src, dst)
        else:
            self.fs.mv(src, dst)
        self.forget(rel)
        self.forget(new_rel)

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
        if self.local:
            for tries_left in range(4, -1, -1):  # a reader's cache may be re-created meanwhile
                try:
                    shutil.rmtree(target)
                    break
                except FileNotFoundError:
                    if not os.path.exists(target):
                        break
                except OSError:
                    if not tries_left:
                        raise
        elif self.fs.exists(target):
            self.fs.rm(target, recursive=True)
        with self._lock:
            for k in [k for k in self._cache if k[0].startswith(target + "/")]:
                self._drop(k)

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.full(rel))

    # reading ----------------------------------------------------------------
    def read_bytes(self, rel: str) -> bytes:
        data = self.fs.cat_file(self.full(rel))
        READS.add(len(data))
        return data

    def verify(self, rel: str, size: int | None, sha256: str | None,
               data: bytes | None = None) -> None:
        """Raise :class:`DamagedFile` unless ``rel`` (or its already-read ``data``) has the
        recorded ``size`` and ``sha256`` (either may be None: not checked).
        FileNotFoundError becomes "missing"; other OSErrors propagate (unreachable store)."""
        try:
            if data is None and self.local:
                actual = os.stat(self.full(rel)).st_size
                if size is not None and actual != size:
                    raise DamagedFile(_size_reason(actual, size))
                if sha256 is not None:
                    READS.add(actual)
                    h = hashlib.sha256()
                    with open(self.full(rel), "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 22), b""):
                            h.update(chunk)
                    if h.hexdigest() != sha256:
                        raise DamagedFile("its SHA-256 differs from the one recorded when it "
                                          "was written (corrupted)")
                return
            if data is None:
                data = self.read_bytes(rel)
        except FileNotFoundError:
            raise DamagedFile("the file is missing") from None
        if size is not None and len(data) != size:
            raise DamagedFile(_size_reason(len(data), size))
        if sha256 is not None and sha256_hex(data) != sha256:
            raise DamagedFile("its SHA-256 differs from the one recorded when it was written "
                              "(corrupted)")

    def load_numpy(self, rel: str, version: Hashable, *, size: int | None = None,
                   sha256: str | None = None) -> dict[str, np.ndarray]:
        """All arrays of one file, read-only. Cached (LRU) under (path, ``version``): the
        caller passes what changes on a re-put (size and write time of the SQL row); local
        files add their mtime so an out-of-band rewrite is noticed too. A cache miss checks
        ``size`` and ``sha256`` when given (:class:`DamagedFile`)."""
        target = self.full(rel)
        key: tuple[Any, ...] = (target, version)
        if self.local:
            try:
                key += (os.stat(target).st_mtime_ns,)
            except FileNotFoundError:
                raise DamagedFile("the file is missing") from None
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return dict(hit)
        heap = 0
        if self.local:
            self.verify(rel, size, sha256)
            if sha256 is None:  # not hashed: the mapping pages it in (count it whole)
                READS.add(size or 0)
            try:
                arrays = mmap_safetensors(target)
            except (ValueError, KeyError, TypeError, struct.error) as exc:
                raise DamagedFile(f"not a readable safetensors file ({exc})") from None
        else:
            arrays = None
        if arrays is None:
            from safetensors import SafetensorError
            from safetensors.numpy import load
            try:
                data = self.read_bytes(rel)
            except FileNotFoundError:
                raise DamagedFile("the file is missing") from None
            self.verify(rel, size, sha256, data)
            try:
                arrays = load(data)
            except (SafetensorError, ValueError) as exc:
                raise DamagedFile(f"not a readable safetensors file ({exc})") from None
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


def _mtime(entry: dict, default: float) -> float:
    m = entry.get("mtime") or entry.get("LastModified") or entry.get("created")
    if m is None:
        return default
    return m.timestamp() if hasattr(m, "timestamp") else float(m)


def _silently(fn, *args) -> None:
    try:
        fn(*args)
    except (FileNotFoundError, OSError):
        pass
