"""``Recorder.probe(..., mix=fn)`` (issue 19): the user's own mixing function builds the
probe's mixed points, their λ are the ones it used, and the run says which mixing made them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import local_client

from backend.recorded import LINEAR_MIXING


def box_mix(xa, xb, lam):
    """CutMix-like: the left columns from x_b, as many as 1 − λ of the width (rounded), so
    the λ it keeps differs from the drawn one."""
    W = xa.shape[-1]
    out, kept = xa.clone(), torch.empty(len(xa))
    for i, lam_i in enumerate(lam.tolist()):
        cols = round((1 - lam_i) * W)
        start = int(torch.randint(0, W - cols + 1, (1,)))  # random: the recorder seeds it
        out[i, ..., start:start + cols] = xb[i, ..., start:start + cols]
        kept[i] = 1 - cols / W
    return out, kept


def _data():
    rng = np.random.default_rng(0)
    return torch.as_tensor(rng.normal(size=(60, 1, 4, 4)).astype(np.float32)), \
        np.arange(60) % 3


def _recorder(store, name):
    from mixscope import Recorder

    return Recorder(name=name, num_classes=3, store=store,
                    probe={"clean_per_class": 4, "pairs_per_class_pair": 5})


def test_the_users_mix_makes_the_points_and_their_lambda(settings, app):
    X, y = _data()
    rec = _recorder(settings.store, "boxes")
    probe = rec.probe(X, y, seed=3, mix=box_mix)
    p = rec._probe
    n_c = len(p["clean_index"])
    inputs = rec.probe_inputs()
    # the same function under the same seed: the points and λ the recorder kept
    a, b = torch.as_tensor(p["pair_a"]), torch.as_tensor(p["pair_b"])
    raw = _recorder(settings.store, "draw only")
    drawn = raw.probe(X, y, seed=3)  # the linear run draws the same pairs and λ
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        expected, kept = box_mix(X[a], X[b], torch.as_tensor(drawn["pair_lambda"]))
    np.testing.assert_array_equal(probe["pair_lambda"], kept.numpy())
    assert not np.allclose(probe["pair_lambda"], drawn["pair_lambda"])  # λ = the box's
    torch.testing.assert_close(inputs[n_c:], expected)
    torch.testing.assert_close(inputs[:n_c], X[torch.as_tensor(p["clean_index"])])
    # a slice across the clean/pair border is the same rows
    torch.testing.assert_close(rec.probe_inputs(n_c - 2, n_c + 3), inputs[n_c - 2:n_c + 3])
    # stored with the run: its λ and the name of the mixing
    stored = rec.store.get_arrays(rec.run_id, "probe")
    np.testing.assert_array_equal(stored["pair_lambda"], kept.numpy())
    with local_client(app) as client:
        assert client.get(f"/api/runs/{rec.run_id}/probe").json()["mixing"] == "box_mix"
        assert client.get(f"/api/runs/{raw.run_id}/probe").json()["mixing"] == LINEAR_MIXING
    for r in (rec, raw):
        r.finish()
    rec.store.close()
    raw.store.close()


def test_a_bad_mix_is_refused_naming_mix(settings):
    X, y = _data()
    rec = _recorder(settings.store, "bad mix")
    with pytest.raises(ValueError, match="^mix: returned shape"):
        rec.probe(X, y, mix=lambda xa, xb, lam: xa[:, :, :2])
    with pytest.raises(ValueError, match=r"^mix: λ must be"):
        rec.probe(X, y, mix=lambda xa, xb, lam: (xa, lam + 2))
    assert rec.store.get_run(rec.run_id).num_probe is None  # nothing stored
    rec.finish()
    rec.store.close()
