"""``tacoglow bench serve``'s table: the goals are computed from the phases as the issue states them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tacoglow.bench.serve import Phase, RequestResult, _rss_mib, format_serve_table, merge_rounds


def phase(name, clients, wall, results, rss=(100.0, 110.0), mid=None):
    return Phase(name, clients, wall, results, rss[0], rss[1], mid)


def test_goals_line_up_with_the_measurements():
    ok = RequestResult(200, first_byte_s=0.5, total_s=1.0, audio_s=2.0)
    phases = [
        phase("sequential", 1, 8.0, [ok] * 4),  # 8 s of audio in 8 s: 1 audio s/s
        phase("concurrent", 8, 4.0, [ok] * 4),  # 8 s in 4 s: 2 audio s/s
        phase("long streamed", 1, 50.0, [RequestResult(200, 5.0, 50.0, 60.0)]),
        phase(
            "long unstreamed",
            1,
            50.0,
            [RequestResult(200, 50.0, 50.0, 0.0)],
        ),
        phase("soak", 16, 100.0, [ok] * 9 + [RequestResult(503, 0.1, 0.1, 0.0, "busy")], mid=100.0),
    ]
    table = format_serve_table(phases, "test CPU", 8)
    assert "8 concurrent clients: 2.00x the audio/s" in table
    assert "first streamed audio after 10% of the unstreamed" in table
    assert "soak, 10 requests at 16 concurrent: 1 errors (goal 0), RSS 1.10x" in table
    soak_row = next(line for line in table.splitlines() if line.startswith("soak"))
    assert soak_row.split()[3] == "1"  # the errors column


def test_rounds_are_summed_and_each_round_ratio_is_shown():
    ok = RequestResult(200, first_byte_s=0.5, total_s=1.0, audio_s=2.0)
    # Round 1: 4 and 8 audio s/s (2x); round 2, on a machine half as fast: 2 and 4 (2x); round 3: 4 and 6 (1.5x).
    sequential = merge_rounds(
        [
            phase("sequential", 1, wall, [ok] * 4, rss)
            for wall, rss in ((2, (100, 101)), (4, (101, 102)), (2, (102, 103)))
        ]
    )
    concurrent = merge_rounds([phase("concurrent", 8, wall, [ok] * 4) for wall in (1, 2, 8 / 6)])
    assert (sequential.wall_s, len(sequential.results), sequential.rss_before_mib, sequential.rss_after_mib) == (
        8,
        12,
        100,
        103,
    )
    assert sequential.round_audio_per_wall == [4, 2, 4]
    streamed = phase("long streamed", 1, 50.0, [RequestResult(200, 5.0, 50.0, 60.0)])
    unstreamed = phase("long unstreamed", 1, 50.0, [RequestResult(200, 50.0, 50.0, 0.0)])
    soak = phase("soak", 16, 100.0, [ok] * 10, mid=100.0)
    table = format_serve_table([sequential, concurrent, streamed, unstreamed, soak], "test CPU", 8)
    # 24 s of audio in 8 s vs in 4.33 s: the summed rounds give 1.85x.
    assert "8 concurrent clients: 1.85x the audio/s of sequential requests (rounds: 2.00x, 2.00x, 1.50x)" in table


def test_server_rss_includes_its_worker_processes():
    """With --workers the models live in child processes: the RSS reported is the whole tree's."""
    if not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists():
        pytest.skip("this kernel lists no /proc children (Linux without CONFIG_PROC_CHILDREN, or no /proc)")
    # A parent that holds ~64 MiB itself and starts a child holding ~128 MiB.
    child = "b = bytearray(128 << 20); import time; time.sleep(30)"
    parent = f"import subprocess, sys, time; b = bytearray(64 << 20); subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(30)"
    process = subprocess.Popen([sys.executable, "-c", parent])
    try:
        deadline = time.monotonic() + 20
        while (_rss_mib(process.pid) or 0) < 64 + 128 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (_rss_mib(process.pid) or 0) >= 64 + 128
    finally:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        for pid in children.read_text().split() if children.exists() else []:
            os.kill(int(pid), signal.SIGKILL)
        process.kill()
        process.wait()
