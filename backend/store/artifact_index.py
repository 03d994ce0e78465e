"""The artifact index: safetensors files under the artifact root and the SQL rows that point
to them (part of :class:`backend.store.Store`). A file is always complete before the row that
points to it is committed."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from backend.store.artifacts import DamagedFile, artifact_relpath, sha256_hex
from backend.store.base import StoreBase
from backend.store.common import ANY, check_meta
from backend.store.errors import ArtifactDamaged, ArtifactNotFound, ArtifactUnavailable
from backend.store.info import ArtifactInfo, Claim
from backend.store.models import NO_EPOCH, NO_LAYER, Artifact, utcnow
from backend.store.ranged import BLOCKS_META, block_digests, parse_blocks

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
                            sha256=a.sha256, created_at=a.created_at,
                            meta={k: v for k, v in (a.meta or {}).items() if k != BLOCKS_META})

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
                  data: bytes, meta: dict[str, str], claim: Claim | None = None,
                  blocks: bool = False) -> ArtifactInfo:
        """Stage the bytes, then in one write transaction: check that the run exists (and
        that ``claim`` is still the run's), move the file into place and upsert its row.
        Deleting the run or requeueing it takes the same lock, so once either has committed no
        file of a fenced or deleted writer lands in the run's folder."""
        k, e, lay = self._key(kind, epoch, layer)
        rel = artifact_relpath(run_id, kind, epoch, layer)
        staged = self.files.stage(rel, data)
        now = utcnow()
        digests = block_digests(data) if blocks else None
        if digests:  # ranged reads check these (backend.store.ranged); not in the file itself
            meta = {**meta, BLOCKS_META: digests}
        try:
            with self._core_tx() as conn:
                self._fence(conn, run_id, claim)
                self.files.commit(staged)
                self._upsert(conn, Artifact, {"run_id": run_id, "kind": k, "epoch": e,
                                           "layer": lay},
                             {"path": rel, "size": len(data), "sha256": sha256_hex(data),
                              "meta": meta, "created_at": now})
        except BaseException:
            if staged.done:  # moved into place, but the row did not commit
                with contextlib.suppress(Exception):
                    if self._find_artifact(run_id, kind, epoch, layer) is None:
                        self.files.remove(rel)
            self.files.discard(staged)
            raise
        info = self._find_artifact(run_id, kind, epoch, layer)
        assert info is not None
        return self._artifact_info(info)

    def _damaged(self, row: Any, exc: BaseException) -> Exception:
        """The store error for a failed read of ``row``'s file."""
        epoch = None if row.epoch == NO_EPOCH else row.epoch
        layer = None if row.layer == NO_LAYER else row.layer
        if isinstance(exc, DamagedFile):
            return ArtifactDamaged(row.run_id, row.kind, epoch, layer, row.path, str(exc))
        return ArtifactUnavailable(row.run_id, row.kind, epoch, layer,
                                   f"{type(exc).__name__}: {exc}")

    def check_artifact(self, row: Any) -> str | None:
        """What is wrong with one artifact row's file (None: nothing). Reads it whole."""
        try:
            self.files.verify(row.path, row.size, row.sha256)
            if row.sha256 is None:  # rows written before checksums: at least parse it
                self.files.load_numpy(row.path, (row.size, row.created_at.isoformat()))
        except DamagedFile as exc:
            return str(exc)
        return None

    def damaged_artifacts(self, run_id: str) -> list[dict[str, Any]]:
        """Every artifact of the run whose file is missing, truncated or corrupted, as
        ``{"kind", "epoch", "layer", "path", "size", "reason"}``. Raises
        :class:`ArtifactUnavailable` when the artifact store cannot be reached."""
        out = []
        t = Artifact.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.run_id == run_id)
                                .order_by(t.c.kind, t.c.epoch, t.c.layer)).all()
        for row in rows:
            try:
                reason = self.check_artifact(row)
            except (OSError, *self.files.remote_errors) as exc:
                raise self._damaged(row, exc) from exc
            if reason is not None:
                out.append({"kind": row.kind,
                            "epoch": None if row.epoch == NO_EPOCH else row.epoch,
                            "layer": None if row.layer == NO_LAYER else row.layer,
                            "path": row.path, "size": row.size, "reason": reason})
        return out

    def move_artifact(self, run_id: str, kind: str, new_kind: str, *,
                      epoch: int | None = None, layer: str | None = None,
                      claim: Claim | None = None) -> bool:
        """Re-key one artifact as ``new_kind`` (replacing any artifact already there), moving
        its file to the new kind's path, in one transaction. False when there is none.
        (How the rolling checkpoint keeps its predecessor.)"""
        k, e, lay = self._key(kind, epoch, layer)
        nk, _, _ = self._key(new_kind, epoch, layer)
        t = Artifact.__table__
        new_rel = artifact_relpath(run_id, new_kind, epoch, layer)
        with self._core_tx() as conn:
            self._fence(conn, run_id, claim)
            row = conn.execute(sa.select(t).where(t.c.run_id == run_id, t.c.kind == k,
                                                  t.c.epoch == e, t.c.layer == lay)).first()
            if row is None:
                return False
            conn.execute(sa.delete(t).where(t.c.run_id == run_id, t.c.kind == nk,
                                            t.c.epoch == e, t.c.layer == lay))
            if not self._moved_already(row, new_rel):
                self.files.move(row.path, new_rel)
            conn.execute(sa.update(t).where(t.c.id == row.id)
                         .values(kind=nk, path=new_rel))
        return True

    def _moved_already(self, row: Any, new_rel: str) -> bool:
        """Whether an earlier :meth:`move_artifact` of ``row`` moved its file and was killed
        before its transaction committed: the row's file is gone and ``new_rel`` holds
        exactly its bytes (size and SHA-256 as recorded)."""
        if row.path == new_rel or row.sha256 is None or self.files.exists(row.path):
            return False
        try:
            self.files.verify(new_rel, row.size, row.sha256)
        except DamagedFile:
            return False
        return True

    def recover_move(self, run_id: str, kind: str, new_kind: str, *,
                     epoch: int | None = None, layer: str | None = None,
                     claim: Claim | None = None) -> bool:
        """Finish a :meth:`move_artifact` that a killed process left half done (the file
        moved, the rows not): re-key the row as the move would have. True when it did. A
        worker calls this before it reads the rolling checkpoint, so that a kill in the
        middle of the checkpoint's rotation loses neither checkpoint."""
        k, e, lay = self._key(kind, epoch, layer)
        t = Artifact.__table__
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.run_id == run_id, t.c.kind == k,
                                                  t.c.epoch == e, t.c.layer == lay)).first()
        new_rel = artifact_relpath(run_id, new_kind, epoch, layer)
        if row is None or not self._moved_already(row, new_rel):
            return False
        return self.move_artifact(run_id, kind, new_kind, epoch=epoch, layer=layer,
                                  claim=claim)

    def put_arrays(self, run_id: str, kind: str, arrays: Mapping[str, np.ndarray], *,
                   epoch: int | None = None, layer: str | None = None,
                   meta: Mapping[str, str] | None = None,
                   claim: Claim | None = None) -> ArtifactInfo:
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
        return self._put_file(run_id, kind, epoch, layer, save(clean, metadata=m or None), m,
                              claim, blocks=True)

    def get_arrays(self, run_id: str, kind: str, *, epoch: int | None = None,
                   layer: str | None = None) -> dict[str, np.ndarray]:
        """The arrays of one artifact. Read-only (memory-mapped and cached): copy before
        modifying. Raises :class:`ArtifactNotFound` (a KeyError) when absent."""
        row = self._find_artifact(run_id, kind, epoch, layer)
        if row is None:
            raise ArtifactNotFound(run_id, kind, epoch, layer)
        try:
            return self.files.load_numpy(row.path, (row.size, row.created_at.isoformat()),
                                         size=row.size, sha256=row.sha256)
        except (DamagedFile, OSError, *self.files.remote_errors) as exc:
            raise self._damaged(row, exc) from exc

    def artifact_rows(self, run_id: str, kind: str, *, layer: str | None = None
                      ) -> dict[int | None, Any]:
        """Epoch -> index row of every artifact of ``kind`` (and ``layer``) of a run, in one
        query: pass them to :meth:`get_rows` (``row=``) when reading many epochs."""
        k, _, lay = self._key(kind, None, layer)
        t = Artifact.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.run_id == run_id, t.c.kind == k,
                                                   t.c.layer == lay)).all()
        return {None if r.epoch == NO_EPOCH else r.epoch: r for r in rows}

    def get_rows(self, run_id: str, kind: str, parts: Mapping[str, Any], *,
                 epoch: int | None = None, layer: str | None = None,
                 row: Any = None) -> dict[str, np.ndarray]:
        """Row ranges of arrays of one artifact: ``parts`` maps an array name to a list of
        ``(start, stop)`` row ranges (``None``: the whole array); each answer is those rows
        concatenated. Names the file lacks are left out. Large files written with block
        digests are read in ranges (only the blocks that hold the rows, each checked against
        its digest); others are loaded whole (verified, cached) and sliced. Raises like
        :meth:`get_arrays`. ``row``: the index row from :meth:`artifact_rows` (saves a
        query)."""
        if row is None:
            row = self._find_artifact(run_id, kind, epoch, layer)
        if row is None:
            raise ArtifactNotFound(run_id, kind, epoch, layer)
        version = (row.size, row.created_at.isoformat())
        blocks = parse_blocks((row.meta or {}).get(BLOCKS_META))
        try:
            if blocks is None or row.size is None:
                arrays = self.files.load_numpy(row.path, version, size=row.size,
                                               sha256=row.sha256)
                return {n: _take(arrays[n], rr) for n, rr in parts.items() if n in arrays}
            return self.files.ranged.read(row.path, version, parts, size=row.size,
                                          blocks=blocks)
        except (DamagedFile, OSError, *self.files.remote_errors) as exc:
            raise self._damaged(row, exc) from exc

    def has_arrays(self, run_id: str, kind: str, *, epoch: int | None = None,
                   layer: str | None = None) -> bool:
        return self._find_artifact(run_id, kind, epoch, layer) is not None

    def put_tensors(self, run_id: str, kind: str, tensors: Mapping[str, torch.Tensor], *,
                    epoch: int | None = None,
                    meta: Mapping[str, str] | None = None,
                    claim: Claim | None = None) -> ArtifactInfo:
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
        return self._put_file(run_id, kind, epoch, None, save(clean, metadata=m or None), m,
                              claim)

    def get_tensors(self, run_id: str, kind: str, *,
                    epoch: int | None = None) -> dict[str, torch.Tensor]:
        """The tensors of one artifact (on CPU, owned by the caller)."""
        from safetensors import SafetensorError
        from safetensors.torch import load

        row = self._find_artifact(run_id, kind, epoch, None)
        if row is None:
            raise ArtifactNotFound(run_id, kind, epoch, None)
        try:
            data = self.files.read_bytes(row.path)
            self.files.verify(row.path, row.size, row.sha256, data)
            try:
                return load(data)
            except (SafetensorError, ValueError) as exc:
                raise DamagedFile(f"not a readable safetensors file ({exc})") from None
        except FileNotFoundError:
            raise self._damaged(row, DamagedFile("the file is missing")) from None
        except (DamagedFile, OSError, *self.files.remote_errors) as exc:
            raise self._damaged(row, exc) from exc

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


def _take(a: np.ndarray, ranges: Any) -> np.ndarray:
    if ranges is None:
        return a
    ranges = list(ranges)
    if len(ranges) == 1:
        return a[ranges[0][0]:ranges[0][1]]
    return np.concatenate([a[s:e] for s, e in ranges]) if ranges else a[:0]
