"""tacoglow's Python API: the names a user of the library needs, in one place.

>>> from tacoglow.api import Synthesizer                                  # doctest: +SKIP
>>> synth = Synthesizer.from_checkpoints("nvidia_tacotron2pyt_fp16.pt", "nvidia_waveglow256pyt_fp16.pt",
...                                      precision="bf16", seed=0)        # doctest: +SKIP
>>> for i, utterance in enumerate(synth.synthesize(["Hello world.", "How are you?"])):
...     utterance.save(f"{i:03d}.wav")                                    # doctest: +SKIP

``Synthesizer()`` with no checkpoint uses the voice bundled with the installation
(:func:`bundled_voice_paths`) and raises ``ConfigError`` when there is none. The stages compose:
``Synthesizer(AcousticModel.load("tacotron2.pt"), GriffinLimVocoder(), seed=0)``, and
``synthesize(text, seed=...)`` takes a seed per call (one instance may serve several threads).
"""

from tacoglow.checkpoints import LoadedModel, load_model, load_tacotron2, load_waveglow, save_checkpoint
from tacoglow.inference import (
    AcousticModel,
    GriffinLimVocoder,
    Segment,
    StageTimes,
    Synthesizer,
    TextStage,
    Utterance,
    Vocoder,
    WaveGlowVocoder,
    bundled_voice_paths,
    check_mel_pair,
)

__all__ = [
    "AcousticModel",
    "GriffinLimVocoder",
    "LoadedModel",
    "Segment",
    "StageTimes",
    "Synthesizer",
    "TextStage",
    "Utterance",
    "Vocoder",
    "WaveGlowVocoder",
    "bundled_voice_paths",
    "check_mel_pair",
    "load_model",
    "load_tacotron2",
    "load_waveglow",
    "save_checkpoint",
]
