"""Small file and job helpers shared by corpus generation and preprocessing."""
from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from tqdm import tqdm

Item = TypeVar("Item")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, then rename it: never a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8, ``\\n`` line ends, written atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def run_parallel(work: Callable[[Item], None], items: Sequence[Item], *, jobs: int, desc: str,
                 progress: bool) -> None:
    """Run ``work`` on every item with ``jobs`` threads and a progress bar on stderr.

    The first exception cancels what has not started and is raised again.
    """
    if not items:
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool, tqdm(
        total=len(items), desc=desc, unit="utt", disable=not progress
    ) as bar:
        futures = [pool.submit(work, item) for item in items]
        try:
            for future in as_completed(futures):
                future.result()
                bar.update(1)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
