"""The official ``openai`` client against a real server: every format, streaming, SSE, batching."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import numpy as np
import pytest
import soundfile

openai = pytest.importorskip("openai")

from tacoglow.serving.encoding import OPUS_SAMPLE_RATE, supported_formats, to_pcm16  # noqa: E402

from live_server import RecordingSynthesizer, running  # noqa: E402

TEXT = "Hello world."
SENTENCES = "The cat sat. A dog ran. Birds sang. It rained."


def client(url: str, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=kwargs.pop("api_key", "unused"), max_retries=0, **kwargs)


def decode(fmt: str, data: bytes, sample_rate: int) -> tuple[np.ndarray, int]:
    """Samples in [-1, 1] and their rate, from an answer in ``fmt``."""
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, sample_rate
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return samples, rate


def alone(synthesizer, text: str) -> np.ndarray:
    """The 16-bit samples the Synthesizer gives ``text`` on its own."""
    [utterance] = synthesizer.synthesize([text])
    return np.frombuffer(to_pcm16(utterance.waveform.numpy()), dtype="<i2")


@pytest.mark.parametrize("fmt", list(supported_formats()))
def test_every_supported_format_decodes_at_the_right_rate(server, synthesizer, fmt):
    answer = client(server.url).audio.speech.create(model="tacoglow", voice="default", input=TEXT, response_format=fmt)
    samples, rate = decode(fmt, answer.read(), synthesizer.sample_rate)
    expected = alone(synthesizer, TEXT)
    assert rate == (OPUS_SAMPLE_RATE if fmt == "opus" else synthesizer.sample_rate)
    assert samples.ndim == 1
    # Non-silent: speech RMS is ~0.1; a mute or near-mute answer is far below 0.01.
    assert float(np.sqrt(np.mean(samples**2))) > 0.01
    duration = samples.size / rate
    if fmt in ("wav", "pcm", "flac"):
        # Lossless: exactly the Synthesizer's samples for this text, to the 16-bit sample.
        np.testing.assert_array_equal(np.round(samples * 32768).astype(np.int16), expected)
    else:
        # Lossy codecs add encoder delay and padding (MP3: a frame of 1152 samples at each end,
        # Opus: 80 ms of pre-skip and padding): the length agrees within 0.1 s.
        assert abs(duration - expected.size / synthesizer.sample_rate) < 0.1


def test_model_aliases_and_voice_forms_are_accepted(server):
    for model in ("tts-1", "tts-1-hd", "gpt-4o-mini-tts"):
        answer = client(server.url).audio.speech.create(
            model=model, voice="default", input="Hi.", response_format="pcm"
        )
        assert len(answer.read()) > 0


@pytest.mark.slow
def test_streamed_audio_arrives_sentence_by_sentence(synthesizer):
    recording = RecordingSynthesizer(synthesizer)
    with running(recording) as server:
        recording.calls.clear()  # the warm-up
        arrivals, chunks = [], []
        with client(server.url).audio.speech.with_streaming_response.create(
            model="tacoglow", voice="default", input=SENTENCES, response_format="pcm"
        ) as response:
            assert response.headers["content-type"] == "audio/pcm"
            for chunk in response.iter_bytes():
                arrivals.append(time.monotonic())
                chunks.append(chunk)
        last_vocoded = recording.calls[-1][0]
        assert [t for _, texts in recording.calls for t in texts][-1] == "It rained."
        assert len(chunks) >= 3
        assert arrivals[0] < last_vocoded  # the first audio came before the last sentence was synthesized
        # Streamed bytes are the whole answer: the same as the non-streamed request's.
        whole = (
            client(server.url)
            .audio.speech.create(model="tacoglow", voice="default", input=SENTENCES, response_format="pcm")
            .read()
        )
        assert b"".join(chunks) == whole


def test_sse_deltas_carry_the_same_audio(server):
    with client(server.url).audio.speech.with_streaming_response.create(
        model="tacoglow", voice="default", input="One. Two.", response_format="pcm", stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: ") :]) for line in response.iter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done"
    usage = events[-1]["usage"]
    assert (
        usage["input_tokens"] == len("One. Two.")
        and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    )
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    whole = (
        client(server.url)
        .audio.speech.create(model="tacoglow", voice="default", input="One. Two.", response_format="pcm")
        .read()
    )
    assert audio == whole


@pytest.mark.slow
def test_concurrent_requests_each_get_their_own_audio(server, synthesizer):
    texts = [
        f"{word} number {i}."
        for i, word in enumerate(
            [
                "Apple",
                "Bread",
                "Cloud",
                "Dream",
                "Eagle",
                "Flame",
                "Grape",
                "Horse",
                "Island",
                "Jelly",
                "Kite",
                "Lemon",
                "Mango",
                "Night",
                "Olive",
                "Pearl",
            ]
        )
    ]
    solo = {
        t: client(server.url)
        .audio.speech.create(model="tacoglow", voice="default", input=t, response_format="pcm")
        .read()
        for t in texts
    }
    answers: dict[str, bytes] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(texts))

    def ask(text: str) -> None:
        try:
            barrier.wait()
            answers[text] = (
                client(server.url)
                .audio.speech.create(model="tacoglow", voice="default", input=text, response_format="pcm")
                .read()
            )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors
    # They were decoded together: some batch held more than one piece.
    sizes = {s.name: s.value for s in server.app.state.metrics.batch_size.collect()[0].samples}
    assert sizes["tacoglow_batch_pieces_sum"] > sizes["tacoglow_batch_pieces_count"]
    for text in texts:
        got = np.frombuffer(answers[text], dtype="<i2").astype(np.int32)
        want = np.frombuffer(solo[text], dtype="<i2").astype(np.int32)
        assert got.size == want.size, text
        # Batched Tacotron 2 matches decoding alone to float32 round-off: its mel within 1e-4
        # (GOLDEN_MODEL_TOL, tests/inference's test_batched_equals_one_at_a_time). Griffin-Lim turns
        # exp(mel) into audio over 30 phase iterations, which amplify it (measured with 60: 5e-5 to 7e-4 of
        # the signal's norm on an AMD EPYC, 5e-5 being 16-bit rounding alone); 3e-3 leaves room for
        # other CPUs. Another text's audio, or a shifted one, differs by the order of the norm itself.
        relative = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert relative < 3e-3, text


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_speed_resamples_the_mel_along_time(server, synthesizer, speed):
    [utterance] = synthesizer.synthesize([TEXT])
    answer = client(server.url).audio.speech.create(
        model="tacoglow", voice="default", input=TEXT, response_format="pcm", speed=speed
    )
    samples, _ = decode("pcm", answer.read(), synthesizer.sample_rate)
    hop = synthesizer.acoustic.mel_config.hop_length
    # The mel's T frames become round(T / speed), each vocoded into hop samples.
    assert samples.size == round(utterance.mel_length / speed) * hop
    assert float(np.sqrt(np.mean(samples**2))) > 0.01
