"""What users do with a trained G: sample it, write a dataset, walk its latent space.

``--mode=generate`` and ``--mode=interpolate`` of ``gan_jax.main`` land here;
both restore G from the run's latest checkpoint and are deterministic given
``config.seed``.
"""

from __future__ import annotations

import logging
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.core import state as train_state

# fold_in(PRNGKey(config.seed), stream): the noise of evaluation, generation

from gan_jax.core import visualize
# and interpolation, each its own (training and its grids use the seed as is).
EVAL_STREAM, GENERATE_STREAM, INTERPOLATE_STREAM = 2, 3, 4


def make_sampler(generator, with_batch_stats: bool) -> Callable:
  """Jitted (g_params, g_batch_stats, z) -> images in [-1, 1].

  ``with_batch_stats`` normalises with the batch's own statistics, as the
  reference DCGAN does (it never switches G to eval mode); otherwise with the
  running averages.
  """
  def sample(params, batch_stats, z):
    images, _ = generator.apply({'params': params, 'batch_stats': batch_stats},
                                z, train=with_batch_stats,
                                mutable=['batch_stats'])
    return images
  return jax.jit(sample)


def sample_batches(sampler: Callable, params, batch_stats, key: jax.Array,
                   num: int, batch_size: int, z_dim: int, distribution: str):
  """Yields ``num`` images as numpy batches of ``batch_size`` (the last cut).

  Every batch is drawn at the full ``batch_size``, so images normalised with
  batch statistics see the same batch size they were trained with.
  """
  for index, start in enumerate(range(0, num, batch_size)):
    z = train_state.sample_latent(jax.random.fold_in(key, index), batch_size,
                                  z_dim, distribution)
    yield np.asarray(sampler(params, batch_stats, z))[:num - start]


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
  start = train_state.sample_latent(start_key, num_walks, z_dim, distribution)
  end = train_state.sample_latent(end_key, num_walks, z_dim, distribution)
  t = jnp.linspace(0.0, 1.0, num_steps)[None, :, None]
  start, end = start[:, None, :], end[:, None, :]
  if distribution == 'normal':
    path = slerp(start, end, t)
  else:
    path = (1 - t) * start + t * end
  return path.reshape(num_walks * num_steps, z_dim)


def generate(config, workdir: str, output: str | None = None) -> str:
  """Writes ``config.generate_num_images`` PNGs (and images.npz) to ``output``."""
  from gan_jax.core import loop as train  # pylint: disable=g-import-not-at-top
  trained = train.restore_generator(config, workdir)
  output = output or os.path.join(workdir, 'generated')
  os.makedirs(output, exist_ok=True)
  sampler = make_sampler(trained.generator,
                         config.model.sample_with_batch_stats)
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), GENERATE_STREAM)
  written, arrays = 0, []
  for images in sample_batches(sampler, trained.g_params,
                               trained.g_batch_stats, key,
                               config.generate_num_images, config.batch_size,
                               config.model.z_dim, config.model.z_distribution):
    pixels = visualize.to_uint8(images)
    for image in pixels:
      visualize.to_pil(image).save(os.path.join(output, f'{written:06d}.png'))
      written += 1
    if config.generate_npz:
      arrays.append(pixels)
  if config.generate_npz:
    np.savez(os.path.join(output, 'images.npz'),
             images=np.concatenate(arrays))
  logging.info('Wrote %d images from step %d to %s', written, trained.step,
               output)
  return output


def interpolate(config, workdir: str, output: str | None = None) -> str:
  """Writes a grid of latent walks, one walk per row, to ``output``."""
  from gan_jax.core import loop as train  # pylint: disable=g-import-not-at-top
  trained = train.restore_generator(config, workdir)
  output = output or os.path.join(workdir, 'interpolation')
  os.makedirs(output, exist_ok=True)
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), INTERPOLATE_STREAM)
  walks, steps = config.interpolate_num_walks, config.interpolate_num_steps
  z = latent_walks(key, walks, steps, config.model.z_dim,
                   config.model.z_distribution)
  sampler = make_sampler(trained.generator,
                         config.model.sample_with_batch_stats)
  images = np.asarray(sampler(trained.g_params, trained.g_batch_stats, z))
  path = os.path.join(output, f'interpolation_step_{trained.step:07d}.png')
  visualize.save_png(visualize.image_grid(images, cols=steps), path)
  logging.info('Wrote %d walks of %d steps (%s) from step %d to %s', walks,
               steps, 'spherical' if config.model.z_distribution == 'normal'
               else 'linear', trained.step, path)
  return path
