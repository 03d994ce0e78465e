"""The HTTP transport: the same answers as :mod:`mixscope.client.local`, read from a running
API (``mixscope up``, ``docker compose up``). Errors come back as the backend's own error
classes (``RunNotFound``, ``QueryError`` naming the field, ...), so a notebook handles them the
same way whichever transport it uses."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from backend.errors import (
    Conflict,
    InvalidInput,
    MixscopeError,
    NotFound,
    QueryError,
    Unavailable,
)

#: how long a frames read waits for a worker extracting an uncovered triple
EXTRACT_WAIT_S = 600.0


class HTTPError(MixscopeError):
    """An answer the client has no better class for (401, 403, 5xx)."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code


def _error(resp) -> MixscopeError:
    try:
        body = resp.json()
    except ValueError:
        body = {"detail": resp.text[:500]}
    detail = body.get("detail") if isinstance(body, dict) else body
    code = resp.status_code
    if code == 422 and isinstance(detail, list) and detail:
        first = detail[0]
        loc = [str(x) for x in first.get("loc", [])]
        field = ".".join(loc[1:]) or None
        text = body.get("message") or first.get("msg", "")
        if field and text.startswith(f"{field}: "):  # the local transport's wording
            text = text[len(field) + 2:]
        where = loc[0] if loc else "query"
        return QueryError(field, text, where) if field else InvalidInput(text, where=where)
    text = detail if isinstance(detail, str) else str(detail)
    if code == 404:
        if text.startswith("run ") and text.endswith(" not found"):
            from backend.store.errors import RunNotFound

            return RunNotFound(text[4:-10].strip("'\""))
        return NotFound(text)
    if code == 409:
        return Conflict(text)
    if code == 503:
        return Unavailable(text)
    return HTTPError(code, f"HTTP {code}: {text}")


class HTTPTransport:
    """Reads a running API at ``api`` (``http://host:8000``) with an optional bearer
    ``token`` (the read or the API token)."""

    kind = "http"

    def __init__(self, api: str, token: str | None = None, timeout: float = 60.0):
        import httpx

        self.base = api.rstrip("/").removesuffix("/api")
        self.where = self.base
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.base, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, params: dict[str, Any] | None = None, *, ok=(200,)):
        params = {k: v for k, v in (params or {}).items() if v is not None}
        params = {k: ("true" if v is True else "false" if v is False else v)
                  for k, v in params.items()}
        resp = self.http.get(f"/api{path}", params=params)
        if resp.status_code not in ok:
            raise _error(resp)
        return resp

    @staticmethod
    def _id(text: str) -> str:
        return quote(str(text), safe="")

    # runs ----------------------------------------------------------------------------
    def runs_page(self, filters: dict[str, Any], limit: int, offset: int
                  ) -> tuple[list[dict[str, Any]], int | None]:
        params = dict(filters)
        params["q"] = params.pop("text", None)
        resp = self._get("/runs", {**params, "limit": limit, "offset": offset})
        total = resp.headers.get("X-Total-Count")
        return resp.json(), int(total) if total is not None else None

    def run(self, run_id: str) -> dict[str, Any]:
        return self._get(f"/runs/{self._id(run_id)}").json()

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        return self._get(f"/runs/{self._id(run_id)}/metrics").json()["epochs"]

    def frames(self, run_id: str, *, classes: str | None, layer: str | None,
               epochs: list[int] | None, kinds: str, lam_min: float, lam_max: float,
               max_points: int | None, seed: int, centre: bool) -> dict[str, Any]:
        params = {"classes": classes, "layer": layer, "kinds": kinds, "lam_min": lam_min,
                  "lam_max": lam_max, "max_points": max_points, "seed": seed,
                  "centre": centre}
        if epochs is not None:
            if not epochs:
                run = self.run(run_id)
                return {"run_id": run["id"], "layer": layer or "penultimate",
                        "classes": [], "epochs": [], "frames": [],
                        "all_epochs": run["recorded_epochs"]}
            params["epoch_from"], params["epoch_to"] = min(epochs), max(epochs)
        body = None
        frames: list[dict[str, Any]] = []
        got: list[int] = []
        deadline = time.monotonic() + EXTRACT_WAIT_S
        while True:
            resp = self._get(f"/runs/{self._id(run_id)}/frames", params, ok=(200, 202))
            data = resp.json()
            if resp.status_code == 202 or data.get("pending") and not data.get("epochs"):
                self._wait_job(data["job_id"], deadline)
                continue
            body = body or data
            frames += data["frames"]
            got += data["epochs"]
            nxt = data.get("next_epoch_from")
            if nxt is None:
                break
            if data.get("job_id") and data.get("pending"):
                self._wait_job(data["job_id"], deadline)
            params["epoch_from"] = nxt
        if epochs is not None:
            keep = [i for i, e in enumerate(got) if e in set(epochs)]
            frames, got = [frames[i] for i in keep], [got[i] for i in keep]
        return {"run_id": body["run_id"], "layer": body["layer"], "classes": body["classes"],
                "epochs": got, "frames": frames, "all_epochs": body["all_epochs"]}

    def _wait_job(self, job_id: str, deadline: float) -> None:
        """Wait for a worker's extraction job (polled every half second)."""
        while time.monotonic() < deadline:
            job = self._get(f"/jobs/{self._id(job_id)}").json()
            if job["status"] == "done":
                return
            if job["status"] == "failed":
                raise Conflict(f"extraction job {job_id} failed: {job.get('error')}")
            time.sleep(0.5)  # polling a remote job: there is no event to wait on
        raise Unavailable(f"extraction job {job_id} did not finish within "
                          f"{EXTRACT_WAIT_S:.0f} s (is a worker running?)")

    def calibration(self, run_id: str, epoch: int | None) -> dict[str, Any]:
        return self._get(f"/runs/{self._id(run_id)}/calibration", {"epoch": epoch}).json()

    def trajectory(self, run_id: str, epoch: int | None, classes: str | None,
                   centre: bool) -> dict[str, Any]:
        return self._get(f"/runs/{self._id(run_id)}/trajectory",
                         {"epoch": epoch, "classes": classes, "centre": centre}).json()

    def activations(self, run_id: str, epoch: int | None, layer: str | None
                    ) -> dict[str, Any]:
        return self._get(f"/runs/{self._id(run_id)}/activations",
                         {"epoch": epoch, "layer": layer}).json()

    def checkpoint(self, run_id: str, epoch: int | None) -> dict[str, Any]:
        return self._get(f"/runs/{self._id(run_id)}/checkpoint", {"epoch": epoch}).json()

    # sweeps and papers -------------------------------------------------------------------
    def sweeps(self) -> list[dict[str, Any]]:
        return self._get("/sweeps").json()

    def sweep(self, sweep_id: str) -> dict[str, Any]:
        try:
            return self._get(f"/sweeps/{self._id(sweep_id)}").json()
        except NotFound:
            known = [s["id"] for s in self.sweeps()]
            raise NotFound(f"sweep {sweep_id!r} not found; sweeps here: {known or 'none'}",
                           field="sweep_id", where="path") from None

    def papers(self, paper: str | None, status: str | None = None,
               verdict: str | None = None) -> list[dict[str, Any]]:
        return self._get("/papers", {"paper": paper, "status": status,
                                     "verdict": verdict}).json()

    def paper(self, entry_id: str, scale: str) -> dict[str, Any]:
        if scale not in ("cpu", "paper"):
            raise QueryError("scale", f"scale {scale!r}: use 'cpu' or 'paper'")
        parts = entry_id.split("/", 1)
        if len(parts) != 2:
            raise NotFound(f"no catalogue entry {entry_id!r}; ids look like '000/fig1'",
                           field="entry_id")
        try:
            return self._get(f"/papers/{self._id(parts[0])}/{self._id(parts[1])}",
                             {"scale": scale}).json()
        except NotFound:
            known = [p["id"] for p in self.papers(None)]
            raise NotFound(f"no catalogue entry {entry_id!r}; entries: {', '.join(known)}",
                           field="entry_id") from None

    def theory(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._get("/theory/ufm", params).json()
