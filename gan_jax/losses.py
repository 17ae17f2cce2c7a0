"""The GAN objective of Goodfellow et al. 2014, computed from D's logits.

With D(x) = sigmoid(l(x)), the value function (Eq. 1)

    V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

is evaluated through log D = log_sigmoid(l) and log(1 - D) = log_sigmoid(-l),
which stay finite and accurate for any logit (no log(0) when D saturates).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

G_LOSSES = ('minimax', 'non_saturating')


def value_function(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """V(D, G) of Eq. 1, as a minibatch estimate."""
  return (jnp.mean(jax.nn.log_sigmoid(real_logits))
          + jnp.mean(jax.nn.log_sigmoid(-fake_logits)))


def discriminator_loss(real_logits: jax.Array,
                       fake_logits: jax.Array) -> jax.Array:
  """D ascends V (Algorithm 1, inner loop); as a loss to descend: -V."""
  return -value_function(real_logits, fake_logits)


def generator_loss(fake_logits: jax.Array, kind: str) -> jax.Array:
  """The loss G descends (Algorithm 1, outer step; Sec. 3 of the paper).

  'minimax':        E_z[log(1 - D(G(z)))], G's side of the min-max game. Its
                    gradient vanishes when D confidently rejects fakes, which is
                    why the paper recommends the alternative below.
  'non_saturating': -E_z[log D(G(z))], "maximize log D(G(z))": the same fixed
                    point, but strong gradients early in learning.
  """
  if kind == 'minimax':
    return jnp.mean(jax.nn.log_sigmoid(-fake_logits))
  if kind == 'non_saturating':
    return -jnp.mean(jax.nn.log_sigmoid(fake_logits))
  raise ValueError(f'loss must be one of {G_LOSSES}, got {kind!r}')


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
