"""MovieLens loaders: download (pooch, checksum, cache) or read a local copy."""
from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import Interactions

logger = logging.getLogger(__name__)

_MANIFEST = Path(__file__).with_name("manifest.json")


class DownloadError(OSError):
    """A dataset could not be downloaded (no network, HTTP error); a checksum mismatch stays a ValueError."""


def manifest() -> dict:
    """The download manifest (URLs, checksums, licences) as a dict."""
    return json.loads(_MANIFEST.read_text())


def cache_dir() -> Path:
    """Where downloads are cached: ``$RECNEG_DATA`` or the platform's user cache."""
    env = os.environ.get("RECNEG_DATA")
    if env:
        return Path(env)
    import pooch

    return Path(pooch.os_cache("recneg"))


def _read_ratings(file: Path | zipfile.ZipExtFile, fmt: str, source: str) -> pd.DataFrame:
    cols = ["user", "item", "rating", "timestamp"]
    try:
        if fmt == "tab":
            df = pd.read_csv(file, sep="\t", header=None, names=cols, dtype={"user": np.int64, "item": np.int64, "rating": np.float32, "timestamp": np.int64}, engine="c")
        elif fmt == "dcolon":
            raw = pd.read_csv(file, sep=":", header=None, usecols=[0, 2, 4, 6], dtype=np.int64, engine="c")
            raw.columns = cols
            df = raw
        else:
            df = pd.read_csv(file, dtype={"userId": np.int64, "movieId": np.int64, "rating": np.float32, "timestamp": np.int64}, engine="c")
            df.columns = cols
    except (ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"{source} is corrupt or not a MovieLens ratings file ({e})") from e
    if df.shape[1] != 4 or len(df) == 0:
        raise ValueError(f"{source} has no ratings rows in the expected 4-column format")
    if df.isna().any().any():
        raise ValueError(f"{source} has missing values (truncated or corrupt file?)")
    return df


def _locate(path: Path, spec: dict) -> Path:
    """Find the ratings file under a local folder (flat or with the archive's subfolder)."""
    for cand in (path / spec["ratings"], path / spec["folder"] / spec["ratings"]):
        if cand.is_file():
            return cand
    raise FileNotFoundError(
        f"no {spec['ratings']} under {path} (looked in the folder and in {spec['folder']}/); "
        "pass the extracted MovieLens folder or its .zip"
    )


def load_movielens(
    variant: str = "100k",
    path: str | os.PathLike | None = None,
    download: bool = True,
    min_rating: float | None = None,
    binarize: bool = False,
    data_home: str | os.PathLike | None = None,
) -> Interactions:
    """Load a MovieLens variant as Interactions (weight = rating, with timestamps).

    Args:
        variant: "100k", "1m", "20m", "25m" or "latest-small".
        path: a local extracted folder or the official .zip; skips downloading.
        download: fetch the official archive (checksum-verified, cached) when no path.
        min_rating: keep only ratings >= this (e.g. 4 for "liked" implicit feedback).
        binarize: store 1.0 instead of the rating.
        data_home: cache folder (default: ``cache_dir()``).

    Returns:
        Interactions with original MovieLens user/item ids in the id maps, timestamps
        in Unix seconds.
    """
    specs = manifest()["movielens"]
    if variant not in specs:
        raise ValueError(f"variant must be one of {sorted(specs)}, got {variant!r}")
    spec = specs[variant]
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"path={str(path)!r} does not exist; pass a MovieLens folder or .zip")
        if p.is_dir():
            f = _locate(p, spec)
            df = _read_ratings(f, spec["format"], str(f))
        else:
            df = _read_zip(p, spec)
    else:
        if not download:
            raise FileNotFoundError(f"no path given and download=False: pass path= to a local MovieLens {variant} copy")
        import pooch

        home = Path(data_home) if data_home is not None else cache_dir()
        try:
            zpath = pooch.retrieve(spec["url"], known_hash=spec["hash"], path=home, progressbar=False)
        except ValueError:  # pooch: the download's checksum does not match the manifest's
            raise
        except Exception as e:  # requests/pooch raise many types (no network, HTTP error)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DownloadError(
                f"could not download MovieLens {variant} from {spec['url']} ({type(e).__name__}: {first}); "
                f"pass path= a local MovieLens {variant} folder or .zip"
            ) from e
        df = _read_zip(Path(zpath), spec)
    if min_rating is not None:
        df = df[df["rating"] >= min_rating]
        if len(df) == 0:
            raise ValueError(f"min_rating={min_rating} removes every rating")
    inter = Interactions.from_dataframe(df, "user", "item", weight_col="rating", time_col="timestamp", binarize=binarize, duplicates="last")
    logger.info("MovieLens %s: %r", variant, inter)
    return inter


def _read_zip(zpath: Path, spec: dict) -> pd.DataFrame:
    try:
        with zipfile.ZipFile(zpath) as z:
            name = f"{spec['folder']}/{spec['ratings']}"
            names = z.namelist()
            if name not in names:
                alt = [n for n in names if n.endswith("/" + spec["ratings"]) or n == spec["ratings"]]
                if not alt:
                    raise ValueError(f"{zpath} has no {name}; is it the right MovieLens variant?")
                name = alt[0]
            with z.open(name) as f:
                return _read_ratings(f, spec["format"], f"{zpath}:{name}")
    except zipfile.BadZipFile as e:
        raise ValueError(f"{zpath} is not a valid zip archive (corrupt or truncated download?)") from e
