"""Writing output files safely: the one atomic-write helper every tacoglow writer uses.

:func:`atomic_write` gives a binary handle; what is written there reaches ``path`` whole or not
at all (temp file in the target's folder, then ``os.replace``). The same rules hold for every
file tacoglow writes (checkpoints, WAVs, mels, filelists, reports):

- **Mode**: a new file gets ``0o666`` minus the umask, as ``open(path, "w")`` gives it; a file
  that is replaced keeps its mode.
- **Special targets are never replaced**: ``-`` streams into stdout, an existing device, FIFO
  (``/dev/null``, ``/dev/stdout``, a named pipe) is opened and written into, a symlink is
  followed (its target is replaced, the link stays), a folder is refused.
- **Disk full** becomes one line, ``no space left on device: PATH``, and no partial file stays.
- **Temp files** are named ``.<name>.<pid>-<random>.tmp``; :func:`remove_stale_temp_files` removes
  those whose process is gone (a run killed mid-write), e.g. at train start or resume.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from tacoglow.errors import TacoglowError

__all__ = ["STDOUT", "atomic_write", "write_bytes", "write_text", "remove_stale_temp_files", "is_stream_target"]

STDOUT = "-"
"""The path that means "standard output" (``tacoglow synthesize "Hi." -o - | aplay``)."""

# ".<name>.<pid>-<12 hex>.tmp"; group 1 is the writer's pid.
_TEMP_NAME = re.compile(r"^\..+\.(\d+)-[0-9a-f]{12}\.tmp$")
# tempfile.mkstemp's ".<name>.<8 chars>.tmp", written by tacoglow before this module existed.
_LEGACY_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class _Recorder:
    """A file handle that remembers the first OSError of a write.

    torch.save (C++) and other writers turn a failed write into their own exception types
    (``RuntimeError: enforce fail at inline_container.cc``); the recorded OSError says why.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        try:
            self._handle.flush()
        except OSError as exc:
            self.error = self.error or exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def is_stream_target(path: str | os.PathLike[str]) -> bool:
    """True for ``-`` and for an existing device or FIFO (written into, never replaced)."""
    name = os.fspath(path)
    if name == STDOUT:
        return True
    try:
        mode = os.stat(name).st_mode  # follows symlinks: /dev/stdout -> /proc/self/fd/1 -> a pipe
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _message(exc: BaseException, recorded: OSError | None, name: str) -> str | None:
    """The one-line reason for a failed write, or None when ``exc`` is not about the file."""
    cause = recorded if recorded is not None else exc if isinstance(exc, OSError) else None
    if cause is None:
        return None
    if cause.errno in _DISK_FULL:
        return f"no space left on device: {name}"
    return f"{name}: cannot write ({cause.strerror or cause})"


@contextmanager
def _stream(name: str, error: type[TacoglowError]) -> Iterator[BinaryIO]:
    """Write straight into stdout, a device or a FIFO (no temp file, nothing to replace)."""
    try:
        handle = sys.stdout.buffer if name == STDOUT else open(name, "wb")  # noqa: SIM115
    except OSError as exc:
        raise error(f"{name}: cannot write ({exc.strerror or exc})") from None
    recorder = _Recorder(handle)
    try:
        yield recorder  # type: ignore[misc]
        recorder.flush()
    except BaseException as exc:
        message = _message(exc, recorder.error, name)
        if message is None:
            raise
        raise error(message) from None
    finally:
        if handle is not sys.stdout.buffer:
            try:
                handle.close()
            except OSError:
                pass


@contextmanager
def atomic_write(
    path: str | os.PathLike[str], *, error: type[TacoglowError] = TacoglowError, durable: bool = False
) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces ``path`` only when the ``with`` block succeeds.

    Args:
        path: the file to create or replace; ``-``, a device or a FIFO is streamed into, a
            symlink is followed (see the module docstring).
        error: the TacoglowError subclass a failed write raises (e.g. CheckpointError), with a
            one-line message naming the file.
        durable: fsync the file before the rename (checkpoints: survive a power cut too).

    Raises:
        error: the folder is missing or not writable, the target is a folder, or the disk is
            full ("no space left on device: PATH"). No temp file stays behind. Exceptions
            raised by the caller inside the block pass unchanged.

    >>> with atomic_write("notes.txt") as f:  # doctest: +SKIP
    ...     f.write(b"hello\\n")
    """
    name = os.fspath(path)
    if is_stream_target(name):
        with _stream(name, error) as handle:
            yield handle
        return
    target = Path(os.path.realpath(name))  # a symlink (even a dangling one) is followed
    if target.is_dir():
        raise error(f"{name}: cannot write: it is a folder")
    folder = target.parent
    if not folder.is_dir():
        raise error(f"{name}: cannot write: folder {folder} does not exist")
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = None  # a new file: 0o666 minus the umask, from os.open below
    temp = folder / f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise error(f"no space left on device: {name}") from None
        raise error(f"{name}: cannot write to folder {folder} ({exc.strerror or exc})") from None
    handle = os.fdopen(fd, "wb")
    recorder = _Recorder(handle)
    try:
        try:
            yield recorder  # type: ignore[misc]
            recorder.flush()
            if durable:
                os.fsync(handle.fileno())
        finally:
            handle.close()
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        message = _message(exc, recorder.error, name)
        if message is None:
            raise
        raise error(message) from None


def write_bytes(
    path: str | os.PathLike[str], data: bytes, *, error: type[TacoglowError] = TacoglowError, durable: bool = False
) -> None:
    """Write ``data`` to ``path`` with :func:`atomic_write`."""
    with atomic_write(path, error=error, durable=durable) as handle:
        handle.write(data)


def write_text(path: str | os.PathLike[str], text: str, *, error: type[TacoglowError] = TacoglowError) -> None:
    """UTF-8 text, line ends as given (``\\n``), written with :func:`atomic_write`."""
    write_bytes(path, text.encode("utf-8"), error=error)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid() or sys.platform == "win32":  # Windows' os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's process), or cannot tell: keep the file
    return True


def remove_stale_temp_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete temp files of :func:`atomic_write`'s naming in ``folder`` whose writer is gone.

    A process killed mid-write (SIGKILL, power cut) leaves its temp file; a checkpoint's is
    hundreds of MB. Files of a writer that still runs are kept, so two runs sharing a folder
    do not break each other (on Windows, where liveness is not checked, only the older
    ``tempfile.mkstemp`` names are removed). Returns the files removed (none if ``folder``
    does not exist).
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        stale = (match is not None and not _process_alive(int(match.group(1)))) or (
            match is None and _LEGACY_TEMP_NAME.match(entry.name) is not None
        )
        if stale and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(Path(entry.path))
    return removed
