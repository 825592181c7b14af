"""Fetch a checkpoint file over HTTP(S) into the local cache, safely.

:func:`fetch` is the one way a file gets into the cache:

- A file already at its place (downloaded before, or placed there by hand) is used as it is,
  without touching the network.
- Otherwise it is downloaded with ``requests`` to ``<file>.part`` beside its place, with a
  progress bar on stderr. An interrupted transfer (a cut connection, Ctrl-C, a crash) leaves the
  ``.part`` file; the next attempt asks only for the rest (HTTP ``Range``), or starts again from
  zero when the server does not honour ranges.
- The complete file is verified before it is renamed into place: its size (the expected one,
  else the one the server announced), its SHA-256 where one is known, otherwise that it loads as
  the expected model kind with ``torch.load(weights_only=True)``. A file that fails is deleted.
- A lock (``filelock``, in ``<cache>/.locks``) serialises downloads of one file: a second process
  waits, then finds the file in place.

Network trouble ends in one :class:`DownloadError` line naming the URL and where to put the file
by hand.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tacoglow.errors import CheckpointError

if TYPE_CHECKING:
    import requests

__all__ = ["CACHE_ENV", "DownloadError", "RemoteFile", "cache_dir", "fetch", "sha256_of"]

logger = logging.getLogger(__name__)

CACHE_ENV = "TACOGLOW_CACHE"
"""Environment variable naming the cache folder (default: the platform's user cache folder)."""
CHUNK_BYTES = 1 << 14
"""Bytes read from the network per step: small, as a cut connection loses the step it was in."""
ATTEMPTS = 4
"""Transfers tried per fetch when the connection breaks mid-file; each resumes where the last stopped."""
TIMEOUT_S = (15.0, 60.0)
"""(connect, read) timeouts in seconds: a stalled server ends the attempt instead of hanging."""


class DownloadError(CheckpointError):
    """A checkpoint could not be downloaded, or the download failed verification."""


@dataclass(frozen=True)
class RemoteFile:
    """A checkpoint file published at a URL.

    Attributes:
        url: where it is downloaded from.
        filename: its name in the cache (the URL's last part, as torch.hub names it).
        kind: "tacotron2" or "waveglow": what the file must hold.
        size: exact size in bytes, where known (else the server's Content-Length is checked).
        sha256: hex SHA-256, where known (else the file must load as ``kind``).
    """

    url: str
    filename: str
    kind: str
    size: int | None = None
    sha256: str | None = None


def cache_dir() -> Path:
    """The cache folder: ``$TACOGLOW_CACHE``, else the platform's user cache folder for tacoglow.

    The user cache folder comes from ``platformdirs`` (``~/.cache/tacoglow`` on Linux,
    ``~/Library/Caches/tacoglow`` on macOS, ``%LOCALAPPDATA%\\tacoglow\\Cache`` on Windows);
    without it, ``~/.cache/tacoglow``.
    """
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    try:
        from platformdirs import user_cache_dir
    except ImportError:
        return Path.home() / ".cache" / "tacoglow"
    return Path(user_cache_dir("tacoglow", appauthor=False))


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _by_hand(dest: Path) -> str:
    return f"download it yourself from that URL and place it at {dest}"


def fetch(remote: RemoteFile, dest: Path, *, progress: bool = True) -> Path:
    """The file at ``dest``, downloaded from ``remote.url`` first if it is not there yet.

    Args:
        remote: what to download and how to verify it.
        dest: where the file lives in the cache (``<cache>/<voice>/<filename>``).
        progress: show a progress bar on stderr while downloading.

    Returns:
        ``dest``, complete and verified.

    Raises:
        DownloadError: no network, the server refused, the transfer kept breaking, or the file
            failed verification (then nothing is kept); a file placed by hand whose size differs
            from the known one.
    """
    if dest.is_file():
        _check_placed(remote, dest)
        return dest
    from filelock import FileLock, Timeout

    lock_path = dest.parent.parent / ".locks" / dest.parent.name / f"{dest.name}.lock"
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"{dest.parent}: cannot create the cache folder ({exc.strerror or exc}); "
            f"set {CACHE_ENV} to a writable folder"
        ) from None
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(blocking=False)
    except Timeout:
        logger.info("waiting for another download of %s to finish", dest.name)
        lock.acquire()
    try:
        if dest.is_file():  # the other process finished it while we waited
            return dest
        part = dest.with_name(dest.name + ".part")
        _download(remote, part, dest, progress)
        _verify(remote, part, dest)
        os.replace(part, dest)
        logger.info("downloaded %s", dest)
        return dest
    finally:
        lock.release()


def _check_placed(remote: RemoteFile, dest: Path) -> None:
    """A file found in place: only the (free) size check; the loader reports anything else."""
    if remote.size is not None and dest.stat().st_size != remote.size:
        raise DownloadError(
            f"{dest}: expected {remote.size} bytes (the file from {remote.url}), found "
            f"{dest.stat().st_size}: delete it to download it again, or replace it"
        )


def _download(remote: RemoteFile, part: Path, dest: Path, progress: bool) -> None:
    """Bring ``part`` to the whole file, resuming over broken connections."""
    import requests

    last_problem = ""
    for attempt in range(ATTEMPTS):
        try:
            if _transfer(remote, part, dest, progress):
                return
            last_problem = "the connection closed before the end of the file"
        except requests.exceptions.ConnectionError as exc:
            if attempt == 0 and not part.exists():
                raise DownloadError(
                    f"cannot download {remote.url} (no connection: {_reason(exc)}); {_by_hand(dest)}"
                ) from None
            last_problem = _reason(exc)
        except requests.exceptions.Timeout:
            last_problem = f"no answer within {TIMEOUT_S[1]:g} s"
        except requests.exceptions.RequestException as exc:
            last_problem = _reason(exc)
        if attempt + 1 < ATTEMPTS:
            logger.warning(
                "download of %s interrupted (%s); resuming (attempt %d of %d)",
                remote.url,
                last_problem,
                attempt + 2,
                ATTEMPTS,
            )
            time.sleep(attempt)  # 0, 1, 2 s: a flaky link gets a moment, a cut once costs nothing
    raise DownloadError(
        f"cannot download {remote.url} ({last_problem}, {ATTEMPTS} attempts); the partial file "
        f"{part} is kept and resumed next time, or {_by_hand(dest)}"
    )


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests error, in a few words."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _transfer(remote: RemoteFile, part: Path, dest: Path, progress: bool) -> bool:
    """One HTTP request appending to ``part``; True when the file is complete.

    Raises:
        DownloadError: the server answered with an HTTP error.
        requests.exceptions.RequestException: connection trouble (the caller retries).
    """
    import requests
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    # identity: the bytes of the file itself, so sizes and ranges count what is written to disk.
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
    with requests.get(remote.url, headers=headers, stream=True, timeout=TIMEOUT_S) as response:
        if response.status_code == 416:  # nothing past `have`: the part is complete, or stale
            if response.headers.get("Content-Range", "") == f"bytes */{have}":
                return True
            part.unlink()
            return False
        if response.status_code >= 400:
            raise DownloadError(
                f"cannot download {remote.url}: the server answered HTTP {response.status_code} "
                f"{response.reason}; {_by_hand(dest)}"
            )
        if response.status_code == 206 and _range_start(response) == have:
            mode, total = "ab", _total_of(response, have)
        else:  # 200: the server sends the whole file (it ignored or lacks Range)
            have, mode, total = 0, "wb", _total_of(response, 0)
        if total is not None and remote.size is not None and total != remote.size:
            raise DownloadError(
                f"{remote.url}: the server offers {total} bytes, expected {remote.size}: not the published file"
            )
        logger.info(
            "downloading %s (%s MB%s) to %s",
            remote.url,
            "?" if total is None else f"{total / 1e6:.1f}",
            f", resuming at {have / 1e6:.1f} MB" if have else "",
            dest,
        )
        with (
            open(part, mode) as out,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=remote.filename,
                file=sys.stderr,
                disable=None if progress else True,
                leave=False,
            ) as bar,
        ):
            for chunk in response.iter_content(CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    expected = total if total is not None else remote.size
    return expected is None or size >= expected


def _range_start(response: requests.Response) -> int | None:
    """First byte of a 206 answer (``Content-Range: bytes START-END/TOTAL``)."""
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _total_of(response: requests.Response, start: int) -> int | None:
    """Whole-file size a response announces: Content-Range's total, else start + Content-Length."""
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and not content_range.endswith("/*"):
        try:
            return int(content_range.rsplit("/", 1)[1])
        except ValueError:
            pass
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit() and "Content-Encoding" not in response.headers:
        return start + int(length)
    return None


def _verify(remote: RemoteFile, part: Path, dest: Path) -> None:
    """Delete ``part`` and raise unless it is the published file."""
    problem = None
    size = part.stat().st_size
    if remote.size is not None and size != remote.size:
        problem = f"expected {remote.size} bytes, found {size}"
    elif remote.sha256 is not None:
        found = sha256_of(part)
        if found != remote.sha256.lower():
            problem = f"SHA-256 mismatch (expected {remote.sha256}, found {found})"
    else:
        problem = _kind_problem(remote, part)
    if problem is not None:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{remote.url}: downloaded file refused, {problem}; nothing was kept in {dest.parent}")


def _kind_problem(remote: RemoteFile, part: Path) -> str | None:
    """Without a checksum: the file must read with weights_only and hold ``remote.kind`` weights."""
    from tacoglow.checkpoints import detect_kind, read_checkpoint, state_dict_of

    try:
        found = detect_kind(state_dict_of(read_checkpoint(part), str(part)))
    except CheckpointError as exc:
        return f"it does not load as a checkpoint ({exc})"
    if found != remote.kind:
        return f"expected {remote.kind} weights, found {found or 'an unknown layout'}"
    return None
