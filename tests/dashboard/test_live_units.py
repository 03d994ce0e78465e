"""Pure helpers behind issue 19's dashboard fixes: following a running run (which slider
index, which frames to fetch), the one-epoch note, and API messages named once."""

from __future__ import annotations

from dashboard.client import format_detail
from dashboard.figures import metrics_figure, one_epoch_note
from dashboard.live import epoch_marks, is_active, kept_index, live_note
from dashboard.pages.explore.frames import view_key
from dashboard.pages.explore.live import frames_behind


def test_kept_index_follows_or_stays():
    assert kept_index([0, 1, 2], [0, 1, 2, 3, 4], 1, follow=True) == 4
    assert kept_index([0, 1, 2], [0, 1, 2, 3, 4], 1, follow=False) == 1
    assert kept_index([0, 2, 4], [0, 1, 2, 4], 1, follow=False) == 2  # epoch 2 moved index
    assert kept_index([], [0], None, follow=False) is None


def test_marks_label_the_last_epoch():
    marks = epoch_marks(list(range(40)))
    assert marks[39] == "39" and marks[0] == "0"
    assert sum(1 for v in marks.values() if v) <= 14


def test_active_and_note():
    assert is_active({"status": "running"}) and is_active({"status": "queued"})
    assert not is_active({"status": "succeeded"}) and not is_active(None)
    assert "epoch 7 recorded" in live_note({"status": "running"}, [0, 7])
    assert live_note({"status": "failed"}, [0, 7]) == ""


def test_frames_behind_asks_from_the_last_loaded_epoch():
    info = {"id": "r1"}
    key = view_key("r1", [0, 1, 2], "penultimate")
    meta = {"key": key, "classes": [0, 1, 2], "layer": "penultimate"}
    done = {"key": key, "from": None, "loaded": 2}
    assert frames_behind(info, [0, 1, 2, 3, 5], done, meta) == \
        {"key": key, "from": 3, "loaded": 2}
    assert frames_behind(info, [0, 1, 2], done, meta) is None            # all held
    assert frames_behind(info, [0, 1, 2, 3], {**done, "from": 2}, meta) is None  # paging
    assert frames_behind({"id": "r2"}, [0, 1, 2, 3], done, meta) is None  # another run's


def test_one_epoch_runs_get_markers_and_a_note():
    records = [{"epoch": 4, "nc1": 0.5, "norm_cv": 0.1, "alignment": 0.9}]
    fig = metrics_figure(records, 4)
    assert fig.data and all("markers" in t.mode for t in fig.data)
    assert one_epoch_note(records).startswith("One epoch recorded (epoch 4)")
    two = records + [{"epoch": 5, "nc1": 0.4}]
    assert one_epoch_note(two) == ""


def test_a_message_that_names_its_field_is_not_prefixed_twice():
    detail = [{"loc": ["query", "epoch"], "msg": "epoch: 3 is not a recorded epoch"}]
    assert format_detail(detail) == "epoch: 3 is not a recorded epoch"
    other = [{"loc": ["body", "lr"], "msg": "must be positive"}]
    assert format_detail(other) == "lr: must be positive"


def test_a_bare_page_opens_the_mixup_run():
    from dashboard.common import pick_run

    runs = [{"id": "erm", "method": "erm", "created_at": "2026-12-06T02:00:01",
             "recorded_epochs": [0, 1]},
            {"id": "mix", "method": "input-mixup", "created_at": "2026-12-06T02:00:00",
             "recorded_epochs": [0, 1]},
            {"id": "new", "method": "input-mixup", "created_at": "2026-12-06T02:00:02",
             "recorded_epochs": []}]
    assert pick_run(runs) == "mix"                 # not the newer ERM baseline
    assert pick_run(runs, "erm") == "erm"          # a run asked for is a run given
    assert pick_run(runs[:1]) == "erm"             # only a baseline: that one


def test_launch_form_shows_only_fields_that_apply():
    from dashboard.runs.form import HIDDEN, form_fields_shown

    manifold, block, task, help_ = form_fields_shown("digits", "mlp", "input-mixup")
    assert manifold == block == task == HIDDEN and help_ == ""
    manifold, block, task, help_ = form_fields_shown("rotated-digit", "wrn-16-4",
                                                     "manifold-mixup")
    assert manifold == block == task == {} and "6n+4" in help_


def test_subplot_titles_wrap():
    from dashboard.figures import METRIC_PANELS, wrap_title

    for title, _ in METRIC_PANELS:
        assert all(len(line) <= 22 for line in wrap_title(title, 22).split("<br>")), title


def test_a_token_given_to_a_local_dashboard_is_answered():
    """A loopback dashboard acts with its environment's token: /login says so instead of
    taking a token and ignoring it (issue 19)."""
    from dashboard.app import create_app

    server = create_app("http://127.0.0.1:9", login=False).server
    with server.test_client() as c:
        r = c.post("/login", data={"token": "secret", "next": "/runs"},
                   headers={"Host": "127.0.0.1:8050", "Origin": "http://127.0.0.1:8050"},
                   base_url="http://127.0.0.1:8050")
        assert r.status_code == 409
        assert "a token given here is not used" in r.get_data(as_text=True)
        assert "MIXSCOPE_API_TOKEN" in r.get_data(as_text=True)
