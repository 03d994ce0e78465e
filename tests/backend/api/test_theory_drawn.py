"""``/api/theory/ufm?max_points=N``: the Theory page's answer. The per-λ lists and the
projection hold an even stride of at most N λ (ascending, both ends kept); the readouts
(K_same, same_class, mean_loss_triple) are those of every λ, as without it."""

from __future__ import annotations

import numpy as np
import pytest
from api_fixtures import decode

QUERY = "/api/theory/ufm?m=3&num_classes=10&lambda_h=1e-6&n_lambda=5000&alpha=0.7&seed=0"


@pytest.mark.parametrize("amplify", ["false", "true"])
def test_max_points_keeps_the_readouts_and_strides_the_lists(client, amplify):
    full = client.get(f"{QUERY}&amplify={amplify}").json()
    r = client.get(f"{QUERY}&amplify={amplify}&max_points=400")
    assert r.status_code == 200, r.text
    part = r.json()
    for k in ("K_same", "same_class", "mean_loss_triple"):
        assert part[k] == full[k]
    lam_full = np.asarray(full["lambdas"])
    lam = np.asarray(part["lambdas"])
    assert lam.size == 400 and np.all(np.diff(lam) >= 0)
    assert lam[0] == lam_full.min() and lam[-1] == lam_full.max()
    # every kept λ is one of the full answer's, with the full answer's values
    idx = np.array([int(np.flatnonzero(lam_full == v)[0]) for v in lam])
    for key, values in part["different_class"].items():
        assert values == [full["different_class"][key][i] for i in idx], key
    # the projection: three same-class and six different-class rows per kept λ, the same
    # points the full projection has for those λ
    p, pf = part["projection"], full["projection"]
    pts, kind = decode(p["points"]).reshape(-1, 2), decode(p["kind"])
    assert pts.shape == (9 * 400, 2) and (kind == 2).sum() == 6 * 400
    full_pts = decode(pf["points"]).reshape(-1, 2)
    n = lam_full.size
    for block in range(9):  # rows come in blocks of one (pair, λ) array each
        np.testing.assert_allclose(pts[block * 400:(block + 1) * 400],
                                   full_pts[block * n + idx], rtol=1e-5, atol=1e-6)


def test_max_points_at_or_above_the_count_changes_nothing(client):
    q = "/api/theory/ufm?lambdas=0.1,0.5,0.9&m=2"
    assert client.get(f"{q}&max_points=3").json() == client.get(q).json()


def test_max_points_bad_input_names_the_field(client):
    r = client.get(f"{QUERY}&max_points=1")
    assert r.status_code == 422 and "max_points" in r.text
