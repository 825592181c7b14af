"""Bad requests, limits and safety: JSON errors with the right status, a full queue, keys, CORS, cancellation."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

import pytest

from tacoglow.serving import ServerSettings

from live_server import RecordingSynthesizer, running

GOOD = {"model": "tacoglow", "input": "Hi.", "voice": "default", "response_format": "pcm"}


def post(
    url: str,
    body: Any,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    method: str = "POST",
    path: str = "/v1/audio/speech",
) -> tuple[int, dict[str, str], bytes]:
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path,
        data=data if method == "POST" else None,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def error_of(body: bytes) -> dict[str, Any]:
    """The OpenAI-shaped error of an answer (fails if it is not one)."""
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Traceback" not in error["message"]
    return error


@pytest.mark.parametrize(
    "change, raw, status, code",
    [
        ({"input": ""}, None, 400, "empty_input"),
        ({"input": "   "}, None, 400, "empty_input"),
        ({"input": "x" * 5000}, None, 413, "string_above_max_length"),
        ({"input": "!!! ..."}, None, 400, "invalid_input"),
        ({"voice": "alloy"}, None, 400, "invalid_voice"),
        ({"voice": "../../etc/passwd"}, None, 400, "invalid_voice"),
        ({"response_format": "aac"}, None, 400, "unsupported_format"),
        ({"model": "gpt-4"}, None, 400, "model_not_found"),
        ({"speed": 5.0}, None, 400, "invalid_speed"),
        ({"speed": 0.1}, None, 400, "invalid_speed"),
        ({"speed": "fast"}, None, 400, "invalid_speed"),
        ({"stream_format": "chunks"}, None, 400, "unsupported_stream_format"),
        ({"colour": "blue"}, None, 400, "unknown_parameter"),
        (None, b"{not json", 400, "invalid_json"),
        (None, b"[1, 2]", 400, "invalid_json"),
    ],
)
def test_bad_requests_get_a_json_error_and_the_server_carries_on(server, change, raw, status, code):
    got, headers, body = post(server.url, {**GOOD, **(change or {})}, raw=raw)
    assert (got, error_of(body)["code"]) == (status, code)
    assert headers["content-type"] == "application/json"
    assert post(server.url, None, method="GET", path="/health")[0] == 200


def test_unsupported_format_names_the_supported_ones(server):
    _, _, body = post(server.url, {**GOOD, "response_format": "aac"})
    assert "wav, pcm" in error_of(body)["message"]


def test_the_openai_client_sees_the_error_message(server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="voice: expected one of default, found 'alloy'"):
        client.audio.speech.create(model="tacoglow", voice="alloy", input="Hi.")


def test_unknown_path_and_method_are_json_errors(server):
    status, _, body = post(server.url, None, method="GET", path="/v1/nothing")
    assert (status, error_of(body)["code"]) == (404, "not_found")
    status, _, body = post(server.url, None, method="GET", path="/v1/audio/speech")
    assert (status, error_of(body)["code"]) == (405, "method_not_allowed")


def test_models_voices_health_ready_metrics(server):
    status, _, body = post(server.url, None, method="GET", path="/v1/models")
    assert status == 200 and {m["id"] for m in json.loads(body)["data"]} == {
        "tacoglow",
        "tts-1",
        "tts-1-hd",
        "gpt-4o-mini-tts",
    }
    assert json.loads(post(server.url, None, method="GET", path="/v1/audio/voices")[2])["voices"] == ["default"]
    assert post(server.url, None, method="GET", path="/ready")[0] == 200
    post(server.url, GOOD)
    metrics = post(server.url, None, method="GET", path="/metrics")[2].decode()
    for name in (
        "tacoglow_requests_total",
        "tacoglow_errors_total",
        "tacoglow_request_seconds_bucket",
        "tacoglow_queue_depth",
        "tacoglow_audio_seconds_total",
    ):
        assert name in metrics
    audio = [line for line in metrics.splitlines() if line.startswith("tacoglow_audio_seconds_total")]
    assert float(audio[0].split()[-1]) > 0


def test_api_key_is_required_when_set(synthesizer):
    with running(synthesizer, ServerSettings(api_key="s3cret")) as server:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            status, _, body = post(server.url, GOOD, headers)
            assert (status, error_of(body)["code"]) == (401, "invalid_api_key")
        assert post(server.url, None, method="GET", path="/v1/models")[0] == 401
        assert post(server.url, GOOD, {"Authorization": "Bearer s3cret"})[0] == 200
        assert post(server.url, None, method="GET", path="/health")[0] == 200


def test_cors_is_off_unless_an_origin_is_allowed(server, synthesizer):
    origin = {"Origin": "http://example.org", "Access-Control-Request-Method": "POST"}
    _, headers, _ = post(server.url, None, origin, method="OPTIONS")
    assert "access-control-allow-origin" not in {k.lower() for k in headers}
    with running(synthesizer, ServerSettings(cors_origins=["http://example.org"])) as allowed:
        status, headers, _ = post(allowed.url, None, origin, method="OPTIONS")
        assert status == 200 and headers["access-control-allow-origin"] == "http://example.org"


def stream_first_chunk(url: str, text: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Start a PCM request and read its first bytes; the connection stays open."""
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    connection.request(
        "POST", "/v1/audio/speech", json.dumps({**GOOD, "input": text}), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.read1(4096)
    return connection, response


LONG = " ".join(f"Sentence number {n}." for n in range(1, 9))


@pytest.mark.slow
def test_full_queue_answers_503_with_retry_after(synthesizer):
    settings = ServerSettings(max_batch_size=1, max_queue=1)
    with running(synthesizer, settings) as server:
        connection, _ = stream_first_chunk(server.url, LONG)  # 7 pieces still waiting
        status, headers, body = post(server.url, GOOD)
        assert (status, error_of(body)["code"]) == (503, "queue_full")
        assert int(headers["retry-after"]) >= 1
        connection.close()
        assert post(server.url, None, method="GET", path="/health")[0] == 200


def test_a_client_that_leaves_cancels_its_remaining_pieces(synthesizer):
    recording = RecordingSynthesizer(synthesizer)
    with running(recording, ServerSettings(max_batch_size=1)) as server:
        connection, _ = stream_first_chunk(server.url, LONG)
        connection.close()
        scheduler = server.app.state.scheduler
        deadline = time.monotonic() + 60
        while not scheduler.idle and time.monotonic() < deadline:
            time.sleep(0.05)
        spoken = [t for _, texts in recording.calls for t in texts if t.startswith("Sentence")]
        assert scheduler.idle and len(spoken) < 8  # pieces after the disconnect were never synthesized


@pytest.mark.slow
def test_a_long_request_does_not_hold_a_short_ones_first_audio(synthesizer):
    recording = RecordingSynthesizer(synthesizer)
    with running(recording, ServerSettings(max_batch_size=2)) as server:
        connection, response = stream_first_chunk(server.url, LONG)
        started = time.monotonic()
        status, _, _ = post(server.url, {**GOOD, "input": "Short."})
        short_done = time.monotonic()
        assert status == 200
        rest = response.read()  # the long one goes on to its end
        long_done = time.monotonic()
        connection.close()
        assert short_done < long_done and rest
        pieces = [t for _, texts in recording.calls for t in texts]
        # "Short." joined the next batch: at most the two long pieces already in the running batch
        # (its allowance had grown to 2) went before it.
        assert pieces.index("Short.") < pieces.index("Sentence number 5.")
        assert short_done - started < long_done - started


class FailingSynthesizer(RecordingSynthesizer):
    """Fails on any text containing "boom", as a broken model or an out-of-memory would."""

    def synthesize(self, texts, **kwargs):
        if any("boom" in t for t in texts):
            raise RuntimeError("simulated failure with a secret path /home/someone/model.pt")
        return super().synthesize(texts, **kwargs)


def test_a_synthesis_failure_is_a_500_without_internals_and_the_server_goes_on(synthesizer):
    with running(FailingSynthesizer(synthesizer)) as server:
        status, _, body = post(server.url, {**GOOD, "input": "boom."})
        error = error_of(body)
        assert (status, error["code"], error["type"]) == (500, "synthesis_failed", "server_error")
        assert "/home" not in body.decode() and "RuntimeError" not in body.decode()
        assert post(server.url, GOOD)[0] == 200
