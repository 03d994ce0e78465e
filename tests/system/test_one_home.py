"""One concept, one home (issue 12): each check fails if a concept gets a second definition
again: errors and their HTTP mapping, settings, worker names, CLI options, the version,
shared API query types, the UFM maths and λ on the lower class."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
from paths import ROOT

SOURCE_PACKAGES = ("backend", "trainer", "mixscope")


def _sources(*packages: str):
    for pkg in packages or SOURCE_PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, path.read_text("utf-8")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _defined(kind: type, name_pattern: str) -> list[str]:
    """``file:name`` of every class/function definition whose name matches."""
    out = []
    for path, text in _sources():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, kind) and re.fullmatch(name_pattern, node.name):
                out.append(f"{_rel(path)}:{node.name}")
    return out


# --- errors ---------------------------------------------------------------------------------

def test_a_missing_run_is_one_exception_type():
    assert _defined(ast.ClassDef, r"Run\w*NotFound\w*") == ["backend/store/errors.py:RunNotFound"]
    bad = []
    for path, text in _sources():
        for pattern in (r"raise (KeyError|LookupError)\(f?[\"']run\b",
                        r"HTTPException\(\s*status\.HTTP_404_NOT_FOUND"):
            bad += [f"{_rel(path)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not bad, "a missing run/resource must raise RunNotFound / NotFound:\n" + \
        "\n".join(bad)


def test_every_refusal_is_a_mixscope_error_with_its_http_class():
    from backend.errors import Conflict, InvalidInput, MixscopeError, NotFound, QueryError
    from backend.papers.runner import RecipeError
    from backend.recorded import RecordedRunError
    from backend.resources import MemoryBudgetError
    from backend.store import errors as store_errors

    for cls in (QueryError, RecordedRunError, MemoryBudgetError, RecipeError):
        assert issubclass(cls, InvalidInput) and issubclass(cls, ValueError), cls
        assert cls.status_code == 422
    assert issubclass(store_errors.RunNotFound, NotFound)
    assert issubclass(store_errors.RunNotFound, LookupError)
    assert issubclass(store_errors.ArtifactNotFound, KeyError)
    for name in ("RunFinished", "RunNotResumable", "Fenced", "ArtifactDamaged"):
        assert issubclass(getattr(store_errors, name), Conflict), name
    assert store_errors.ArtifactUnavailable.status_code == 503
    assert all(issubclass(c, MixscopeError) for c in vars(store_errors).values()
               if isinstance(c, type) and issubclass(c, Exception))
    assert RecordedRunError("probe: no clean examples").field == "probe"
    assert RecordedRunError("run: x", conflict=True).status_code == 409
    assert str(store_errors.ArtifactNotFound("r1", "probe", None, None)) == \
        "no 'probe' artifact for run 'r1'"  # not KeyError's repr()


def test_the_trainers_config_error_is_an_invalid_input():
    pytest.importorskip("torch")
    from backend.errors import InvalidInput
    from trainer.build import ConfigError

    exc = ConfigError("record.layers: model mlp has no layer(s) 'x'")
    assert isinstance(exc, InvalidInput) and exc.field == "record.layers"


def test_errors_become_http_answers_in_one_place():
    from backend.api.app import error_response
    from backend.errors import Conflict, NotFound, QueryError
    from backend.recorded import RecordedRunError
    from backend.resources import MemoryBudgetError
    from backend.store.errors import ArtifactDamaged, RunNotFound

    def answer(exc):
        r = error_response(exc)
        return r.status_code, json.loads(r.body)

    code, body = answer(QueryError("lam_min", "lam_min 0.9 is above lam_max 0.1"))
    assert code == 422 and body["detail"] == [{
        "type": "value_error", "loc": ["query", "lam_min"],
        "msg": "lam_min: lam_min 0.9 is above lam_max 0.1"}]
    assert body["message"] == body["detail"][0]["msg"] and body["error_count"] == 1
    code, body = answer(RecordedRunError("features: width 3 but the classifier takes 4"))
    assert code == 422 and body["detail"][0]["loc"] == ["body", "features"]
    assert body["detail"][0]["msg"] == "features: width 3 but the classifier takes 4"
    code, body = answer(MemoryBudgetError("needs 9 GiB", ["model_args.width", "batch_size"],
                                          None, 1))
    assert code == 422 and [d["loc"] for d in body["detail"]] == [
        ["body", "model_args", "width"], ["body", "batch_size"]]
    assert {d["type"] for d in body["detail"]} == {"memory_budget"}
    assert answer(RunNotFound("abc")) == (404, {"detail": "run 'abc' not found"})
    assert answer(NotFound("sweep 'x' not found")) == (404, {"detail": "sweep 'x' not found"})
    assert answer(Conflict("run r is queued")) == (409, {"detail": "run r is queued"})
    assert answer(RecordedRunError("run: r is not recorded", conflict=True))[0] == 409
    code, body = answer(ArtifactDamaged("r", "activations", 3, "penultimate", "p", "truncated"))
    assert code == 409 and body["reason"] == "truncated" and body["epoch"] == 3


def test_the_app_maps_errors_only_in_app_py():
    bad = [_rel(p) for p, text in _sources("backend")
           if "exception_handler(" in text and p.name != "app.py"]
    assert not bad, bad


def test_the_theory_route_gets_the_field_from_the_maths_not_the_message():
    from backend import maths

    text = (ROOT / "backend/api/routers/theory.py").read_text("utf-8")
    assert "startswith" not in text
    with pytest.raises(maths.ParameterError) as info:
        maths.solve_ufm(1.0, 2, 1e-3, [0.5])
    assert info.value.parameter == "num_classes"


# --- settings -------------------------------------------------------------------------------

def test_settings_are_passed_not_guessed():
    bad = []
    for path, text in _sources():
        bad += [f"{_rel(path)}: {m.group(0)}"
                for m in re.finditer(r"getattr\([^)]*[\"']settings[\"']", text)]
        bad += [f"{_rel(path)}: cache_clear" for _ in re.finditer(
            r"get_settings\.cache_clear", text)]
    assert not bad, "\n".join(bad)
    assert _defined(ast.FunctionDef, "get_settings") == ["backend/settings.py:get_settings"]


def test_no_celery_app_is_made_at_import():
    for path, text in _sources():
        for node in ast.parse(text).body:  # module-level statements only
            calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)
                     and getattr(n.func, "id", getattr(n.func, "attr", "")) == "make_celery"]
            if calls and not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                pytest.fail(f"{_rel(path)} calls make_celery at import")


# --- names ----------------------------------------------------------------------------------

def test_each_name_has_one_definition():
    assert _defined(ast.FunctionDef, "worker_name") == ["backend/store/workers.py:worker_name"]
    assert _defined(ast.FunctionDef, "worker_id") == []
    assert _defined(ast.FunctionDef, "triple_metrics") == ["trainer/metrics.py:triple_metrics"]
    assert _defined(ast.FunctionDef, r"lambda_on_lower\w*") == [
        "backend/maths/simplex.py:lambda_on_lower_class"]


def test_cli_options_are_defined_once():
    defined = []
    for path, text in _sources("mixscope"):
        defined += [f"{_rel(path)}:{flag}" for flag in
                    re.findall(r"click\.option\(\s*[\"'](--store|--log-level|--loglevel)[\"']",
                               text)]
    assert sorted(defined) == ["mixscope/options.py:--log-level", "mixscope/options.py:--loglevel",
                               "mixscope/options.py:--store"]


def test_the_worker_takes_both_log_level_spellings():
    from mixscope.cmd_serve import api, worker

    assert worker.make_context("worker", ["--loglevel", "WARNING"]).params["log_level"] == \
        "warning"
    assert worker.make_context("worker", ["--log-level", "debug"]).params["log_level"] == "debug"
    assert api.make_context("api", ["--loglevel", "error"]).params["log_level"] == "error"
    assert not [p for p in worker.params if "--loglevel" in p.opts and not p.hidden]


def test_the_version_has_one_source():
    from backend.version import __version__
    from mixscope import __version__ as cli_version

    assert cli_version == __version__
    literal = re.compile(r"__version__\s*=\s*[\"']")
    written = [_rel(p) for p, text in _sources() if literal.search(text)]
    assert written == [], written
    tests = [p.name for p in (ROOT / "tests").glob("*.py")
             if re.search(r"[\"']version[\"']:\s*[\"']\d", p.read_text("utf-8"))]
    assert tests == [], tests


# --- API layout -----------------------------------------------------------------------------

def test_routers_import_no_other_router_nor_app_state():
    bad = []
    for path, text in _sources("backend"):
        if path.parent.name != "routers":
            continue
        bad += [f"{_rel(path)}: {m.group(0)}" for m in re.finditer(
            r"from backend\.api\.routers[.\w]* import|import backend\.api\.routers|"
            r"request\.app\.state", text)]
    assert not bad, "\n".join(bad)


def test_query_types_are_defined_once():
    names = ("Epoch", "Layer", "ClassesQ", "Kinds", "LamMin", "LamMax", "MaxPoints", "Centre",
             "RunId")
    where: dict[str, list[str]] = {n: [] for n in names}
    for path, text in _sources("backend"):
        for node in ast.parse(text).body:
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name) and t.id in where:
                        where[t.id].append(_rel(path))
    assert all(v == ["backend/api/queries.py"] for v in where.values()), where


def test_maths_and_api_modules_stay_readable():
    long = [f"{_rel(p)} ({n})" for pkg in ("backend/maths", "backend/api")
            for p in (ROOT / pkg).rglob("*.py")
            if (n := len(p.read_text("utf-8").splitlines())) > 450]
    assert not long, long


# --- maths ----------------------------------------------------------------------------------

def test_lambda_on_lower_class():
    from backend.maths import lambda_on_lower_class

    lo, hi, lam = lambda_on_lower_class(np.array([0, 2, 1]), np.array([1, 0, 1]),
                                        np.array([0.2, 0.3, 0.9]))
    assert lo.tolist() == [0, 0, 1] and hi.tolist() == [1, 2, 1]
    np.testing.assert_allclose(lam, [0.2, 0.7, 0.9])


def test_ufm_projection_needs_no_c_dimensional_features():
    """``ufm_projection`` works in the triple's 4-d span (``etf_triple_rows``): the same
    picture as the (C, C) ETF, and a large C costs nothing."""
    from backend import maths

    lam = np.linspace(0, 1, 7)
    compact = maths.ufm_projection(1.0, 10, 1e-3, lam)
    sol = maths.solve_ufm(1.0, 10, 1e-3, lam)
    W = maths.etf(10, 1.0)
    f = maths.optimal_features(sol, (0, 1, 2), W)
    full = maths.project_triple(W, f["features"], (0, 1, 2), centre=None)
    np.testing.assert_allclose(compact["points"], full.points, atol=1e-5)
    big = maths.ufm_projection(1.0, 50_000, 1e-6, lam)
    assert big["points"].shape == (9 * lam.size, 2) and np.isfinite(big["points"]).all()


@pytest.mark.parametrize("query, field", [("lambda_h=5e-324", "lambda_h"),
                                          ("m=5e-324", "m")])
def test_the_ufm_route_names_the_field_at_the_solvers_limits(client, query, field):
    """Parameters the schema allows but the solve cannot take answer 422 naming the field
    the maths names (``ParameterError``), never a 500."""
    r = client.get(f"/api/theory/ufm?lambdas=0.5&{query}")
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", field]


# --- NaN -> null ----------------------------------------------------------------------------
def test_nan_becomes_null_in_one_place():
    """Only backend/jsonsafe.py turns non-finite numbers into None (JSON has neither)."""
    pattern = re.compile(r"is(?:finite|nan)\([^)]*\)[^\n]*\bNone\b|\bNone\b[^\n]*is(?:finite|nan)\(")
    bad = [f"{_rel(path)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
           for path, text in _sources() if _rel(path) != "backend/jsonsafe.py"
           for m in pattern.finditer(text)]
    assert not bad, "\n".join(bad)


def test_json_safe_turns_every_non_finite_number_into_null():
    from backend.jsonsafe import array_json, finite_or_none, json_safe

    got = json_safe({"a": np.float32("nan"), "b": [1.5, float("inf"), np.int64(3)],
                     "c": np.array([[-np.inf, 2.0]])})
    assert got == {"a": None, "b": [1.5, None, 3], "c": [[None, 2.0]]}
    assert json.dumps(got, allow_nan=False)
    assert array_json(np.array([0.123456789, np.nan]), 3) == [0.123, None]
    assert finite_or_none(None) is None and finite_or_none(np.float64(2)) == 2.0
    with pytest.raises(TypeError, match="value.x"):
        json_safe({"x": object()})
