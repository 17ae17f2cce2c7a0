"""The theory of Goodfellow et al. 2014 (Sec. 4), on a 1-D grid.

For a fixed G, the optimal discriminator is (Prop. 1)

    D*_G(x) = p_data(x) / (p_data(x) + p_g(x)),

and the value of the game at D*_G is (Thm. 1)

    C(G) = V(D*_G, G) = -log 4 + 2 * JSD(p_data || p_g),

whose global minimum -log 4 is reached iff p_g = p_data (then D* = 1/2).

p_g is exact: for x = G(z) with a 1-D z, the change of variables gives
p_g(x) = sum over the preimages z of x of p_z(z) / |G'(z)| (one preimage when G
is monotone), with G' from ``jax.grad``. Integrals use the trapezoid rule on a
uniform grid; all logs are natural (nats).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

_TINY = 1e-30


def integrate(values: jax.Array, x: jax.Array) -> jax.Array:
  return jnp.trapezoid(values, x, axis=-1)


def pushforward_density(g: Callable[[jax.Array], jax.Array], z: jax.Array,
                        p_z: Callable[[jax.Array], jax.Array],
                        x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """p_g on the grid ``x`` for x = g(z), z with density ``p_z`` supported on
  the sorted grid ``z``; ``g`` maps a scalar to a scalar.

  Monotone G (G' of one sign on the grid): the exact change of variables,
  p_g(x) = p_z(z*) / |G'(z*)| at the preimage z* = G^{-1}(x), bracketed by
  the grid and found by bisection to float precision, G' from jax.grad.
  Otherwise x has several preimages near folds where G' -> 0; there the
  density of the piecewise-linear interpolant of G is used (each z cell's
  mass p_z dz spread evenly over its image): it conserves mass exactly and
  converges to the sum over preimages as the z grid is refined.
  Returns (p_g(x), is_monotone).
  """
  g_prime = jax.grad(g)
  gz, dg = jax.vmap(g)(z), jax.vmap(g_prime)(z)
  monotone = jnp.all(dg > 0) | jnp.all(dg < 0)

  # Monotone: exact formula at the preimage, by bisection inside its cell.
  increasing = dg[0] > 0
  sorted_gz = jnp.where(increasing, gz, gz[::-1])
  sorted_z = jnp.where(increasing, z, z[::-1])
  cell = jnp.clip(jnp.searchsorted(sorted_gz, x), 1, len(z) - 1)
  # Bracket [below, above]: G(below) <= x <= G(above) for x inside the range.
  below, above = sorted_z[cell - 1], sorted_z[cell]

  def bisect(_, bracket):
    below, above = bracket
    middle = 0.5 * (below + above)
    under = jax.vmap(g)(middle) <= x
    return jnp.where(under, middle, below), jnp.where(under, above, middle)

  below, above = jax.lax.fori_loop(0, 40, bisect, (below, above))
  z_star = 0.5 * (below + above)
  inside = (x >= sorted_gz[0]) & (x <= sorted_gz[-1])
  exact = jnp.where(inside, p_z(z_star) / jnp.maximum(
      jnp.abs(jax.vmap(g_prime)(z_star)), _TINY), 0.0)

  # Not monotone: the piecewise-linear push-forward, summed over branches.
  lo, hi = jnp.minimum(gz[:-1], gz[1:]), jnp.maximum(gz[:-1], gz[1:])
  cell_mass = 0.5 * (p_z(z[:-1]) + p_z(z[1:])) * jnp.diff(z)
  in_cell = (x[:, None] >= lo) & (x[:, None] < hi)
  piecewise = jnp.sum(jnp.where(in_cell, cell_mass / jnp.maximum(
      hi - lo, _TINY), 0.0), axis=1)
  return jnp.where(monotone, exact, piecewise), monotone


def optimal_discriminator(p_data: jax.Array, p_g: jax.Array) -> jax.Array:
  """D*_G of Prop. 1; 1/2 where neither distribution has mass."""
  total = p_data + p_g
  return jnp.where(total > 0, p_data / jnp.where(total > 0, total, 1.0), 0.5)


def value(log_d: jax.Array, log_one_minus_d: jax.Array, p_data: jax.Array,
          p_g: jax.Array, x: jax.Array) -> jax.Array:
  """V(D, G) = E_pdata[log D(x)] + E_pg[log(1 - D(x))] (Eq. 1, in x-space)."""
  # 0 * log 0 = 0: where a density vanishes its term does not count.
  real = jnp.where(p_data > 0, p_data * log_d, 0.0)
  fake = jnp.where(p_g > 0, p_g * log_one_minus_d, 0.0)
  return integrate(real + fake, x)


def value_of_logits(logits: jax.Array, p_data, p_g, x) -> jax.Array:
  """V(D, G) for D(x) = sigmoid(logits(x)) (the trained discriminator)."""
  return value(jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits),
               p_data, p_g, x)


def value_of_optimal(p_data, p_g, x) -> jax.Array:
  """C(G) = V(D*_G, G)."""
  d_star = optimal_discriminator(p_data, p_g)
  return value(jnp.log(jnp.maximum(d_star, _TINY)),
               jnp.log(jnp.maximum(1 - d_star, _TINY)), p_data, p_g, x)


def kl(p: jax.Array, q: jax.Array, x: jax.Array) -> jax.Array:
  ratio = jnp.where(p > 0, p / jnp.maximum(q, _TINY), 1.0)
  return integrate(jnp.where(p > 0, p * jnp.log(ratio), 0.0), x)


def jsd(p: jax.Array, q: jax.Array, x: jax.Array) -> jax.Array:
  """Jensen-Shannon divergence in nats, in [0, log 2]."""
  m = 0.5 * (p + q)
  return 0.5 * kl(p, m, x) + 0.5 * kl(q, m, x)
