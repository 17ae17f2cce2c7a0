"""Throughput of a family's update on synthetic data, and of the input pipeline.

    python -m gan_jax.bench --config=configs/dcgan.py:anime
    python -m gan_jax.bench --config=configs/dcgan.py:anime --pipeline \\
        --config.data.source=folder:/path/to/anime_faces
    python -m gan_jax.bench --config=configs/pix2pix.py:facades

Prints one JSON line. The update is the real compiled step of the training
loop (``core/loop.py``; for DCGAN k D updates + one G update on a (k, batch)
input of random values of every field the family's data has), dispatched as
the loop dispatches it (``loop.InFlight``), timed after a warm-up;
``images_per_s`` counts the real images (pairs, for pix2pix) it consumes, as
../shared/bench/torch_dcgan.py, scripts/bench_torch_translation.py and
scripts/bench_torch_stargan.py count their batch per update. A config whose
data.source is a bare 'folder:' / 'paired:' gets the shapes of its batches
from the embedded digits instead ('digits' / 'digits_edges' at the config's
sizes), and a bare 'attributes:' from a few random images in CelebA's
layout with the config's attribute names: the values are random either
way. The ``:anime`` preset's ``reuse_fake=True`` is that script's update
(G's update moves the D update's fakes); ``--config.reuse_fake=False``
times Algorithm 1's fresh draw.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
import time

from absl import app, flags
import jax
import numpy as np
from ml_collections import config_flags

from gan_jax import families
from gan_jax.core import errors, host, loop
from gan_jax.data import order, sources

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Config file[:preset].')
flags.DEFINE_integer('steps', 10, 'Timed updates (or pipeline steps).')
flags.DEFINE_integer('warmup', 3, 'Untimed updates after the compiling one.')
flags.DEFINE_bool('pipeline', False, 'Time the input pipeline alone instead '
                  '(config.data.source must be set).')
flags.DEFINE_bool('keep_freed_memory', False, "glibc's malloc keeps freed "
                  'memory mapped, as gan_jax.main --keep_freed_memory sets '
                  'it (core/host.py).')
flags.mark_flags_as_required(['config'])

# A bare source kind (no path) -> the embedded source with the same fields.
_SHAPES_FROM = {'folder:': 'digits', 'paired:': 'digits_edges',
                'unpaired:': 'digits_colour'}


def random_attribute_folder(attributes, count: int = 4) -> str:
  """A temporary folder in CelebA's layout (``sources.attributes_source``):
  ``count`` random 178 x 218 JPEGs and their ``attributes`` in
  list_attr_celeba.txt, so a bare 'attributes:' config validates and builds
  its source. Removed when the process exits."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  root = tempfile.mkdtemp(prefix='gan_jax_bench_')
  atexit.register(shutil.rmtree, root, ignore_errors=True)
  image_dir = os.path.join(root, sources.ATTRIBUTE_IMAGE_DIR)
  os.makedirs(image_dir)
  rng = np.random.default_rng(0)
  rows = []
  for i in range(count):
    name = f'{i:06d}.jpg'
    Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(
        os.path.join(image_dir, name))
    rows.append(' '.join([name] + ['1' if (i + k) % 2 else '-1'
                                   for k in range(len(attributes))]))
  with open(os.path.join(root, sources.ATTRIBUTE_FILE), 'w') as f:
    f.write('\n'.join([str(count), ' '.join(attributes), *rows]) + '\n')
  return root


def stand_in_source(config) -> None:
  """Gives a config whose data.source is a bare kind (no path) a source
  with the same fields (``_SHAPES_FROM``, ``random_attribute_folder``):
  the update is timed on random values of the source's shapes."""
  if config.data.source in _SHAPES_FROM:
    config.data.source = _SHAPES_FROM[config.data.source]
  elif config.data.source == 'attributes:':
    config.data.source = 'attributes:' + random_attribute_folder(
        config.data.attributes)
    if 'test_count' in config.data:  # one of the few images is for testing
      config.data.test_count = 1


def synthetic_batch(family, batch_size: int) -> dict[str, np.ndarray]:
  """Random values of every field the family's data has, at its shapes:
  uint8 pixels, labels below the class count, 0/1 attributes."""
  source = family.make_source()
  rng = np.random.default_rng(0)
  batch = {}
  for name, (shape, dtype) in source.features.items():
    full = (family.batches_per_step, batch_size, *shape)
    if name == 'label':
      batch[name] = rng.integers(0, source.num_classes, full).astype(dtype)
    elif np.dtype(dtype) == np.uint8:
      batch[name] = rng.integers(0, 256, full, dtype=np.uint8)
    else:
      batch[name] = rng.integers(0, 2, full).astype(dtype)
  return batch


def bench_step(config, steps: int, warmup: int) -> dict:
  training = loop.build_training(config, steps + warmup + 1)
  train_step = training.train_step
  state = training.init(jax.random.PRNGKey(config.seed))
  real = training.put_batch(synthetic_batch(
      training.family, config.batch_size // jax.process_count()))
  start = time.perf_counter()
  state, metrics = train_step(state, real)
  jax.block_until_ready((state, metrics))
  compile_s = time.perf_counter() - start
  # Dispatched as the training loop dispatches them: at most
  # loop.STEPS_IN_FLIGHT ahead (each holds its own intermediates).
  in_flight = loop.InFlight()
  for _ in range(warmup):
    state, metrics = train_step(state, real)
    in_flight.add(metrics)
  jax.block_until_ready((state, metrics))
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = train_step(state, real)
    in_flight.add(metrics)
  jax.block_until_ready((state, metrics))
  seconds = (time.perf_counter() - start) / steps
  per_step = training.family.batches_per_step
  return {'images_per_s': config.batch_size * per_step / seconds,
          'step_ms': 1e3 * seconds, 'compile_s': compile_s,
          'family': config.family}


def bench_pipeline(config, steps: int, warmup: int) -> dict:
  source = families.get(config.family)(config).make_source()
  batches = order.train_batches(
      source, seed=config.seed, batch_size=config.batch_size,
      d_steps=config.get('d_steps', 1), num_steps=steps + warmup,
      num_threads=config.data.num_workers, prefetch=config.data.prefetch)
  for _ in range(warmup):
    next(batches)
  start = time.perf_counter()
  for _ in range(steps):
    next(batches)
  seconds = (time.perf_counter() - start) / steps
  return {'pipeline_images_per_s':
              config.batch_size * config.get('d_steps', 1) / seconds,
          'source': source.name, 'num_workers': config.data.num_workers}


def main(argv):
  del argv
  # Reported as taken or not: glibc may refuse, other C libraries lack it.
  kept = FLAGS.keep_freed_memory and host.keep_freed_memory()
  config = FLAGS.config
  if not FLAGS.pipeline:
    stand_in_source(config)
  try:
    loop.validate(config)
    result = (bench_pipeline if FLAGS.pipeline else bench_step)(
        config, FLAGS.steps, FLAGS.warmup)
  except errors.UserError as e:
    sys.exit(f'gan_jax.bench: error: {e}')
  device = jax.devices()[0]
  print(json.dumps({
      **result, 'batch_size': config.batch_size,
      'image_size': config.image_size, 'channels': config.channels,
      'd_steps': config.get('d_steps', 1),
      'reuse_fake': config.get('reuse_fake'),
      'dtype': config.model.get('dtype', 'float32'),
      'conv_impl': config.model.conv_impl,
      'device': f'{device.platform}:{device.device_kind}',
      'parallel': config.parallel, 'num_devices': jax.device_count(),
      'keep_freed_memory': kept, 'malloc': host.allocator(),
      'jax': jax.__version__}))


if __name__ == '__main__':
  app.run(main)
