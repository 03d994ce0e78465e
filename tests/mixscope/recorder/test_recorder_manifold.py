"""``Recorder.probe(..., mix=ManifoldMix(layer, to_layer, from_layer))`` (issue 19): the
probe's mixed points come from a hidden layer, mixed at every logged epoch with the network
as it is then; they are stored with their λ, and the run (and Explore) say which mixing made
them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import local_client

from mixscope.recorder import ManifoldMix


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU())
        self.rest = torch.nn.Sequential(torch.nn.Linear(16, 6), torch.nn.ReLU())
        self.head = torch.nn.Linear(6, 3)

    def features(self, x):
        return self.rest(self.stem(x))


def _data():
    rng = np.random.default_rng(0)
    return torch.as_tensor(rng.normal(size=(60, 8)).astype(np.float32)), np.arange(60) % 3


def _recorder(store, name):
    from mixscope import Recorder

    return Recorder(name=name, num_classes=3, store=store, dtype="float32",
                    probe={"clean_per_class": 4, "pairs_per_class_pair": 5})


def test_pairs_mixed_at_a_hidden_layer_every_epoch(settings, app):
    X, y = _data()
    net = Net()
    mix = ManifoldMix("stem", to_layer=lambda x: net.stem(x), from_layer=lambda h: net.rest(h))
    rec = _recorder(settings.store, "manifold")
    probe = rec.probe(X, y, seed=3, mix=mix)
    lin = _recorder(settings.store, "linear")
    drawn = lin.probe(X, y, seed=3)
    # the drawn pairs and λ, kept as drawn
    for k in ("pair_a", "pair_b", "pair_lambda"):
        np.testing.assert_array_equal(probe[k], drawn[k])
    n_c = len(probe["clean_index"])
    a, b = torch.as_tensor(probe["pair_a"]), torch.as_tensor(probe["pair_b"])
    lam = torch.as_tensor(probe["pair_lambda"]).view(-1, 1)
    for epoch in (0, 1):
        if epoch:  # the network changes: the manifold points move with it
            with torch.no_grad():
                for p in net.stem.parameters():
                    p.mul_(1.5)
        rec.log(epoch, net, features=net.features, classifier=net.head, batch_size=7)
        lin.log(epoch, net, features=net.features, classifier=net.head, batch_size=7)
        H = rec.store.get_arrays(rec.run_id, "activations", epoch=epoch,
                                 layer="penultimate")["features"]
        with torch.no_grad():
            want = net.rest(lam * net.stem(X[a]) + (1 - lam) * net.stem(X[b])).numpy()
            clean = net.features(X[torch.as_tensor(probe["clean_index"])]).numpy()
            linear = net.features(lam * X[a] + (1 - lam) * X[b]).numpy()
        np.testing.assert_allclose(H[n_c:], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(H[:n_c], clean, rtol=1e-5, atol=1e-6)
        assert not np.allclose(H[n_c:], linear, atol=1e-3)   # not an input mix
        L = lin.store.get_arrays(lin.run_id, "activations", epoch=epoch,
                                 layer="penultimate")["features"]
        np.testing.assert_allclose(L[n_c:], linear, rtol=1e-5, atol=1e-6)
    stored = rec.store.get_arrays(rec.run_id, "probe")
    np.testing.assert_array_equal(stored["pair_lambda"], drawn["pair_lambda"])
    with local_client(app) as client:
        mixing = client.get(f"/api/runs/{rec.run_id}/probe").json()["mixing"]
    assert mixing == "manifold mixing at layer stem: λ·h_a + (1−λ)·h_b" == rec.mixing
    # what Explore prints under the simplex for this run
    from dashboard.pages.explore.callbacks import record_mode_label

    assert record_mode_label({"config": {}, "mixing": mixing})[1] == \
        "Mixed points made by: manifold mixing at layer stem: λ·h_a + (1−λ)·h_b"
    for r in (rec, lin):
        r.finish()
        r.store.close()


def test_a_manifold_probe_refuses_what_it_cannot_make(settings):
    X, y = _data()
    net = Net()
    with pytest.raises(ValueError, match="^mix: ManifoldMix needs the layer"):
        ManifoldMix(" ", to_layer=net.stem, from_layer=net.rest)
    with pytest.raises(ValueError, match="^mix: ManifoldMix needs to_layer"):
        ManifoldMix("stem", to_layer=None, from_layer=net.rest)
    rec = _recorder(settings.store, "refusals")
    rec.probe(X, y, mix=ManifoldMix("stem", to_layer=net.stem, from_layer=net.rest))
    with pytest.raises(ValueError, match="^layers: the probe's pairs are mixed at layer stem"):
        rec.log(0, net, features=net.features, classifier=net.head, layers={"h": net.stem})
    with pytest.raises(ValueError, match="^mix: the pairs are mixed at layer stem"):
        rec.probe_inputs()
    n_c = len(rec._probe["clean_index"])
    assert rec.probe_inputs(0, n_c).shape == (n_c, 8)   # the clean rows have inputs
    rec.log(0, net, features=net.features, classifier=net.head)   # nothing half-stored before
    rec.finish()
    rec.store.close()


def test_the_manifold_example_records_its_mixing(settings):
    import importlib.util

    from paths import ROOT

    spec = importlib.util.spec_from_file_location("manifold_digits",
                                                  ROOT / "examples" / "manifold_digits.py")
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    rec, model = ex.main(store=settings.store, epochs=1)
    info = rec.store.get_run(rec.run_id)
    assert info.status == "succeeded" and info.recorded_epochs == [0, 1]
    assert rec.mixing.startswith("manifold mixing at layer hidden")
    H = rec.store.get_arrays(rec.run_id, "activations", epoch=1, layer="penultimate")
    p = rec.store.get_arrays(rec.run_id, "probe")
    n_c = len(p["clean_index"])
    a, b = torch.tensor(p["pair_a"][:5]), torch.tensor(p["pair_b"][:5])
    lam = torch.tensor(p["pair_lambda"][:5]).view(-1, 1)
    (Xtr, _), _, _ = ex.load(0)
    model.eval()
    with torch.no_grad():
        want = model.rest(lam * model.hidden(Xtr[a]) + (1 - lam) * model.hidden(Xtr[b]))
    np.testing.assert_allclose(H["features"][n_c:n_c + 5].astype(np.float32), want.numpy(),
                               rtol=2e-3, atol=2e-3)   # stored float16 where it fits
    rec.store.close()
