"""Issue 14, trust in the core: the permission table, the viewer check, sign-in limits,
server-side sessions, and escaped chart text. Each test names the finding it proves."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from wbcreview.cli import main
from wbcreview.curation import export as decisions
from wbcreview.data.catalog import open_catalog
from wbcreview.review import auth, permissions
from wbcreview.review.store import PermissionDenied, Reviewer, Store
from wbcreview.triage import scores
from wbcreview.views import browse, charts
from wbcreview.views import consensus as consensus_charts

pytest_plugins = ["tests.store_fixtures"]

ANN = Reviewer("Ann", "Team 1", "annotator")
BOB = Reviewer("Bob", "Team 2", "annotator")
CAT = Reviewer("Cat", "Team 3", "annotator")
JUDGE = Reviewer("Dr Judge", "Experts", "adjudicator")
ADMIN = Reviewer("Root", "Lab", "admin")
AS_ROLE = {"annotator": ANN, "adjudicator": JUDGE, "admin": ADMIN}
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


# --- 2: the permission table ------------------------------------------------------------


def _store_call(action: str):
    """A call that performs `action` through the store, or None if the store does not own it."""
    calls = {
        "vote": lambda s, who: s.add_vote(who, "00000001", "retain"),
        "adjudicate": lambda s, who: s.adjudicate(who, "00000002", "retain"),
        "accept_consensus": lambda s, who: s.accept_consensus(
            [{"cell_id": "00000003", "action": "retain"}], who
        ),
        "manage_queues": lambda s, who: s.create_queue(who, "q", "manual", ["00000001"]),
        "manage_calibration": lambda s, who: s.add_calibration(
            who, "00000004", "retain", label="SNE"
        ),
        "import_votes": lambda s, who: s.import_votes(
            who,
            [
                {
                    "reviewer": "X",
                    "team": "T",
                    "role": "annotator",
                    "cell_id": "00000005",
                    "action": "retain",
                }
            ],
            source="import:f.csv",
        ),  # fmt: skip
    }
    return calls.get(action)


def test_the_table_names_every_role_and_admin_may_do_everything():
    assert permissions.ROLES == ("annotator", "adjudicator", "admin")
    for action in permissions.ACTIONS:
        assert action.roles <= set(permissions.ROLES), action
        assert "admin" in action.roles, action
        assert permissions.PERMISSIONS[action.name] == action.roles


@pytest.mark.parametrize("role", permissions.ROLES)
@pytest.mark.parametrize("action", [a.name for a in permissions.ACTIONS])
def test_each_action_as_each_role_is_allowed_exactly_as_the_table_says(role, action):
    who = AS_ROLE[role]
    allowed = role in permissions.BY_NAME[action].roles
    assert permissions.can(who, action) is allowed
    if allowed:
        permissions.require(who, action)
    else:
        with pytest.raises(permissions.PermissionDenied, match=f"{role} '{who.name}' may not"):
            permissions.require(who, action)


@pytest.mark.parametrize("role", permissions.ROLES)
def test_the_store_refuses_each_action_the_table_refuses(sqlite_store, role):
    who = AS_ROLE[role]
    for action in permissions.ACTIONS:
        call = _store_call(action.name)
        if call is None:
            continue  # page- and command-level actions: test_trust_pages / the CLI tests
        if role in action.roles:
            call(sqlite_store, who)
        else:
            with pytest.raises(PermissionDenied):
                call(sqlite_store, who)


def test_an_unknown_action_is_an_error_not_a_silent_refusal():
    with pytest.raises(KeyError):
        permissions.can(ANN, "adjudicat")


def test_the_store_permission_error_is_the_tables_error():
    assert issubclass(PermissionDenied, permissions.PermissionDenied)


# --- 1: one viewer check for final decisions --------------------------------------------


@pytest.fixture
def decided(demo_copy, tmp_path):
    """Three annotators vote on three cells; the expert decides two; the third is agreed."""
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    with open_catalog(demo_copy) as cat:
        cells = [
            r[0]
            for r in cat.cursor()
            .execute(
                "SELECT image_id FROM cells WHERE config = 'pristine' AND label <> 'BNE' "
                "ORDER BY image_id LIMIT 3"
            )
            .fetchall()
        ]
    a, b, c = cells
    with Store.open(url, blind=True) as store:
        for who in (BOB, CAT, Reviewer("Dan", "Team 4", "annotator")):
            store.add_vote(who, a, "correct", label="BNE", comment="secret comment")
            store.add_vote(who, b, "remove", reason="smudge")
            store.add_vote(who, c, "retain")
        store.adjudicate(JUDGE, a, "correct", label="BNE", note="expert note")
        store.adjudicate(JUDGE, b, "remove", reason="smudge", note="two cells")
    return {"root": demo_copy, "url": url, "cells": cells}


def test_an_annotator_gets_final_labels_only_without_tallies_or_notes(decided):
    """Finding 1: an annotator who voted on nothing downloaded every tally and note."""
    a, b, c = decided["cells"]
    with open_catalog(decided["root"]) as cat, Store.open(decided["url"], blind=True) as store:
        full = decisions.final_decisions(cat.cursor(), store, True, viewer=JUDGE)
        mine = decisions.final_decisions(cat.cursor(), store, True, viewer=ANN)
    assert set(full["image_id"]) == {a, b, c}
    assert set(mine["image_id"]) == {a, b}  # the agreed, not adjudicated cell is not decided
    by_id = mine.set_index("image_id")
    assert by_id.loc[a, "final_label"] == "BNE" and by_id.loc[b, "action"] == "remove"
    for col in permissions.DECISION_DETAIL_COLUMNS:
        assert mine[col].isna().all(), col
    text = decisions.export_bytes(mine, "csv").decode()
    assert "expert note" not in text and "Dr Judge" not in text and "BNE:3" not in text


def test_blind_off_or_a_trusted_caller_sees_everything(decided):
    with open_catalog(decided["root"]) as cat, Store.open(decided["url"], blind=False) as store:
        frame = decisions.final_decisions(cat.cursor(), store, True, viewer=ANN)
        local = decisions.final_decisions(cat.cursor(), store, True, viewer=None)
    assert len(frame) == 3 and frame["note"].notna().any()
    assert local.equals(frame)


def test_final_decisions_need_an_explicit_viewer(decided):
    with (
        open_catalog(decided["root"]) as cat,
        Store.open(decided["url"]) as store,
        pytest.raises(TypeError, match="viewer"),
    ):
        decisions.final_decisions(cat.cursor(), store)


def test_annotators_see_only_their_own_votes_until_they_vote(decided):
    a, _, _ = decided["cells"]
    with Store.open(decided["url"], blind=True) as store:
        assert store.current_votes(ANN).empty
        assert store.current_adjudications(ANN).empty
        with pytest.raises(PermissionDenied, match="blind review"):
            store.history(a, ANN)
        store.add_vote(ANN, a, "retain")
        assert set(store.current_votes(ANN)["reviewer"]) == {"Ann", "Bob", "Cat", "Dan"}


@pytest.fixture
def users(tmp_path):
    path = tmp_path / "users.yaml"
    auth.add_user(path, "Ann", "Team 1", "annotator", "correct horse", rounds=4)
    auth.add_user(path, "Root", "Lab", "admin", "battery staple", rounds=4)
    return path


def test_cli_export_as_a_signed_in_annotator_is_limited_like_the_page(
    decided, users, tmp_path, monkeypatch, capsys
):
    """Finding 1 on the CLI: `export --user NAME` gets what the page gives that user."""
    monkeypatch.setenv("WBCREVIEW_USERS", str(users))
    out = tmp_path / "mine.csv"
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    args = ["export", "--data", str(decided["root"]), "--db", decided["url"], "--out", str(out)]
    assert main([*args, "--include-agreed", "--user", "Ann", "--user-password-stdin"]) == 0
    text = out.read_text()
    assert "expert note" not in text and "Dr Judge" not in text
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong password\n"))
    assert main([*args, "--user", "Ann", "--user-password-stdin"]) == 1
    assert "wrong name or password" in capsys.readouterr().err


def test_cli_admin_commands_refuse_an_annotator(decided, users, tmp_path, monkeypatch, capsys):
    """Finding 2 on the CLI: import-labels, import-votes, import-predictions, baseline."""
    monkeypatch.setenv("WBCREVIEW_USERS", str(users))
    monkeypatch.setenv("WBCREVIEW_DB", decided["url"])
    data = ["--data", str(decided["root"])]
    file = tmp_path / "f.csv"
    file.write_text("x\n")
    commands = [
        ["import-labels", *data, str(file)],
        ["import-votes", *data, "--db", decided["url"], str(file), "--team", "T"],
        ["import-predictions", *data, str(file), "--name", "p"],
        ["baseline", *data],
    ]
    for command in commands:
        monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
        assert main([*command, "--user", "Ann", "--user-password-stdin"]) == 1, command
        assert "needs the role admin" in capsys.readouterr().err, command


# --- 3: sign-in limits ------------------------------------------------------------------


def test_failed_sign_ins_slow_down_then_lock_per_name(store, users):
    """Finding 3: 25 wrong passwords, then the right one signed in."""
    now = T0
    for _ in range(auth.FREE_FAILURES):
        assert auth.sign_in(store, users, "Ann", "wrong password", "10.0.0.1", now=now) is None
        now += timedelta(milliseconds=10)
    with pytest.raises(auth.SignInThrottled, match="try again in 1 s"):
        auth.sign_in(store, users, "Ann", "correct horse", "10.0.0.2", now=now)
    waits = []
    for _ in range(auth.LOCK_AFTER - auth.FREE_FAILURES):
        limit = auth.sign_in_limit(store, "Ann", "10.0.0.3", now)
        waits.append(round(limit.wait))
        now += timedelta(seconds=limit.wait)
        assert auth.sign_in(store, users, "Ann", "wrong password", "10.0.0.3", now=now) is None
    assert waits[:5] == [1, 2, 4, 8, 16], waits
    # locked: even the right password, from any address, until the window has passed
    with pytest.raises(auth.SignInThrottled, match="locked"):
        auth.sign_in(
            store, users, "Ann", "correct horse", "10.9.9.9", now=now + timedelta(minutes=5)
        )
    later = now + auth.LOCKOUT + timedelta(seconds=1)
    assert auth.sign_in(store, users, "Ann", "correct horse", "10.9.9.9", now=later) is not None
    # a success resets the name
    assert auth.sign_in_limit(store, "Ann", "10.9.9.9", later).wait == 0


def test_the_limit_is_per_name_case_insensitively_and_keeps_other_names_free(store, users):
    for i in range(auth.FREE_FAILURES):
        auth.sign_in(store, users, " ANN " if i % 2 else "ann", "nope nope", f"10.0.1.{i}", now=T0)
    assert auth.sign_in_limit(store, "Ann", "10.0.2.1", T0).wait > 0
    assert auth.sign_in(store, users, "Root", "battery staple", "10.0.2.1", now=T0) == ADMIN


def test_the_limit_is_per_client_across_many_names(store, users):
    """Guessing many names from one address is slowed down too (no bcrypt work then)."""
    n = auth.FREE_FAILURES * auth.CLIENT_FACTOR
    for i in range(n):
        auth.sign_in(store, users, f"user{i}", "nope nope", "10.0.3.1", now=T0)
    with pytest.raises(auth.SignInThrottled, match="this address"):
        auth.sign_in(store, users, "Root", "battery staple", "10.0.3.1", now=T0)
    assert auth.sign_in(store, users, "Root", "battery staple", "10.0.3.2", now=T0) == ADMIN


def test_the_limit_survives_a_new_store_connection(store_url, users):
    """The count lives in the store, not in a browser session or a process."""
    with Store.open(store_url) as first:
        for _ in range(auth.FREE_FAILURES):
            auth.sign_in(first, users, "Ann", "wrong password", "10.0.4.1", now=T0)
    with Store.open(store_url) as second, pytest.raises(auth.SignInThrottled):
        auth.sign_in(second, users, "Ann", "correct horse", "10.0.4.1", now=T0)


def test_a_throttled_try_costs_no_bcrypt_and_is_logged(sqlite_store, users, monkeypatch, caplog):
    for _ in range(auth.FREE_FAILURES):
        auth.sign_in(sqlite_store, users, "Ann", "wrong password", "c", now=T0)
    calls = []
    monkeypatch.setattr(auth, "verify", lambda *a: calls.append(a))
    with caplog.at_level("WARNING", logger="wbcreview.auth"), pytest.raises(auth.SignInThrottled):
        auth.sign_in(sqlite_store, users, "Ann", "correct horse", "c", now=T0)
    assert calls == []
    assert "sign-in refused for 'Ann' from c" in caplog.text


# --- 12 and 4: sessions, revocation, roles re-read ---------------------------------------


def test_a_session_survives_a_reload_until_it_expires(store, users):
    token = auth.start_session(store, users, ANN, "10.0.0.1", hours=2, now=T0)
    assert token and auth.token_hash(token) != token
    assert auth.resume_session(store, users, token, now=T0 + timedelta(hours=1)) == ANN
    assert auth.resume_session(store, users, token, now=T0 + timedelta(hours=3)) is None
    assert auth.resume_session(store, users, "forged", now=T0) is None
    assert auth.resume_session(store, users, None, now=T0) is None


def test_sign_out_revokes_the_session(store, users):
    token = auth.start_session(store, users, ANN, "c", hours=2, now=T0)
    auth.end_session(store, token)
    assert auth.resume_session(store, users, token, now=T0) is None


def test_a_password_change_revokes_every_session(store, users):
    token = auth.start_session(store, users, ANN, "c", hours=2, now=T0)
    auth.add_user(users, "Ann", "Team 1", "annotator", "new password!", rounds=4)
    assert auth.resume_session(store, users, token, now=T0) is None
    auth.add_user(users, "Ann", "Team 1", "annotator", "correct horse", rounds=4)
    assert auth.resume_session(store, users, token, now=T0) is None  # stays revoked


def test_a_session_reads_the_role_afresh_so_a_demotion_takes_effect(store, users):
    """Finding 4: roles were read once per session."""
    auth.add_user(users, "Eve", "Experts", "adjudicator", None)
    assert auth.current_reviewer(users, "Eve").role == "adjudicator"
    text = users.read_text().replace("role: adjudicator", "role: annotator")
    users.write_text(text)
    assert auth.current_reviewer(users, "Eve").role == "annotator"
    token = auth.start_session(store, users, ANN, "c", hours=2, now=T0)
    users.write_text(users.read_text().replace("role: annotator\n", "role: admin\n", 1))
    assert auth.resume_session(store, users, token, now=T0).role in ("admin", "annotator")


def test_sessions_are_off_with_zero_hours(sqlite_store, users, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_SESSION_HOURS", "0")
    assert auth.start_session(sqlite_store, users, ANN, "c") is None
    monkeypatch.setenv("WBCREVIEW_SESSION_HOURS", "soon")
    with pytest.raises(auth.config.SettingError):
        auth.session_hours()


def test_the_store_keeps_no_session_token(sqlite_store, users, tmp_path):
    token = auth.start_session(sqlite_store, users, ANN, "c", hours=1)
    sqlite_store.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("reviews.sqlite*"))
    assert b"Ann" in stored and token.encode() not in stored


# --- 5: chart text is escaped ------------------------------------------------------------

MARKUP = '<a href="https://evil.example">Session expired</a><b>B</b><br><i>I</i>'


def _text_values(spec, key=""):
    if isinstance(spec, dict):
        for k, v in spec.items():
            yield from _text_values(v, k)
    elif isinstance(spec, list):
        for v in spec:
            yield from _text_values(v, key)
    elif isinstance(spec, str) and key not in ("hovertemplate", "texttemplate"):
        yield key, spec


def _assert_inert(fig):
    spec = json.loads(fig.to_json())
    texts = list(_text_values(spec))
    raw = [(k, v) for k, v in texts if "<" in v or ">" in v]
    assert not raw, raw[:5]
    assert any("&lt;a href" in v for _, v in texts), "the markup never reached the chart"


def _figures():
    bad = MARKUP
    counts = pd.DataFrame(
        {"config": ["pristine", bad], "label": ["SNE", bad], "split": ["s", bad],
         "severity": ["pristine", bad], "rows": [5, 7]}
    )  # fmt: skip
    yield "class_counts", charts.class_counts(counts)
    yield (
        "split_counts",
        charts.split_counts(
            pd.DataFrame({"config": [bad], "split": [bad], "rows": [3], "patients": [2]})
        ),
    )
    yield "severity_counts", charts.severity_counts(counts.assign(config="degraded"))
    matrix = pd.DataFrame([[1, 2], [3, 4]], index=[bad, "LY"], columns=["LY", bad])
    yield "original_vs_consensus", consensus_charts.original_vs_consensus_figure(matrix)
    names = [bad, "Bob"]
    kappa = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=names, columns=names)
    yield "kappa", consensus_charts.kappa_figure(kappa)
    times = pd.DataFrame({"time": pd.to_datetime(["2026-01-01"]), "votes": [1], "total": [1]})
    yield "votes_over_time", consensus_charts.votes_over_time_figure(times, bad)
    stats = pd.DataFrame(
        {"category": ["all", bad], "cells": [3, 3], "fleiss_kappa": [0.5, 0.4],
         "krippendorff_alpha": [0.5, 0.3]}
    )  # fmt: skip
    yield "agreement", consensus_charts.agreement_figure(stats)
    summary = pd.DataFrame(
        {"kind": ["all"], "group": ["all"], "prediction": [bad], "reference": ["original"],
         "n": [3], **{m: [0.5] for m in scores.METRICS}}
    )  # fmt: skip
    yield "metrics", scores.metrics_figure(summary)
    classes = pd.DataFrame(
        {"prediction": [bad], "kind": ["all"], "group": ["all"], "class": [bad],
         "reference": ["original"], "support": [3], "precision": [0.5], "recall": [0.5],
         "f1": [0.5]}
    )  # fmt: skip
    yield "per_class", scores.per_class_figure(classes, bad)
    yield "confusion", scores.confusion_figure(matrix, bad)
    movers = pd.DataFrame(
        {"image_id": [bad], "original_label": [bad], "final_label": [bad], "action": ["correct"],
         "delta_macro_f1": [0.01]}
    )  # fmt: skip
    yield "movers", scores.movers_figure(movers)
    table = pd.DataFrame(
        {"class": [bad], "cell type": [bad], "pristine": [1], "degraded": [2], "total": [3]}
    )
    yield "class_counts_figure", browse.class_counts_figure(table)


@pytest.mark.parametrize(
    "name, fig", list(_figures()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_markup_in_every_chart_string_is_drawn_as_text(name, fig):
    """Finding 5: a label or a name became a live link on a chart."""
    _assert_inert(fig)


def test_escaping_keeps_numbers_and_templates():
    matrix = pd.DataFrame([[1]], ["<A&B>"], ["<A&B>"])
    once = scores.confusion_figure(matrix, "t")
    fig = charts.escape_figure(once)  # twice: idempotent
    heat = fig.data[0]
    assert list(heat.x) == ["&lt;A&B&gt;"]
    assert json.loads(fig.to_json())["data"][0]["z"] == json.loads(once.to_json())["data"][0]["z"]
    assert "<br>" in heat.hovertemplate
