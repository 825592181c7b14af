"""tacoglow's Python API: the names a user of the library needs, in one place.

>>> from tacoglow.api import Synthesizer                                  # doctest: +SKIP
>>> synth = Synthesizer("nvidia_tacotron2pyt_fp16.pt", "nvidia_waveglow256pyt_fp16.pt",
...                     precision="bf16", seed=0)                         # doctest: +SKIP
>>> for i, utterance in enumerate(synth.synthesize(["Hello world.", "How are you?"])):
...     utterance.save(f"{i:03d}.wav")                                    # doctest: +SKIP

``Synthesizer()`` with no checkpoint uses the voice bundled with the installation
(:func:`bundled_voice_paths`) and raises ``ConfigError`` when there is none.
"""
from tacoglow.checkpoints import LoadedModel, load_model, load_tacotron2, load_waveglow, save_checkpoint
from tacoglow.inference.synthesizer import (
    Segment,
    StageTimes,
    Synthesizer,
    Utterance,
    bundled_voice_paths,
    check_mel_pair,
)

__all__ = [
    "LoadedModel",
    "Segment",
    "StageTimes",
    "Synthesizer",
    "Utterance",
    "bundled_voice_paths",
    "check_mel_pair",
    "load_model",
    "load_tacotron2",
    "load_waveglow",
    "save_checkpoint",
]
