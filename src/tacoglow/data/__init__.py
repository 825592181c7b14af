"""Data: datasets (LJ Speech, NVIDIA filelists), batching, checks, mel preprocessing, corpus generation.

>>> from tacoglow.data import read_metadata, check_dataset, filter_utterances, preprocess  # doctest: +SKIP
>>> utterances = read_metadata("LJSpeech-1.1")  # doctest: +SKIP
>>> report = check_dataset(utterances, MelConfig())  # doctest: +SKIP
>>> mels_txt = preprocess(filter_utterances(utterances, report), "ljs_mels", MelConfig())  # doctest: +SKIP
"""

from tacoglow.data.check import PROBLEMS, DataReport, check_dataset, filter_utterances
from tacoglow.data.collate import TextMelBatch, TextMelCollate
from tacoglow.data.corpus import (
    CorpusSummary,
    make_corpus,
    make_synthetic_corpus,
    normalize_for_corpus,
    read_sentences,
    split_clauses,
)
from tacoglow.data.datasets import (
    AudioMelDataset,
    DatasetItem,
    TextMelDataset,
    load_mel,
    read_dataset,
    read_filelist,
    read_metadata,
)
from tacoglow.data.preprocess import preprocess, read_mel_config

__all__ = [
    "PROBLEMS",
    "AudioMelDataset",
    "CorpusSummary",
    "DataReport",
    "DatasetItem",
    "TextMelBatch",
    "TextMelCollate",
    "TextMelDataset",
    "check_dataset",
    "filter_utterances",
    "load_mel",
    "make_corpus",
    "make_synthetic_corpus",
    "normalize_for_corpus",
    "preprocess",
    "read_dataset",
    "read_filelist",
    "read_mel_config",
    "read_metadata",
    "read_sentences",
    "split_clauses",
]
