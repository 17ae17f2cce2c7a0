"""Regularisers of D: R1 (Mescheder et al. 2018) and WGAN-GP (Gulrajani et al.
2017). Their weights (``config.r1_gamma``, ``config.gp_weight``) are applied
by the caller."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

# Added under the square root of the gradient's norm: d sqrt(s) / ds is
# infinite at s = 0, so without it a zero gradient (a flat critic at x_hat)
# would make the penalty's own gradient NaN.
_NORM_EPS = 1e-12


def r1_penalty(real_logit_grads: jax.Array, num_logits: int) -> jax.Array:
  """E_x ||grad_x l(x)||^2 on real data: R1 of Mescheder et al. 2018, Eq. 9.

  D descends gamma / 2 times this (``config.r1_gamma``). Penalising D's slope
  on the data makes the game locally convergent: without it, simultaneous
  and alternating gradient steps circle the equilibrium (their Sec. 2-3), and
  for G the circling is samples orbiting a mode instead of landing on it.
  ``real_logit_grads`` is the gradient of the sum of D's ``num_logits``
  logits w.r.t. its input; the mean is over D's examples (packs, for PacGAN).
  """
  return jnp.sum(jnp.square(real_logit_grads)) / num_logits


def gradient_penalty(critic: Callable[[jax.Array], Any], real: jax.Array,
                     fake: jax.Array, key: jax.Array,
                     has_aux: bool = False) -> Any:
  """E[(||grad_x_hat D(x_hat)||_2 - 1)^2]: WGAN-GP, Gulrajani et al. 2017.

  The penalty term of Eq. 3, sampled as in Algorithm 1: per example,
  eps ~ U[0, 1] and x_hat = eps * real + (1 - eps) * fake, a point on the
  straight line between a real and a generated example. The critic descends
  lambda times this (lambda = 10 in the paper; ``config.gp_weight``, applied
  by the caller).

  ``critic`` maps a batch of n inputs to n outputs, shape (n,); with
  ``has_aux=True`` it returns (outputs, aux) and this returns (penalty, aux),
  e.g. for a D that carries batch-norm statistics. The gradient is that of
  sum(critic(x_hat)) w.r.t. x_hat, i.e. each output's gradient w.r.t. its
  own input when examples don't interact (no batch norm in train mode, which
  the paper advises against for the critic). Its L2 norm is over all non-batch
  axes, as sqrt(sum of squares + 1e-12), so that the penalty stays
  differentiable (no NaN) where the gradient is zero. Differentiating the
  result w.r.t. the critic's parameters is double backprop.
  """
  n = real.shape[0]
  eps = jax.random.uniform(key, (n,) + (1,) * (real.ndim - 1),
                           dtype=real.dtype)
  x_hat = eps * real + (1.0 - eps) * fake

  def summed(x):
    if has_aux:
      outputs, aux = critic(x)
      return jnp.sum(outputs), aux
    return jnp.sum(critic(x))

  if has_aux:
    grads, aux = jax.grad(summed, has_aux=True)(x_hat)
  else:
    grads = jax.grad(summed)(x_hat)
  norms = jnp.sqrt(
      jnp.sum(jnp.square(grads).reshape(n, -1), axis=1) + _NORM_EPS)
  penalty = jnp.mean(jnp.square(norms - 1.0))
  return (penalty, aux) if has_aux else penalty
