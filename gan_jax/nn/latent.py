"""Latent codes: G's noise z, and walks through its space."""

from __future__ import annotations

import jax
import jax.numpy as jnp

DISTRIBUTIONS = ('uniform', 'normal')


def sample_latent(key: jax.Array, num: int, z_dim: int,
                  distribution: str) -> jax.Array:
  """z ~ U[-1, 1]^z_dim (DCGAN Sec. 4) or N(0, I)."""
  if distribution == 'uniform':
    return jax.random.uniform(key, (num, z_dim), minval=-1.0, maxval=1.0)
  if distribution == 'normal':
    return jax.random.normal(key, (num, z_dim))
  raise ValueError(
      f"model.z_distribution must be 'uniform' or 'normal', got {distribution!r}")


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation (White 2016, "Sampling Generative Networks"):
  keeps the norm of Gaussian z typical along the path, where a straight line
  passes through the low-density shell near the origin."""
  a_unit = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
  b_unit = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(a_unit * b_unit, -1, keepdims=True),
                              -1.0, 1.0))
  sin_omega = jnp.sin(omega)
  # Parallel endpoints: the limit of the formula is the straight line.
  safe = sin_omega > 1e-6
  denominator = jnp.where(safe, sin_omega, 1.0)
  w_a = jnp.where(safe, jnp.sin((1 - t) * omega) / denominator, 1 - t)
  w_b = jnp.where(safe, jnp.sin(t * omega) / denominator, t)
  return w_a * a + w_b * b


def latent_walks(key: jax.Array, num_walks: int, num_steps: int, z_dim: int,
                 distribution: str) -> jax.Array:
  """(num_walks * num_steps, z_dim): walks between random endpoint pairs,
  spherical for normal z, linear for uniform z (the cube is convex, so a
  line stays in the support)."""
  start_key, end_key = jax.random.split(key)
  start = sample_latent(start_key, num_walks, z_dim, distribution)
  end = sample_latent(end_key, num_walks, z_dim, distribution)
  t = jnp.linspace(0.0, 1.0, num_steps)[None, :, None]
  start, end = start[:, None, :], end[:, None, :]
  if distribution == 'normal':
    path = slerp(start, end, t)
  else:
    path = (1 - t) * start + t * end
  return path.reshape(num_walks * num_steps, z_dim)
