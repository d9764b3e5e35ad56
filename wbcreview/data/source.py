"""Find a WBCBench copy and its shards: a local folder, a Hub cache snapshot or the demo.

A data root is any folder in the release layout (see ../shared/DATASET.md). Configs and
splits come from the YAML `configs:` block of its README.md when there is one, else from
`<config>/<split>-NNNNN-of-MMMMM.parquet` file names.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import yaml

from wbcreview import config
from wbcreview.data.release import HUB_REPO_ID, SHARD_RE
from wbcreview.errors import WbcreviewError


class SourceError(WbcreviewError):
    """The data root cannot be used."""


class DownloadError(WbcreviewError):
    """The release could not be downloaded from the Hub."""


@dataclass(frozen=True)
class Shard:
    """One parquet file of a copy, with the config and split it belongs to."""

    config: str
    split: str
    path: Path  # absolute
    relpath: str  # relative to the data root, with forward slashes
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class DataSource:
    """A resolved data root and how it was chosen."""

    root: Path
    origin: str  # "--data", "WBCREVIEW_DATA", "data/wbcbench", "hub cache", "demo"
    is_demo: bool = False

    @property
    def has_copy(self) -> bool:
        """False only for a demo copy that has not been built yet."""
        return not self.is_demo or (self.root / "README.md").exists()

    def describe(self) -> str:
        """One line for people: where the data is and why this folder was chosen."""
        return f"{self.root} (from {self.origin}{', generated demo copy' if self.is_demo else ''})"


def hub_cache_dir() -> Path:
    """The Hugging Face Hub cache folder, honouring HF_HUB_CACHE and HF_HOME at call time."""
    if config.environment("HF_HUB_CACHE"):
        return Path(config.environment("HF_HUB_CACHE")).expanduser()
    if config.environment("HF_HOME"):
        return Path(config.environment("HF_HOME")).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def hub_snapshot(cache_dir: Path | None = None, repo_id: str = HUB_REPO_ID) -> Path | None:
    """Return the snapshot folder of the dataset in the Hub cache, or None if absent.

    Prefers the revision that `refs/main` points at; else the newest snapshot folder.
    """
    repo_dir = (cache_dir or hub_cache_dir()) / ("datasets--" + repo_id.replace("/", "--"))
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        candidate = snapshots / ref.read_text().strip()
        if candidate.is_dir():
            return candidate
    folders = sorted(
        (p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    return folders[-1] if folders else None


def resolve(data: str | Path | None = None) -> DataSource:
    """Choose the data root: `data` / WBCREVIEW_DATA / data/wbcbench / Hub cache / demo.

    An explicitly named folder (argument or environment) must exist; the demo copy is
    returned even when it has not been built yet (callers build it on demand).
    """
    if data:
        return _explicit(Path(data), "--data")
    env = config.get("WBCREVIEW_DATA").strip()
    if env:
        return _explicit(Path(env), "WBCREVIEW_DATA")
    local = config.data_dir() / "wbcbench"
    if local.is_dir() and any(local.iterdir()):
        return DataSource(local.resolve(), "data/wbcbench")
    snap = hub_snapshot()
    if snap is not None:
        return DataSource(snap, "hub cache")
    return DataSource(config.demo_dir().resolve(), "demo", is_demo=True)


def _explicit(path: Path, origin: str) -> DataSource:
    path = path.expanduser()
    if not path.is_dir():
        raise SourceError(f"data folder {path} (from {origin}) does not exist or is not a folder")
    return DataSource(path.resolve(), origin, is_demo=(path / ".wbcreview-demo").exists())


def read_card_configs(root: Path) -> dict[str, dict[str, list[str]]] | None:
    """Parse the `configs:` block of README.md's YAML front matter.

    Returns {config: {split: [glob patterns]}}, or None when there is no README, no front
    matter or no `configs:` block. Raises SourceError when the front matter is not YAML.
    """
    card = root / "README.md"
    if not card.is_file():
        return None
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    try:
        front = yaml.safe_load(text[3:end]) or {}
    except yaml.YAMLError as exc:
        raise SourceError(f"{card}: the YAML front matter does not parse ({exc})") from exc
    blocks = front.get("configs") if isinstance(front, dict) else None
    if not isinstance(blocks, list):
        return None
    configs: dict[str, dict[str, list[str]]] = {}
    for block in blocks:
        if not isinstance(block, dict) or "config_name" not in block:
            continue
        splits: dict[str, list[str]] = {}
        data_files = block.get("data_files", [])
        if isinstance(data_files, str):
            data_files = [{"split": "train", "path": data_files}]
        for entry in data_files or []:
            if not isinstance(entry, dict) or "split" not in entry:
                continue
            paths = entry.get("path", [])
            splits.setdefault(str(entry["split"]), []).extend(
                [paths] if isinstance(paths, str) else [str(p) for p in paths]
            )
        configs[str(block["config_name"])] = splits
    return configs or None


def discover(root: Path) -> list[Shard]:
    """List every parquet shard of the copy at `root`, sorted by config, split and name.

    Raises SourceError when the folder does not exist. An empty list means no shards.
    """
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"data folder {root} does not exist")
    found: dict[Path, tuple[str, str]] = {}
    card = read_card_configs(root)
    if card:
        for cfg, splits in card.items():
            for split, patterns in splits.items():
                for pattern in patterns:
                    for name in glob.glob(str(root / pattern), recursive=True):
                        if name.endswith(".parquet"):
                            found.setdefault(Path(name), (cfg, split))
    # Shards named in the release's way but missing from the card still belong to the copy.
    for path in root.glob("*/*.parquet"):
        match = SHARD_RE.match(path.name)
        if match and path not in found:
            found[path] = (path.parent.name, match["split"])
    shards = []
    for path, (cfg, split) in found.items():
        stat = path.stat()
        shards.append(
            Shard(
                config=cfg,
                split=split,
                path=path.resolve(),
                relpath=path.relative_to(root).as_posix(),
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
            )
        )
    return sorted(shards, key=lambda s: (s.config, s.split, s.relpath))


def download(
    token: str | None = None, cache_dir: Path | None = None, local_files_only=False
) -> Path:
    """Download the release with `huggingface_hub.snapshot_download` and return its folder.

    Uses the token saved by `hf auth login` unless `token` is given. Raises DownloadError
    with what to do when access has not been granted, the user is not logged in, or the
    Hub cannot be reached.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    page = f"https://huggingface.co/datasets/{HUB_REPO_ID}"
    try:
        folder = snapshot_download(
            HUB_REPO_ID,
            repo_type="dataset",
            token=token,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
        )
    except GatedRepoError as exc:
        raise DownloadError(
            f"access to {HUB_REPO_ID} is not granted to this account: open {page}, accept the "
            "conditions, wait for approval, then run `hf auth login` and try again"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise DownloadError(
            f"{HUB_REPO_ID} was not found or you are not logged in: run `hf auth login` with "
            f"a token of an account that was granted access at {page}"
        ) from exc
    except LocalEntryNotFoundError as exc:
        raise DownloadError(
            "the Hub cannot be reached and no complete copy is in the local cache "
            f"({cache_dir or hub_cache_dir()}); connect to the internet or copy the release "
            "into data/wbcbench/"
        ) from exc
    except HfHubHTTPError as exc:
        raise DownloadError(f"the Hub refused the download: {exc}") from exc
    return Path(folder)
