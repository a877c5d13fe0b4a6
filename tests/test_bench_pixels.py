"""make bench's pixel measurements (bcx.tools.bench_pixels), at a tiny scale: the JSON keys they
add, positive ratios; and ``--device cuda`` refused before any work where torch sees no GPU."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from bcx.tools import bench, bench_pixels


def run_bench(monkeypatch, tmp_path, *args: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["bench", *args])
    bench.main()


def test_device_cuda_without_a_gpu_exits_2_with_one_sentence_before_any_work(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as stopped:
        run_bench(monkeypatch, tmp_path, "--device", "cuda")
    assert stopped.value.code == 2
    assert "--device cuda needs a CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "outputs").exists()


def test_only_pixels_writes_the_pixel_ratios_and_lane_frames_per_second(monkeypatch, tmp_path):
    # 16x16 frames and 20-step episodes: the same code paths, a few seconds instead of minutes.
    tiny = ("env=lane", "obs.keys=[pixels]", "encoder=conv", "env.pixels.image_size=16")
    monkeypatch.setattr(bench_pixels, "PIXELS", (*tiny, "+env.kwargs.max_episode_steps=20"))
    monkeypatch.setattr(bench_pixels, "TRAIN_PAIRS", 64)
    run_bench(monkeypatch, tmp_path, "--only", "pixels", "--pixel-steps", "2",
              "--pixel-batch", "4", "--episodes", "2", "--repeats", "1")  # fmt: skip
    results = json.loads((tmp_path / "outputs/bench/pixels.json").read_text())
    for key in ("pixel_train_vs_raw", "pixel_rollout_vs_raw", "lane_render_fps_64"):
        assert results[key] > 0
    pixels = results["pixels"]
    assert set(pixels["train_steps_per_s"]) == {"bcx", "raw"}
    assert set(pixels["rollout_env_steps_per_s"]) == {"callback", "raw", "callback_rollouts_alone"}
    assert pixels["setup"]["batch_size"] == 4 and pixels["setup"]["train_device"] == "cpu"
    assert "train_gpu_memory_bytes" not in pixels  # recorded on the GPU only
