"""The machine description: CPU name and native bf16 from /proc/cpuinfo, the one-time bf16 warning."""

from __future__ import annotations

import json
import logging

import pytest

from tacoglow import system
from tacoglow.cli import main

XEON_WITHOUT_BF16 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni

processor\t: 1
model name\t: some other core
flags\t\t: fpu avx512_bf16
"""
EPYC_WITH_BF16 = """processor\t: 0
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni
"""


@pytest.fixture
def fake_cpu(monkeypatch):
    def use(text: str) -> None:
        monkeypatch.setattr(system, "_cpuinfo", lambda: system.parse_cpuinfo(text))
        system.warn_if_bf16_is_emulated.cache_clear()

    yield use
    system.warn_if_bf16_is_emulated.cache_clear()


def test_cpuinfo_names_the_first_processor_and_its_bf16(fake_cpu):
    fake_cpu(XEON_WITHOUT_BF16)
    assert system.cpu_name() == "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz"
    assert system.cpu_has_native_bf16() is False  # the second processor's flags do not count
    assert system.describe_cpu().endswith("no native bf16")
    fake_cpu(EPYC_WITH_BF16)
    assert system.cpu_name() == "AMD EPYC 9R14 96-Core Processor"
    assert system.cpu_has_native_bf16() is True
    fake_cpu("")
    assert system.cpu_has_native_bf16() is None and "bf16 support unknown" in system.describe_cpu()


def test_bf16_warning_comes_once_and_only_without_native_bf16(fake_cpu, caplog):
    caplog.set_level(logging.WARNING, logger="tacoglow.system")
    fake_cpu(EPYC_WITH_BF16)
    assert system.warn_if_bf16_is_emulated() is False and not caplog.records
    fake_cpu(XEON_WITHOUT_BF16)
    for _ in range(3):
        system.warn_if_bf16_is_emulated()
    assert len(caplog.records) == 1
    assert "no native bf16" in caplog.records[0].getMessage()
    assert "Intel(R) Xeon(R) Platinum 8259CL" in caplog.records[0].getMessage()


def test_synthesizer_in_bf16_warns_once_on_a_cpu_without_it(fake_cpu, caplog):
    from tacoglow.inference.synthesizer import Synthesizer

    fake_cpu(XEON_WITHOUT_BF16)
    caplog.set_level(logging.WARNING, logger="tacoglow.system")
    Synthesizer.from_checkpoints(precision="bf16", vocoder="griffin-lim")
    Synthesizer.from_checkpoints(precision="bf16", vocoder="griffin-lim")
    Synthesizer.from_checkpoints(precision="fp32", vocoder="griffin-lim")
    assert [r.name for r in caplog.records] == ["tacoglow.system"]


def test_info_system_prints_the_machine(capsys):
    assert main(["info", "--system", "--json"]) == 0
    machine = json.loads(capsys.readouterr().out)
    assert machine["cpu"] == system.cpu_name() and machine["native_bf16"] == system.cpu_has_native_bf16()
    assert machine["torch"].startswith("2.")
    assert main(["info"]) == 2
    assert "expected a checkpoint file or --system" in capsys.readouterr().err
