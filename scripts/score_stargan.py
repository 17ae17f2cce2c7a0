#!/usr/bin/env python3
"""Scores StarGAN translations saved as files, as gan_jax scores its own.

For the outputs of another codebase (e.g. yunjey/stargan) on the same test
split: ``--translations DIR`` holds, for every test image FILE of the
config's attribute data (the reference's split, ``data.test_count``), its
input ``DIR/input/STEM.png``, its translation to each ``create_labels``
target ``DIR/ATTRIBUTE/STEM.png`` (one folder per attribute of
``data.attributes``) and that translation taken back to the image's own
labels ``DIR/rec_ATTRIBUTE/STEM.png``. The scores are those of
``gan_jax.families.stargan.family.score`` (what ``evaluate`` reports for a
gan_jax run): the attribute classifier's target accuracy per attribute and
its rate on the inputs, FID per target domain against the real test images
(decoded by gan_jax), reconstruction L1 against the inputs; of the first
``eval_num_images`` test images if that is set, as ``evaluate`` takes them.
Labels come from the attribute file. ``--cache_dir`` is where the classifier
and FID statistics are cached: a gan_jax run's ``WORKDIR/eval`` scores with
that run's classifier.

    python scripts/score_stargan.py --config=configs/stargan.py:celeba \\
        --config.data.source=attributes:/path/to/celeba \\
        "--config.eval_metrics=('target_accuracy','fid')" \\
        --config.eval_inception_weights=/path/to/inception_fid.npz \\
        --translations /tmp/ref_outputs --cache_dir /tmp/run/eval \\
        --output ref_scores.json

Prints the scores as JSON (and writes them to ``--output``).
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags
import numpy as np
from ml_collections import config_flags
from PIL import Image

from gan_jax import families
from gan_jax.core import errors
from gan_jax.families.stargan import domains
from gan_jax.families.stargan import family as stargan_family

FLAGS = flags.FLAGS


def _define_flags() -> None:
  """The command line's flags: defined only when run as a script, so that
  importing this file next to gan_jax.main or gan_jax.bench (which define
  --config too) works."""
  config_flags.DEFINE_config_file('config', None,
                                  'configs/stargan.py[:preset]')
  flags.DEFINE_string('translations', None, 'Folder of input/, ATTRIBUTE/ '
                      'and rec_ATTRIBUTE/ images, one per test image.')
  flags.DEFINE_string('cache_dir', None, 'Where the attribute classifier '
                      "and FID statistics are cached (e.g. a run's "
                      'WORKDIR/eval).')
  flags.DEFINE_string('output', '', 'Also write the scores here (JSON).')
  flags.mark_flags_as_required(['config', 'translations', 'cache_dir'])


def test_files(config) -> tuple[list[str], np.ndarray]:
  """The test split's file names and 0/1 attributes, in the order (and with
  the skips) of the source that the in-loop evaluation reads."""
  source = domains.make_source(
      config.data.source, 'test', config.image_size, config.channels,
      tuple(config.data.attributes), config.data.test_count,
      num_threads=max(config.data.num_workers, 1))
  num = min(config.eval_num_images or source.num_examples,
            source.num_examples)  # the first ones, as evaluate takes
  labels = source.load(np.arange(num))['attributes']
  return list(source.file_names[:num]), labels


def read_images(folder: str, files: list[str], size: int,
                channels: int) -> np.ndarray:
  """uint8 (n, size, size, channels): FOLDER/STEM.png for each file."""
  images = []
  for file in files:
    path = os.path.join(folder, os.path.splitext(file)[0] + '.png')
    try:
      with Image.open(path) as image:
        pixels = np.asarray(image.convert('RGB' if channels == 3 else 'L'))
    except (OSError, ValueError) as e:
      raise errors.UserError(f'cannot read {path}: {e}') from e
    if pixels.shape[:2] != (size, size):
      raise errors.UserError(f'{path} is {pixels.shape[1]}x{pixels.shape[0]}'
                             f', not the config\'s {size}x{size}')
    images.append(pixels.reshape(size, size, channels))
  return np.stack(images)


def score_folder(config, translations: str, cache_dir: str) -> dict:
  """The scores of the translations in ``translations`` (see above)."""
  errors.require(str(config.data.source).startswith('attributes:'),
                 'data.source', "must be 'attributes:PATH' (the test split "
                 'is read from its attribute file)', config.data.source)
  family = families.get(config.family)(config)
  family.validate(config)
  family.validate_evaluation(config)
  files, labels = test_files(config)
  size, channels = config.image_size, config.channels

  def read(sub):
    return read_images(os.path.join(translations, sub), files, size,
                       channels)

  inputs = read('input')
  translated = [read(name) for name in config.data.attributes]
  reconstructed = [read(f'rec_{name}') for name in config.data.attributes]
  evaluator = family.make_evaluator(family.make_source, cache_dir)
  return stargan_family.score(evaluator, inputs, labels, translated,
                              reconstructed)


def main(argv):
  del argv
  try:
    results = score_folder(FLAGS.config, FLAGS.translations, FLAGS.cache_dir)
  except errors.UserError as e:
    sys.exit(f'score_stargan.py: error: {e}')
  text = json.dumps(results, indent=2, sort_keys=True)
  print(text)
  if FLAGS.output:
    with open(FLAGS.output, 'w') as f:
      f.write(text + '\n')


if __name__ == '__main__':
  _define_flags()
  app.run(main)
