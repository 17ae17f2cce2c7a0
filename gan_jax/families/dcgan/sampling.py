"""What users do with a trained G: sample it, write a dataset, walk its latent space.

``--mode=generate`` and ``--mode=interpolate`` of ``gan_jax.main`` land here
(the family's ``modes``) with the run's latest checkpoint; both are
deterministic given ``config.seed``.
"""

from __future__ import annotations

import logging
import os
from typing import Callable

import jax
import numpy as np

from gan_jax.core import visualize
from gan_jax.nn import latent

# fold_in(PRNGKey(config.seed), stream): the noise of generation and
# interpolation, each its own (evaluation's is ``evaluation.EVAL_STREAM`` = 2;
# training and its grids use the seed as is).
GENERATE_STREAM, INTERPOLATE_STREAM = 3, 4


def make_sampler(generator, with_batch_stats: bool) -> Callable:
  """Jitted (g_params, g_batch_stats, *G's inputs) -> images in [-1, 1].

  ``with_batch_stats`` normalises with the batch's own statistics, as the
  reference DCGAN does (it never switches G to eval mode); otherwise with the
  running averages.
  """
  def sample(params, batch_stats, *inputs):
    images, _ = generator.apply({'params': params, 'batch_stats': batch_stats},
                                *inputs, train=with_batch_stats,
                                mutable=['batch_stats'])
    return images
  return jax.jit(sample)


def generate(family, state, step: int, output: str) -> str:
  """Writes ``config.generate_num_images`` PNGs (and images.npz) to ``output``.

  A conditional family's images are named ``NNNNNN_class_C.png``, classes
  drawn uniformly (``config.generate_class`` >= 0 asks for one class).
  """
  config = family.config
  os.makedirs(output, exist_ok=True)
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), GENERATE_STREAM)
  written, arrays = 0, []
  for batch in family.eval_batches(state, key, config.generate_num_images,
                                   config.batch_size,
                                   config.get('generate_class', -1)):
    pixels = visualize.to_uint8(batch['image'])
    for i, image in enumerate(pixels):
      name = (f'{written:06d}_class_{int(batch["label"][i])}.png'
              if 'label' in batch else f'{written:06d}.png')
      visualize.to_pil(image).save(os.path.join(output, name))
      written += 1
    if config.generate_npz:
      arrays.append(pixels)
  if config.generate_npz:
    np.savez(os.path.join(output, 'images.npz'),
             images=np.concatenate(arrays))
  logging.info('Wrote %d images from step %d to %s', written, step, output)
  return output


def interpolate(family, state, step: int, output: str) -> str:
  """Writes a grid of latent walks, one walk per row, to ``output``."""
  config = family.config
  os.makedirs(output, exist_ok=True)
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), INTERPOLATE_STREAM)
  walks, steps = config.interpolate_num_walks, config.interpolate_num_steps
  z = latent.latent_walks(key, walks, steps, config.model.z_dim,
                          config.model.z_distribution)
  inputs = family.walk_inputs(z, walks, steps)
  images = np.asarray(family.sampler(*family.g_variables(state), *inputs))
  path = os.path.join(output, f'interpolation_step_{step:07d}.png')
  visualize.save_png(visualize.image_grid(images, cols=steps), path)
  logging.info('Wrote %d walks of %d steps (%s) from step %d to %s', walks,
               steps, 'spherical' if config.model.z_distribution == 'normal'
               else 'linear', step, path)
  return path
