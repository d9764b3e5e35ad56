"""Facts of the WBCBench 2026 release: classes, configs, splits, schema, shard names.

Everything here comes from ../shared/DATASET.md; code elsewhere reads these names
instead of spelling them again.
"""

from __future__ import annotations

import re

HUB_REPO_ID = "Xin-Tian/wbcbench2026"

# code -> (cell type, share of labelled cells in the original challenge label files)
CLASSES: dict[str, tuple[str, float]] = {
    "SNE": ("Segmented neutrophil", 0.450),
    "LY": ("Lymphocyte", 0.280),
    "MO": ("Monocyte", 0.095),
    "BL": ("Blast cell", 0.070),
    "EO": ("Eosinophil", 0.030),
    "MY": ("Myelocyte", 0.015),
    "BA": ("Basophil", 0.014),
    "BNE": ("Band-form neutrophil", 0.014),
    "VLY": ("Variant (atypical) lymphocyte", 0.013),
    "MMY": ("Metamyelocyte", 0.012),
    "PMY": ("Promyelocyte", 0.004),
    "PC": ("Plasma cell", 0.002),
    "PLY": ("Prolymphocyte", 0.0004),
}
CLASS_CODES: tuple[str, ...] = tuple(CLASSES)
CELL_TYPES: dict[str, str] = {code: name for code, (name, _) in CLASSES.items()}

SEVERITIES: tuple[str, ...] = ("pristine", "mild", "moderate", "extreme")
CONFIGS: tuple[str, ...] = ("pristine", "degraded")
SPLITS: tuple[str, ...] = ("phase1_train", "phase2_train", "phase2_eval", "phase2_test")

# (config, split) -> number of shards in the real release
RELEASE_SHARDS: dict[tuple[str, str], int] = {
    ("pristine", "phase1_train"): 1,
    ("pristine", "phase2_train"): 1,
    ("pristine", "phase2_eval"): 1,
    ("pristine", "phase2_test"): 1,
    ("degraded", "phase2_train"): 4,
    ("degraded", "phase2_eval"): 1,
    ("degraded", "phase2_test"): 2,
}
# split -> (approximate rows, patients) in the pristine config of the real release
RELEASE_SPLIT_SIZES: dict[str, tuple[int, int]] = {
    "phase1_train": (8288, 74),
    "phase2_train": (24897, 222),
    "phase2_eval": (5350, 49),
    "phase2_test": (16477, 148),
}

# column -> arrow type name, for every row of both configs ("image" is the HF Image struct)
COLUMNS: dict[str, str] = {
    "image": "struct<bytes: binary, path: string>",
    "image_id": "string",
    "label": "string",
    "wbcbench_split": "string",
    "severity": "string",
    "original_image_id": "string",
    "patient_hash": "string",
}
METADATA_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c != "image")

CLASS_LEGEND = "metadata/class_legend.csv"
DEGRADATION_PARAMS = "metadata/degradation_params.csv"
# Where a copy keeps the original challenge label files (CRLF CSV, `ID,labels,split`).
# The release's own folder name is not documented; the demo writes here and
# `import-labels` reads any path.
ORIGINAL_LABELS_DIR = "original_labels"

SHARD_RE = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


def shard_name(split: str, index: int, count: int) -> str:
    """Return the release's file name for shard `index` (0-based) of `count` of a split."""
    return f"{split}-{index:05d}-of-{count:05d}.parquet"
