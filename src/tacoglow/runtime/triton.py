"""Triton Inference Server for the ONNX Runtime engine, through NVIDIA's PyTriton (``nvidia-pytriton``).

Model ``tacoglow`` (version 1), dynamic batching on, HTTP / gRPC / Prometheus metrics on the ports given:

- inputs: ``text`` BYTES (1,) UTF-8; optional ``seed`` INT64 (1,) and ``sigma`` FP32 (1,);
- outputs: ``audio`` FP32 (-1,) at ``sample_rate`` (padded with zeros to the longest item of
  the batch Triton formed), ``audio_length`` INT64 (1,): the item's samples.

Items of one Triton batch that give no seed are synthesized together (one random base seed);
each item with a seed or sigma is synthesized with them, so its audio does not depend on
what it was batched with. Importing this module imports no torch.
"""

from __future__ import annotations

import logging
import os
import sysconfig
from collections.abc import Callable, MutableMapping
from typing import Any

import numpy as np

from tacoglow.errors import ConfigError, TacoglowError
from tacoglow.runtime.engine import OnnxSynthesizer

__all__ = ["MODEL_NAME", "make_infer", "pin_libpython", "serve_triton"]

logger = logging.getLogger(__name__)

MODEL_NAME = "tacoglow"


def make_infer(synth: OnnxSynthesizer) -> Callable[..., dict[str, np.ndarray]]:
    """The batch function: text (B, 1) bytes, seed (B, 1) int64?, sigma (B, 1) float32? -> audio, audio_length."""

    def infer(
        text: np.ndarray, seed: np.ndarray | None = None, sigma: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        texts = [bytes(item).decode("utf-8") if not isinstance(item, str) else item for item in text[:, 0]]
        audio: list[np.ndarray | None] = [None] * len(texts)
        shared = [i for i in range(len(texts)) if seed is None and sigma is None]
        base_seed, base_sigma = synth.seed, synth.sigma
        try:
            if shared:
                for i, utterance in zip(shared, synth.synthesize([texts[i] for i in shared])):
                    audio[i] = utterance.waveform
            for i in range(len(texts)):
                if audio[i] is None:
                    synth.seed = int(seed[i, 0]) if seed is not None else None
                    synth.sigma = float(sigma[i, 0]) if sigma is not None else base_sigma
                    audio[i] = synth.synthesize(texts[i])[0].waveform
        except TacoglowError as exc:
            raise ValueError(str(exc)) from None  # PyTriton answers the request with this message
        finally:
            synth.seed, synth.sigma = base_seed, base_sigma
        waves = [a if a is not None else np.zeros(0, np.float32) for a in audio]
        longest = max(w.size for w in waves)
        padded = np.zeros((len(waves), longest), np.float32)
        for row, wave in enumerate(waves):
            padded[row, : wave.size] = wave
        return {"audio": padded, "audio_length": np.array([[w.size] for w in waves], np.int64)}

    return infer


# Directories the dynamic linker searches without being told (Debian's multiarch ones included).
_DEFAULT_LIB_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64")


def pin_libpython(environ: MutableMapping[str, str], config: dict[str, Any] | None = None) -> str | None:
    """Put this interpreter's libpython folder first on ``environ["LD_LIBRARY_PATH"]``; return it, or None.

    Triton runs Python models in a stub process that links ``libpython3.X.so``; the linker would take
    the first one on its path, e.g. the system's 3.11.2 under a pyenv 3.11.7 venv, whose C types do
    not match the venv's standard library ('_thread.RLock' object has no attribute '_recursion_count').
    PyTriton starts Triton with a copy of ``os.environ``, so setting it here reaches the stub.
    Nothing changes for an interpreter whose libpython sits in a default linker folder or that is
    built without a shared libpython (the stub then takes the system's; a warning says so).
    ``config`` stands for :func:`sysconfig.get_config_vars` (tests pass their own).
    """
    config = sysconfig.get_config_vars() if config is None else config
    libdir, soname = config.get("LIBDIR"), config.get("INSTSONAME")
    if not config.get("Py_ENABLE_SHARED") or not libdir or not soname:
        logger.warning(
            "this Python has no shared libpython; Triton's Python backend links the system's, which must be "
            "the same Python version and build"
        )
        return None
    multiarch = config.get("MULTIARCH")
    defaults = {*_DEFAULT_LIB_DIRS, *(f"{d}/{multiarch}" for d in _DEFAULT_LIB_DIRS if multiarch)}
    if os.path.normpath(libdir) in defaults or not os.path.exists(os.path.join(libdir, soname)):
        return None
    paths = [p for p in environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p and p != libdir]
    environ["LD_LIBRARY_PATH"] = os.pathsep.join([libdir, *paths])
    return libdir


def serve_triton(
    synth: OnnxSynthesizer,
    *,
    http_port: int = 8000,
    grpc_port: int = 8001,
    metrics_port: int = 8002,
    max_batch_size: int = 8,
    max_queue_delay_us: int = 5000,
    block: bool = True,
) -> Any:
    """Bind ``synth`` as model ``tacoglow`` and start Triton; blocks serving unless ``block`` is False.

    With ``block=False`` the started ``pytriton.triton.Triton`` is returned (call ``.stop()``).

    Raises:
        ConfigError: PyTriton not installed.
    """
    try:
        from pytriton.decorators import batch
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig
    except ImportError:
        raise ConfigError("Triton serving needs PyTriton: pip install nvidia-pytriton") from None
    infer = make_infer(synth)
    pin_libpython(os.environ)

    @batch
    def batched(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        return infer(**inputs)

    triton = Triton(config=TritonConfig(http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port))
    triton.bind(
        model_name=MODEL_NAME,
        infer_func=batched,
        inputs=[
            Tensor(name="text", dtype=bytes, shape=(1,)),
            Tensor(name="seed", dtype=np.int64, shape=(1,), optional=True),
            Tensor(name="sigma", dtype=np.float32, shape=(1,), optional=True),
        ],
        outputs=[
            Tensor(name="audio", dtype=np.float32, shape=(-1,)),
            Tensor(name="audio_length", dtype=np.int64, shape=(1,)),
        ],
        config=ModelConfig(
            max_batch_size=max_batch_size, batcher=DynamicBatcher(max_queue_delay_microseconds=max_queue_delay_us)
        ),
        strict=True,
    )
    if block:
        logger.info(
            "Triton: model %r on HTTP :%d, gRPC :%d, metrics :%d", MODEL_NAME, http_port, grpc_port, metrics_port
        )
        triton.serve()
        return None
    triton.run()
    return triton
