"""Head log-densities against closed forms, and the shared head contract."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from bcx.errors import BCXError
from bcx.heads.gaussian import GaussianHead
from bcx.heads.gaussian_fixed import GaussianFixedHead
from bcx.heads.gmm import GmmHead

HEADS = {"gaussian": GaussianHead, "gaussian_fixed": GaussianFixedHead}


def test_gaussian_fixed_nll_is_half_squared_error_plus_constant():
    head = GaussianFixedHead(in_features=5, action_dim=3)
    features, actions = torch.randn(7, 5), torch.rand(7, 3) * 2 - 1
    mean = head.mean(features)
    expected = 0.5 * ((actions - mean) ** 2).sum(-1) + 1.5 * math.log(2 * math.pi)
    torch.testing.assert_close(head.loss(features, actions), expected)


def test_gaussian_log_prob_matches_closed_form():
    head = GaussianHead(in_features=5, action_dim=2)
    features, actions = torch.randn(9, 5), torch.rand(9, 2) * 2 - 1
    dist = head.distribution(features)
    mean, std = dist.base_dist.loc, dist.base_dist.scale
    closed = (
        -((actions - mean) ** 2) / (2 * std**2) - torch.log(std) - 0.5 * math.log(2 * math.pi)
    ).sum(-1)
    torch.testing.assert_close(head.log_prob(features, actions), closed)
    torch.testing.assert_close(
        head.log_prob(features, actions), Normal(mean, std).log_prob(actions).sum(-1)
    )


def test_gaussian_std_stays_inside_its_bounds():
    head = GaussianHead(in_features=2, action_dim=1, min_log_std=-3.0, max_log_std=1.0)
    features = torch.tensor([[1e4, 1e4], [-1e4, -1e4]])
    log_std = head.distribution(features).base_dist.scale.log()
    assert (log_std >= -3.0 - 1e-5).all() and (log_std <= 1.0 + 1e-5).all()


@pytest.mark.parametrize("name", HEADS)
def test_head_contract(name):
    torch.manual_seed(0)
    head = HEADS[name](in_features=6, action_dim=2)
    features = torch.randn(32, 6, requires_grad=True)
    actions = torch.rand(32, 2) * 2 - 1
    before = actions.clone()
    loss = head.loss(features, actions)
    assert loss.shape == (32,) and torch.isfinite(loss).all()
    loss.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in head.parameters())
    assert torch.equal(actions, before)
    for draw in (head.sample(features), head.mode(features)):
        assert draw.shape == (32, 2)
        assert (draw >= -1).all() and (draw <= 1).all()


@pytest.mark.parametrize("name", HEADS)
def test_head_fits_a_known_conditional_mean(name):
    """Maximum likelihood recovers a = 0.5 * tanh(x) well enough that its mode matches it."""
    torch.manual_seed(0)
    head = HEADS[name](in_features=1, action_dim=1)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    x = torch.linspace(-2, 2, 256)[:, None]
    target = 0.5 * torch.tanh(x)
    first = head.loss(x, target).mean().item()
    for _ in range(300):
        opt.zero_grad()
        head.loss(x, target).mean().backward()
        opt.step()
    assert head.loss(x, target).mean().item() < first
    assert ((head.mode(x) - target) ** 2).mean().item() < 0.01


def test_gmm_weight_floor_keeps_every_component_alive():
    """However peaked the learned logits, each component keeps weight_floor / K, and the
    weights still sum to one; weight_floor=0 is the plain softmax."""
    torch.manual_seed(0)
    floored = GmmHead(in_features=3, action_dim=2, components=4, weight_floor=0.2)
    features = 100 * torch.randn(16, 3)  # large features: near one-hot softmax logits
    weights = floored.mixture_params(features)[0].softmax(-1)
    assert weights.min() >= 0.2 / 4 - 1e-6
    torch.testing.assert_close(weights.sum(-1), torch.ones(16))
    plain = GmmHead(in_features=3, action_dim=2, components=4, weight_floor=0.0)
    plain.load_state_dict(floored.state_dict())
    assert plain.mixture_params(features)[0].softmax(-1).min() < 1e-6


@pytest.mark.parametrize("bad", [-0.1, 1.0, float("nan"), "much", True])
def test_gmm_weight_floor_out_of_range_is_refused(bad):
    with pytest.raises(BCXError, match=r"policy.weight_floor must be in \[0, 1\)"):
        GmmHead(in_features=3, action_dim=2, weight_floor=bad)
