"""``export_onnx``: write a Tacotron 2 (and WaveGlow) as ONNX graphs plus a ``voice.json``.

The folder holds everything :mod:`tacoglow.runtime` needs to synthesize without torch:

- ``encoder.onnx``, ``decoder_step.onnx``, ``postnet.onnx`` (Tacotron 2, see
  :mod:`tacoglow.export.graphs`) and ``waveglow.onnx`` when a WaveGlow is given;
- ``*.fp16.onnx``: the same graphs with float16 weights and arithmetic, float32 inputs and outputs;
- ``decoder_step.int8.onnx``: the decoder step with ONNX Runtime's dynamic quantization of its
  two LSTM cells' weights (int8 per output channel, activations quantized per call): the step
  streams its weights once per frame and the cells hold nearly all of them (95 % at NVIDIA's
  size), so a quarter of their bytes is what speeds it up at batch 1;
- ``arrays.npz``: the mel filterbank pseudo-inverse (Griffin-Lim) and the denoiser's bias
  magnitude (WaveGlow); the numpy STFT in the runtime uses them;
- ``voice.json``: mel contract, text frontend and symbols, decoding settings, graph files.

Every graph is checked with ``onnx.checker`` and run once with ONNX Runtime on the inputs it was
traced with; its outputs must match PyTorch's (fp32: relative L2 error below 1e-4, as the test
suite's golden tolerance; fp16 / int8: only finite outputs, their accuracy is the bench's).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tacoglow.audio.griffin_lim import GRIFFIN_LIM_ITERS, GRIFFIN_LIM_POWER
from tacoglow.audio.mel import _mel_basis_pinv
from tacoglow.checkpoints import LoadedModel, load_model
from tacoglow.errors import CheckpointError, ConfigError
from tacoglow.export.graphs import (
    DECODER_STATE_NAMES,
    DecoderStepGraph,
    EncoderGraph,
    PostnetGraph,
    WaveGlowGraph,
    state_zeros,
)
from tacoglow.models.denoiser import Denoiser
from tacoglow.models.tacotron2 import Tacotron2
from tacoglow.models.waveglow import WaveGlow
from tacoglow.text import symbols as DEFAULT_SYMBOLS

__all__ = ["FORMAT_VERSION", "OPSET", "export_onnx"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Version of the export folder layout (``voice.json``'s ``format_version``)."""
OPSET = 17
"""ONNX opset: LayerNorm-free graphs need nothing newer; ONNX Runtime >= 1.14 runs it."""
_EXPORT_RTOL = 1e-4
"""fp32 graph vs PyTorch on the trace inputs, relative L2 (tests/tolerances.py GOLDEN_MODEL_TOL's reasoning)."""


def _require_onnx() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ConfigError("ONNX export needs onnx and onnxruntime: pip install 'tacoglow[onnx]'") from None
    return onnx, onnxruntime


def _export(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    inputs: list[str],
    outputs: list[str],
    dynamic: dict[str, dict[int, str]],
) -> None:
    """Trace ``module`` (TorchScript exporter: the traced graphs are plain ops, no control flow).

    ``module`` must be in eval mode: the exporter restores the mode it finds afterwards,
    recursively, and a wrapper left in training mode would switch the shared model's dropouts on.
    """
    assert not module.training
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )


def _session(path: Path) -> Any:
    _, ort = _require_onnx()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _check(path: Path, feeds: dict[str, np.ndarray], expected: list[torch.Tensor] | None) -> None:
    """onnx.checker on the file, one ORT run on ``feeds``; compare with ``expected`` when given (fp32)."""
    onnx, _ = _require_onnx()
    onnx.checker.check_model(str(path), full_check=True)
    outputs = _session(path).run(None, feeds)
    for index, got in enumerate(outputs):
        if not np.all(np.isfinite(got)) and got.dtype != np.bool_:
            raise CheckpointError(f"{path.name}: output {index} is not finite on the trace inputs")
    if expected is None:
        return
    for index, (got, want) in enumerate(zip(outputs, expected)):
        want_np = want.detach().numpy()
        error = float(np.linalg.norm(got - want_np) / max(np.linalg.norm(want_np), 1e-30))
        if error > _EXPORT_RTOL:
            raise CheckpointError(
                f"{path.name}: output {index} differs from PyTorch by {error:.1e} "
                f"(relative L2; at most {_EXPORT_RTOL:.0e} expected)"
            )


def _fp16(source: Path, target: Path) -> None:
    """float16 copy of a graph; inputs and outputs stay float32 (callers keep one interface)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    _sort_nodes(model.graph)
    onnx.save(model, str(target))


def _sort_nodes(graph: Any) -> None:
    """Put the nodes in topological order (the converter appends its input casts at the end,
    which onnx.checker rejects, though ONNX Runtime would sort them itself)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise CheckpointError("fp16 conversion produced a graph with a cycle")
        for node in ready:
            available.update(node.output)
        ordered.extend(ready)
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
    del graph.node[:]
    graph.node.extend(ordered)


# Weights of the decoder step's LSTM cells (tacoglow.export.graphs.DecoderStep): the int8 variant
# quantizes the products with these alone. Quantizing every MatMul (prenet, attention, output
# projection too) cost the bundled voice 27 dB of mel SNR against fp32 (median over 113 LJ Speech
# validation pieces, prenet dropout off: 11.2 dB, lengths off by a frame or more in 104 of them),
# for no speed: those weights are 5 % of the bytes. Per-channel scales gain another 4.7 dB.
_INT8_WEIGHTS = ("attention_rnn", "decoder_rnn")


def _int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization, per output channel, of the decoder step's LSTM-cell products."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    nodes = [node.name for node in graph.node if node.op_type == "MatMul" and node.input[1] in _INT8_WEIGHTS]
    if len(nodes) != len(_INT8_WEIGHTS):
        raise CheckpointError(f"{source}: expected a MatMul with each of {_INT8_WEIGHTS}, found {len(nodes)}")

    # The quantizer reports every tensor it skips on the root logger at INFO: hush it meanwhile.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        quantize_dynamic(
            str(source),
            str(target),
            op_types_to_quantize=["MatMul"],
            nodes_to_quantize=nodes,
            per_channel=True,
            weight_type=QuantType.QInt8,
        )
    finally:
        root.setLevel(level)


def _feeds(names: list[str], tensors: tuple[torch.Tensor, ...]) -> dict[str, np.ndarray]:
    return {name: tensor.numpy() for name, tensor in zip(names, tensors)}


def _export_tacotron2(model: Tacotron2, folder: Path, variants: bool) -> dict[str, dict[str, str]]:
    """The three Tacotron 2 graphs (and their variants) into ``folder``; returns their file names."""
    cfg = model.config
    files: dict[str, dict[str, str]] = {}
    # Trace inputs: 2 items, the second padded, so packing and masking are traced for real.
    text = torch.randint(1, cfg.n_symbols, (2, 7))
    text_lengths = torch.tensor([7, 5])
    text[1, 5:] = 0

    encoder = EncoderGraph(model).eval()
    encoder_in = ["text", "text_lengths"]
    encoder_out = ["memory", "processed_memory"]
    with torch.no_grad():
        memory, processed = encoder(text, text_lengths)
    _export(
        encoder,
        (text, text_lengths),
        folder / "encoder.onnx",
        encoder_in,
        encoder_out,
        {
            "text": {0: "batch", 1: "text_len"},
            "text_lengths": {0: "batch"},
            "memory": {0: "batch", 1: "text_len"},
            "processed_memory": {0: "batch", 1: "text_len"},
        },
    )
    _check(folder / "encoder.onnx", _feeds(encoder_in, (text, text_lengths)), [memory, processed])

    step = DecoderStepGraph(model).eval()
    frame_dim = cfg.n_mel_channels * cfg.n_frames_per_step
    p = cfg.prenet_dropout
    generator = torch.Generator().manual_seed(0)
    masks = [torch.empty(2, cfg.prenet_dim).bernoulli_(1.0 - p, generator=generator) / (1.0 - p) for _ in range(2)]
    text_mask = torch.arange(7)[None, :] >= text_lengths[:, None]
    state = state_zeros(model, 2, 7)
    state[-1] = torch.randn(2, cfg.encoder_embedding_dim, generator=generator) * 0.1  # non-zero context
    step_args = (torch.randn(2, frame_dim, generator=generator), *masks, *state, memory, processed, text_mask)
    step_in = [
        "frame",
        "prenet_mask_1",
        "prenet_mask_2",
        *DECODER_STATE_NAMES,
        "memory",
        "processed_memory",
        "text_mask",
    ]
    step_out = ["frames", "gate", *(f"new_{name}" for name in DECODER_STATE_NAMES)]
    dynamic = {name: {0: "batch"} for name in step_in + step_out}
    for name in (
        "attention_weights",
        "attention_weights_cum",
        "new_attention_weights",
        "new_attention_weights_cum",
        "memory",
        "processed_memory",
        "text_mask",
    ):
        dynamic[name] = {0: "batch", 1: "text_len"}
    with torch.no_grad():
        step_expected = list(step(*step_args))
    _export(step, step_args, folder / "decoder_step.onnx", step_in, step_out, dynamic)
    step_feeds = _feeds(step_in, step_args)
    _check(folder / "decoder_step.onnx", step_feeds, step_expected)

    postnet = PostnetGraph(model).eval()
    mel = torch.randn(2, cfg.n_mel_channels, 9, generator=generator)
    with torch.no_grad():
        post_expected = [postnet(mel)]
    _export(
        postnet,
        (mel,),
        folder / "postnet.onnx",
        ["mel"],
        ["mel_postnet"],
        {"mel": {0: "batch", 2: "frames"}, "mel_postnet": {0: "batch", 2: "frames"}},
    )
    _check(folder / "postnet.onnx", {"mel": mel.numpy()}, post_expected)

    feeds = {
        "encoder": _feeds(encoder_in, (text, text_lengths)),
        "decoder_step": step_feeds,
        "postnet": {"mel": mel.numpy()},
    }
    for name in ("encoder", "decoder_step", "postnet"):
        files[name] = {"fp32": f"{name}.onnx"}
        if variants:
            _fp16(folder / f"{name}.onnx", folder / f"{name}.fp16.onnx")
            _check(folder / f"{name}.fp16.onnx", feeds[name], None)
            files[name]["fp16"] = f"{name}.fp16.onnx"
    if variants:
        _int8(folder / "decoder_step.onnx", folder / "decoder_step.int8.onnx")
        _check(folder / "decoder_step.int8.onnx", step_feeds, None)
        files["decoder_step"]["int8"] = "decoder_step.int8.onnx"
    return files


def _export_waveglow(model: WaveGlow, folder: Path, variants: bool) -> dict[str, str]:
    """WaveGlow's inverse (weight norm removed) into ``folder``; returns its file names."""
    model.remove_weight_norm()
    graph = WaveGlowGraph(model).eval()
    cfg = model.config
    generator = torch.Generator().manual_seed(0)
    mel = torch.randn(1, cfg.n_mel_channels, 5, generator=generator) - 5.0
    z = torch.randn(1, cfg.n_group, 5 * 256 // cfg.n_group, generator=generator) * 0.6
    with torch.no_grad():
        expected = [graph(mel, z)]
    _export(
        graph,
        (mel, z),
        folder / "waveglow.onnx",
        ["mel", "z"],
        ["audio"],
        {"mel": {0: "batch", 2: "frames"}, "z": {0: "batch", 2: "groups"}, "audio": {0: "batch", 1: "samples"}},
    )
    feeds = {"mel": mel.numpy(), "z": z.numpy()}
    _check(folder / "waveglow.onnx", feeds, expected)
    files = {"fp32": "waveglow.onnx"}
    if variants:
        _fp16(folder / "waveglow.onnx", folder / "waveglow.fp16.onnx")
        _check(folder / "waveglow.fp16.onnx", feeds, None)
        files["fp16"] = "waveglow.fp16.onnx"
    return files


def export_onnx(
    output: str | os.PathLike[str],
    tacotron2: str | os.PathLike[str] | LoadedModel,
    waveglow: str | os.PathLike[str] | LoadedModel | None = None,
    *,
    variants: bool = True,
) -> Path:
    """Export a Tacotron 2 (and optionally a WaveGlow) to an ONNX folder for :mod:`tacoglow.runtime`.

    Args:
        output: the folder to write (created; existing files of the same names are replaced).
        tacotron2: a Tacotron 2 checkpoint path or ``LoadedModel``.
        waveglow: a WaveGlow checkpoint path or ``LoadedModel``; None exports for Griffin-Lim.
        variants: also write the fp16 graphs and the int8 decoder step.

    Returns:
        The folder.

    Raises:
        ConfigError: onnx / onnxruntime missing, or a mismatched pair.
        CheckpointError: a checkpoint that does not load, or a graph that does not reproduce PyTorch.
    """
    _require_onnx()
    t2 = tacotron2 if isinstance(tacotron2, LoadedModel) else load_model(tacotron2, "tacotron2")
    model = t2.model.eval()
    assert isinstance(model, Tacotron2)
    mel_config = t2.mel_config
    assert mel_config is not None
    frontend = t2.text_frontend
    folder = Path(output)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"-o {folder}: cannot create the folder ({exc.strerror or exc})") from None
    graphs: dict[str, dict[str, str]] = _export_tacotron2(model, folder, variants)
    arrays = {"mel_pinv": _mel_basis_pinv(*mel_config._filterbank_key()).numpy()}
    # The settings the PyTorch engine's Griffin-Lim vocoder runs by default.
    vocoder: dict[str, Any] = {"name": "griffin-lim", "n_iters": GRIFFIN_LIM_ITERS, "power": GRIFFIN_LIM_POWER}
    if waveglow is not None:
        wg = waveglow if isinstance(waveglow, LoadedModel) else load_model(waveglow, "waveglow")
        wg_model = wg.model.eval()
        assert isinstance(wg_model, WaveGlow)
        from tacoglow.inference.synthesizer import check_mel_pair

        if wg.mel_config is not None:
            check_mel_pair(mel_config, wg.mel_config)
        graphs["waveglow"] = _export_waveglow(wg_model, folder, variants)
        generator = torch.Generator().manual_seed(0)  # the PyTorch engine's denoiser seed
        arrays["denoiser_bias"] = Denoiser(wg_model, generator=generator).bias_spec[0, :, 0].numpy()
        wg_cfg = wg_model.config
        vocoder = {
            "name": "waveglow",
            "n_group": wg_cfg.n_group,
            "n_early_every": wg_cfg.n_early_every,
            "n_early_size": wg_cfg.n_early_size,
            "n_flows": wg_cfg.n_flows,
            "denoiser": {"filter_length": 1024, "hop_length": 256, "win_length": 1024},
        }
    # numpy's stub: a **dict[str, ndarray] is matched against savez's allow_pickle: bool too.
    np.savez(folder / "arrays.npz", **arrays)  # type: ignore[arg-type]
    cfg = model.config
    voice = {
        "format_version": FORMAT_VERSION,
        "mel": mel_config.to_dict(),
        "text_frontend": (frontend.to_dict() if frontend is not None else None),
        "symbols": list(t2.symbols or DEFAULT_SYMBOLS),
        "tacotron2": {
            "n_mel_channels": cfg.n_mel_channels,
            "n_frames_per_step": cfg.n_frames_per_step,
            "gate_threshold": cfg.gate_threshold,
            "max_decoder_steps": cfg.max_decoder_steps,
            "prenet_dim": cfg.prenet_dim,
            "prenet_dropout": cfg.prenet_dropout,
            "attention_rnn_dim": cfg.attention_rnn_dim,
            "decoder_rnn_dim": cfg.decoder_rnn_dim,
            "encoder_embedding_dim": cfg.encoder_embedding_dim,
        },
        "vocoder": vocoder,
        "graphs": graphs,
    }
    (folder / "voice.json").write_text(json.dumps(voice, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %s (%s)", folder, ", ".join(sorted(graphs)))
    return folder
