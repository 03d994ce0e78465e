"""A recorder writing to a running mixscope API (``Recorder(api=URL, token=...)``).

Epochs are packed as safetensors (``backend.recorded.pack_epoch``), cut into chunks and sent
by a background thread, so the user's next training epoch runs while the last one uploads;
at most ``max_pending`` packed epochs wait in memory (``log`` blocks beyond). Every request
is retried with exponential back-off on connection errors, timeouts and 5xx/408/429 answers
for up to ``retry_for`` seconds: stopping the API mid-run and starting it again loses no
epoch. An interrupted epoch resumes from the chunks the API already staged (``GET`` of the
epoch), and a commit whose answer was lost is answered ``duplicate`` when re-sent, so no epoch
is ever recorded twice. A 4xx answer is the caller's error: it is raised (as ``ValueError``
naming the argument, ``PermissionError`` for the token) by the next ``log``/``finish``.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from typing import Any

import httpx
import numpy as np

from backend import recorded
from backend.runconfig import RunConfig

log = logging.getLogger("mixscope.recorder")

RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class RemoteError(ValueError):
    """The API refused a request for a reason retrying cannot fix."""


def _message(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail")
    except ValueError:
        return r.text[:500]
    if isinstance(detail, list):
        return "; ".join(str(d.get("msg", d)) for d in detail)
    return str(detail)


class RemoteSink:
    """Send a recorded run to ``api`` (``http://host:port``) with ``token``."""

    def __init__(self, api: str, token: str | None = None, *, retry_for: float = 3600.0,
                 chunk_bytes: int = 8 << 20, max_pending: int = 4, timeout: float = 60.0):
        if not str(api).startswith(("http://", "https://")):
            raise ValueError(f"api: {api!r} is not an http(s) URL")
        if chunk_bytes < 1024:
            raise ValueError(f"chunk_bytes: {chunk_bytes} is below 1024")
        self.api = str(api).rstrip("/")
        self.retry_for, self.chunk_bytes = float(retry_for), int(chunk_bytes)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=self.api, headers=headers, timeout=timeout)
        self.store = None
        self.run_id: str | None = None
        self.key = uuid.uuid4().hex
        self.retries = 0  # requests sent again after a failure (for tests and benchmarks)
        self._queue: queue.Queue = queue.Queue(maxsize=max(int(max_pending), 1))
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # -- requests ---------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One request, retried with back-off until ``retry_for`` seconds have passed."""
        deadline = time.monotonic() + self.retry_for
        delay, server_errors = 0.2, 0
        while True:
            why = None
            try:
                r = self.client.request(method, path, **kw)
            except httpx.TransportError as exc:  # refused, reset, timed out: the network
                why = f"{type(exc).__name__}: {exc}"
            else:
                if r.status_code not in RETRY_STATUS:
                    if r.status_code in (401, 403):
                        raise PermissionError(f"token: the API refused it ({_message(r)})")
                    if r.status_code >= 400:
                        raise RemoteError(_message(r))
                    return r
                why = f"HTTP {r.status_code}: {_message(r)}"
                server_errors += r.status_code == 500
                if server_errors > 3:  # a bug, not an outage: waiting will not mend it
                    raise RemoteError(f"api: {method} {path}: {why}")
            if time.monotonic() + delay > deadline:
                raise ConnectionError(f"api: {method} {path} failed for {self.retry_for:g} s "
                                      f"({why})")
            log.warning("mixscope API: %s %s failed (%s); retrying in %.1f s", method, path,
                        why, delay)
            self.retries += 1
            time.sleep(delay * (0.75 + 0.5 * random.random()))
            delay = min(delay * 2, 10.0)

    # -- the sink ---------------------------------------------------------------------------
    def start(self, config: RunConfig, class_names: list[str]) -> str:
        r = self._call("POST", "/api/ingest/runs", json={
            "key": self.key, "config": config.model_dump(mode="json"),
            "class_names": list(class_names)})
        self.run_id = r.json()["id"]
        return self.run_id

    def put_probe(self, probe: dict[str, np.ndarray], mixing: str | None = None) -> None:
        from safetensors.numpy import save

        data = save({k: np.ascontiguousarray(v) for k, v in probe.items()})
        self._call("PUT", f"/api/ingest/runs/{self.run_id}/probe", content=data,
                   headers={"Content-Type": "application/octet-stream"},
                   **({"params": {"mixing": mixing}} if mixing else {}))

    def put_epoch(self, parts: recorded.EpochParts) -> None:
        self._raise_pending()
        if self._thread is None:
            self._thread = threading.Thread(target=self._uploader, daemon=True,
                                            name=f"mixscope-upload-{self.run_id}")
            self._thread.start()
        self._queue.put((int(parts.epoch), recorded.pack_epoch(parts)))

    def upload_epoch(self, epoch: int, data: bytes) -> bool:
        """Send one packed epoch; resumes from the chunks already staged. Returns False when
        the API had already recorded these bytes (a commit answer lost in a cut)."""
        base = f"/api/ingest/runs/{self.run_id}/epochs/{epoch}"
        digest = recorded.sha256_hex(data)
        n = max(1, -(-len(data) // self.chunk_bytes))
        for _attempt in range(3):  # chunks lost between staging and commit: send them again
            state = self._call("GET", base).json()
            if state["recorded"]:
                if state.get("sha256") not in (None, digest):
                    raise RemoteError(f"epoch: {epoch} was already logged for this run")
                return False
            have = set(state.get("chunks", []))
            for i in range(n):
                if i not in have:
                    self._call("PUT", f"{base}/chunks/{i}",
                               content=data[i * self.chunk_bytes:(i + 1) * self.chunk_bytes],
                               headers={"Content-Type": "application/octet-stream"})
            try:
                r = self._call("POST", f"{base}/commit", json={"chunks": n, "sha256": digest})
            except RemoteError as exc:
                if str(exc).startswith("chunks:") or str(exc).startswith("sha256:"):
                    continue
                raise
            return not r.json().get("duplicate", False)
        raise ConnectionError(f"api: epoch {epoch}: its chunks kept going missing")

    def _uploader(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    self.upload_epoch(*item)
            except BaseException as exc:  # noqa: BLE001 (raised in the caller's thread)
                self._error = exc
            finally:
                self._queue.task_done()

    def _raise_pending(self) -> None:
        if self._error is not None:
            exc, self._error = self._error, None
            raise exc

    def flush(self) -> None:
        """Wait until every logged epoch is recorded by the API (or raise why not)."""
        if self._thread is not None:
            self._queue.join()
        self._raise_pending()

    def finish(self, status: str, error: str | None) -> None:
        try:
            self.flush()
        except BaseException as exc:
            if status == "succeeded":
                status, error = "failed", f"upload: {type(exc).__name__}: {exc}"
            self._call("POST", f"/api/ingest/runs/{self.run_id}/finish",
                       json={"status": status, "error": error})
            raise
        self._call("POST", f"/api/ingest/runs/{self.run_id}/finish",
                   json={"status": status, "error": error})

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)
        self.client.close()
