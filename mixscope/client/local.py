"""The local transport: a store folder or a database URL read in this process, through the
same backend functions the API's routes call (``backend.api.reads``, the
``ProjectionService``, the store's queries). Every answer has the shape of the route's JSON
body, so the client turns both transports' answers into tables the same way."""

from __future__ import annotations

from typing import Any

from backend.errors import NotFound, QueryError, Unavailable


def _settings_for(store: Any):
    from backend.settings import Settings, settings_for_store

    if store is None:  # the environment's store, as `mixscope up` opens it
        return settings_for_store(None)
    text = str(store)
    if "://" in text:  # a database URL; artifacts under the environment's artifact root
        return Settings(database_url=text)
    return settings_for_store(store)


class LocalTransport:
    """Reads a store in this process (``store``: a folder, a database URL or a ``Store``)."""

    kind = "local"

    def __init__(self, store: Any):
        from backend.api.projection import ProjectionService
        from backend.store import Store

        if isinstance(store, Store):
            self.store, self._owned = store, False
        else:
            self.store, self._owned = Store(_settings_for(store)), True
            self.store.migrate()
        self.svc = ProjectionService(self.store)
        self.where = repr(self.store)

    def close(self) -> None:
        if self._owned:
            self.store.close()

    # runs ----------------------------------------------------------------------------
    def _run(self, run_id: str):
        from backend.store.errors import RunNotFound

        run = self.store.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def runs_page(self, filters: dict[str, Any], limit: int, offset: int
                  ) -> tuple[list[dict[str, Any]], int | None]:
        runs = self.store.list_runs(limit=limit, offset=offset, **filters)
        # the API's Run fields without its second validation pass (to_run): a run table of
        # 1 000 runs is read in one third of the time; datetimes stay datetimes
        return [{**r.model_dump(), "resumable": r.resumable} for r in runs], None

    def run(self, run_id: str) -> dict[str, Any]:
        from backend.api.schemas import to_run

        return to_run(self._run(run_id)).model_dump(mode="json")

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        return self.store.epoch_metrics(self._run(run_id).id)

    def frames(self, run_id: str, *, classes: str | None, layer: str | None,
               epochs: list[int] | None, kinds: str, lam_min: float, lam_max: float,
               max_points: int | None, seed: int, centre: bool) -> dict[str, Any]:
        from backend.api.reads import make_filters

        run = self._run(run_id)
        _epoch, layer, triple = self.svc.resolve(run, None, layer, classes)
        f = make_filters(kinds, lam_min, lam_max, max_points, seed, centre)
        all_epochs = list(run.recorded_epochs)
        wanted = all_epochs if epochs is None else [e for e in all_epochs if e in set(epochs)]
        if self.svc.missing_epochs(run, wanted, layer, triple):
            raise Unavailable(f"classes: the triple {list(triple)} is not covered by run "
                              f"{run.id}'s probe set; it is extracted on demand by a worker: "
                              "read it with Client(api=...) while `mixscope up` runs",
                              field="classes")
        out = self.svc.frames(run, wanted, layer, triple, f)
        return {"run_id": run.id, "layer": layer, "classes": list(triple), "epochs": wanted,
                "frames": out, "all_epochs": all_epochs}

    def calibration(self, run_id: str, epoch: int | None) -> dict[str, Any]:
        from backend.api.reads import calibration_of

        return calibration_of(self.store, self._run(run_id), epoch).model_dump(mode="json")

    def trajectory(self, run_id: str, epoch: int | None, classes: str | None,
                   centre: bool) -> dict[str, Any]:
        from backend.api.reads import trajectory_of

        return trajectory_of(self.store, self.svc, self._run(run_id), epoch, classes,
                             centre).model_dump(mode="json")

    def activations(self, run_id: str, epoch: int | None, layer: str | None
                    ) -> dict[str, Any]:
        from backend.api.reads import activations_of

        return activations_of(self.store, self.svc, self._run(run_id), epoch, layer)

    def checkpoint(self, run_id: str, epoch: int | None) -> dict[str, Any]:
        from backend.api.reads import checkpoint_of

        return checkpoint_of(self.store, self._run(run_id), epoch)

    # sweeps and papers -------------------------------------------------------------------
    def sweeps(self) -> list[dict[str, Any]]:
        from backend.api.reads import sweep_out

        return [sweep_out(self.store, s).model_dump(mode="json")
                for s in self.store.list_sweeps()]

    def sweep(self, sweep_id: str) -> dict[str, Any]:
        from backend.api.reads import sweep_out

        info = self.store.get_sweep(sweep_id)
        if info is None:
            known = [s.id for s in self.store.list_sweeps()]
            raise NotFound(f"sweep {sweep_id!r} not found; sweeps here: {known or 'none'}",
                           field="sweep_id", where="path")
        return sweep_out(self.store, info).model_dump(mode="json")

    def papers(self, paper: str | None, status: str | None = None,
               verdict: str | None = None) -> list[dict[str, Any]]:
        from backend.api.reads import papers_list

        return papers_list(self.store, self.store.settings.resolved_data_dir, paper, status,
                           verdict)

    def paper(self, entry_id: str, scale: str) -> dict[str, Any]:
        from backend.api.reads import gpu_workers
        from backend.papers import runner
        from backend.papers.catalogue import load_catalogue

        cat = load_catalogue()
        entry = cat.get(entry_id)
        if entry is None:
            raise NotFound(f"no catalogue entry {entry_id!r}; entries: "
                           f"{', '.join(e.id for e in cat.entries)}", field="entry_id")
        if scale not in ("cpu", "paper"):
            raise QueryError("scale", f"scale {scale!r}: use 'cpu' or 'paper'")
        return runner.report(self.store, entry, scale, self.store.settings.resolved_data_dir,
                             gpu=gpu_workers())

    def theory(self, params: dict[str, Any]) -> dict[str, Any]:
        from backend.api.routers.theory import ufm

        return ufm(**params)
