"""The one atomic-write helper: file modes, special targets, disk full, stale temp files (issue 21)."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from tacoglow.errors import CheckpointError, TacoglowError
from tacoglow.fileio import atomic_write, remove_stale_temp_files, write_bytes


@pytest.fixture
def umask():
    """Set the umask for one test, restore it after."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda value: os.umask(value)
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_honours_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    write_bytes(tmp_path / "a.bin", b"x")
    assert stat.S_IMODE(os.stat(tmp_path / "a.bin").st_mode) == mode


def test_replaced_file_keeps_its_mode_and_leaves_no_temp(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "a.txt"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_failure_inside_the_block_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match="boom"), atomic_write(path) as handle:
        handle.write(b"half")
        raise ValueError("boom")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can replace /dev/null, so only root shows the bug")
def test_dev_null_stays_a_device():
    write_bytes("/dev/null", b"RIFF" + b"\0" * 100)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_fifo_is_streamed_into_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_bytes(fifo, b"hello through a pipe")
    reader.join(timeout=10)
    assert received == [b"hello through a pipe"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_symlink_is_followed_not_replaced(tmp_path):
    real = tmp_path / "real" / "data.bin"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    write_bytes(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    dangling = tmp_path / "dangling.bin"
    dangling.symlink_to(tmp_path / "real" / "later.bin")
    write_bytes(dangling, b"made")
    assert dangling.is_symlink() and (tmp_path / "real" / "later.bin").read_bytes() == b"made"
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["data.bin", "later.bin"]


def test_dash_streams_to_stdout(capsysbinary):
    write_bytes("-", b"RIFF on stdout")
    assert capsysbinary.readouterr().out == b"RIFF on stdout"


def test_folder_and_missing_folder_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match=r"^.*: cannot write: it is a folder$"):
        write_bytes(tmp_path, b"x", error=CheckpointError)
    with pytest.raises(CheckpointError, match=r"a\.pt: cannot write: folder .*nope does not exist$"):
        write_bytes(tmp_path / "nope" / "a.pt", b"x", error=CheckpointError)


def test_simulated_enospc_is_one_line_and_leaves_nothing(tmp_path):
    path = tmp_path / "big.pt"
    with pytest.raises(CheckpointError) as info, atomic_write(path, error=CheckpointError):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(info.value) == f"no space left on device: {path}"
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 256 KiB tmpfs, mounted for one test (needs root and mount permission)."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_on_a_real_filesystem_for_torch_save(tiny_tmpfs):
    # torch.save turns the failed write into "RuntimeError: enforce fail at inline_container.cc";
    # the recorded OSError gives the one line.
    path = tiny_tmpfs / "checkpoint.pt"
    with pytest.raises(CheckpointError) as info, atomic_write(path, error=CheckpointError) as handle:
        torch.save({"w": torch.zeros(1 << 18)}, handle)  # 1 MiB into 256 KiB
    assert str(info.value) == f"no space left on device: {path}"
    assert list(tiny_tmpfs.iterdir()) == []


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temp_files_are_removed_live_ones_kept(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    names = {
        f".checkpoint_tacotron2_last.pt.{dead}-0123456789ab.tmp": True,  # writer killed
        ".checkpoint_tacotron2_step100.pt.k2j_x9q1.tmp": True,  # mkstemp name of older tacoglow
        f".checkpoint_tacotron2_last.pt.{alive}-0123456789ab.tmp": False,  # writer still running
        f".mine.pt.{os.getpid()}-0123456789ab.tmp": False,  # this process
        "checkpoint_tacotron2_last.pt": False,
        "notes.tmp": False,
        f"visible.{dead}-0123456789ab.tmp": False,  # not hidden: not ours
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(p.name for p in removed) == sorted(n for n, stale in names.items() if stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, stale in names.items() if not stale)
    assert remove_stale_temp_files(tmp_path / "missing") == []


def test_errors_are_tacoglow_errors_by_default(tmp_path):
    with pytest.raises(TacoglowError):
        write_bytes(Path(tmp_path) / "no" / "x", b"")
