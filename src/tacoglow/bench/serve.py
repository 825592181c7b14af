"""``tacoglow bench serve``: the speech server under load, measured from loopback clients.

Starts ``tacoglow serve`` as a child process (its own RSS is measured, from ``/proc``), then runs
phases with stdlib HTTP clients in threads, each request asking for 16-bit PCM so audio seconds
are counted from the bytes:

1. ``sequential``: the short texts one at a time;
2. ``concurrent``: the same requests from ``--clients`` clients at once (batching must pay).
   These two alternate for ``--rounds`` rounds, so that both meet the machine alike (on a shared
   machine speed drifts by 10-20 % within a minute); each row sums its rounds, and the goal line
   also gives each round's ratio;
3. ``long streamed`` / ``long unstreamed``: one ~1,000-character text as PCM (streamed sentence
   by sentence) and as FLAC (encoded whole, so its first byte is its last);
4. ``soak``: ``--soak-requests`` requests from ``--soak-clients`` clients, the server's RSS taken
   after the first 50 answers and at the end.

Latency percentiles are numpy's (linear interpolation); "first audio" is the time to the first
byte of the answer's body.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tacoglow.errors import ConfigError
from tacoglow.system import describe_cpu

__all__ = [
    "LONG_TEXT",
    "SHORT_TEXTS",
    "Phase",
    "RequestResult",
    "ServeBenchSettings",
    "format_serve_table",
    "merge_rounds",
    "run_serve_benchmark",
]

SHORT_TEXTS = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
)
"""Short requests: the first Harvard sentences (IEEE 1969), a standard speech-test list."""

LONG_TEXT = " ".join(
    [
        "The stale smell of old beer lingers.",
        "It takes heat to bring out the odor.",
        "A cold dip restores health and zest.",
        "A salt pickle tastes fine with ham.",
        "Tacos al pastor on the menu are a treat.",
        "The wide road shimmered in the hot sun.",
        "The lazy cow lay in the cool grass.",
        "Lift the square stone over the fence.",
        "The rope will bind the seven books at once.",
        "Hop over the fence and plunge in.",
        "The friendly gang left the drug store.",
        "Mesh wire keeps chicks inside.",
        "The frosty air passed through the coat.",
        "The crooked maze failed to fool the mouse.",
        "Adding fast leads to wrong sums.",
        "The show was a flop from the very start.",
        "A saw is a tool used for making boards.",
        "The wagon moved on well oiled wheels.",
        "March the soldiers past the next hill.",
        "A cup of sugar makes sweet fudge.",
        "Place a rosebush near the porch steps.",
        "Both lost their lives in the raging storm.",
        "We talked of the side show in the circus.",
        "Use a pencil to write the first draft.",
        "He ran half way to the hardware store.",
        "The clock struck to mark the third period.",
        "A small creek cut across the field.",
    ]
)
"""About 1,000 characters of Harvard sentences (the issue's long streamed text)."""


@dataclass
class RequestResult:
    """One request as its client saw it (seconds from sending it)."""

    status: int
    first_byte_s: float
    total_s: float
    audio_s: float
    error: str = ""


@dataclass
class Phase:
    """One phase's requests and the server's RSS around it."""

    name: str
    clients: int
    wall_s: float
    results: list[RequestResult]
    rss_before_mib: float | None
    rss_after_mib: float | None
    rss_mid_mib: float | None = None
    round_audio_per_wall: list[float] = field(default_factory=list)
    """Audio seconds per wall second of each round, for a phase run in rounds (see :func:`merge_rounds`)."""

    @property
    def ok(self) -> list[RequestResult]:
        return [r for r in self.results if r.status == 200 and not r.error]

    @property
    def errors(self) -> int:
        return len(self.results) - len(self.ok)

    @property
    def audio_per_wall(self) -> float:
        return sum(r.audio_s for r in self.ok) / self.wall_s

    def percentile(self, attribute: str, q: float) -> float:
        values = [getattr(r, attribute) for r in self.ok]
        return float(np.percentile(values, q)) if values else float("nan")


def merge_rounds(rounds: Sequence[Phase]) -> Phase:
    """Rounds of one phase as one: their requests and wall times summed, RSS before the first and after the last."""
    first = rounds[0]
    return Phase(
        first.name,
        first.clients,
        sum(r.wall_s for r in rounds),
        [result for r in rounds for result in r.results],
        first.rss_before_mib,
        rounds[-1].rss_after_mib,
        round_audio_per_wall=[r.audio_per_wall for r in rounds],
    )


@dataclass(frozen=True)
class ServeBenchSettings:
    """What to run; ``server_args`` are extra ``tacoglow serve`` options (checkpoints, threads...)."""

    clients: int = 8
    requests: int = 32
    rounds: int = 5
    soak_clients: int = 16
    soak_requests: int = 500
    soak_mark: int = 50
    server_args: Sequence[str] = field(default_factory=tuple)
    startup_timeout_s: float = 300.0
    request_timeout_s: float = 600.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mib(pid: int) -> float | None:
    """Resident memory of process ``pid`` and its descendants (``--workers``), from Linux's ``/proc``; None elsewhere."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            rss = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
            child_pids = [int(child) for child in children.read().split()]
    except OSError:  # a kernel without CONFIG_PROC_CHILDREN: the process alone
        child_pids = []
    return rss + sum(_rss_mib(child) or 0.0 for child in child_pids)


def _request(port: int, text: str, response_format: str, sample_rate: int, timeout: float) -> RequestResult:
    start = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        body = json.dumps({"model": "tacoglow", "input": text, "voice": "default", "response_format": response_format})
        connection.request("POST", "/v1/audio/speech", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        first = response.read1(65536)
        first_s = time.monotonic() - start
        data = first + response.read()
        total_s = time.monotonic() - start
        audio_s = len(data) / 2 / sample_rate if response_format == "pcm" else 0.0
        error = "" if response.status == 200 else data[:200].decode("utf-8", "replace")
        return RequestResult(response.status, first_s, total_s, audio_s, error)
    except (OSError, http.client.HTTPException) as exc:
        elapsed = time.monotonic() - start
        return RequestResult(0, elapsed, elapsed, 0.0, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def _drive(
    port: int,
    texts: Sequence[str],
    clients: int,
    sample_rate: int,
    timeout: float,
    response_format: str = "pcm",
    on_done: Callable[[int], None] | None = None,
) -> tuple[list[RequestResult], float]:
    """Send ``texts`` from ``clients`` threads (each takes the next text when free)."""
    results: list[RequestResult | None] = [None] * len(texts)
    next_index = [0]
    done = [0]
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                index = next_index[0]
                next_index[0] += 1
            if index >= len(texts):
                return
            results[index] = _request(port, texts[index], response_format, sample_rate, timeout)
            with lock:
                done[0] += 1
                count = done[0]
            if on_done is not None:
                on_done(count)

    start = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None], time.monotonic() - start


def run_serve_benchmark(
    settings: ServeBenchSettings, progress: Callable[[str], None] = lambda _m: None
) -> tuple[list[Phase], str]:
    """Start a server, run the phases; returns them and the machine's description.

    Raises:
        ConfigError: the server did not start (its stderr's last line is quoted).
    """
    for name in ("clients", "requests", "rounds", "soak_clients", "soak_requests"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"bench serve {name}: expected >= 1, found {getattr(settings, name)}")
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "tacoglow",
        "-q",
        "serve",
        "--port",
        str(port),
        "--max-queue",
        "100000",
        *settings.server_args,
    ]
    server = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TACOGLOW_API_KEY": ""},
    )
    try:
        sample_rate = _wait_ready(port, server, settings.startup_timeout_s)
        progress(f"server ready on port {port} (pid {server.pid})")
        phases = []

        def phase(name: str, texts: Sequence[str], clients: int, response_format: str = "pcm", mark: int = 0) -> Phase:
            progress(f"{name}: {len(texts)} request(s), {clients} client(s)")
            result = measure(name, texts, clients, response_format, mark)
            phases.append(result)
            return result

        def measure(name: str, texts: Sequence[str], clients: int, response_format: str, mark: int) -> Phase:
            rss_mid: list[float | None] = []
            on_done = (lambda n: rss_mid.append(_rss_mib(server.pid)) if n == mark else None) if mark else None
            before = _rss_mib(server.pid)
            results, wall = _drive(
                port, texts, clients, sample_rate, settings.request_timeout_s, response_format, on_done
            )
            return Phase(name, clients, wall, results, before, _rss_mib(server.pid), rss_mid[0] if rss_mid else None)

        short = [SHORT_TEXTS[i % len(SHORT_TEXTS)] for i in range(settings.requests)]
        rounds: dict[str, list[Phase]] = {"sequential": [], "concurrent": []}
        for number in range(1, settings.rounds + 1):
            for name, clients in (("sequential", 1), ("concurrent", settings.clients)):
                progress(f"{name}, round {number} of {settings.rounds}: {len(short)} request(s), {clients} client(s)")
                rounds[name].append(measure(name, short, clients, "pcm", 0))
        phases.extend(merge_rounds(measured) for measured in rounds.values())
        phase("long streamed", [LONG_TEXT], 1)
        phase("long unstreamed", [LONG_TEXT], 1, response_format="flac")
        soak = [SHORT_TEXTS[i % len(SHORT_TEXTS)] for i in range(settings.soak_requests)]
        phase("soak", soak, settings.soak_clients, mark=min(settings.soak_mark, settings.soak_requests))
        return phases, describe_cpu()
    finally:
        server.terminate()
        try:
            server.wait(120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_ready(port: int, server: subprocess.Popen, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            assert server.stderr is not None
            lines = server.stderr.read().strip().splitlines() or ["(no message)"]
            raise ConfigError(f"the server did not start: {lines[-1]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ready")
            answer = connection.getresponse()
            if answer.status == 200:
                return int(json.loads(answer.read())["sample_rate"])
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.25)
    raise ConfigError(f"the server was not ready after {timeout:g} s")


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def format_serve_table(phases: Sequence[Phase], machine: str, clients: int) -> str:
    """The phases as a table, then the issue's three goals with the measured values."""
    header = (
        f"{'phase':<16} {'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>6} {'audio s/s':>9} "
        f"{'p50 s':>6} {'p95 s':>6} {'p99 s':>6} {'1st audio p50':>13} {'RSS MiB before/after':>20}"
    )
    lines = [header]
    for p in phases:
        lines.append(
            f"{p.name:<16} {p.clients:>7} {len(p.results):>8} {p.errors:>6} {len(p.ok) / p.wall_s:>6.2f} "
            f"{p.audio_per_wall:>9.2f} {p.percentile('total_s', 50):>6.2f} {p.percentile('total_s', 95):>6.2f} "
            f"{p.percentile('total_s', 99):>6.2f} {p.percentile('first_byte_s', 50):>13.2f} "
            f"{_mib(p.rss_before_mib) + ' / ' + _mib(p.rss_after_mib):>20}"
        )
    by_name = {p.name: p for p in phases}
    sequential, concurrent = by_name["sequential"], by_name["concurrent"]
    streamed, unstreamed, soak = by_name["long streamed"], by_name["long unstreamed"], by_name["soak"]
    gain = concurrent.audio_per_wall / sequential.audio_per_wall
    per_round = [c / q for c, q in zip(concurrent.round_audio_per_wall, sequential.round_audio_per_wall)]
    each = f" (rounds: {', '.join(f'{r:.2f}x' for r in per_round)})" if len(per_round) > 1 else ""
    first_share = streamed.percentile("first_byte_s", 50) / unstreamed.percentile("total_s", 50)
    lines.append("goals:")
    lines.append(f"  {clients} concurrent clients: {gain:.2f}x the audio/s of sequential requests{each} (goal >= 1.5x)")
    lines.append(
        f"  long text ({len(LONG_TEXT)} chars): first streamed audio after {first_share:.0%} of the "
        f"unstreamed answer's time (goal <= 20%)"
    )
    if soak.rss_mid_mib and soak.rss_after_mib:
        growth = f"RSS {soak.rss_after_mib / soak.rss_mid_mib:.2f}x the RSS after the first 50 (goal <= 1.2x)"
    else:
        growth = "RSS not measured (no /proc)"
    lines.append(
        f"  soak, {len(soak.results)} requests at {soak.clients} concurrent: {soak.errors} errors (goal 0), {growth}"
    )
    lines.append(f"machine: {machine}")
    return "\n".join(lines)
