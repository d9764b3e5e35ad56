"""The original challenge label files: exact format in and out."""

from __future__ import annotations

import pytest

from wbcreview.data.labels import (
    LabelFileError,
    image_id_from_name,
    read_original_labels,
    write_original_labels,
)


def test_phase1_file_with_trailing_empty_columns_and_crlf(tmp_path):
    path = tmp_path / "phase1.csv"
    path.write_bytes(
        b"ID,labels,split,,,\r\n01416766.jpg,SNE,phase1_train,,,\r\n00000001.jpg,PLY,phase1_train,,,\r\n"
    )
    frame = read_original_labels(path)
    assert frame.to_dict("records") == [
        {"image_id": "01416766", "label": "SNE", "split": "phase1_train"},
        {"image_id": "00000001", "label": "PLY", "split": "phase1_train"},
    ]


def test_test_file_has_empty_labels(tmp_path):
    path = tmp_path / "test.csv"
    path.write_bytes(b"ID,labels\r\n01416766.jpg,\r\n")
    assert read_original_labels(path).to_dict("records") == [
        {"image_id": "01416766", "label": None, "split": None}
    ]


def test_written_file_is_byte_exact(tmp_path):
    path = tmp_path / "out.csv"
    write_original_labels(path, [("01416766", "SNE", "phase1_train")], extra_empty_columns=3)
    assert path.read_bytes() == b"ID,labels,split,,,\r\n01416766.jpg,SNE,phase1_train,,,\r\n"
    write_original_labels(path, [("01416766", None, None)], with_split=False)
    assert path.read_bytes() == b"ID,labels\r\n01416766.jpg,\r\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"image,label\r\n", "line 1: unknown column 'image'.*missing column\\(s\\) ID, labels"),
        (b"ID,labels\r\n01.jpg,XYZ\r\n", "line 2: unknown label 'XYZ'"),
        (b"ID,labels\r\n01.jpg,SNE\r\n01.jpg,LY\r\n", "line 3: ID 01.jpg already on line 2"),
        (b"\xff\xfe\x00bad", "line 1: byte 0 is not UTF-8 text"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(LabelFileError, match=message):
        read_original_labels(path)


def test_image_id_from_name():
    assert image_id_from_name(" 01416766.jpg ") == "01416766"
    assert image_id_from_name("01416766") == "01416766"


def test_imported_label_files_drive_the_differs_filter(demo_copy, tmp_path):
    from wbcreview.data import query
    from wbcreview.data.catalog import import_label_files, open_catalog

    # A user's copy without the original files: move them out, then import them.
    moved = []
    for csv in sorted((demo_copy / "original_labels").glob("*.csv")):
        target = tmp_path / csv.name
        csv.rename(target)
        moved.append(target)
    with open_catalog(demo_copy) as cat:
        assert query.count(cat.cursor(), query.Filter(differs_from_original=True)) == 0
    summaries = import_label_files(demo_copy, moved)
    assert {s["file"] for s in summaries} == {p.name for p in moved}
    differing = sum(s["differing"] for s in summaries)
    assert differing > 0
    with open_catalog(demo_copy) as cat:
        n = query.count(
            cat.cursor(), query.Filter(differs_from_original=True, configs=("pristine",))
        )
    assert n == differing
    # Importing the same files again adds nothing.
    import_label_files(demo_copy, moved)
    with open_catalog(demo_copy) as cat:
        assert (
            query.count(
                cat.cursor(), query.Filter(differs_from_original=True, configs=("pristine",))
            )
            == n
        )


def test_import_rejects_every_bad_file_and_writes_nothing(demo_copy, tmp_path):
    from wbcreview.data.catalog import import_label_files, imported_labels_dir

    good = sorted((demo_copy / "original_labels").glob("*.csv"))[0]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"ID,labels\r\n01.jpg,XYZ\r\n")
    other = tmp_path / "other.csv"
    other.write_bytes(b"ID,labels,split\r\n99999998.jpg,SNE,phase1_train\r\n")
    with pytest.raises(LabelFileError, match="unknown label 'XYZ'") as exc:
        import_label_files(demo_copy, [good, bad, tmp_path / "missing.csv"])
    assert "no such file" in str(exc.value)
    with pytest.raises(LabelFileError, match="none of its 1 IDs is a cell of this copy"):
        import_label_files(demo_copy, [good, other])
    assert not imported_labels_dir(demo_copy).exists() or not any(
        imported_labels_dir(demo_copy).iterdir()
    )
