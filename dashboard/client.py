"""A small client of the mixscope HTTP API (``/api/...``), used by the dashboard.

The dashboard imports nothing from ``backend`` or ``trainer``: everything it shows comes
through this client, so it can run on another machine than the API. Arrays travel as
"b64 arrays" ``{"dtype": "float32", "shape": [n, k], "data": "<base64 little-endian>"}``;
:func:`decode_array` turns one into a numpy array.
"""

from __future__ import annotations

import base64
import copy
import os
import re
from typing import Any

import numpy as np
import requests

_PATH_PREFIX = re.compile(r"^[\w.\[\]'\-]+: ")


class ApiError(RuntimeError):
    """The API answered with an error status. ``detail`` is its JSON ``detail`` (str or list)."""

    def __init__(self, status: int, detail: Any, url: str = ""):
        self.status = status
        self.detail = detail
        self.url = url
        super().__init__(f"HTTP {status} from {url}: {format_detail(detail)}")


class Pending(RuntimeError):
    """The API answered 202: the data is being computed (``job_id``); ask again later."""

    def __init__(self, job_id: str | None):
        self.job_id = job_id
        super().__init__(f"pending (job {job_id})")


def format_detail(detail: Any) -> str:
    """A readable one-line message from a FastAPI ``detail`` (string or list of errors)."""
    if isinstance(detail, list):
        parts = []
        for err in detail:
            if isinstance(err, dict):
                loc = ".".join(str(p) for p in err.get("loc", []) if p not in ("body", "query"))
                msg = str(err.get("msg", ""))
                # the API's messages already start with their field ("epoch: ...")
                named = not loc or msg.startswith((f"{loc}:", f"{loc.rsplit('.', 1)[-1]}:"))
                parts.append(msg if named else f"{loc}: {msg}")
            else:
                parts.append(str(err))
        return "; ".join(parts)
    return str(detail)


def field_errors(detail: Any) -> dict[str, str]:
    """Map a 422 ``detail`` list onto dotted field names: ``{"lr": "...", "probe.x": ...}``.

    Errors without a field (whole-model checks) land under the key ``""``.
    """
    out: dict[str, str] = {}
    if not isinstance(detail, list):
        return {"": format_detail(detail)} if detail else {}
    for err in detail:
        if not isinstance(err, dict):
            out[""] = (out.get("", "") + " " + str(err)).strip()
            continue
        loc = [str(p) for p in err.get("loc", []) if p not in ("body", "query")]
        # pydantic puts union/literal branches in the path (e.g. "list[int]"): keep field names
        loc = [p for p in loc if not p.isdigit() and "[" not in p and p != "function-after"]
        key = ".".join(loc)
        msg = str(err.get("msg", "invalid"))
        # the API may repeat the field's path in the message ("record.epochs.list[int]: ...")
        msg = _PATH_PREFIX.sub("", msg, count=1) if key else msg
        out[key] = f"{out[key]}; {msg}" if key in out else msg
    return out


def decode_array(obj: Any) -> np.ndarray:
    """A b64 array ``{"dtype", "shape", "data"}`` as a numpy array (plain lists pass through)."""
    if isinstance(obj, dict) and "data" in obj and "dtype" in obj:
        raw = base64.b64decode(obj["data"])
        arr = np.frombuffer(raw, dtype=np.dtype(obj["dtype"]).newbyteorder("<"))
        return arr.reshape(obj.get("shape", [-1])).astype(np.dtype(obj["dtype"]).newbyteorder("="))
    return np.asarray(obj)


class ApiClient:
    """Blocking JSON client for one API base URL (``http://host:port``, without ``/api``).

    ``token`` (default: env ``MIXSCOPE_API_TOKEN``) is sent as a Bearer token, which mutating
    routes need when the API listens beyond loopback.
    """

    #: Sent by a read-only view: the API then refuses it every write (even a lab request that
    #: would queue a job), also where the API trusts the dashboard's loopback address.
    ANONYMOUS_HEADER = "X-Mixscope-Anonymous"

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0,
                 read_only: str | None = None):
        self.base_url = base_url.rstrip("/").removesuffix("/api")
        self.token = token if token is not None else os.environ.get("MIXSCOPE_API_TOKEN")
        self.timeout = timeout
        self.read_only = read_only  # why writes are refused (None: they are not)
        self._session = requests.Session()

    def __repr__(self) -> str:  # never the token
        return f"ApiClient({self.base_url!r}, token={'set' if self.token else None})"

    def view(self, *, token: str | None, read_only: str | None) -> ApiClient:
        """The same connection pool with another token; ``read_only`` (a reason) refuses
        every non-GET request before it is sent (the dashboard's anonymous users)."""
        other = copy.copy(self)
        other.token, other.read_only = token, read_only
        return other

    # -- plumbing -----------------------------------------------------------------------
    def _request(self, method: str, path: str, *, params: dict | None = None,
                 json: Any = None, allow_pending: bool = False,
                 response_hook: Any = None) -> Any:
        url = f"{self.base_url}/api{path}"
        if self.read_only is not None and method != "GET":
            raise ApiError(401, self.read_only, url)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if self.read_only is not None:
            headers[self.ANONYMOUS_HEADER] = "1"
        params = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._session.request(method, url, params=params, json=json,
                                         headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ApiError(0, f"API not reachable at {self.base_url} ({exc.__class__.__name__})",
                           url) from exc
        if resp.status_code == 202 and not allow_pending:
            body = _json(resp)
            raise Pending(body.get("job_id") if isinstance(body, dict) else None)
        if resp.status_code >= 400:
            body = _json(resp)
            detail = body.get("detail", body) if isinstance(body, dict) else body
            raise ApiError(resp.status_code, detail or resp.reason, url)
        if response_hook is not None:
            response_hook(resp)
        if resp.status_code == 204 or not resp.content:
            return None
        return _json(resp)

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params)

    # -- health -------------------------------------------------------------------------
    def health(self) -> dict:
        return self.get("/health")

    def auth(self) -> dict:
        """What this client's token allows: ``{"token_configured", "read_token_configured",
        "read", "write"}``."""
        return self.get("/auth")

    # -- runs ---------------------------------------------------------------------------
    def list_runs(self, status: str | None = None) -> list[dict]:
        return self.get("/runs", status=status)

    def page_runs(self, *, limit: int = 50, offset: int = 0, status: str | None = None,
                  dataset: str | None = None, model: str | None = None,
                  method: str | None = None, q: str | None = None,
                  sweep_id: str | None = None) -> tuple[list[dict], int]:
        """One page of runs, newest first, filtered by the server; and how many match."""
        seen: dict = {}
        items = self._request("GET", "/runs", params={
            "limit": limit, "offset": offset, "status": status, "dataset": dataset, "model": model,
            "method": method, "q": q, "sweep_id": sweep_id},
            response_hook=lambda r: seen.update(total=r.headers.get("X-Total-Count")))
        total = seen.get("total")
        return items, int(total) if total is not None else len(items)

    def get_run(self, run_id: str) -> dict:
        return self.get(f"/runs/{run_id}")

    def create_run(self, config: dict, params: dict | None = None) -> dict:
        """``POST /runs``; ``params``: the launch's query parameters (``executor`` and the
        Slurm resources)."""
        return self._request("POST", "/runs", json=config, params=params)

    def launch_grid(self, body: dict, params: dict | None = None) -> dict:
        """``POST /grid/launch``: a sweep grid (or, with ``dry_run``, its cost estimate);
        ``params``: the launch's executor and Slurm resources, as for :meth:`create_run`."""
        return self._request("POST", "/grid/launch", json=body, params=params)

    def cancel_run(self, run_id: str) -> dict:
        return self._request("POST", f"/runs/{run_id}/cancel")

    def delete_run(self, run_id: str) -> None:
        self._request("DELETE", f"/runs/{run_id}")

    def resume_run(self, run_id: str) -> dict:
        """Queue again a run failed by an environment fault (409 when not resumable)."""
        return self._request("POST", f"/runs/{run_id}/resume")

    def run_health(self, run_id: str) -> dict:
        """``{"ok", "checked", "damaged": [{"kind", "epoch", "layer", "reason", ...}]}``."""
        return self._request("GET", f"/runs/{run_id}/health")

    def footprint(self, run_id: str) -> dict:
        """Bytes the run stores: ``{"bytes_total", "bytes_per_recorded_epoch",
        "recorded_epochs", "by_kind"}`` (``GET /api/runs/{id}/footprint``)."""
        return self.get(f"/runs/{run_id}/footprint")

    def classes(self, run_id: str) -> list[str]:
        return self.get(f"/runs/{run_id}/classes")["classes"]

    def layers(self, run_id: str) -> list[str]:
        return self.get(f"/runs/{run_id}/layers")["layers"]

    def epochs(self, run_id: str) -> list[int]:
        return self.get(f"/runs/{run_id}/epochs")["epochs"]

    # -- metrics ------------------------------------------------------------------------
    def metrics(self, run_id: str) -> list[dict]:
        """Per-epoch records of one run, sorted by epoch."""
        return self.get(f"/runs/{run_id}/metrics")["epochs"]

    def metrics_many(self, run_ids: list[str], keys: list[str]) -> dict[str, dict[str, list]]:
        """``{run_id: {"epoch": [...], key: [...]}}`` for several runs."""
        return self.get("/metrics", runs=run_ids, keys=keys)["runs"]

    def calibration(self, run_id: str, epoch: int | None = None) -> dict:
        return self.get(f"/runs/{run_id}/calibration", epoch=epoch)

    # -- geometry -----------------------------------------------------------------------
    def projection(self, run_id: str, *, epoch: int, layer: str, classes: list[int],
                   **filters: Any) -> dict:
        """One projected frame (raw JSON, arrays still b64). Raises :class:`Pending` on 202."""
        return self.get(f"/runs/{run_id}/projection", epoch=epoch, layer=layer,
                        classes=classes, **filters)

    def frames(self, run_id: str, *, layer: str, classes: list[int], **filters: Any) -> dict:
        """Every recorded epoch of a triple at once (raw JSON, b64 arrays kept for the browser)."""
        return self.get(f"/runs/{run_id}/frames", layer=layer, classes=classes, **filters)

    def trajectory(self, run_id: str, epoch: int | None = None) -> dict:
        return self.get(f"/runs/{run_id}/trajectory", epoch=epoch)

    def spectra(self, run_id: str, layer: str) -> dict:
        return self.get(f"/runs/{run_id}/spectra", layer=layer)

    def job(self, job_id: str) -> dict:
        return self.get(f"/jobs/{job_id}")

    # -- papers -------------------------------------------------------------------------
    def launch_paper(self, entry_id: str, scale: str = "cpu") -> dict:
        """``POST /api/papers/{id}/runs``: the entry's missing runs and lab jobs (202)."""
        return self._request("POST", f"/papers/{entry_id}/runs", json={"scale": scale},
                             allow_pending=True)

    # -- theory -------------------------------------------------------------------------
    def theory_ufm(self, **params: Any) -> dict:
        """``GET /api/theory/ufm`` (m, num_classes, lambda_h, n_lambda, alpha, seed, amplify)."""
        return self.get("/theory/ufm", **params)


def _param(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return v


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return {"detail": resp.text[:500]}
