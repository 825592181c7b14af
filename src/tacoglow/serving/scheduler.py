"""Batching across requests: one worker thread owns the Synthesizer and decodes pieces together.

Each request is split into sentence-sized pieces (:func:`split_request`) and submitted as a
:class:`Job`. The worker takes pieces from every active job round-robin into one batch
(``Synthesizer.synthesize([texts...])``, one result per text in order), so concurrent requests
share Tacotron 2's batched decoding. Fairness and first-audio latency:

- a batch holds at most ``allowance`` pieces of one job, and a job's allowance starts at 1 and
  doubles each time it is served (up to the batch size): a new request's first sentence goes
  into the very next batch, alone or beside others' pieces, never behind a long request's rest;
- the worker waits at most ``max_wait_ms`` for a batch to grow to the size of the one before
  (clients served together come back together); a batch after a batch of one starts at once, so
  a lone client's requests never wait for company that is not coming;
- the rotation starts one job further on each batch, so no job is always last.

Each job's audio comes back to its own asyncio queue, in its own order, as soon as its piece's
batch is vocoded. The queue is bounded in pieces (``max_queue``); :meth:`BatchScheduler.submit`
raises :class:`QueueFull` instead of growing it. A cancelled job (client gone, timeout) has its
remaining pieces dropped before they are decoded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tacoglow.errors import ConfigError, TacoglowError
from tacoglow.text.split import TextPiece, split_text

if TYPE_CHECKING:
    from tacoglow.inference.synthesizer import Synthesizer, Utterance
    from tacoglow.runtime.engine import OnnxSynthesizer
    from tacoglow.runtime.engine import Utterance as OnnxUtterance

    AnySynthesizer = Synthesizer | OnnxSynthesizer

__all__ = ["BatchScheduler", "Job", "QueueFull", "split_request", "stretch_mel"]

logger = logging.getLogger(__name__)

PIECE_CHARS = 160
"""Longest piece the server sends to one synthesis slot, in characters. Shorter than the
Synthesizer's own splitting budget so that streamed audio starts after one sentence rather than
after a paragraph; a sentence longer than this is cut at clause punctuation."""


def split_request(synthesizer: AnySynthesizer, text: str) -> list[TextPiece]:
    """``text`` as the speakable pieces the server synthesizes one by one, in reading order.

    Pieces with nothing to say (e.g. a lone dash) are dropped, their pause kept on the piece before.

    Raises:
        TextError: the text is empty or has nothing speakable.
    """
    synthesizer.count_pieces([text])  # the Synthesizer's own check: TextError for nothing speakable
    budget = min(PIECE_CHARS, synthesizer.max_piece_length)
    pieces = split_text(text, budget)
    if len(pieces) == 1:  # the text itself, just checked
        return pieces
    kept: list[TextPiece] = []
    for piece in pieces:
        try:
            synthesizer.count_pieces([piece.text])
        except TacoglowError:
            if kept:
                kept[-1] = TextPiece(kept[-1].text, max(kept[-1].pause_after_s, piece.pause_after_s))
            continue
        kept.append(piece)
    kept[-1] = TextPiece(kept[-1].text, 0.0)
    return kept


def stretch_mel(mel: np.ndarray, speed: float) -> np.ndarray:
    """Mel (n_mels, T) resampled along time to round(T / speed) frames (linear interpolation).

    Faster speech at the same pitch: the vocoder turns each frame into hop_length samples whatever
    the frame rate of the content. The first and last frames are kept (torch's ``interpolate``
    with ``align_corners=True``), in numpy so that both engines share it.
    """
    mel = np.asarray(mel, dtype=np.float32)
    length = mel.shape[1]
    frames = max(1, round(length / speed))
    position = np.linspace(0.0, length - 1, frames)
    before = np.floor(position).astype(np.int64)
    after = np.minimum(before + 1, length - 1)
    weight = (position - before).astype(np.float32)
    return (mel[:, before] * (1 - weight) + mel[:, after] * weight).astype(np.float32)


def _as_numpy(array: Any) -> np.ndarray:
    """float32 numpy of a torch tensor (any device or dtype) or a numpy array: one path for both engines."""
    if isinstance(array, torch.Tensor):
        return array.detach().float().cpu().numpy()
    return np.asarray(array, dtype=np.float32)


class QueueFull(Exception):
    """The server's queue of pieces has no room for another request."""


@dataclass(eq=False)
class Job:
    """One request's pieces and the queue its audio goes to.

    ``results`` receives ``("audio", samples (T,) float32 numpy)`` per piece in order, then
    ``("done", None)``; or ``("error", exception)``.
    """

    pieces: list[TextPiece]
    speed: float
    loop: asyncio.AbstractEventLoop
    results: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    next_piece: int = 0
    allowance: int = 1
    cancelled: bool = False

    @property
    def remaining(self) -> int:
        return len(self.pieces) - self.next_piece

    def _send(self, kind: str, value: Any) -> None:
        self.loop.call_soon_threadsafe(self.results.put_nowait, (kind, value))


class BatchScheduler:
    """The worker thread and its bounded queue of pieces.

    Args:
        synthesizer: used only by the worker thread from :meth:`start` on.
        max_batch_size: pieces decoded together, >= 1.
        max_wait_ms: longest wait, once a piece is waiting, for a batch to grow to the size of
            the previous batch (at most ``max_batch_size``), >= 0.
        max_queue: pieces waiting (not yet in a batch) beyond which a request is refused, >= 1;
            a request is always admitted into an empty queue.
        on_batch: called by the worker after each batch with (pieces, audio seconds).
    """

    def __init__(
        self,
        synthesizer: AnySynthesizer,
        *,
        max_batch_size: int = 8,
        max_wait_ms: float = 25.0,
        max_queue: int = 256,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ConfigError(f"max batch size: expected >= 1, found {max_batch_size}")
        if max_wait_ms < 0:
            raise ConfigError(f"max wait: expected >= 0 ms, found {max_wait_ms}")
        if max_queue < 1:
            raise ConfigError(f"max queue: expected >= 1 piece, found {max_queue}")
        self.synthesizer = synthesizer
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._jobs: list[Job] = []
        self._rotation = 0
        self._last_batch_size = 1
        self._busy = False
        self._stopping = False
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="tacoglow-synthesis", daemon=True)
        self._threads = torch.get_num_threads()
        self._warmed_up = threading.Event()
        self._warm_up_error: BaseException | None = None
        # Seeds of re-vocoded (speed != 1) pieces: fixed with the Synthesizer's seed, else random.
        self._base_seed = synthesizer.seed if synthesizer.seed is not None else int(torch.randint(0, 2**31, ()))

    # ------------------------------------------------------------------ called from the event loop

    def start(self) -> None:
        """Start the worker; it warms up with one synthesis, then serves (see :meth:`wait_ready`)."""
        self._thread.start()

    def wait_ready(self) -> None:
        """Block until the worker's warm-up synthesis is done; re-raises its error if it failed."""
        self._warmed_up.wait()
        if self._warm_up_error is not None:
            raise self._warm_up_error

    @property
    def depth(self) -> int:
        """Pieces waiting for a batch."""
        with self._condition:
            return sum(job.remaining for job in self._jobs)

    @property
    def idle(self) -> bool:
        """No piece waiting and no batch running."""
        with self._condition:
            return not self._busy and not self._jobs

    def submit(self, pieces: list[TextPiece], speed: float) -> Job:
        """Queue a request's pieces; its audio arrives on ``job.results``.

        Raises:
            QueueFull: the queue holds pieces and this request's would exceed ``max_queue``.
        """
        job = Job(pieces, speed, asyncio.get_running_loop())
        with self._condition:
            waiting = sum(j.remaining for j in self._jobs)
            if self._stopping or (waiting and waiting + len(pieces) > self.max_queue):
                raise QueueFull(f"{waiting} pieces are waiting (at most {self.max_queue})")
            self._jobs.append(job)
            self._condition.notify()
        return job

    def cancel(self, job: Job) -> None:
        """Drop a job's pieces not yet decoded (its client left, or it timed out)."""
        with self._condition:
            job.cancelled = True
            if job in self._jobs:
                self._jobs.remove(job)

    def stop(self, timeout: float | None = None) -> None:
        """Refuse new jobs, finish every queued one, then end the worker thread."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join(timeout)

    # ----------------------------------------------------------------------------- worker thread

    def _take_batch(self) -> list[tuple[Job, int]]:
        """Wait for pieces, then pick up to max_batch_size of them round-robin (under allowance)."""
        with self._condition:
            while not self._jobs:
                if self._stopping:
                    return []
                self._condition.wait()
            deadline = time.monotonic() + self.max_wait_s
            expected = min(self._last_batch_size, self.max_batch_size)
            while sum(min(j.remaining, j.allowance) for j in self._jobs) < expected and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(left)
            jobs = self._jobs[self._rotation % len(self._jobs) :] + self._jobs[: self._rotation % len(self._jobs)]
            self._rotation += 1
            taken: dict[Job, int] = {}
            batch: list[tuple[Job, int]] = []
            progress = True
            while progress and len(batch) < self.max_batch_size:
                progress = False
                for job in jobs:
                    if len(batch) == self.max_batch_size:
                        break
                    if job.remaining and taken.get(job, 0) < job.allowance:
                        batch.append((job, job.next_piece))
                        job.next_piece += 1
                        taken[job] = taken.get(job, 0) + 1
                        progress = True
            for job in taken:
                job.allowance = min(2 * job.allowance, self.max_batch_size)
                if not job.remaining:
                    self._jobs.remove(job)
            self._busy = True
            self._last_batch_size = len(batch)
            return batch

    def _run(self) -> None:
        # All of the server's torch work happens on this one thread, with the thread count the
        # scheduler was made under: GNU OpenMP (torch's CPU thread pool) stops spinning between
        # parallel regions once a second thread has a pool of its own, which made every small op
        # 2-3x slower (measured on the bundled voice's Griffin-Lim and Tacotron 2, 2 cores).
        torch.set_num_threads(self._threads)
        try:
            # Loads the pronunciation dictionary and warms the kernels, so the first request's
            # latency is like every other's (and /ready means ready).
            self.synthesizer.synthesize(["Ready."])
        except BaseException as exc:  # re-raised by wait_ready() on the event loop's side
            self._warm_up_error = exc
            return
        finally:
            self._warmed_up.set()
        while True:
            batch = self._take_batch()
            if not batch:
                return
            try:
                self._synthesize(batch)
            finally:
                with self._condition:
                    self._busy = False

    def _synthesize(self, batch: list[tuple[Job, int]]) -> None:
        live = [(job, index) for job, index in batch if not job.cancelled]
        if not live:
            return
        synth = self.synthesizer
        try:
            utterances: Sequence[Utterance | OnnxUtterance] = synth.synthesize(
                [job.pieces[index].text for job, index in live]
            )
        except Exception as exc:  # reported to each request as a 500; the worker keeps serving
            logger.exception("synthesis failed for a batch of %d piece(s)", len(live))
            for job, _ in live:
                self.cancel(job)
                job._send("error", exc)
            return
        audio = []
        for (job, index), utterance in zip(live, utterances):
            piece = job.pieces[index]
            waveform = _as_numpy(utterance.waveform)
            if job.speed != 1.0:
                seed = zlib.crc32(f"{self._base_seed}:{piece.text}".encode())
                mel = stretch_mel(_as_numpy(utterance.mel), job.speed)
                # The PyTorch engine vocodes tensors, the ONNX one numpy arrays.
                stretched = torch.from_numpy(mel) if isinstance(utterance.mel, torch.Tensor) else mel
                waveform = _as_numpy(synth.vocode(stretched, seed))  # type: ignore[arg-type]
            pause = np.zeros(round(piece.pause_after_s / job.speed * synth.sample_rate), dtype=np.float32)
            audio.append(np.concatenate([waveform, pause]))
        if self.on_batch is not None:  # before the answers go out: metrics read after one include it
            self.on_batch(len(live), sum(samples.size for samples in audio) / synth.sample_rate)
        for (job, index), samples in zip(live, audio):
            job._send("audio", samples)
            if index == len(job.pieces) - 1:
                job._send("done", None)
