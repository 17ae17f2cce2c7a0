"""Adversarial losses, computed from D's raw outputs (logits / critic values).

Each kind is a pair: the loss D descends and the loss G descends.

For 'minimax' and 'non_saturating' (Goodfellow et al. 2014) D's output is a
logit l with D(x) = sigmoid(l(x)), and the value function (Eq. 1)

    V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

is evaluated through log D = log_sigmoid(l) and log(1 - D) = log_sigmoid(-l),
which stay finite and accurate for any logit (no log(0) when D saturates).
For these kinds, and only these (``PROBABILITY_LOSSES``), sigmoid of D's output
is a probability, so D(x) and D(G(z)) can be reported as such.

'hinge', 'wasserstein' and 'least_squares' read D's output as an unbounded
score; no sigmoid is involved.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

LOSSES = ('minimax', 'non_saturating', 'hinge', 'wasserstein', 'least_squares')
# The kinds whose D output is a logit of D's probability that x is real.
PROBABILITY_LOSSES = ('minimax', 'non_saturating')


def _unknown(kind: str) -> ValueError:
  return ValueError(f'loss must be one of {LOSSES}, got {kind!r}')


def value_function(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """V(D, G) of Eq. 1 of Goodfellow et al. 2014, as a minibatch estimate."""
  return (jnp.mean(jax.nn.log_sigmoid(real_logits))
          + jnp.mean(jax.nn.log_sigmoid(-fake_logits)))


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array,
                       kind: str = 'non_saturating') -> jax.Array:
  """The loss D descends, from its outputs on real and on generated data.

  'minimax', 'non_saturating':
      -V(D, G) (Goodfellow et al. 2014, Eq. 1 and Algorithm 1, inner loop: D
      ascends V). The two kinds differ only in G's loss.
  'hinge':
      E_x[relu(1 - D(x))] + E_z[relu(1 + D(G(z)))] (Lim & Ye 2017; Miyato et
      al. 2018, Eq. 16).
  'wasserstein':
      E_z[D(G(z))] - E_x[D(x)], the critic's loss of WGAN (Arjovsky et al.
      2017, Eq. 3 / Algorithm 1: the critic maximises E_x[f(x)] - E_z[f(G(z))]).
      Needs a Lipschitz constraint on D (weight clipping or
      ``penalties.gradient_penalty``).
  'least_squares':
      1/2 E_x[(D(x) - 1)^2] + 1/2 E_z[D(G(z))^2] (Mao et al. 2017, Eq. 2 with
      a = 0, b = c = 1); also what the released pix2pix/CycleGAN code computes
      (``GANLoss('lsgan')``: MSELoss, D's loss halved).
  """
  if kind in PROBABILITY_LOSSES:
    # Kept exactly as it was: existing runs' results depend on it bit for bit.
    return -value_function(real_logits, fake_logits)
  if kind == 'hinge':
    return (jnp.mean(jax.nn.relu(1.0 - real_logits))
            + jnp.mean(jax.nn.relu(1.0 + fake_logits)))
  if kind == 'wasserstein':
    return jnp.mean(fake_logits) - jnp.mean(real_logits)
  if kind == 'least_squares':
    return 0.5 * (jnp.mean(jnp.square(real_logits - 1.0))
                  + jnp.mean(jnp.square(fake_logits)))
  raise _unknown(kind)


def generator_loss(fake_logits: jax.Array, kind: str) -> jax.Array:
  """The loss G descends, from D's outputs on generated data.

  'minimax':
      E_z[log(1 - D(G(z)))], G's side of the min-max game (Goodfellow et al.
      2014, Eq. 1 and Algorithm 1, outer step). Its gradient vanishes when D
      confidently rejects fakes, which is why the paper (Sec. 3) recommends
      the alternative below.
  'non_saturating':
      -E_z[log D(G(z))], "maximize log D(G(z))" (Goodfellow et al. 2014,
      Sec. 3): the same fixed point, but strong gradients early in learning.
  'hinge':
      -E_z[D(G(z))] (Lim & Ye 2017; Miyato et al. 2018, Eq. 16).
  'wasserstein':
      -E_z[D(G(z))] (Arjovsky et al. 2017, Algorithm 1, generator update).
  'least_squares':
      E_z[(D(G(z)) - 1)^2], with c = 1. The LSGAN paper (Mao et al. 2017,
      Eq. 2) has a factor 1/2 here; we follow the released pix2pix/CycleGAN
      code (``GANLoss('lsgan')``, MSELoss, not halved for G), whose loss
      weights such as lambda_L1 and lambda_cyc are calibrated against it.
  """
  if kind == 'minimax':
    return jnp.mean(jax.nn.log_sigmoid(-fake_logits))
  if kind == 'non_saturating':
    return -jnp.mean(jax.nn.log_sigmoid(fake_logits))
  if kind in ('hinge', 'wasserstein'):
    return -jnp.mean(fake_logits)
  if kind == 'least_squares':
    return jnp.mean(jnp.square(fake_logits - 1.0))
  raise _unknown(kind)
