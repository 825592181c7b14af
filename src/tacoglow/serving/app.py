"""The HTTP app: OpenAI's speech endpoint over a :class:`~tacoglow.inference.synthesizer.Synthesizer`.

Endpoints:

- ``POST /v1/audio/speech``: ``{"model", "input", "voice", "response_format", "speed",
  "stream_format"}`` as OpenAI's API; audio bytes chunk by chunk (``stream_format="audio"``, the
  default) or server-sent events ``speech.audio.delta`` (base64 audio) then ``speech.audio.done``
  (``stream_format="sse"``);
- ``GET /v1/models``, ``GET /v1/audio/voices``: what the server offers;
- ``GET /health`` (the process answers), ``GET /ready`` (models loaded, worker running, not
  shutting down), ``GET /metrics`` (Prometheus);
- ``GET /``: a page to try it in a browser.

Every error is ``{"error": {"message", "type", "param", "code"}}`` with a 4xx/5xx status, as
OpenAI's API answers; nothing of a traceback reaches the client. The server keeps no per-client
state, so any number of them can sit behind one HTTP load balancer.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from tacoglow.errors import ConfigError, TextError
from tacoglow.serving.encoding import StreamEncoder, supported_formats
from tacoglow.serving.metrics import ServerMetrics
from tacoglow.serving.scheduler import BatchScheduler, Job, QueueFull, split_request

if TYPE_CHECKING:
    from tacoglow.serving.scheduler import AnySynthesizer

__all__ = ["MODEL_NAMES", "SPEED_RANGE", "ServerSettings", "create_app"]

logger = logging.getLogger(__name__)

MODEL_NAMES = ("tacoglow", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
"""Accepted ``model`` values: ours, and OpenAI's TTS model names as aliases (same voice)."""
SPEED_RANGE = (0.25, 4.0)
"""Accepted ``speed``, as OpenAI's API."""
RETRY_AFTER_S = 1
"""``Retry-After`` of a 503 for a full queue: about one batch of short sentences."""


@dataclass(frozen=True)
class ServerSettings:
    """Limits and options of one app.

    Attributes:
        voices: names a request may give as ``voice`` (names only: never paths), all served by
            the app's one Synthesizer (e.g. its catalogue name); ``default`` is always accepted.
        max_input_chars: longest ``input`` accepted.
        max_batch_size: text pieces synthesized together across requests.
        max_wait_ms: longest wait for a batch to grow to the previous batch's size (see
            :class:`~tacoglow.serving.scheduler.BatchScheduler`).
        max_queue: pieces waiting beyond which requests get a 503.
        request_timeout_s: longest a request may take from arrival to its last audio.
        api_key: when set, every ``/v1`` request needs ``Authorization: Bearer <key>``.
        cors_origins: origins allowed to call the API from a browser (none: CORS off).
    """

    voices: Sequence[str] = ("default",)
    max_input_chars: int = 4096
    max_batch_size: int = 8
    max_wait_ms: float = 25.0
    max_queue: int = 256
    request_timeout_s: float = 300.0
    api_key: str | None = None
    cors_origins: Sequence[str] = ()

    @property
    def voice_names(self) -> list[str]:
        """The names a request may give as ``voice``: ``default`` first, each once."""
        return ["default", *[name for name in self.voices if name != "default"]]

    def __post_init__(self) -> None:
        if not self.voices:
            raise ConfigError("voices: expected at least one voice name")
        if self.max_input_chars < 1:
            raise ConfigError(f"max input chars: expected >= 1, found {self.max_input_chars}")
        if not self.request_timeout_s > 0:
            raise ConfigError(f"request timeout: expected > 0 s, found {self.request_timeout_s}")
        if self.api_key is not None and not self.api_key:
            raise ConfigError("api key: expected a non-empty key")


class APIError(Exception):
    """An error answer: HTTP status and OpenAI's error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        param: str | None = None,
        type_: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.type = status, message, code, param, type_
        self.headers = headers


def _error_response(error: APIError) -> JSONResponse:
    body = {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}
    return JSONResponse(body, status_code=error.status, headers=error.headers)


@dataclass(frozen=True)
class SpeechRequest:
    input: str
    voice: str
    response_format: str
    speed: float
    stream_format: str


def _parse_speech_request(raw: bytes, settings: ServerSettings, formats: Sequence[str]) -> SpeechRequest:
    """Validate a request body; raises APIError (400) naming the first bad field."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"request body: expected JSON, could not parse it ({exc})", "invalid_json") from None
    if not isinstance(body, dict):
        raise APIError(400, f"request body: expected a JSON object, found {type(body).__name__}", "invalid_json")
    known = {"model", "input", "voice", "response_format", "speed", "stream_format", "instructions"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise APIError(400, f"unknown parameter(s): {', '.join(unknown)}", "unknown_parameter", unknown[0])
    model = body.get("model")
    if model not in MODEL_NAMES:
        raise APIError(
            400, f"model: expected one of {', '.join(MODEL_NAMES)}, found {model!r}", "model_not_found", "model"
        )
    text = body.get("input")
    if not isinstance(text, str):
        raise APIError(400, f"input: expected a string, found {type(text).__name__}", "invalid_type", "input")
    if not text.strip():
        raise APIError(400, "input: empty (expected something to say)", "empty_input", "input")
    if len(text) > settings.max_input_chars:
        raise APIError(
            413,
            f"input: {len(text)} characters, at most {settings.max_input_chars} accepted",
            "string_above_max_length",
            "input",
        )
    if body.get("instructions"):
        raise APIError(
            400, "instructions: not supported by this server's voices", "unsupported_parameter", "instructions"
        )
    voice = body.get("voice")
    if isinstance(voice, dict) and isinstance(voice.get("id"), str):  # OpenAI's custom-voice form
        voice = voice["id"]
    offered = settings.voice_names
    if not isinstance(voice, str) or voice not in offered:
        raise APIError(400, f"voice: expected one of {', '.join(offered)}, found {voice!r}", "invalid_voice", "voice")
    response_format = body.get("response_format", "mp3" if "mp3" in formats else "wav")
    if response_format not in formats:
        raise APIError(
            400,
            f"response_format: expected one of {', '.join(formats)}, found {response_format!r}",
            "unsupported_format",
            "response_format",
        )
    speed = body.get("speed", 1.0)
    if (
        isinstance(speed, bool)
        or not isinstance(speed, (int, float))
        or not math.isfinite(speed)
        or not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]
    ):
        raise APIError(
            400,
            f"speed: expected a number from {SPEED_RANGE[0]} to {SPEED_RANGE[1]}, found {speed!r}",
            "invalid_speed",
            "speed",
        )
    stream_format = body.get("stream_format", "audio")
    if stream_format not in ("audio", "sse"):
        raise APIError(
            400,
            f"stream_format: expected 'audio' or 'sse', found {stream_format!r}",
            "unsupported_stream_format",
            "stream_format",
        )
    return SpeechRequest(text, voice, response_format, float(speed), stream_format)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past ``limit`` bytes before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, f"request body: {declared} bytes, at most {limit} accepted", "request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, f"request body: more than {limit} bytes", "request_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(synthesizer: AnySynthesizer, settings: ServerSettings | None = None) -> FastAPI:
    """An ASGI app serving ``synthesizer`` (mount it in another app, or run it with uvicorn).

    The app owns a worker thread that is the only user of ``synthesizer`` from startup to
    shutdown (the ASGI lifespan); at shutdown it finishes the requests in flight first. It runs
    torch with the thread count set when the app is made. For full speed on CPU, build the
    Synthesizer under ``torch.set_num_threads(1)`` and set the count wanted afterwards, as
    ``tacoglow serve`` does: a thread that has run torch's parallel kernels keeps an OpenMP pool,
    and with two pools every small op of the worker gets 2-3x slower.

    Args:
        synthesizer: a loaded :class:`~tacoglow.inference.synthesizer.Synthesizer`, or a
            :class:`~tacoglow.runtime.engine.OnnxSynthesizer` (an ONNX export on ONNX Runtime).
        settings: limits and options (default: :class:`ServerSettings`'s).
    """
    settings = settings or ServerSettings()
    formats = supported_formats()
    metrics = ServerMetrics()

    def on_batch(pieces: int, seconds: float) -> None:
        metrics.batch_size.observe(pieces)
        metrics.audio_seconds.inc(seconds)

    scheduler = BatchScheduler(
        synthesizer,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        max_queue=settings.max_queue,
        on_batch=on_batch,
    )
    state = {"ready": False}
    # A JSON body is at most ~6 bytes per character (\uXXXX escapes) plus the other fields.
    body_limit = 6 * settings.max_input_chars + 4096

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler.start()
        await run_in_threadpool(scheduler.wait_ready)
        state["ready"] = True
        try:
            yield
        finally:
            state["ready"] = False
            await run_in_threadpool(scheduler.stop)

    app = FastAPI(title="tacoglow", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.scheduler = scheduler
    app.state.metrics = metrics
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.exception_handler(APIError)
    async def _api_error(_request: Request, exc: APIError) -> JSONResponse:
        metrics.errors.labels(str(exc.status), exc.code).inc()
        return _error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return await _api_error(_request, APIError(exc.status_code, str(exc.detail), code))

    @app.exception_handler(Exception)
    async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("internal error")
        return await _api_error(
            _request, APIError(500, "internal server error", "internal_error", type_="server_error")
        )

    def check_key(request: Request) -> None:
        if settings.api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        # Constant time: how much of the key matched must not show in the answer's timing.
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), settings.api_key.encode()):
            raise APIError(
                401, "missing or incorrect API key (expected 'Authorization: Bearer <key>')", "invalid_api_key"
            )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse((resources.files("tacoglow.serving") / "page.html").read_text(encoding="utf-8"))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        if not state["ready"]:
            return _error_response(
                APIError(503, "not ready (starting or shutting down)", "not_ready", type_="server_error")
            )
        return JSONResponse({"status": "ready", "sample_rate": synthesizer.sample_rate})

    @app.get("/metrics")
    async def prometheus() -> Response:
        metrics.queue_depth.set(scheduler.depth)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        check_key(request)
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "tacoglow", "voices": settings.voice_names}
                for name in MODEL_NAMES
            ],
        }

    @app.get("/v1/audio/voices")
    async def voices(request: Request) -> dict[str, Any]:
        check_key(request)
        return {"voices": settings.voice_names, "formats": list(formats), "sample_rate": synthesizer.sample_rate}

    @app.post("/v1/audio/speech")
    async def speech(request: Request) -> Response:
        started = time.monotonic()
        check_key(request)
        speech = _parse_speech_request(await _read_body(request, body_limit), settings, list(formats))
        metrics.requests.labels(speech.response_format, speech.stream_format).inc()
        try:
            pieces = await run_in_threadpool(split_request, synthesizer, speech.input)
        except TextError as exc:
            raise APIError(400, str(exc), "invalid_input", "input") from None
        try:
            job = scheduler.submit(pieces, speech.speed)
        except QueueFull as exc:
            raise APIError(
                503,
                f"server busy: {exc}; retry later",
                "queue_full",
                type_="server_error",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        deadline = started + settings.request_timeout_s
        try:
            first = await _first_result(job, request, deadline)
        except BaseException:
            scheduler.cancel(job)
            raise
        metrics.first_audio.observe(time.monotonic() - started)
        encoder = StreamEncoder(formats[speech.response_format], synthesizer.sample_rate)
        hop = synthesizer.hop_length

        produced = {"samples": first.size}

        async def audio_bytes() -> AsyncIterator[bytes]:
            try:
                data = encoder.add(first)
                while True:
                    if data:
                        yield data
                    left = deadline - time.monotonic()
                    try:
                        kind, value = await asyncio.wait_for(job.results.get(), max(left, 0.0))
                    except asyncio.TimeoutError:
                        metrics.errors.labels("504", "timeout").inc()
                        logger.warning("request timed out after %.1f s while streaming", settings.request_timeout_s)
                        raise
                    if kind == "error":
                        metrics.errors.labels("500", "synthesis_failed").inc()
                        raise RuntimeError("synthesis failed while streaming") from value
                    if kind == "done":
                        break
                    produced["samples"] += value.size
                    data = encoder.add(value)
                data = encoder.finish()
                if data:
                    yield data
                metrics.latency.observe(time.monotonic() - started)
            finally:
                scheduler.cancel(job)  # the client left, or it timed out: drop what is left

        if speech.stream_format == "audio":
            return StreamingResponse(
                audio_bytes(),
                media_type=encoder.format.media_type,
                headers={"X-Sample-Rate": str(encoder.output_sample_rate)},
            )

        async def events() -> AsyncIterator[bytes]:
            async for data in audio_bytes():
                yield _sse({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")})
            # No tokens here: input counts characters, output counts mel frames (audio samples / hop).
            usage = {"input_tokens": len(speech.input), "output_tokens": produced["samples"] // hop}
            usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
            yield _sse({"type": "speech.audio.done", "usage": usage})

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Sample-Rate": str(encoder.output_sample_rate)},
        )

    async def _first_result(job: Job, request: Request, deadline: float) -> Any:
        """The job's first audio; APIError on timeout or synthesis failure; cancelled if the client left."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise APIError(
                    504, f"request took longer than {settings.request_timeout_s:g} s", "timeout", type_="server_error"
                )
            try:
                kind, value = await asyncio.wait_for(job.results.get(), min(left, 0.25))
            except asyncio.TimeoutError:
                if await request.is_disconnected():  # nobody reads this answer; the job is cancelled
                    raise APIError(499, "client closed the request", "client_disconnected") from None
                continue
            if kind == "error":
                raise APIError(500, "synthesis failed", "synthesis_failed", type_="server_error")
            return value

    return app


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()
