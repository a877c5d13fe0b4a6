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


def dead_mixture(nearest_weight: float) -> GmmHead:
    """Two components at one state, as a collapsed run on fork left them: one 0.4 wide sideways
    over both modes and sharp (0.02) on the forward action; one sharp, 0.2 from the right mode
    sideways but 0.3 off in the forward action, so that it explains no action at all."""
    head = GmmHead(in_features=1, action_dim=2, components=2, nearest_weight=nearest_weight)
    span = head.max_log_std - head.min_log_std
    raw_std = torch.logit(
        (torch.log(torch.tensor([0.4, 0.02, 0.02, 0.02])) - head.min_log_std) / span
    )
    with torch.no_grad():
        head.out.weight.zero_()
        head.out.bias.copy_(torch.cat([torch.tensor([0.0, 0.0, 0.0, 0.8, 0.6, 0.5]), raw_std]))
    return head


@pytest.mark.parametrize(("nearest_weight", "moves"), [(1.0, True), (0.0, False)])
def test_gmm_nearest_pull_brings_a_dead_component_to_its_mode(nearest_weight, moves):
    """The likelihood never moves a component no action reaches; the nearest pull does."""
    torch.manual_seed(0)
    head = dead_mixture(nearest_weight)
    features = torch.ones(256, 1)
    side = torch.where(torch.rand(256, 1) < 0.5, -0.41, 0.41)
    actions = torch.cat([side, torch.full_like(side, 0.8)], dim=1)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        head.loss(features, actions).mean().backward()
        opt.step()
    dead = head.mixture_params(features[:1])[1][0, 1]
    reached = torch.allclose(dead, torch.tensor([0.41, 0.8]), atol=0.05)
    assert reached is moves, dead


def test_gmm_loss_is_its_nll_whatever_the_pull():
    torch.manual_seed(0)
    features, actions = torch.randn(8, 3), torch.rand(8, 2) * 2 - 1
    head = GmmHead(in_features=3, action_dim=2, nearest_weight=5.0)
    torch.testing.assert_close(head.loss(features, actions), -head.log_prob(features, actions))


@pytest.mark.parametrize("bad", [-1.0, float("inf"), float("nan"), "much", True])
def test_gmm_nearest_weight_out_of_range_is_refused(bad):
    with pytest.raises(BCXError, match=r"policy.nearest_weight must be a finite number >= 0"):
        GmmHead(in_features=3, action_dim=2, nearest_weight=bad)
