"""Downloads into the cache (tacoglow.download) from a loopback server: caching, verification, resume, errors."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
import torch

from tacoglow.checkpoints import export_nvidia, load_tacotron2, load_waveglow
from tacoglow.download import CACHE_ENV, CHUNK_BYTES, DownloadError, RemoteFile, cache_dir, fetch, sha256_of
from tacoglow.models.tacotron2 import Tacotron2
from tacoglow.models.waveglow import WaveGlow

from loopback_http import Behaviour, LoopbackServer, closed_port_url
from tiny_models import tiny_tacotron2_config, tiny_waveglow_config


def _tiny_models(folder: Path) -> dict[str, bytes]:
    """NVIDIA-layout (train.py) files of a tiny Tacotron 2 and WaveGlow, as bytes."""
    torch.manual_seed(0)
    # NVIDIA's defaults for the settings its files leave to the code: what a published file holds.
    tacotron2 = Tacotron2(tiny_tacotron2_config(max_decoder_steps=2000, prenet_dropout=0.5))
    waveglow = WaveGlow(tiny_waveglow_config())
    files = {}
    for name, model in (("tacotron2", tacotron2), ("waveglow", waveglow)):
        path = export_nvidia(folder / f"{name}.nvidia", model)
        files[name] = path.read_bytes()
    return files


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, bytes]:
    return _tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def server():
    with LoopbackServer() as running:
        yield running


def _remote(server: LoopbackServer, path: str, kind: str, **known) -> RemoteFile:
    return RemoteFile(server.url(path), path.rsplit("/", 1)[1], kind, **known)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_download_is_cached_and_second_use_makes_no_request(tmp_path, server, models):
    server.files["/t2/nvidia_t2"] = Behaviour(models["tacotron2"])
    remote = _remote(server, "/t2/nvidia_t2", "tacotron2")
    dest = tmp_path / "voice" / "nvidia_t2"
    assert fetch(remote, dest, progress=False) == dest
    assert dest.read_bytes() == models["tacotron2"]
    assert _files(tmp_path / "voice") == ["nvidia_t2"]  # no .part left behind
    assert load_tacotron2(dest).config.n_mel_channels == 10
    assert fetch(remote, dest, progress=False) == dest
    assert server.count("/t2/nvidia_t2") == 1


def test_known_sha256_and_size_are_checked_and_a_match_is_kept(tmp_path, server, models):
    body = models["waveglow"]
    server.files["/wg"] = Behaviour(body)
    remote = _remote(server, "/wg", "waveglow", size=len(body), sha256=hashlib.sha256(body).hexdigest().upper())
    dest = tmp_path / "voice" / "wg"
    fetch(remote, dest, progress=False)
    assert sha256_of(dest) == hashlib.sha256(body).hexdigest()
    assert load_waveglow(dest).config.n_flows == 4


def test_checksum_mismatch_is_refused_and_nothing_is_kept(tmp_path, server, models):
    server.files["/wg"] = Behaviour(models["waveglow"])
    remote = _remote(server, "/wg", "waveglow", sha256="0" * 64)
    with pytest.raises(DownloadError, match=r"/wg: downloaded file refused, SHA-256 mismatch \(expected 0{64}, found"):
        fetch(remote, tmp_path / "voice" / "wg", progress=False)
    assert _files(tmp_path / "voice") == []


def test_size_mismatch_is_refused_before_the_body_is_read(tmp_path, server, models):
    body = models["waveglow"]
    server.files["/wg"] = Behaviour(body)
    remote = _remote(server, "/wg", "waveglow", size=len(body) + 1)
    with pytest.raises(DownloadError, match=rf"offers {len(body)} bytes, expected {len(body) + 1}"):
        fetch(remote, tmp_path / "voice" / "wg", progress=False)
    assert _files(tmp_path / "voice") == []


@pytest.mark.parametrize(
    "served, expected",
    [
        ("waveglow", "expected tacotron2 weights, found waveglow"),
        ("html", "it does not load as a checkpoint"),
    ],
)
def test_without_checksum_the_file_must_load_as_the_expected_kind(tmp_path, server, models, served, expected):
    body = models["waveglow"] if served == "waveglow" else b"<html>Sign in to download this file</html>" * 50
    server.files["/t2"] = Behaviour(body)
    with pytest.raises(DownloadError, match=expected):
        fetch(_remote(server, "/t2", "tacotron2"), tmp_path / "voice" / "t2", progress=False)
    assert _files(tmp_path / "voice") == []


def test_connection_cut_half_way_resumes_with_range_and_ends_complete(tmp_path, server, models):
    body = models["tacotron2"]
    server.files["/t2"] = Behaviour(body, cut_once=True)
    dest = tmp_path / "voice" / "t2"
    fetch(_remote(server, "/t2", "tacotron2", sha256=hashlib.sha256(body).hexdigest()), dest, progress=False)
    assert dest.read_bytes() == body
    # The second request asks only for what the first did not deliver (the first half, less the
    # network read that was in flight when the connection broke).
    [(_, first), (_, second)] = server.requests
    assert first is None and second is not None
    resumed_at = int(second.removeprefix("bytes=").removesuffix("-"))
    assert len(body) // 2 - CHUNK_BYTES < resumed_at <= len(body) // 2


def test_connection_cut_with_a_server_without_ranges_restarts_cleanly(tmp_path, server, models):
    body = models["tacotron2"]
    server.files["/t2"] = Behaviour(body, cut_once=True, ranges=False)
    dest = tmp_path / "voice" / "t2"
    fetch(_remote(server, "/t2", "tacotron2"), dest, progress=False)
    assert dest.read_bytes() == body  # not the first half twice
    assert server.count("/t2") == 2


def test_partial_file_of_an_earlier_run_is_resumed(tmp_path, server, models):
    body = models["waveglow"]
    server.files["/wg"] = Behaviour(body)
    dest = tmp_path / "voice" / "wg"
    dest.parent.mkdir()
    dest.with_name("wg.part").write_bytes(body[:1000])
    fetch(_remote(server, "/wg", "waveglow"), dest, progress=False)
    assert dest.read_bytes() == body
    assert server.requests == [("/wg", "bytes=1000-")]


def test_no_network_and_nothing_cached_is_one_line_naming_url_and_place(tmp_path):
    url = closed_port_url("/models/nvidia_t2")
    dest = tmp_path / "voice" / "nvidia_t2"
    with pytest.raises(DownloadError) as caught:
        fetch(RemoteFile(url, "nvidia_t2", "tacotron2"), dest, progress=False)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"cannot download {url} (no connection")
    assert message.endswith(f"download it yourself from that URL and place it at {dest}")
    assert _files(tmp_path / "voice") == []


def test_http_error_is_one_line(tmp_path, server):
    server.files["/gone"] = Behaviour(b"", status=404)
    with pytest.raises(
        DownloadError,
        match=r"^cannot download .*/gone: the server answered HTTP 404 Not Found; "
        r"download it yourself",
    ):
        fetch(_remote(server, "/gone", "waveglow"), tmp_path / "voice" / "gone", progress=False)


def test_hand_placed_file_is_used_without_any_network(tmp_path, models):
    dest = tmp_path / "voice" / "nvidia_t2"
    dest.parent.mkdir()
    dest.write_bytes(models["tacotron2"])
    # Nothing listens at this URL: any request would fail.
    assert fetch(RemoteFile(closed_port_url("/nvidia_t2"), "nvidia_t2", "tacotron2"), dest) == dest


def test_hand_placed_file_of_the_wrong_size_is_named(tmp_path, models):
    dest = tmp_path / "voice" / "wg"
    dest.parent.mkdir()
    dest.write_bytes(models["waveglow"][:-10])
    remote = RemoteFile(closed_port_url("/wg"), "wg", "waveglow", size=len(models["waveglow"]))
    with pytest.raises(
        DownloadError,
        match=rf"wg: expected {len(models['waveglow'])} bytes .* found "
        rf"{len(models['waveglow']) - 10}: delete it",
    ):
        fetch(remote, dest)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv(CACHE_ENV)
    default = cache_dir()
    assert default.name.lower() in ("tacoglow", "cache") and default.is_absolute()
    assert os.fspath(default) != os.fspath(tmp_path / "cache")


def test_complete_partial_file_of_a_run_that_died_before_the_rename_is_kept(tmp_path, server, models):
    body = models["waveglow"]
    server.files["/wg"] = Behaviour(body)
    dest = tmp_path / "voice" / "wg"
    dest.parent.mkdir()
    dest.with_name("wg.part").write_bytes(body)
    fetch(_remote(server, "/wg", "waveglow"), dest, progress=False)
    assert dest.read_bytes() == body and _files(tmp_path / "voice") == ["wg"]
    assert server.requests == [("/wg", f"bytes={len(body)}-")]  # answered 416: nothing more to send


def test_a_2019_style_file_passes_the_load_check(tmp_path, server, models):
    """NGC's 19.09.0 files: torch < 1.6 (legacy, not zip) serialization, DDP's "module." keys, fp16 tensors."""
    checkpoint = torch.load(io.BytesIO(models["tacotron2"]), weights_only=True)
    state = {
        f"module.{key}": value.half() if value.is_floating_point() else value
        for key, value in checkpoint["state_dict"].items()
    }
    legacy = tmp_path / "legacy"
    torch.save(
        {"epoch": 1500, "config": checkpoint["config"], "state_dict": state},
        legacy,
        _use_new_zipfile_serialization=False,
    )
    server.files["/nvidia_tacotron2pyt_fp16_20190427"] = Behaviour(legacy.read_bytes())
    dest = tmp_path / "voice" / "nvidia_tacotron2pyt_fp16_20190427"
    fetch(_remote(server, "/nvidia_tacotron2pyt_fp16_20190427", "tacotron2"), dest, progress=False)
    assert load_tacotron2(dest).embedding.weight.dtype == torch.float32
