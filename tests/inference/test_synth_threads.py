"""One Synthesizer shared by many threads gives every call the answer it gives alone (issue 21.3)."""

from __future__ import annotations

import threading

import pytest
import torch

from tacoglow.audio import MelConfig
from tacoglow.checkpoints import save_checkpoint
from tacoglow.inference import Synthesizer
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig

TEXTS = [
    "hi there.",
    "a short one.",
    "tiny",
    "hello there, how are you?",
    "one two three",
    "yes",
    "the end of it all",
    "ok then, fine",
]
THREADS, CALLS = 8, 20
# Each call says two texts of different lengths (so the batch is padded) with its own seed;
# every thread runs all jobs, each starting at another one.
JOBS = [([TEXTS[j % 8], TEXTS[(3 * j + 1) % 8]], 100 + j) for j in range(CALLS)]


def _voice(golden_dir, folder) -> tuple:
    """The golden tiny Tacotron 2 (its stop gate fires at different steps for different texts)
    and a tiny random WaveGlow for its mels."""
    torch.manual_seed(0)
    waveglow = WaveGlow(WaveGlowConfig(n_flows=2, n_group=8, n_early_every=2, n_early_size=2, n_layers=2, n_channels=8))
    return golden_dir / "tacotron2.pt", save_checkpoint(folder / "wg.pt", waveglow, mel_config=MelConfig())


def _build(voice) -> Synthesizer:
    # Prenet dropout on and retries on: every random draw of a call must come from the call's seed.
    return Synthesizer.from_checkpoints(*voice, max_decoder_steps=30, batch_size=4, retries=1, split_long_text=False)


@pytest.mark.slow
def test_eight_threads_sharing_one_synthesizer_match_single_thread_results(golden_dir, tmp_path):
    voice = _voice(golden_dir, tmp_path)
    alone = _build(voice)
    expected = [alone.synthesize(texts, seed=seed) for texts, seed in JOBS]
    assert len({u.mel_length for job in expected for u in job}) > 3  # lengths differ: batches are padded

    shared = _build(voice)  # fresh: first uses of the models happen under contention too
    results: dict[tuple[int, int], list] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(thread: int) -> None:
        try:
            start.wait()
            for call in range(CALLS):
                job = (thread + call) % CALLS
                texts, seed = JOBS[job]
                results[thread, call] = [job, shared.synthesize(texts, seed=seed)]
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(results) == THREADS * CALLS
    for (thread, call), (job, utterances) in results.items():
        for got, want in zip(utterances, expected[job], strict=True):
            assert got.text == want.text
            # Same operations on the same inputs: bit-identical, not merely close.
            assert torch.equal(got.mel, want.mel), (thread, call, got.text)
            assert torch.equal(got.waveform, want.waveform), (thread, call, got.text)
            assert [s.attempts for s in got.segments] == [s.attempts for s in want.segments]
