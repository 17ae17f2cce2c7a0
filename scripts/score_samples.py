#!/usr/bin/env python3
"""Scores a folder of generated images as gan_jax scores its own samples.

The same evaluator as a run's (``gan_jax/eval/evaluation.py``: FID, KID,
precision/recall on the Inception port's features, against the same cached
random subset of the reference's real images), so the samples of another
codebase (e.g. the PyTorch reference DCGAN) are scored exactly like ours.
``--reference`` is a data source spec as ``config.data.source`` takes it
(``folder:PATH``, ``tfds:NAME[SPLIT]``, ``digits``). The first ``--num``
images of ``--samples`` (every JPEG/PNG below it, sorted by path; resized
and centre-cropped to ``--image_size`` like a folder source) are scored;
with ``--num`` larger than the folder, the folder's count is used and
reported as ``eval_num_samples``.

Usage:
  python scripts/score_samples.py --samples /tmp/torch_samples_e20 \\
      --reference folder:/path/to/anime_faces_eval --image_size 64 \\
      --channels 3 --num 2000 --inception_weights ~/inception_fid.npz \\
      --cache_dir /tmp/anime_eval_cache --output scores.json

``--cache_dir`` set to a run's ``WORKDIR/eval`` reuses that run's cached
real features (the cache key is the reference, its size, the sample count,
the seed and the weights, so a mismatch recomputes instead of mixing).
Prints the scores as JSON (and writes them to ``--output``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile

import ml_collections
import numpy as np

from gan_jax.core import errors, visualize
from gan_jax.data import sources
from gan_jax.eval import evaluation


def make_config(args, num: int) -> ml_collections.ConfigDict:
  """The fields evaluation.Evaluator reads, as a run's config has them."""
  return ml_collections.ConfigDict({
      'seed': args.seed,
      'image_size': args.image_size,
      'channels': args.channels,
      'batch_size': args.batch_size,
      'eval_metrics': tuple(m for m in args.metrics.split(',') if m),
      'eval_every_steps': 0,
      'eval_num_samples': num,
      'eval_batch_size': args.eval_batch_size,
      'eval_inception_weights': args.inception_weights,
      'data': {'source': args.reference, 'tfds_dir': args.tfds_dir},
  })


def score(args, cache_dir: str) -> dict:
  samples = sources.folder_source(args.samples, args.image_size,
                                  args.channels)
  num = min(args.num, samples.num_examples)
  config = make_config(args, num)
  evaluation.validate(config)
  reference = sources.make_source(args.reference, args.image_size,
                                  args.channels, args.tfds_dir)
  evaluator = evaluation.Evaluator(config, reference, cache_dir)
  if not evaluator.active:
    raise ValueError('every metric was skipped: ' + '; '.join(
        f'{m}: {why}' for m, why in evaluator.skipped.items()))

  def batches(key, count, batch_size):
    del key  # the samples are given, not drawn
    for start in range(0, count, batch_size):
      indices = np.arange(start, min(start + batch_size, count))
      yield {'image': visualize.from_uint8(samples.load(indices)['image'])}

  results = evaluator.evaluate(batches)
  results['samples'] = args.samples
  results['reference'] = reference.name
  results['reference_num_examples'] = reference.num_examples
  return results


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--samples', required=True,
                      help='folder of generated images')
  parser.add_argument('--reference', required=True,
                      help='the real images: folder:PATH, tfds:NAME[SPLIT], '
                      'digits, ...')
  parser.add_argument('--image_size', type=int, required=True)
  parser.add_argument('--channels', type=int, choices=(1, 3), default=3)
  parser.add_argument('--num', type=int, default=2000,
                      help='samples scored (the first N by path)')
  parser.add_argument('--metrics', default='fid,kid,pr',
                      help=f'comma-separated, from {evaluation.METRICS}')
  parser.add_argument('--inception_weights', default='',
                      help='the FID Inception .npz (default: '
                      f'${evaluation.WEIGHTS_ENV})')
  parser.add_argument('--seed', type=int, default=0,
                      help="the run's config.seed: picks the real subset")
  parser.add_argument('--batch_size', type=int, default=128,
                      help='images read per batch')
  parser.add_argument('--eval_batch_size', type=int, default=100,
                      help='images per feature-extractor call')
  parser.add_argument('--tfds_dir', default='')
  parser.add_argument('--cache_dir', default='',
                      help='keep the real features here (default: a '
                      'temporary folder)')
  parser.add_argument('--output', help='also write the JSON here')
  args = parser.parse_args(argv)
  if args.num < 2:
    parser.error(f'--num must be at least 2, got {args.num}')
  return args


def main(argv=None) -> int:
  logging.basicConfig(level=logging.WARNING,
                      format='%(levelname)s: %(message)s')
  args = parse_args(argv)
  try:
    with tempfile.TemporaryDirectory() as scratch:
      results = score(args, args.cache_dir or scratch)
  except (errors.UserError, ValueError) as e:
    print(f'score_samples.py: error: {e}', file=sys.stderr)
    return 2
  text = json.dumps(results, indent=2, sort_keys=True)
  print(text)
  if args.output:
    with open(args.output, 'w') as f:
      f.write(text + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
