"""Errors tacoglow raises at its boundaries (API, CLI, loaders).

Every message is one line that names the thing, what was expected and what was found, e.g.
``voice.pt: expected a Tacotron 2 checkpoint, found WaveGlow keys``. The CLI prints that line
and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations


class TacoglowError(Exception):
    """Base class of every error tacoglow reports to a user."""


class CheckpointError(TacoglowError):
    """A checkpoint file is missing, corrupt, of the wrong kind, or does not fit the model."""


class TextError(TacoglowError):
    """Input text is empty or holds nothing speakable."""


class AudioError(TacoglowError):
    """An audio file is missing, corrupt, or has the wrong sample rate or layout."""


class ConfigError(TacoglowError):
    """A setting is out of range, or two settings (e.g. a Tacotron 2 / WaveGlow pair) disagree."""


class DataError(TacoglowError):
    """A dataset, filelist or metadata file is missing or malformed."""
