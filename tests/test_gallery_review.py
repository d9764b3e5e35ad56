"""Gallery review, pure: galleries, selection (click, shift range, keys), key map, sign-off."""

from __future__ import annotations

import pytest

from wbcreview.data.release import CLASS_CODES
from wbcreview.review import gallery as gr
from wbcreview.review.workflow import CLASS_KEYS, CLASS_ORDER

ORDER = ["a", "b", "c", "d", "e", "f"]
LABELS = {"a": "LY", "b": "SNE", "c": "LY", "d": "BL", "e": "SNE", "f": "XX"}


def test_the_key_map_has_13_class_keys_remove_reasons_and_no_clash():
    keys = gr.key_map()
    classes = {c.value for c in keys.values() if c.kind == "class"}
    assert classes == set(CLASS_CODES) and len(classes) == 13
    assert {c.value for c in keys.values() if c.kind == "remove"} == {
        "smudge", "artefact", "multi-cell", "low-quality", "not-classable", "other",
    }  # fmt: skip
    assert gr.command_for("s") == gr.Command("class", "SNE")  # the same keys as single-cell
    assert all(gr.command_for(k.lower()).value == c for c, k in CLASS_KEYS.items())
    assert gr.command_for("k").kind == "retain" and gr.command_for("U").kind == "unsure"
    assert gr.command_for("ArrowDown").kind == "down" and gr.command_for(" ").kind == "toggle"
    assert gr.command_for("Enter").kind == "sign_off" and gr.command_for("F5") is None
    legend = gr.key_legend()
    assert [k for k, _ in legend[:13]] == [CLASS_KEYS[c] for c in CLASS_ORDER]


def test_galleries_group_by_label_in_class_order_and_blind_is_one_gallery():
    groups = gr.galleries(ORDER, LABELS)
    assert groups == [("SNE", ["b", "e"]), ("BL", ["d"]), ("LY", ["a", "c"]), ("XX", ["f"])]
    assert gr.display_order(groups) == ["b", "e", "d", "a", "c", "f"]
    assert gr.galleries(ORDER, LABELS, hidden=True) == [(gr.HIDDEN, ORDER)]
    assert gr.galleries([], LABELS) == []


def test_pages_of_48():
    cells = [str(i) for i in range(100)]
    assert gr.page_total(cells) == 3 and gr.page_total([]) == 1
    assert gr.page_cells(cells, 0) == cells[:48]
    assert gr.page_cells(cells, 2) == cells[96:] and gr.page_cells(cells, 9) == cells[96:]
    assert gr.page_cells([], 0) == []


def test_click_shift_click_and_ctrl_click():
    s = gr.click(gr.Selection(), ORDER, "b")
    assert s.selected == {"b"} and s.cursor == "b" and s.anchor == "b"
    s = gr.click(s, ORDER, "e", shift=True)
    assert s.selected == {"b", "c", "d", "e"} and s.anchor == "b"
    s = gr.click(s, ORDER, "a", shift=True)  # the range turns round the anchor
    assert s.selected == {"a", "b"}
    s = gr.click(s, ORDER, "f", toggle=True)
    assert s.selected == {"a", "b", "f"}
    s = gr.click(s, ORDER, "f", toggle=True)
    assert s.selected == {"a", "b"}
    assert gr.click(s, ORDER, "zz") == s  # not on the page: nothing changes
    assert gr.click(gr.Selection(), ORDER, "c", shift=True).selected == {"c"}  # no anchor yet


def test_keyboard_moves_extend_toggle_and_whole_gallery():
    s = gr.move(gr.Selection(), ORDER, 1)
    assert s.cursor == "a" and not s.selected  # the first move lands on the first tile
    s = gr.move(s, ORDER, 2)
    assert s.cursor == "c"
    s = gr.move(s, ORDER, 2, extend=True)
    assert s.selected == {"c", "d", "e"} and s.cursor == "e"
    s = gr.move(s, ORDER, 10)
    assert s.cursor == "f" and s.selected == {"c", "d", "e"}  # clamped; selection kept
    s = gr.toggle_cursor(s)
    assert s.selected == {"c", "d", "e", "f"}
    groups = gr.galleries(ORDER, LABELS)
    s = gr.select_gallery(gr.Selection(cursor="c"), groups)
    assert s.selected == {"a", "c"}
    assert gr.select_gallery(gr.Selection(), groups).selected == {"b", "e"}
    assert s.targets() == ["a", "c"] and gr.Selection(cursor="d").targets() == ["d"]
    assert gr.Selection().targets() == []


def test_after_a_vote_the_cursor_goes_to_the_next_unvoted_tile():
    s = gr.Selection(frozenset({"b", "c"}), "c", "b")
    s = gr.after_vote(s, ORDER, {"b", "c", "d"})
    assert s == gr.Selection(frozenset(), "e", "e")
    s = gr.after_vote(gr.Selection(cursor="f"), ORDER, {"b", "f"})
    assert s.cursor == "a"  # wraps round
    assert gr.after_vote(gr.Selection(cursor="c"), ORDER, ORDER).cursor == "c"
    assert gr.keep_valid(gr.Selection(frozenset({"a", "z"}), "z"), ORDER) == gr.Selection(
        frozenset({"a"}), "a", "a"
    )


def test_votes_for_a_class_key_keep_a_cell_already_of_that_class():
    votes = gr.votes_for(gr.Command("class", "LY"), ["a", "b"], LABELS)
    assert votes == [gr.Vote("a", "retain"), gr.Vote("b", "correct", "LY")]
    assert gr.votes_for(gr.Command("remove", "smudge"), ["a"], LABELS) == [
        gr.Vote("a", "remove", reason="smudge")
    ]
    assert gr.votes_for(gr.Command("unsure"), ["d"], LABELS) == [gr.Vote("d", "unsure")]
    assert gr.votes_for(gr.Command("retain"), ["d"], LABELS) == [gr.Vote("d", "retain")]
    assert gr.votes_for(gr.Command("left"), ["d"], LABELS) == []
    with pytest.raises(ValueError):
        gr.votes_for(gr.Command("class", "ZZ"), ["a"], LABELS)


def test_sign_off_counts():
    counts = gr.sign_off_counts(
        ORDER + ["a"], {"a": "retain", "b": "correct", "c": "remove", "d": "unsure"}
    )
    assert counts == gr.SignOffCounts(tiles=6, retain=2, kept=1, corrected=1, removed=1, unsure=1)
    assert "2 without a vote will be recorded as 'keep label'" in counts.describe()
    assert gr.sign_off_counts([], {}).retain == 0


def test_the_grid_escapes_cell_ids_and_shows_votes():
    evil = '"><img src=x onerror=alert(1)>'
    html = gr.grid_html(
        [("LY", ["a", evil])],
        {"a": "data:image/jpeg;base64,AAAA"},
        gr.Selection(frozenset({"a"}), evil),
        {"a": ("correct", "MO", None)},
    )
    assert "<img src=x" not in html and "&quot;&gt;&lt;img" in html
    assert 'class="gr-tile gr-sel gr-done" data-gr-cell="a"' in html
    assert "gr-cur" in html and "→ MO" in html and "1/2 voted" in html
    assert gr.badge("remove", None, "smudge") == "✗ smudge" and gr.badge(None, None, None) == ""
    assert "No cells" in gr.grid_html([], {}, gr.Selection(), {})
