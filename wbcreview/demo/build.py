"""Build a demo copy: the full WBCBench 2026 release layout, filled with generated cells.

`build_demo` writes README.md (dataset card with a `configs:` block), the pristine and
degraded parquet shards under their release names, metadata/class_legend.csv,
metadata/degradation_params.csv, scripts/degrade_ops.py and the original challenge label
files (original_labels/*.csv, with a few changed and removed cells, as the curation had).
Cells are painted by draw.py, or taken byte for byte from a folder of real labelled JPEGs
(`from_folder`); degraded rows are made by degrade.py. Same seed and inputs, same bytes.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import io
import json
import multiprocessing
import os
import shutil
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
from PIL import Image

from wbcreview.data.release import (
    CLASS_CODES,
    CLASS_LEGEND,
    CLASSES,
    COLUMNS,
    CONFIGS,
    DEGRADATION_PARAMS,
    HUB_REPO_ID,
    METADATA_COLUMNS,
    ORIGINAL_LABELS_DIR,
    RELEASE_SHARDS,
    RELEASE_SPLIT_SIZES,
    SPLITS,
    shard_name,
)
from wbcreview.demo import degrade as degrade_ops
from wbcreview.demo import draw
from wbcreview.errors import WbcreviewError

DEFAULT_CELLS = 2000
# Every class in every split: 13 cells in each of the 4 splits at least.
MIN_CELLS = len(CLASS_CODES) * len(SPLITS)
MAX_CELLS = 10_000_000  # image ids are 8 digits and every id is unique
MIN_FOLDER_CELLS = len(SPLITS)
DEMO_MARKER = ".wbcreview-demo"
JPEG_QUALITY = 90
JPEG_SUFFIXES = {".jpg", ".jpeg"}
OTHER_IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"}

# Shares of the release and of its curation (DATASET.md): 257 corrected and 10 removed cells
# of 38,535 labelled ones; some JPEGs slightly malformed; image.path sometimes null.
CHANGED_SHARE = 257 / 38535
MIN_CHANGED = 3
REMOVED_SHARE = 10 / 38535
MALFORMED_SHARE = 0.005
NULL_PATH_SHARE = 0.05
# Bytes inserted before the first DQT marker: decoders warn "extraneous bytes before marker".
MALFORMED_JUNK = b"\x00\x13\x37"
LABELLED_SPLITS = ("phase1_train", "phase2_train", "phase2_eval")
PHASE2_SPLITS = tuple(s for s in SPLITS if s.startswith("phase2"))
# Label a first annotator plausibly gave instead (the original label of a corrected cell).
CONFUSABLE: dict[str, str] = {
    "SNE": "BNE",
    "BNE": "SNE",
    "LY": "VLY",
    "VLY": "LY",
    "BL": "MO",
    "MO": "BL",
    "MY": "MMY",
    "MMY": "MY",
    "PMY": "MY",
    "EO": "SNE",
    "BA": "EO",
    "PC": "LY",
    "PLY": "LY",
}
# Files and folders a demo copy consists of; only these are removed when a demo is rebuilt.
DEMO_ENTRIES = ("README.md", "pristine", "degraded", "metadata", ORIGINAL_LABELS_DIR, "scripts")
PARAMS_HEAD = ("image_id", "original_image_id", "wbcbench_split", "severity")
PARAMS_COLUMNS = PARAMS_HEAD + degrade_ops.PARAM_COLUMNS[1:] + ("jpeg_quality",)

# Work sent to the image workers: batches of cells, a bounded number in flight.
BATCH_CELLS = 24
BATCHES_IN_FLIGHT = 8
PARALLEL_FROM_CELLS = 600


class DemoError(WbcreviewError):
    "The demo copy could not be built."


class DemoInputError(DemoError):
    "A demo argument (cells, seed) is out of range."


class OutputFolderError(DemoError):
    "The output folder cannot receive a demo copy."


class SourceFolderError(DemoError):
    "The folder of labelled images cannot be used as a demo source."


@dataclass
class DemoSummary:
    """What `build_demo` wrote: row counts per config and split, curation ids, the folder."""

    out: Path
    seed: int
    cells: int  # pristine cells (rows of the pristine config)
    source: str  # "generated" or the folder the cells came from
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # config -> split -> rows
    patients: dict[str, int] = field(default_factory=dict)  # split -> patients
    classes: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> label -> cells
    changed_ids: list[str] = field(default_factory=list)  # original label differs from label
    removed_ids: list[str] = field(default_factory=list)  # in the original files only
    malformed_ids: list[str] = field(default_factory=list)  # pristine JPEGs with extra bytes
    files: list[str] = field(default_factory=list)  # paths relative to `out`

    def to_json(self) -> str:
        """The summary (without `out`) as stable, sorted JSON, as in the copy's .wbcreview-demo."""
        data = asdict(self)
        del data["out"]  # the same copy built elsewhere stays byte-identical
        return json.dumps(data, indent=1, sort_keys=True) + "\n"


@dataclass
class _Cell:
    image_id: str
    label: str
    split: str
    patient_hash: str
    source: str | None = None  # file of a real image, None for a painted one
    index: int = 0  # position in the copy: seeds the painting and the degradation
    null_path: bool = False
    malformed: bool = False
    severity: str | None = None  # phase2 cells: the severity of the degraded row
    degraded_id: str = ""
    degraded_null_path: bool = False


def build_demo(
    out: Path,
    cells: int | None = None,
    seed: int = 0,
    from_folder: Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    *,
    workers: int | None = None,
) -> DemoSummary:
    """Write a demo copy in the exact release layout into `out` and return its summary.

    `cells`: pristine cells; None means DEFAULT_CELLS painted cells, or every image of
    `from_folder` (a folder with one sub-folder of JPEGs per class code; an explicit
    `cells` then takes that many of them). `seed` makes the copy reproducible byte for
    byte. `progress(done, total, stage)` is called as images are made. `workers`: image
    processes (None: 2 for big copies, 1 for small ones).
    Raises DemoInputError (cells below MIN_CELLS, negative seed), SourceFolderError
    (missing folder, a sub-folder that is not a class code, no JPEGs) or OutputFolderError
    (`out` is a file, or a non-empty folder that is not a previous demo copy).
    """
    out = Path(out)
    if not isinstance(seed, int) or seed < 0:
        raise DemoInputError(f"seed must be a whole number >= 0 (got {seed!r})")
    rng = np.random.default_rng([seed, 0xDE70])
    if from_folder is not None:
        found = find_folder_images(Path(from_folder))
        plan = _plan_folder(found, cells, rng, seed)
        source = str(Path(from_folder))
    else:
        n = DEFAULT_CELLS if cells is None else cells
        if not isinstance(n, int) or n < MIN_CELLS:
            raise DemoInputError(
                f"cells must be at least {MIN_CELLS} so that each of the {len(CLASS_CODES)} classes "
                f"is in each of the {len(SPLITS)} splits (got {cells!r})"
            )
        if n > MAX_CELLS:
            raise DemoInputError(f"cells must be at most {MAX_CELLS:,} (got {n:,})")
        plan = _plan_generated(n, rng, seed)
        source = "generated"
    _prepare_out(out)
    summary = DemoSummary(
        out=out, seed=seed, cells=sum(len(v) for v in plan.values()), source=source
    )
    _fill_summary(summary, plan)
    written = _write_copy(out, plan, summary, seed, progress, workers)
    summary.files = sorted(written)
    (out / DEMO_MARKER).write_text(summary.to_json(), encoding="utf-8")
    return summary


# ---------------------------------------------------------------- inputs and output folder


def find_folder_images(folder: Path) -> dict[str, list[Path]]:
    """List the JPEGs of `folder`, one sub-folder per class code: {code: sorted files}.

    Files at the top level (a manifest, a notice) and hidden folders are ignored. Raises
    SourceFolderError when the folder is missing, a sub-folder is not a class code, a
    class folder holds non-JPEG images, or no JPEG is found.
    """
    if not folder.is_dir():
        raise SourceFolderError(f"image folder {folder} does not exist or is not a folder")
    found: dict[str, list[Path]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name not in CLASSES:
            raise SourceFolderError(
                f"{sub}: sub-folder {sub.name!r} is not a class code; name each sub-folder by its "
                f"class ({', '.join(CLASS_CODES)}) or move it out of {folder}"
            )
        files = sorted(
            p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in JPEG_SUFFIXES
        )
        others = sorted(p.name for p in sub.iterdir() if p.suffix.lower() in OTHER_IMAGE_SUFFIXES)
        if others:
            raise SourceFolderError(
                f"{sub}: {others[0]} is not a JPEG (the release holds JPEG bytes); convert or "
                f"remove {len(others)} such file(s)"
            )
        if files:
            found[sub.name] = files
    if not found:
        raise SourceFolderError(
            f"no images found in {folder}: expected JPEG files in sub-folders named by class "
            f"code ({', '.join(CLASS_CODES)})"
        )
    return found


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / DEMO_MARKER).exists():
            raise OutputFolderError(
                f"output folder {out} is not empty and is not a previous demo copy (it has no "
                f"{DEMO_MARKER}); choose a new or empty folder"
            )
        for name in DEMO_ENTRIES:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    # Marks the folder as a demo copy at once, so an interrupted build can be rebuilt.
    (out / DEMO_MARKER).write_text('{"building": true}\n', encoding="utf-8")


# ------------------------------------------------------------------------------ the plan


def apportion(total: int, weights: Iterable[float]) -> list[int]:
    """Split `total` into whole parts proportional to `weights` (largest remainder)."""
    w = np.asarray(list(weights), dtype=float)
    if total <= 0 or w.sum() <= 0:
        return [0] * len(w)
    exact = total * w / w.sum()
    parts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - parts), kind="stable")[: total - parts.sum()]:
        parts[i] += 1
    return parts.tolist()


def split_sizes(total: int, minimum: int = 1) -> dict[str, int]:
    """Cells per split: the release's proportions, each split at least `minimum` cells."""
    fixed: dict[str, int] = {}
    while True:
        free = [s for s in SPLITS if s not in fixed]
        parts = apportion(total - sum(fixed.values()), [RELEASE_SPLIT_SIZES[s][0] for s in free])
        small = [s for s, n in zip(free, parts, strict=True) if n < minimum]
        if not small:
            return {s: fixed.get(s) or dict(zip(free, parts, strict=True))[s] for s in SPLITS}
        fixed.update({s: minimum for s in small})


def patient_count(split: str, cells: int) -> int:
    """Patients of a split with `cells` cells: the release's cells per patient, at least 1."""
    rows, patients = RELEASE_SPLIT_SIZES[split]
    return max(1, min(cells, round(cells * patients / rows)))


def _patients(split: str, n: int, rng, seed: int, first: int) -> list[str]:
    """Patient hash of each of `n` cells (cells per patient vary, each patient has one)."""
    k = patient_count(split, n)
    weights = rng.lognormal(0.0, 0.7, k)
    counts = 1 + rng.multinomial(n - k, weights / weights.sum())
    hashes = [patient_hash(seed, first + i) for i in range(k)]
    return [h for h, c in zip(hashes, counts, strict=True) for _ in range(int(c))]


def patient_hash(seed: int, patient: int) -> str:
    """16 hex digits of the salted SHA-256 of a made-up accession number."""
    accession = f"ACC-{seed}-{patient:07d}"
    return hashlib.sha256(f"wbcreview-demo-salt:{accession}".encode()).hexdigest()[:16]


def _plan_generated(n: int, rng, seed: int) -> dict[str, list[_Cell]]:
    sizes = split_sizes(n, minimum=len(CLASS_CODES))
    shares = [share for _, share in CLASSES.values()]
    labels_by_split = {}
    for split in SPLITS:
        counts = [1 + c for c in apportion(sizes[split] - len(CLASS_CODES), shares)]
        labels = [code for code, c in zip(CLASS_CODES, counts, strict=True) for _ in range(c)]
        labels_by_split[split] = [labels[i] for i in rng.permutation(len(labels))]
    return _finish_plan(labels_by_split, {}, rng, seed, malformed=True)


def _plan_folder(found: dict[str, list[Path]], cells: int | None, rng, seed: int):
    available = sum(len(v) for v in found.values())
    if cells is not None and (not isinstance(cells, int) or cells < MIN_FOLDER_CELLS):
        raise DemoInputError(
            f"cells must be at least {MIN_FOLDER_CELLS}, one per split (got {cells!r})"
        )
    if available < MIN_FOLDER_CELLS:
        raise SourceFolderError(
            f"only {available} image(s) found: at least {MIN_FOLDER_CELLS} are needed"
        )
    take = available if cells is None else min(cells, available)
    if take < len(found):
        keep = sorted(rng.choice(len(found), take, replace=False).tolist())
        found = {code: files[:1] for k, (code, files) in enumerate(found.items()) if k in keep}
    elif take < available:
        # Keep every class, in proportion to what the folder holds.
        quota = apportion(take - len(found), [len(v) - 1 for v in found.values()])
        found = {
            code: sorted(files[i] for i in rng.choice(len(files), q + 1, replace=False))
            for (code, files), q in zip(found.items(), quota, strict=True)
        }
    # Each class spread over the splits in the release's proportions, one per split first.
    weights = [RELEASE_SPLIT_SIZES[s][0] for s in SPLITS]
    by_split: dict[str, list[tuple[str, Path]]] = {s: [] for s in SPLITS}
    for code, files in found.items():
        order = [files[i] for i in rng.permutation(len(files))]
        base = 1 if len(order) >= len(SPLITS) else 0
        counts = [base + c for c in apportion(len(order) - base * len(SPLITS), weights)]
        start = 0
        for split, c in zip(SPLITS, counts, strict=True):
            by_split[split] += [(code, f) for f in order[start : start + c]]
            start += c
    for split in SPLITS:  # a split left empty (tiny folders) borrows a cell from the largest
        if not by_split[split]:
            donor = max(SPLITS, key=lambda s: len(by_split[s]))
            by_split[split].append(by_split[donor].pop())
    labels_by_split, sources = {}, {}
    for split, items in by_split.items():
        order = rng.permutation(len(items))
        labels_by_split[split] = [items[i][0] for i in order]
        sources[split] = [str(items[i][1]) for i in order]
    return _finish_plan(labels_by_split, sources, rng, seed, malformed=False)


def _finish_plan(
    labels_by_split, sources, rng, seed: int, malformed: bool
) -> dict[str, list[_Cell]]:
    """Give cells patients, unique 8-digit ids, severities, null paths and malformed JPEGs."""
    n = sum(len(v) for v in labels_by_split.values())
    n_phase2 = sum(len(labels_by_split[s]) for s in PHASE2_SPLITS)
    ids = iter(f"{i:08d}" for i in rng.choice(10**8, n + n_phase2, replace=False))
    plan: dict[str, list[_Cell]] = {}
    first_patient = 0
    for split in SPLITS:
        labels = labels_by_split[split]
        hashes = _patients(split, len(labels), rng, seed, first_patient)
        first_patient += len(set(hashes))
        files = sources.get(split, [None] * len(labels))
        cells = [
            _Cell(next(ids), label, split, h, src)
            for label, h, src in zip(labels, hashes, files, strict=True)
        ]
        plan[split] = sorted(cells, key=lambda c: c.image_id)
    for split in PHASE2_SPLITS:
        for cell, severity in zip(
            plan[split], degrade_ops.assign_severities(len(plan[split]), rng), strict=True
        ):
            cell.severity, cell.degraded_id = severity, next(ids)
    index = 0
    for split in SPLITS:
        for cell in plan[split]:
            cell.index = index
            index += 1
        _null_paths(plan[split], "null_path", rng)
        if split in PHASE2_SPLITS:
            _null_paths(plan[split], "degraded_null_path", rng)
    if malformed:
        every = [c for s in SPLITS for c in plan[s]]
        for i in rng.choice(len(every), max(1, round(n * MALFORMED_SHARE)), replace=False):
            every[i].malformed = True
    return plan


def _null_paths(cells: list[_Cell], attr: str, rng) -> None:
    """Null image.path for a few rows of a shard set, at least one, never all."""
    flags = rng.random(len(cells)) < NULL_PATH_SHARE
    if len(cells) >= 2:
        if not flags.any():
            flags[len(cells) // 2] = True
        if flags.all():
            flags[0] = False
    for cell, flag in zip(cells, flags.tolist(), strict=True):
        setattr(cell, attr, flag)


def _fill_summary(summary: DemoSummary, plan: dict[str, list[_Cell]]) -> None:
    summary.rows = {
        "pristine": {s: len(plan[s]) for s in SPLITS},
        "degraded": {s: len(plan[s]) for s in PHASE2_SPLITS},
    }
    summary.patients = {s: len({c.patient_hash for c in plan[s]}) for s in SPLITS}
    for split in SPLITS:
        counts = Counter(c.label for c in plan[split])
        summary.classes[split] = {code: counts[code] for code in CLASS_CODES if counts[code]}
    summary.malformed_ids = sorted(c.image_id for s in SPLITS for c in plan[s] if c.malformed)


# ------------------------------------------------------------------------- image workers


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def malform_jpeg(data: bytes, junk: bytes = MALFORMED_JUNK) -> bytes:
    """Insert `junk` before the first DQT marker: Pillow still decodes it, with a warning."""
    pos = data.find(b"\xff\xdb")
    if data[:2] != b"\xff\xd8" or pos < 0:
        raise ValueError("not a JPEG with a quantisation table")
    return data[:pos] + junk + data[pos:]


def _render(task: tuple) -> tuple[bytes, bytes | None, dict | None]:
    """Make one cell: (pristine JPEG, degraded JPEG or None, degradation parameters or None)."""
    seed, index, label, source, severity, malformed = task
    img = None
    if source is None:
        img = draw.draw_cell(label, np.random.default_rng([seed, index]))
        pristine = _jpeg(img)
        if malformed:
            pristine = malform_jpeg(pristine)
    else:
        pristine = Path(source).read_bytes()
    if severity is None:
        return pristine, None, None
    rng = np.random.default_rng([seed, index, 1])
    params = degrade_ops.sample_degradation(severity, rng)
    if severity == "pristine":
        return pristine, pristine, params.as_row()
    if img is None:
        try:
            img = Image.open(io.BytesIO(pristine))
            img.load()
        except Exception as exc:  # any decoder error: name the file
            raise SourceFolderError(f"{source}: cannot be decoded as an image ({exc})") from None
    return pristine, _jpeg(degrade_ops.degrade(img, params, rng)), params.as_row()


def _render_batch(tasks: list[tuple]) -> list[tuple]:
    return [_render(t) for t in tasks]


def _tune_malloc() -> None:
    """Let glibc keep freed image buffers instead of unmapping them after every image.

    Each image allocates and frees a few MB; by default glibc hands them back to the OS
    each time, and the page faults cost a quarter of the build. Worker processes only.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum
    libc.mallopt(m_trim_threshold, 256 << 20)


def _warm() -> None:
    """Tune malloc and build the per-process caches (smear fields, noise bank) once per worker."""
    _tune_malloc()
    draw._fields()
    draw._textures()
    degrade_ops._noise_bank()


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _rendered(tasks: Iterable[tuple], workers: int) -> Iterator[tuple]:
    """Results of `_render` in task order; with workers, a bounded number of batches in flight."""
    if workers <= 1:
        yield from map(_render, tasks)
        return
    # spawn: workers start clean (no forked threads of Streamlit or Arrow) and import only
    # numpy, Pillow and this module, whose heavy imports are deferred.
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_warm) as pool:
        batches = _chunks(tasks, BATCH_CELLS)
        pending = deque(
            pool.apply_async(_render_batch, (b,)) for b in islice(batches, BATCHES_IN_FLIGHT)
        )
        while pending:
            done = pending.popleft().get()
            nxt = next(batches, None)
            if nxt is not None:
                pending.append(pool.apply_async(_render_batch, (nxt,)))
            yield from done


# ---------------------------------------------------------------------------- writing


def features():
    """The release's `datasets.Features`: Image plus six strings, in COLUMNS order."""
    import datasets

    return datasets.Features(
        {
            name: datasets.Image() if name == "image" else datasets.Value("string")
            for name in COLUMNS
        }
    )


class _ShardWriter:
    """Stream rows into one parquet shard with datasets' ParquetWriter, ~100 MB row groups.

    The row-group size is chosen like datasets 5.2 does (config.MAX_ROW_GROUP_SIZE over
    the mean image size, measured on the first rows) and each group is written in one go.
    """

    SAMPLE_ROWS = 200

    def __init__(self, path: Path, features):
        self.path, self.features = path, features
        self.rows: list[tuple] = []
        self.group_rows = 0
        self.writer = None

    def add(self, row: tuple) -> None:
        """Queue one row: (image bytes, image path or None, image_id, label, split, severity,
        original_image_id, patient_hash)."""
        self.rows.append(row)
        if not self.group_rows and len(self.rows) >= self.SAMPLE_ROWS:
            self._open()
        if self.group_rows and len(self.rows) >= self.group_rows:
            self._flush()

    def _open(self) -> None:
        from datasets.arrow_writer import ParquetWriter, get_writer_batch_size_from_data_size

        nbytes = sum(len(r[0]) for r in self.rows)
        self.group_rows = get_writer_batch_size_from_data_size(max(1, len(self.rows)), nbytes)
        self.writer = ParquetWriter(
            path=str(self.path), features=self.features, writer_batch_size=self.group_rows
        )

    def _flush(self) -> None:
        import pyarrow as pa

        if not self.rows:
            return
        cols = list(zip(*self.rows, strict=True))
        self.rows = []
        image = pa.StructArray.from_arrays(
            [pa.array(cols[0], pa.binary()), pa.array(cols[1], pa.string())],
            names=["bytes", "path"],
        )
        batch = {"image": image}
        for name, values in zip(METADATA_COLUMNS, cols[2:], strict=True):
            batch[name] = pa.array(values, pa.string())
        del cols  # the JPEG bytes now live in Arrow only: one copy of the group in memory
        self.writer.write_batch(batch)

    def close(self) -> None:
        """Write the queued rows and the footer."""
        if not self.group_rows:
            self._open()
        self._flush()
        self.writer.finalize()


def _shard_paths(config: str, split: str, rows: int) -> list[tuple[str, int]]:
    """(relative path, rows) of each shard of a split: rows split across shards in order."""
    count = RELEASE_SHARDS[(config, split)]
    bounds = [k * rows // count for k in range(count + 1)]
    return [
        (f"{config}/{shard_name(split, k, count)}", bounds[k + 1] - bounds[k]) for k in range(count)
    ]


def _write_copy(out: Path, plan, summary: DemoSummary, seed: int, progress, workers) -> list[str]:
    written: list[str] = []
    total = sum(len(v) for v in plan.values()) + sum(len(plan[s]) for s in PHASE2_SPLITS)
    step = max(1, total // 200)
    report = progress or (lambda done, total, stage: None)
    report(0, total, "planning the demo copy")
    for folder in ("pristine", "degraded", "metadata", ORIGINAL_LABELS_DIR, "scripts"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    written.append(_write_legend(out))
    written.append(_write_script(out))

    if workers is None:
        workers = min(2, os.cpu_count() or 1) if summary.cells >= PARALLEL_FROM_CELLS else 1
    tasks = (
        (seed, c.index, c.label, c.source, c.severity, c.malformed) for s in SPLITS for c in plan[s]
    )
    feats = features()
    done = 0
    # closing(): an error while writing stops the worker pool at once.
    with (
        closing(_rendered(tasks, workers)) as results,
        open(out / DEGRADATION_PARAMS, "w", newline="", encoding="utf-8") as fh,
    ):
        params_csv = csv.writer(fh, lineterminator="\n")
        params_csv.writerow(PARAMS_COLUMNS)
        written.append(DEGRADATION_PARAMS)
        for split in SPLITS:
            cells = plan[split]
            ((p_path, _),) = _shard_paths("pristine", split, len(cells))
            pristine = _ShardWriter(out / p_path, feats)
            written.append(p_path)
            shards = _shard_paths("degraded", split, len(cells)) if split in PHASE2_SPLITS else []
            degraded, left = None, 0
            for cell in cells:
                p_bytes, d_bytes, params = next(results)
                pristine.add(_row(p_bytes, cell.image_id, cell.null_path, cell, "pristine", ""))
                done += 1
                if d_bytes is not None:
                    while left == 0:
                        if degraded is not None:
                            degraded.close()
                        d_path, left = shards.pop(0)
                        degraded = _ShardWriter(out / d_path, feats)
                        written.append(d_path)
                    degraded.add(
                        _row(
                            d_bytes,
                            cell.degraded_id,
                            cell.degraded_null_path,
                            cell,
                            cell.severity,
                            cell.image_id,
                        )
                    )
                    left -= 1
                    done += 1
                    quality = "" if cell.severity == "pristine" else JPEG_QUALITY
                    params_csv.writerow(
                        [cell.degraded_id, cell.image_id, split, cell.severity]
                        + [params[k] for k in degrade_ops.PARAM_COLUMNS[1:]]
                        + [quality]
                    )
                if done % step < 2:
                    report(done, total, f"making the {split} images")
            pristine.close()
            if degraded is not None:
                degraded.close()
            for d_path, _ in shards:  # shards of a split too small to reach them: empty
                _ShardWriter(out / d_path, feats).close()
                written.append(d_path)
    report(done, total, "writing the original label files")
    written += _write_original_labels(out, plan, summary, np.random.default_rng([seed, 0x1AB]))
    written.append(_write_card(out, summary))
    report(total, total, "demo copy written")
    return written


def _row(
    data: bytes, image_id: str, null_path: bool, cell: _Cell, severity: str, original: str
) -> tuple:
    path = None if null_path else f"{image_id}.jpg"
    return (data, path, image_id, cell.label, cell.split, severity, original, cell.patient_hash)


def _write_legend(out: Path) -> str:
    with open(out / CLASS_LEGEND, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["abbreviation", "cell_type"])
        writer.writerows((code, name) for code, (name, _) in CLASSES.items())
    return CLASS_LEGEND


def _write_script(out: Path) -> str:
    rel = "scripts/degrade_ops.py"
    source = Path(degrade_ops.__file__).read_text(encoding="utf-8")
    head = "# The degradations of this demo copy: a copy of wbcreview/demo/degrade.py.\n"
    (out / rel).write_text(head + source, encoding="utf-8")
    return rel


def _write_original_labels(out: Path, plan, summary: DemoSummary, rng) -> list[str]:
    """The challenge's label files: pristine cells of each split, a few original labels that
    differ from the released label, and a few cells the release removed."""
    from wbcreview.data.labels import write_original_labels

    labelled = [c for s in LABELLED_SPLITS for c in plan[s]]
    n_changed = min(len(labelled), max(MIN_CHANGED, round(len(labelled) * CHANGED_SHARE)))
    changed = {labelled[i].image_id for i in rng.choice(len(labelled), n_changed, replace=False)}
    n_cells = sum(len(v) for v in plan.values())
    used = {c.image_id for s in SPLITS for c in plan[s]} | {
        c.degraded_id for s in SPLITS for c in plan[s]
    }
    removed: list[tuple[str, str, str]] = []
    shares = [share for _, share in CLASSES.values()]
    split_weights = np.array([len(plan[s]) for s in SPLITS], dtype=float)
    while len(removed) < max(1, round(n_cells * REMOVED_SHARE)):
        image_id = f"{int(rng.integers(0, 10**8)):08d}"
        if image_id in used:
            continue
        used.add(image_id)
        split = SPLITS[int(rng.choice(len(SPLITS), p=split_weights / split_weights.sum()))]
        label = CLASS_CODES[int(rng.choice(len(CLASS_CODES), p=np.array(shares) / sum(shares)))]
        removed.append((image_id, label, split))
    summary.changed_ids = sorted(changed)
    summary.removed_ids = sorted(r[0] for r in removed)

    written = []
    for split in SPLITS:
        rows = [
            (c.image_id, CONFUSABLE[c.label] if c.image_id in changed else c.label, split)
            for c in plan[split]
        ]
        rows += [r for r in removed if r[2] == split]
        rows.sort()
        rel = f"{ORIGINAL_LABELS_DIR}/{split}.csv"
        if split == "phase2_test":
            write_original_labels(
                out / rel, [(i, None, None) for i, _, _ in rows], with_split=False
            )
        else:
            extra = 3 if split == "phase1_train" else 0
            write_original_labels(out / rel, rows, extra_empty_columns=extra)
        written.append(rel)
    return written


def _write_card(out: Path, summary: DemoSummary) -> str:
    lines = [
        "---",
        "license: cc-by-nc-4.0",
        "pretty_name: WBCBench 2026 (generated demo copy)",
        "configs:",
    ]
    for config in CONFIGS:
        lines += [f"- config_name: {config}", "  data_files:"]
        for split in summary.rows[config]:
            lines += [f"  - split: {split}", f"    path: {config}/{split}-*.parquet"]
    lines += ["---", "", "# WBCBench 2026: generated demo copy", ""]
    if summary.source == "generated":
        what = "cells painted procedurally by wbcreview (not real images)"
    else:
        what = f"real labelled images from `{Path(summary.source).name}`, byte for byte"
    lines += [
        f"This is a generated demo copy made by `python -m wbcreview demo` (seed {summary.seed}), "
        f"with {summary.cells:,} pristine cells: {what}. It has the layout, shard names and "
        f"schema of the release [{HUB_REPO_ID}](https://huggingface.co/datasets/{HUB_REPO_ID}) "
        "but none of its data. Patients, labels, label corrections and removed cells are made up.",
        "",
        "| config | split | rows | patients |",
        "|---|---|---|---|",
    ]
    for config in CONFIGS:
        for split, rows in summary.rows[config].items():
            lines.append(f"| {config} | {split} | {rows:,} | {summary.patients[split]} |")
    lines += [
        "",
        f"`{ORIGINAL_LABELS_DIR}/` holds the original challenge label files (CRLF CSV): "
        f"{len(summary.changed_ids)} cells have an original label that differs from the released "
        f"label and {len(summary.removed_ids)} listed cell(s) were removed from the release.",
        "",
    ]
    if summary.source != "generated":
        lines += _notices(Path(summary.source))
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    return "README.md"


def _notices(folder: Path) -> list[str]:
    """The source folder's NOTICE/LICENSE texts: real images keep their attribution."""
    found = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.upper().startswith(("NOTICE", "LICENSE"))
    )
    lines = []
    for notice in found:
        lines += [
            f"## Source images: {notice.name}",
            "",
            notice.read_text(encoding="utf-8", errors="replace").strip(),
            "",
        ]
    return lines
