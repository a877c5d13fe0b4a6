"""``encoder=resnet18``: torchvision's ResNet-18 with GroupNorm and spatial-softmax keypoints.

torchvision is not a bcx dependency (the registry's build cannot be imported beside the CPU
torch these machines use), so the tests split in three: settings refused before any work (always);
bcx's wiring around the backbone, on a stand-in with ResNet's layout (always); the real network
(only where torchvision imports)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from bcx import api
from bcx.config import validate
from bcx.encoders import resnet18 as resnet_module
from bcx.encoders.resnet18 import ResNet18Encoder
from bcx.errors import BCXError
from bcx.pipeline import check_folders, run
from tests.conftest import TINY

RESNET = ["env=lane", "obs.keys=[pixels]", "encoder=resnet18", "env.pixels.image_size=64"]


def torchvision_imports() -> bool:
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        import torchvision  # noqa: F401
    except Exception:  # built for another torch
        return False
    return True


HAS_TORCHVISION = torchvision_imports()


def refused_before_any_work(make_cfg, tmp_path, overrides, words):
    cfg = make_cfg(*overrides, *TINY)
    with pytest.raises(BCXError, match=words):
        validate(cfg)
        check_folders(cfg)
        run(cfg)
    assert not (tmp_path / "run").exists()


def test_pretrained_weights_are_refused_before_any_work(make_cfg, tmp_path):
    refused_before_any_work(
        make_cfg, tmp_path, [*RESNET, "encoder.pretrained=true"], "encoder.pretrained=True"
    )


def test_a_state_learner_is_refused(make_cfg, tmp_path):
    refused_before_any_work(make_cfg, tmp_path, ["env=lane", "encoder=resnet18"], "reads camera")


@pytest.mark.skipif(HAS_TORCHVISION, reason="torchvision imports here")
def test_without_torchvision_the_run_stops_before_any_work_naming_it(make_cfg, tmp_path):
    refused_before_any_work(make_cfg, tmp_path, RESNET, "needs torchvision")


class StandIn(nn.Module):
    """ResNet's layout at a toy size: conv1, bn1, relu, maxpool, layer1-4, avgpool, fc, with the
    norm layer it is given, each stage halving the maps as ResNet's do after the stem."""

    def __init__(self, weights=None, norm_layer=nn.BatchNorm2d):
        super().__init__()
        assert weights is None
        self.conv1 = nn.Conv2d(3, 16, 7, 2, 3, bias=False)
        self.bn1, self.relu, self.maxpool = norm_layer(16), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1), norm_layer(16))
        self.layer2 = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1), norm_layer(32))
        self.layer3 = nn.Sequential(nn.Conv2d(32, 32, 3, 2, 1), norm_layer(32))
        self.layer4 = nn.Sequential(nn.Conv2d(32, 32, 3, 2, 1), norm_layer(32))
        self.avgpool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(32, 10)


def test_the_wiring_groupnorm_keypoints_state_after_and_frame_stacks(monkeypatch):
    monkeypatch.setattr(resnet_module, "_torchvision_resnet18", lambda: StandIn)
    torch.manual_seed(0)
    encoder = ResNet18Encoder(state_dim=2, image_shape=(64, 64, 6), keypoints=5, features=7)
    norms = [m for m in encoder.modules() if isinstance(m, nn.GroupNorm | nn.BatchNorm2d)]
    assert norms and all(isinstance(m, nn.GroupNorm) for m in norms)
    assert all(m.num_channels // m.num_groups == 16 for m in norms)
    assert encoder.backbone[0].in_channels == 6  # two stacked RGB frames
    assert not any(isinstance(m, nn.Linear) and m.out_features == 10 for m in encoder.modules())
    images = torch.randint(0, 256, (4, 64, 64, 6), dtype=torch.uint8)
    state = torch.randn(4, 2)
    out = encoder.eval()(state, images)
    assert out.shape == (4, 7 + 2) and encoder.out_features == 9
    assert torch.equal(out[:, 7:], state)  # the state follows the image features unchanged
    maps = encoder.to_keypoints(encoder.backbone(images.permute(0, 3, 1, 2).float()))
    from kornia.geometry.subpix import spatial_soft_argmax2d

    points = spatial_soft_argmax2d(maps, normalized_coordinates=True)
    assert points.shape == (4, 5, 2) and points.abs().max() <= 1


def test_a_camera_too_small_for_keypoints_is_refused(monkeypatch):
    monkeypatch.setattr(resnet_module, "_torchvision_resnet18", lambda: StandIn)
    with pytest.raises(BCXError, match="at least 33x33"):
        ResNet18Encoder(state_dim=0, image_shape=(16, 16, 3))


@pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision does not import here")
def test_the_real_resnet18_has_no_batchnorm_and_its_keypoints_move_with_the_image():
    torch.manual_seed(0)
    encoder = ResNet18Encoder(state_dim=0, image_shape=(64, 64, 3), keypoints=8).eval()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in encoder.modules())
    assert sum(isinstance(m, nn.GroupNorm) for m in encoder.modules()) == 20
    blank = torch.zeros(1, 64, 64, 3, dtype=torch.uint8)
    spot = blank.clone()
    spot[:, 8:24, 8:24] = 255
    features = encoder(torch.zeros(2, 0), torch.cat([blank, spot]))
    assert features.shape == (2, 64) and not torch.allclose(features[0], features[1])


@pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision does not import here")
def test_bc_trains_on_lane_pixels_through_the_real_resnet18_and_loads_back(make_cfg):
    result = api.run(
        make_cfg(
            *RESNET,
            "data.episodes=3",
            "trainer.max_steps=30",
            "data.batch_size=16",
            "rollout.episodes=2",
            "rollout.num_envs=2",
            *TINY,
        )
    )
    assert np.isfinite(result.metrics["shift/on_policy_nll"])
    assert np.isfinite(result.metrics["shift/train_nll"])
    policy = api.load_policy(result.run_dir)  # the checkpoint restores the same network
    again = api.evaluate(policy, episodes=2)
    assert again["rollout/return"] == pytest.approx(result.metrics["rollout/return"], rel=1e-4)
