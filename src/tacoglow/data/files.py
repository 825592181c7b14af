"""Small file and job helpers shared by corpus generation and preprocessing."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from tacoglow.errors import DataError

Item = TypeVar("Item")


def safe_join(folder: str | os.PathLike[str], name: str, suffix: str = "") -> Path:
    """``folder / (name + suffix)`` for a name read from data (an utterance id), kept inside ``folder``.

    An id names one file, so it may hold no path separator and may not be ``.``/``..``: an id
    ``../../etc/x`` or ``/tmp/x`` from a metadata.csv must never make tacoglow read or write
    outside its output folder.

    Raises:
        DataError: ``name`` is empty, absolute, climbs, or holds a separator or NUL.

    >>> safe_join("out/mels", "LJ001-0001", ".pt")
    PosixPath('out/mels/LJ001-0001.pt')
    """
    bad = (
        not name
        or name in (".", "..")
        or "\0" in name
        or "/" in name
        or os.sep in name
        or (os.altsep is not None and os.altsep in name)
        or os.path.isabs(name)
    )
    if bad:
        raise DataError(
            f"utterance id {name!r}: refused: an id must be a plain file name "
            f"(no '/', not '.' or '..'), so that its file stays inside {os.fspath(folder)}"
        )
    return Path(folder) / f"{name}{suffix}"


def run_parallel(work: Callable[[Item], None], items: Sequence[Item], *, jobs: int, desc: str, progress: bool) -> None:
    """Run ``work`` on every item with ``jobs`` threads and a progress bar on stderr.

    The first exception cancels what has not started and is raised again.
    """
    if not items:
        return
    with (
        ThreadPoolExecutor(max_workers=jobs) as pool,
        tqdm(total=len(items), desc=desc, unit="utt", disable=not progress) as bar,
    ):
        futures = [pool.submit(work, item) for item in items]
        try:
            for future in as_completed(futures):
                future.result()
                bar.update(1)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
