"""The artifact index: safetensors files under the artifact root and the SQL rows that point
to them (part of :class:`backend.store.Store`). A file is always complete before the row that
points to it is committed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from backend.store.artifacts import artifact_relpath
from backend.store.base import StoreBase
from backend.store.common import ANY, check_meta
from backend.store.errors import ArtifactNotFound
from backend.store.info import ArtifactInfo
from backend.store.models import NO_EPOCH, NO_LAYER, Artifact, utcnow

if TYPE_CHECKING:
    import torch


class ArtifactIndex(StoreBase):
    """Put, get, list and delete a run's arrays and tensors."""

    # artifacts --------------------------------------------------------------------
    @staticmethod
    def _key(kind: str, epoch: int | None, layer: str | None) -> tuple[str, int, str]:
        if not kind or not isinstance(kind, str):
            raise ValueError(f"kind: expected a non-empty string, got {kind!r}")
        if epoch is not None and (not isinstance(epoch, (int, np.integer)) or epoch < 0):
            raise ValueError(f"epoch: expected None or an integer >= 0, got {epoch!r}")
        if layer is not None and (not isinstance(layer, str) or not layer):
            raise ValueError(f"layer: expected None or a non-empty string, got {layer!r}")
        return kind, NO_EPOCH if epoch is None else int(epoch), NO_LAYER if layer is None \
            else layer

    def _artifact_info(self, a: Any) -> ArtifactInfo:
        return ArtifactInfo(run_id=a.run_id, kind=a.kind,
                            epoch=None if a.epoch == NO_EPOCH else a.epoch,
                            layer=None if a.layer == NO_LAYER else a.layer,
                            path=a.path, url=self.files.url(a.path), size=a.size,
                            meta=a.meta, created_at=a.created_at)

    def _find_artifact(self, run_id: str, kind: str, epoch: int | None,
                       layer: str | None) -> Any:
        """The artifact row (a Core row with the ORM's column names) or None. Core, not
        ORM: every projection request does a few of these."""
        k, e, lay = self._key(kind, epoch, layer)
        t = Artifact.__table__
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t).where(
                t.c.run_id == run_id, t.c.kind == k, t.c.epoch == e, t.c.layer == lay)).first()

    def _put_file(self, run_id: str, kind: str, epoch: int | None, layer: str | None,
                  data: bytes, meta: dict[str, str]) -> ArtifactInfo:
        """Write the file atomically, then commit its row; undo the file if the row fails."""
        k, e, lay = self._key(kind, epoch, layer)
        self.require_run(run_id)
        rel = artifact_relpath(run_id, kind, epoch, layer)
        self.files.write_atomic(rel, data)
        self.files.forget(rel)
        now = utcnow()
        try:
            with self._core_tx() as conn:
                self._upsert(conn, Artifact, {"run_id": run_id, "kind": k, "epoch": e,
                                           "layer": lay},
                             {"path": rel, "size": len(data), "meta": meta,
                              "created_at": now})
        except BaseException:
            # Not indexed, so not visible: remove it unless an older row still points here.
            if self._find_artifact(run_id, kind, epoch, layer) is None:
                self.files.remove(rel)
            raise
        info = self._find_artifact(run_id, kind, epoch, layer)
        assert info is not None
        return self._artifact_info(info)

    def put_arrays(self, run_id: str, kind: str, arrays: Mapping[str, np.ndarray], *,
                   epoch: int | None = None, layer: str | None = None,
                   meta: Mapping[str, str] | None = None) -> ArtifactInfo:
        """Store named numpy arrays as one safetensors file; re-putting the same
        (run, kind, epoch, layer) replaces it."""
        from safetensors.numpy import save

        if not arrays:
            raise ValueError("arrays: at least one array is needed")
        clean = {}
        for name, a in arrays.items():
            if not isinstance(a, np.ndarray):
                raise TypeError(f"arrays[{name!r}]: expected a numpy array, got "
                                f"{type(a).__name__}")
            if a.dtype == object or a.dtype.kind in "USV":
                raise TypeError(f"arrays[{name!r}]: dtype {a.dtype} cannot be stored")
            clean[str(name)] = np.ascontiguousarray(a)
        m = check_meta(meta)
        return self._put_file(run_id, kind, epoch, layer, save(clean, metadata=m or None), m)

    def get_arrays(self, run_id: str, kind: str, *, epoch: int | None = None,
                   layer: str | None = None) -> dict[str, np.ndarray]:
        """The arrays of one artifact. Read-only (memory-mapped and cached): copy before
        modifying. Raises :class:`ArtifactNotFound` (a KeyError) when absent."""
        row = self._find_artifact(run_id, kind, epoch, layer)
        if row is None:
            raise ArtifactNotFound(run_id, kind, epoch, layer)
        return self.files.load_numpy(row.path, (row.size, row.created_at.isoformat()))

    def has_arrays(self, run_id: str, kind: str, *, epoch: int | None = None,
                   layer: str | None = None) -> bool:
        return self._find_artifact(run_id, kind, epoch, layer) is not None

    def put_tensors(self, run_id: str, kind: str, tensors: Mapping[str, torch.Tensor], *,
                    epoch: int | None = None,
                    meta: Mapping[str, str] | None = None) -> ArtifactInfo:
        """Store torch tensors (checkpoints) as safetensors; tensors are moved to CPU and
        de-aliased (safetensors refuses tensors that share memory)."""
        import torch
        from safetensors.torch import save

        if not tensors:
            raise ValueError("tensors: at least one tensor is needed")
        clean: dict[str, torch.Tensor] = {}
        seen: set[int] = set()
        for name, t in tensors.items():
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"tensors[{name!r}]: expected a torch.Tensor, got "
                                f"{type(t).__name__}")
            t = t.detach().to("cpu").contiguous()
            ptr = t.untyped_storage().data_ptr()
            if ptr in seen and t.numel() > 0:
                t = t.clone()
            seen.add(ptr)
            clean[str(name)] = t
        m = check_meta(meta)
        return self._put_file(run_id, kind, epoch, None, save(clean, metadata=m or None), m)

    def get_tensors(self, run_id: str, kind: str, *,
                    epoch: int | None = None) -> dict[str, torch.Tensor]:
        """The tensors of one artifact (on CPU, owned by the caller)."""
        from safetensors.torch import load, load_file

        row = self._find_artifact(run_id, kind, epoch, None)
        if row is None:
            raise ArtifactNotFound(run_id, kind, epoch, None)
        if self.files.local:
            return load_file(self.files.full(row.path))
        return load(self.files.read_bytes(row.path))

    def list_artifacts(self, run_id: str, kind: str | None = None) -> list[ArtifactInfo]:
        """Artifacts of a run, sorted by kind, epoch (none first), layer."""
        q = sa.select(Artifact).where(Artifact.run_id == run_id)
        if kind is not None:
            q = q.where(Artifact.kind == kind)
        with self._read() as s:
            rows = s.scalars(q.order_by(Artifact.kind, Artifact.epoch, Artifact.layer)).all()
        return [self._artifact_info(a) for a in rows]

    def delete_artifacts(self, run_id: str, kind: str, *, epoch: Any = ANY,
                         layer: Any = ANY) -> int:
        """Delete artifacts of one kind. Omitted ``epoch``/``layer`` match any value;
        ``None`` matches only artifacts without one. Rows go first (nothing visible points
        to a missing file), then the files. Returns how many were deleted."""
        q = sa.select(Artifact).where(Artifact.run_id == run_id, Artifact.kind == kind)
        if epoch is not ANY:
            q = q.where(Artifact.epoch == (NO_EPOCH if epoch is None else int(epoch)))
        if layer is not ANY:
            q = q.where(Artifact.layer == (NO_LAYER if layer is None else layer))
        with self._tx() as s:
            rows = s.scalars(q).all()
            paths = [a.path for a in rows]
            if rows:
                s.execute(sa.delete(Artifact).where(Artifact.id.in_([a.id for a in rows])))
        for p in paths:
            self.files.remove(p)
        return len(paths)
