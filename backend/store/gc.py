"""Garbage collection of the artifact store: files no run or index row owns any more.

What is left behind, and why: a worker that was still writing when its run was deleted
re-creates ``runs/<id>/`` after :meth:`Store.delete_run` removed it (the rows are gone, the
files are not); a writer killed between its file and its index row leaves an unindexed file
or a ``.tmp-*`` part file. Files younger than ``min_age_s`` are left alone: they may be a
write whose row is about to land.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from backend.store.models import Artifact, Run


def _age_s(files, rel: str, now: float) -> float | None:
    try:
        return now - files.fs.modified(files.full(rel)).timestamp()
    except (NotImplementedError, OSError, AttributeError, KeyError):
        return None  # unknown age: treat as young


def collect_garbage(store, *, dry_run: bool = False, min_age_s: float = 3600.0
                    ) -> dict[str, Any]:
    """Remove run folders whose run is deleted and unindexed files in live runs' folders
    older than ``min_age_s``. Returns ``{"removed": [rel paths], "bytes": n, "dry_run"}``."""
    files, now = store.files, time.time()
    with store.engine.connect() as conn:
        run_ids = set(conn.execute(sa.select(Run.id)).scalars())
        indexed = set(conn.execute(sa.select(Artifact.path)).scalars())
    removed: list[str] = []
    total = 0
    root = files.full("runs")
    if not files.fs.exists(root):
        return {"removed": removed, "bytes": 0, "dry_run": dry_run}
    prefix = files.full("")
    for path, _dirs, names in files.fs.walk(root):
        for name in names:
            rel = f"{path}/{name}"[len(prefix):].lstrip("/")
            run_id = rel.split("/")[1]
            if run_id in run_ids and rel in indexed:
                continue
            age = _age_s(files, rel, now)
            if age is None or age < min_age_s:
                continue
            try:
                total += int(files.fs.size(files.full(rel)) or 0)
            except OSError:
                pass
            removed.append(rel)
            if not dry_run:
                files.remove(rel)
    if not dry_run:  # folders of deleted runs that are now empty
        for entry in files.fs.ls(root, detail=False):
            run_id = str(entry).rstrip("/").rsplit("/", 1)[-1]
            if run_id not in run_ids and not files.fs.find(files.full(f"runs/{run_id}")):
                files.remove_tree(f"runs/{run_id}")
    return {"removed": sorted(removed), "bytes": total, "dry_run": dry_run}
