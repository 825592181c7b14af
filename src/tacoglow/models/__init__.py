"""tacoglow.models: Tacotron 2 (text → mel), WaveGlow (mel → audio) and the WaveGlow denoiser."""

from tacoglow.models.denoiser import Denoiser
from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config, Tacotron2Inference
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig

__all__ = ["Tacotron2", "Tacotron2Config", "Tacotron2Inference", "WaveGlow", "WaveGlowConfig", "Denoiser"]
