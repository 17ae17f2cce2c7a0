"""Small MLP players for the low-dimensional toys.

They take the ``train`` flag of the DCGAN networks (and ignore it: no batch
norm), so the toys run the very same ``step.make_train_step``.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {'relu': nn.relu, 'tanh': nn.tanh, 'elu': nn.elu,
               'softplus': nn.softplus,
               'leaky_relu': lambda h: nn.leaky_relu(h, 0.2)}


class MLP(nn.Module):
  """x (n, d_in) -> (n, out_dim); with out_dim None, D's logits (n,)."""
  hidden: Sequence[int]
  out_dim: int | None = None
  activation: str = 'leaky_relu'
  # Random biases spread the units' kinks/centres over the input range; with
  # Flax's zero biases every first-layer unit would bend at x = 0 only.
  bias_stddev: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train
    if self.activation not in ACTIVATIONS:
      raise ValueError(f'activation must be one of {sorted(ACTIVATIONS)}, '
                       f'got {self.activation!r}')
    act = ACTIVATIONS[self.activation]
    bias_init = (nn.initializers.normal(self.bias_stddev) if self.bias_stddev
                 else nn.initializers.zeros)
    for width in self.hidden:
      x = act(nn.Dense(width, bias_init=bias_init)(x))
    x = nn.Dense(self.out_dim or 1)(x)
    return x if self.out_dim else x[:, 0]


class MonotoneMLP(nn.Module):
  """A strictly increasing map R -> R for G of the 1-D toy.

  G(z) = b + softplus(a) z + softplus(e) atanh(z)
           + sum_j softplus(c_j) tanh(softplus(w_j) z + b_j)

  for z in (-1, 1): every coefficient is positive and every feature is
  increasing, so G'(z) >= softplus(a) > 0. x = G(z) never folds (one preimage
  per x, as the arrows of Goodfellow et al.'s Figure 1), p_g = p_z / G' is
  exact, and the linear term keeps G' away from 0, where p_g would spike. The
  atanh feature lets a bounded z reach unbounded x: without it p_g has a hard
  edge at G(+-1), D* = 1 just beyond it, and a Gaussian's tails stay out of
  reach (the run stalls at JSD ~ 0.012 nats with D far from 1/2 at the edges).
  """
  hidden: Sequence[int]
  steepness: float = 0.5  # mean of the raw (pre-softplus) unit slopes
  centre_spread: float = 1.0

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    del train
    (width,) = self.hidden
    param = lambda name, mean, std, shape: mean + self.param(
        name, nn.initializers.normal(std), shape)
    w = nn.softplus(param('raw_w', self.steepness, 1.0, (width,)))
    centres = param('b', 0.0, self.centre_spread, (width,))
    c = nn.softplus(param('raw_c', -3.0, 0.5, (width,)))
    a = nn.softplus(param('raw_a', -1.0, 0.1, ()))
    e = nn.softplus(param('raw_e', -3.0, 0.1, ()))
    bias = self.param('bias', nn.initializers.zeros, ())
    hidden = jnp.tanh(z * w + centres)  # z: (n, 1)
    # U[-1, 1] samples can be exactly -1: keep atanh finite.
    tails = jnp.arctanh(jnp.clip(z[:, :1], -1 + 1e-6, 1 - 1e-6))
    return (bias + a * z[:, :1] + e * tails + hidden @ c[:, None]).reshape(-1, 1)


class BatchNormMLP(nn.Module):
  """PacGAN's 2-D generator: [Dense (no bias) -> BatchNorm -> ReLU] x depth -> Dense.

  Weights and the output bias ~ N(0, init_stddev); the population statistics
  follow the batch ones with momentum 0.95, as in the released configuration.
  """
  hidden: Sequence[int]
  out_dim: int = 2
  init_stddev: float = 0.02

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    init = nn.initializers.normal(self.init_stddev)
    x = z
    for width in self.hidden:
      x = nn.Dense(width, use_bias=False, kernel_init=init)(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.95)(x)
      x = nn.relu(x)
    return nn.Dense(self.out_dim, kernel_init=init, bias_init=init)(x)


class MaxoutMLP(nn.Module):
  """PacGAN's discriminator: maxout layers (Goodfellow et al. 2013), one logit.

  ``pack`` > 1 is PacGAN (Lin et al. 2018): D judges ``pack`` samples at
  once, concatenated, so x (n, d) becomes (n / pack, pack * d) and D returns
  n / pack logits. Consecutive samples form a pack; they are independent
  draws, so this is the paper's packing.
  """
  hidden: Sequence[int]
  pieces: int = 5
  pack: int = 1
  init_stddev: float = 0.02

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train
    if x.shape[0] % self.pack:
      raise ValueError(f'a batch of {x.shape[0]} samples does not split into '
                       f'packs of {self.pack}')
    x = x.reshape(x.shape[0] // self.pack, -1)
    init = nn.initializers.normal(self.init_stddev)
    for width in self.hidden:
      h = nn.Dense(width * self.pieces, kernel_init=init)(x)
      h = h.reshape(*h.shape[:-1], width, self.pieces)
      # A chain of maxima, not h.max(-1): the same values and gradients (the
      # largest piece gets all of it; only exact ties split differently), but
      # reduce_max's gradient divides by a count of ties, which XLA:CPU fuses
      # into the matmul before it: the 2-D toy's step took 1.2x as long.
      x = functools.reduce(jnp.maximum,
                           [h[..., piece] for piece in range(self.pieces)])
    return nn.Dense(1, kernel_init=init)(x)[:, 0]
