"""The ONNX Runtime engine: synthesis from an ONNX export folder with numpy and onnxruntime only.

Nothing in this package imports torch (a test runs it with torch blocked), so a deployment can
install ``numpy onnxruntime soundfile`` and the text frontend's packages instead of torch.

>>> from tacoglow.runtime import OnnxSynthesizer                     # doctest: +SKIP
>>> OnnxSynthesizer("voice-onnx", seed=0).synthesize("Hello.")[0].save("hello.wav")  # doctest: +SKIP
"""

from __future__ import annotations

from tacoglow.runtime.engine import OnnxSynthesizer, Segment, StageTimes, Utterance

__all__ = ["OnnxSynthesizer", "Segment", "StageTimes", "Utterance"]
