"""The review workflow without Streamlit: queues, navigation, consensus tables, audit."""

from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go
import pytest

from wbcreview.data import query
from wbcreview.data.release import CLASS_CODES
from wbcreview.review import consensus
from wbcreview.review import workflow as review
from wbcreview.review.store import Reviewer, Store
from wbcreview.views import consensus as consensus_charts

ANN = Reviewer("Ann", "Team 1", "annotator")
BEN = Reviewer("Ben", "Team 2", "annotator")
CAT = Reviewer("Cat", "Team 3", "annotator")
EVE = Reviewer("Eve", "Experts", "adjudicator")
ADMIN = Reviewer("Root", "", "admin")


@pytest.fixture
def store(tmp_path):
    opened = Store.open(f"sqlite:///{tmp_path / 'reviews.sqlite'}", blind=True)
    yield opened
    opened.close()


def cells_frame(labels: dict[str, str], original: dict[str, str] | None = None) -> pd.DataFrame:
    original = original or {}
    return pd.DataFrame(
        {
            "cell_id": list(labels),
            "label": list(labels.values()),
            "original_label": [original.get(c) for c in labels],
        }
    )


# --- keys ----------------------------------------------------------------------------------


def test_every_class_and_action_has_its_own_key_and_streamlit_accepts_it():
    from streamlit.elements.lib.shortcut_utils import normalize_shortcut

    keys = [*review.CLASS_KEYS.values(), *review.ACTION_TO_KEY.values()]
    assert sorted(review.CLASS_KEYS) == sorted(CLASS_CODES)
    assert sorted(review.CLASS_ORDER) == sorted(CLASS_CODES)
    normalised = [normalize_shortcut(k) for k in keys]  # raises for C, R and punctuation
    assert len(set(normalised)) == len(normalised)


# --- the catalog's cells and queues ---------------------------------------------------------


def test_catalog_cells_has_one_row_per_cell_with_its_labels(cur):
    cells = review.catalog_cells(cur)
    assert cells["cell_id"].is_unique
    pristine = cur.execute("SELECT count(*) FROM cells WHERE config = 'pristine'").fetchone()[0]
    assert len(cells) == pristine
    assert set(cells["label"]) <= set(CLASS_CODES)
    differs = cells[cells["original_label"].notna() & (cells["original_label"] != cells["label"])]
    assert list(differs["cell_id"]) == review.cells_differing(cur)


def test_a_filter_gives_its_cells_degraded_rows_bring_their_source(cur):
    f = query.Filter(configs=("degraded",), labels=("SNE",))
    cells = review.cells_for_filter(cur, f)
    sources = cur.execute(
        "SELECT DISTINCT cell_id FROM cells WHERE config = 'degraded' AND label = 'SNE' ORDER BY 1"
    ).fetchall()
    assert cells == [r[0] for r in sources]
    pristine_ids = {
        r[0] for r in cur.execute("SELECT image_id FROM cells WHERE config = 'pristine'").fetchall()
    }
    assert set(cells) <= pristine_ids


def test_a_filter_without_cells_or_with_too_many_is_refused(cur):
    with pytest.raises(review.ReviewError, match="no cell matches"):
        review.cells_for_filter(cur, query.Filter(image_id="no-such-id"))
    with pytest.raises(review.ReviewError, match="more than 5 cells"):
        review.cells_for_filter(cur, query.Filter(), limit=5)


def test_an_id_list_is_read_from_a_plain_list_or_a_challenge_csv():
    assert review.read_id_list("00000001\n\n 00000002 \n") == [(1, "00000001"), (3, "00000002")]
    challenge = "\ufeffID,labels,split\r\n01416766.jpg,SNE,phase1_train\r\n0002.jpg,LY,x\r\n"
    assert review.read_id_list(challenge.encode()) == [(2, "01416766"), (3, "0002")]
    second_column = "labels,image_id\nSNE,0003\n"
    assert review.read_id_list(second_column) == [(2, "0003")]


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"\xff\xfe\x00bad", "not UTF-8"), ("", "no image id"), ("ID\n\n", "no image id")],
)
def test_an_unreadable_id_list_says_why(data, message):
    with pytest.raises(review.ReviewError, match=message):
        review.read_id_list(data)


def test_imported_ids_resolve_to_cells_and_unknown_ones_are_listed_by_line(cur):
    pristine = cur.execute(
        "SELECT image_id FROM cells WHERE config = 'pristine' ORDER BY image_id LIMIT 2"
    ).fetchall()
    degraded, source = cur.execute(
        "SELECT image_id, cell_id FROM cells WHERE config = 'degraded' ORDER BY image_id LIMIT 1"
    ).fetchone()
    a, b = pristine[0][0], pristine[1][0]
    text = f"image_id\n{a}\n{degraded}\nnope\n{a}\n{b}.jpg\n<script>\n"
    result = review.resolve_ids(cur, review.read_id_list(text))
    expected = list(dict.fromkeys([a, source, a, b]))
    assert result.cell_ids == expected
    assert result.unknown == [(4, "nope"), (7, "<script>")]
    assert result.repeated == 4 - len(expected) and result.ids == 6
    message = result.problem("ids.csv")
    assert "2 of the 6 ids in ids.csv" in message
    assert "line 4: 'nope'" in message and "line 7: '<script>'" in message
    with pytest.raises(review.ReviewError, match="line 4"):
        review.cells_from_ids(cur, text, "ids.csv")
    ok = review.cells_from_ids(cur, f"{a}\n{b}\n")
    assert ok.cell_ids == [a, b] and ok.problem() is None


def test_long_lists_of_unknown_ids_are_cut_short(cur):
    text = "\n".join(f"x{i}" for i in range(50))
    message = review.resolve_ids(cur, review.read_id_list(text)).problem()
    assert "line 20: 'x19'" in message and "line 21" not in message and "and 30 more" in message


def test_queue_definitions_are_accepted_by_the_store(store, cur):
    f = query.Filter(labels=("LY",), splits=("phase2_eval",))
    cells = review.cells_for_filter(cur, f)
    definition = review.queue_definition("filter", f=f, hide_label=True, seeded_order=True)
    name = review.default_queue_name("filter", review.describe_filter(f), len(cells))
    assert name.startswith("Filter: class LY · split phase2_eval (")
    queue_id = store.create_queue(ADMIN, name, "filter", cells, definition=definition)
    queue = store.queue(queue_id)
    assert queue.options == {"hide_label": True, "seeded_order": True}
    assert queue.definition["filter"] == {"labels": "LY", "splits": "phase2_eval"}
    assert len(review.default_queue_name("import", "x" * 500, 3)) <= 120


# --- moving through a queue -------------------------------------------------------------------


def test_the_next_cell_is_the_next_one_without_a_vote_wrapping_round():
    cells = ["a", "b", "c", "d"]
    assert review.next_unvoted(cells, {"a"}, 0) == 1
    assert review.next_unvoted(cells, {"b", "c"}, 0) == 3
    assert review.next_unvoted(cells, {"c", "d"}, 2) == 0
    assert review.next_unvoted(cells, set(cells), 1) is None
    assert review.clamp(9, 4) == 3 and review.clamp(-1, 4) == 0 and review.clamp(None, 0) == 0


def test_pressing_the_current_class_is_a_retain():
    assert review.vote_for_class("SNE", "SNE") == ("retain", None)
    assert review.vote_for_class("LY", "SNE") == ("correct", "LY")
    assert review.vote_for_class("LY", None) == ("correct", "LY")
    with pytest.raises(review.ReviewError):
        review.vote_for_class("XX", "SNE")


def test_decisions_in_words():
    assert review.describe_decision("retain") == "Keep label"
    assert review.describe_decision("correct", "LY") == "Correct → LY (Lymphocyte)"
    assert review.describe_decision("remove", None, "low-quality") == "Remove (Low quality)"
    assert review.describe_decision("unsure") == "Unsure"
    assert review.hard_partners("PMY") == ["MMY", "MY", "BL", "MO"]
    assert review.hard_partners("EO") == []


# --- consensus tables -------------------------------------------------------------------------


def vote_all(store, cell, *decisions):
    for who, (action, label, reason) in zip((ANN, BEN, CAT), decisions, strict=False):
        store.add_vote(who, cell, action, label=label, reason=reason, comment=f"{who.name} here")


@pytest.fixture
def voted(store):
    """Four cells: agreed retain, agreed correction, disputed in a hard group, pending."""
    keep, lymph, remove = (
        ("retain", None, None),
        ("correct", "LY", None),
        ("remove", None, "smudge"),
    )
    vote_all(store, "c1", keep, keep, keep)
    vote_all(store, "c2", lymph, lymph, keep)
    vote_all(store, "c3", ("correct", "BNE", None), keep, ("unsure", None, None))
    vote_all(store, "c4", remove)
    vote_all(store, "c5", lymph, keep, remove)
    cells = cells_frame(
        {"c1": "SNE", "c2": "SNE", "c3": "SNE", "c4": "MO", "c5": "BA"}, {"c2": "LY", "c3": "BNE"}
    )
    return store, cells


def test_the_consensus_overview_joins_labels_teams_and_outcomes(voted):
    store, cells = voted
    table = review.consensus_overview(
        store.current_votes(), store.current_adjudications(), cells, min_votes=3, quorum=0.6
    )
    by = table.set_index("cell_id")
    assert list(by["status"]) == ["agreed", "agreed", "disputed", "pending", "disputed"]
    assert by.loc["c2", "outcome"] == "LY" and by.loc["c1", "outcome"] == "SNE"
    assert by.loc["c2", "leading"] == "Correct → LY (Lymphocyte)"
    assert by.loc["c3", "hard_group"] == "SNE/BNE" and by.loc["c5", "hard_group"] is None
    assert by.loc["c1", "teams"] == "Team 1, Team 2, Team 3" and by.loc["c4", "teams"] == "Team 1"
    assert by.loc["c2", "original_label"] == "LY" and by.loc["c1", "original_label"] is None
    assert review.status_counts(table) == {
        "pending": 1,
        "agreed": 2,
        "disputed": 2,
        "adjudicated": 0,
    }
    store.adjudicate(EVE, "c3", "correct", label="BNE", note="band, clearly")
    table = review.consensus_overview(
        store.current_votes(), store.current_adjudications(), cells, min_votes=3, quorum=0.6
    )
    by = table.set_index("cell_id")
    assert by.loc["c3", "status"] == "adjudicated" and by.loc["c3", "outcome"] == "BNE"
    assert by.loc["c3", "adjudicated_by"] == "Eve"


def test_consensus_filters_by_status_class_and_team(voted):
    store, cells = voted
    store.add_vote(Reviewer("Dan", "Team 4", "annotator"), "c1", "retain")
    table = review.consensus_overview(store.current_votes(), None, cells, min_votes=3, quorum=0.6)
    assert list(review.filter_consensus(table, ["agreed"])["cell_id"]) == ["c1", "c2"]
    assert list(review.filter_consensus(table, classes=["LY"])["cell_id"]) == ["c2", "c5"]
    assert list(review.filter_consensus(table, classes=["MO"])["cell_id"]) == ["c4"]
    assert list(review.filter_consensus(table, teams=["Team 4"])["cell_id"]) == ["c1"]
    both = review.filter_consensus(table, ["disputed"], ["BA"], ["Team 2"])
    assert list(both["cell_id"]) == ["c5"]
    assert review.team_names(store.current_votes()) == ["Team 1", "Team 2", "Team 3", "Team 4"]


def test_original_label_against_consensus_outcome(voted):
    store, cells = voted
    table = review.consensus_overview(store.current_votes(), None, cells, min_votes=3, quorum=0.6)
    matrix = review.original_vs_consensus(table)
    assert matrix.loc["LY", "LY"] == 1  # c2: original LY, agreed LY
    assert matrix.loc["SNE", "SNE"] == 1  # c1: no original label, current SNE
    assert matrix.loc["BNE", "disputed"] == 1 and matrix.loc["MO", "pending"] == 1
    assert int(matrix.to_numpy().sum()) == 5
    assert list(matrix.columns)[-2:] == ["disputed", "pending"]
    assert isinstance(consensus_charts.original_vs_consensus_figure(matrix), go.Figure)
    assert isinstance(consensus_charts.original_vs_consensus_figure(pd.DataFrame()), go.Figure)


def test_the_kappa_matrix_is_symmetric_with_ones_on_the_diagonal(voted):
    store, cells = voted
    pairs = consensus.pairwise_cohen(store.current_votes(), review.labels_of(cells))
    matrix = review.kappa_matrix(pairs, ["Ann", "Ben", "Cat", "Zed"])
    assert list(matrix.index) == ["Ann", "Ben", "Cat", "Zed"]
    assert (matrix.to_numpy().diagonal() == 1).all()
    assert matrix.loc["Ann", "Ben"] == matrix.loc["Ben", "Ann"]
    assert pd.isna(matrix.loc["Ann", "Zed"])
    assert isinstance(consensus_charts.kappa_figure(matrix), go.Figure)


def test_votes_over_time_count_votes_not_undos(store):
    store.add_vote(ANN, "c1", "retain")
    store.add_vote(ANN, "c2", "retain")
    store.undo_last(ANN)
    frame = review.votes_over_time(store.votes_frame(), "hour")
    assert list(frame.columns) == ["time", "votes", "total"]
    assert frame["votes"].sum() == 2 and frame["total"].iloc[-1] == 2
    assert review.votes_over_time(store.votes_frame().iloc[0:0]).empty
    with pytest.raises(review.ReviewError):
        review.votes_over_time(store.votes_frame(), "week")
    assert isinstance(consensus_charts.votes_over_time_figure(frame, "hour"), go.Figure)


def test_agreement_figure_builds_from_the_agreement_table(voted):
    store, cells = voted
    stats = consensus.agreement(store.current_votes(), review.labels_of(cells))
    assert isinstance(consensus_charts.agreement_figure(stats), go.Figure)


# --- adjudication -------------------------------------------------------------------------


def test_the_worklist_puts_disputes_in_a_hard_group_first_then_agreed(voted):
    store, cells = voted
    table = review.consensus_overview(store.current_votes(), None, cells, min_votes=3, quorum=0.6)
    order = review.worklist(table)
    assert list(order["cell_id"]) == ["c3", "c5", "c2", "c1"]
    assert list(review.worklist(table, ["pending"])["cell_id"]) == ["c4"]
    assert review.worklist(table, ["adjudicated"]).empty


def test_agreed_decisions_ready_to_accept_and_their_counts(voted):
    store, cells = voted
    table = review.consensus_overview(store.current_votes(), None, cells, min_votes=3, quorum=0.6)
    ready = review.acceptable(table)
    assert list(ready.columns) == ["cell_id", "action", "label", "reason"]
    assert set(ready["cell_id"]) == {"c1", "c2"}
    counts = review.decision_counts(ready)
    assert dict(zip(counts["decision"], counts["cells"], strict=True)) == {
        "Keep label": 1,
        "Correct → LY (Lymphocyte)": 1,
    }
    added = store.accept_consensus(ready, EVE, note="checked")
    assert len(added) == 2
    table = review.consensus_overview(
        store.current_votes(), store.current_adjudications(), cells, min_votes=3, quorum=0.6
    )
    assert review.acceptable(table).empty


def test_the_votes_of_a_cell_for_the_expert(voted):
    store, _cells = voted
    table = review.cell_votes_table(store.votes_for_cell("c5", EVE))
    assert list(table["reviewer"]) == ["Ann", "Ben", "Cat"]
    assert list(table["decision"]) == [
        "Correct → LY (Lymphocyte)",
        "Keep label",
        "Remove (Smudge cell)",
    ]
    assert list(table["comment"]) == ["Ann here", "Ben here", "Cat here"]


# --- audit --------------------------------------------------------------------------------


def test_the_audit_log_holds_every_vote_and_adjudication_newest_first(store):
    store.add_vote(ANN, "c1", "correct", label="LY", comment="<b>not bold</b>")
    store.add_vote(BEN, "c1", "retain")
    store.undo_last(BEN)
    store.adjudicate(EVE, "c1", "correct", label="LY", note="agree")
    log = review.audit_log(store.votes_frame(), store.adjudications_frame())
    assert list(log.columns) == list(review.AUDIT_COLUMNS)
    assert list(log["kind"]) == ["adjudication", "vote", "vote", "vote"]
    assert list(log["action"]) == ["correct", "undo", "retain", "correct"]
    assert list(log["undone"]) == [False, False, True, False]
    assert log.loc[3, "text"] == "<b>not bold</b>" and log.loc[0, "text"] == "agree"
    assert (
        review.audit_log(store.votes_frame().iloc[0:0], store.adjudications_frame()).shape[0] == 1
    )
    empty = review.audit_log(store.votes_frame().iloc[0:0], store.adjudications_frame().iloc[0:0])
    assert empty.empty and list(empty.columns) == list(review.AUDIT_COLUMNS)


def test_the_audit_log_filters(store):
    store.add_vote(ANN, "c10", "retain")
    store.add_vote(BEN, "c20", "unsure")
    store.adjudicate(EVE, "c10", "retain")
    log = review.audit_log(store.votes_frame(), store.adjudications_frame())
    assert list(review.filter_audit(log, who=["Ann"])["cell_id"]) == ["c10"]
    assert list(review.filter_audit(log, teams=["Team 2"])["who"]) == ["Ben"]
    assert list(review.filter_audit(log, actions=["retain"])["who"]) == ["Eve", "Ann"]
    assert list(review.filter_audit(log, kinds=["adjudication"])["who"]) == ["Eve"]
    assert len(review.filter_audit(log, cell="c1")) == 2
    today = log["created_at"].max().date()
    assert len(review.filter_audit(log, start=today, end=today)) == 3
    assert review.filter_audit(log, end=date(2000, 1, 1)).empty


def test_a_cell_history_in_words(store):
    store.add_vote(ANN, "c1", "remove", reason="multi-cell", comment="two cells")
    store.undo_last(ANN)
    store.accept_consensus([{"cell_id": "c1", "action": "retain"}], EVE)
    table = review.history_table(store.history("c1"))
    assert list(table["decision"]) == [
        "Remove (Multi-cell artifact)",
        "Undo",
        "Keep label (accepted consensus)",
    ]
    assert list(table["undone"]) == [True, False, False]
    assert list(table["text"]) == ["two cells", "", ""]
    assert review.history_table(store.history("nothing")).empty


def test_summaries_leave_out_zeros():
    assert review.summarise({"agreed": 3, "pending": 0, "disputed": 1}) == "3 agreed · 1 disputed"
    assert review.summarise({}) == "nothing yet"


def test_queue_definition_keeps_the_calibration_share():
    definition = review.queue_definition("differs", hide_label=True, calibration_share=0.1)
    assert definition["options"] == {"hide_label": True, "calibration_share": 0.1}
    assert "options" not in review.queue_definition("differs")
