"""Sample quality of a run: the configured metrics on G's samples vs. the data.

``config.eval_metrics`` picks from:
  'digits'  the project's digits classifier (``digits_classifier.py``):
            classes covered, predicted-class KL to uniform, and FD in its
            feature space of as many samples as half the real set against one
            half, next to its floor, the FD of the other real half;
  'fid'     Frechet Inception Distance (Heusel et al. 2017);
  'kid'     Kernel Inception Distance (Binkowski et al. 2018), mean and std;
  'pr'      improved precision and recall (Kynkaanniemi et al. 2019) on the
            same Inception features (the paper used VGG-16's; StudioGAN uses
            Inception's too).
Each uses ``config.eval_num_samples`` generated images and as many real ones
(all of them if fewer), drawn in batches of ``config.batch_size`` so G's batch
statistics match training. The Inception metrics need the converted FID
weights (``config.eval_inception_weights`` or $GAN_JAX_INCEPTION_WEIGHTS; see
``scripts/convert_inception_weights.py``); without them they are skipped with
one warning, never downloaded. Real features are computed once and cached in
``workdir/eval``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Callable, Iterator

import jax
import numpy as np

from gan_jax.core import errors, visualize
from gan_jax.data import sources
from gan_jax.eval import digits_classifier, metrics

METRICS = ('digits', 'fid', 'kid', 'pr')
INCEPTION_METRICS = ('fid', 'kid', 'pr')
# fold_in(PRNGKey(config.seed), EVAL_STREAM): the noise of every evaluation.
EVAL_STREAM = 2
WEIGHTS_ENV = 'GAN_JAX_INCEPTION_WEIGHTS'


def validate(config) -> None:
  metrics_ = tuple(config.eval_metrics)
  unknown = [m for m in metrics_ if m not in METRICS]
  if unknown:
    raise errors.ConfigError(
        f'config.eval_metrics: unknown {unknown}, choose from {METRICS}')
  if 'digits' in metrics_ and sources.kind_of(config.data.source) != 'digits':
    raise errors.ConfigError(
        "config.eval_metrics 'digits' scores digits only; data.source is "
        f'{config.data.source!r} (use fid/kid/pr)')
  if not isinstance(config.eval_every_steps, int) or config.eval_every_steps < 0:
    raise errors.ConfigError(
        'config.eval_every_steps must be 0 (at the end only) or positive, got '
        f'{config.eval_every_steps!r}')
  for field in ('eval_num_samples', 'eval_batch_size'):
    value = config[field]
    if not isinstance(value, int) or value < 2:
      raise errors.ConfigError(f'config.{field} must be an integer >= 2, '
                               f'got {value!r}')


def inception_weights_path(config) -> str:
  return config.eval_inception_weights or os.environ.get(WEIGHTS_ENV, '')


def load_inception(config) -> tuple[Callable | None, str]:
  """(images -> pool_3 features, an id of the weights), or (None, why the
  Inception metrics are skipped) when no weights are configured."""
  path = inception_weights_path(config)
  if not path:
    return None, ('no FID Inception weights: set config.eval_inception_weights'
                  f' or ${WEIGHTS_ENV} to the .npz of '
                  'scripts/convert_inception_weights.py')
  from gan_jax.eval import inception  # pylint: disable=g-import-not-at-top
  try:
    variables = inception.load_params(path)
  except inception.InceptionWeightsError as e:
    raise errors.ConfigError(f'config.eval_inception_weights: {e}') from e
  return (inception.make_feature_fn(variables),
          f'{os.path.abspath(path)}:{os.path.getsize(path)}')


def in_chunks(images: np.ndarray, size: int) -> Iterator[np.ndarray]:
  """Consecutive slices of at most ``size`` images (the last may be short)."""
  for start in range(0, len(images), size):
    yield images[start:start + size]


def padded_chunks(images: np.ndarray, size: int
                  ) -> Iterator[tuple[int, np.ndarray, int]]:
  """(start, chunk, count) for consecutive chunks of ``size`` images, the
  last one padded with zeros to ``size``: one compile of whatever consumes
  them for any count, not one more for the tail."""
  for start, part in zip(range(0, len(images), size),
                         in_chunks(images, size)):
    yield start, np.pad(part, [(0, size - len(part))] +
                        [(0, 0)] * (part.ndim - 1)), len(part)


class Evaluator:
  """Scores batches of generated images against the run's real data."""

  def __init__(self, config, source: sources.Source,
               cache_dir: str):
    validate(config)
    self.config = config
    self.source = source
    self.cache_dir = cache_dir
    self.metrics = tuple(config.eval_metrics)
    self.skipped: dict[str, str] = {}
    self._extractors: dict[str, Callable] = {}  # name -> images -> features
    self._real: dict[str, np.ndarray] = {}
    self._constants: dict[str, float] = {}
    if 'digits' in self.metrics:
      classifier = digits_classifier.get_classifier(
          config.image_size, config.channels, cache_dir)
      self._extractors['digits'] = classifier.apply
      self._constants['digits_classifier_accuracy'] = (
          classifier.held_out_accuracy)
    inception_metrics = [m for m in self.metrics if m in INCEPTION_METRICS]
    if inception_metrics:
      extract, weights_id_or_reason = load_inception(config)
      if extract is None:
        self.skipped.update({m: weights_id_or_reason
                             for m in inception_metrics})
        logging.warning('Skipping %s: %s', '/'.join(inception_metrics),
                        weights_id_or_reason)
      else:
        self._extractors['inception'] = extract
        self._inception_id = weights_id_or_reason

  @property
  def active(self) -> tuple[str, ...]:
    return tuple(m for m in self.metrics if m not in self.skipped)

  def _features(self, name: str, batches) -> tuple[np.ndarray, np.ndarray]:
    """(features, logits or empty) of all images of ``batches``."""
    extract = self._extractors[name]
    features, logits = [], []
    size = self.config.eval_batch_size
    for batch in batches:
      for _, padded, count in padded_chunks(batch, size):
        out = jax.tree.map(lambda x, n=count: np.asarray(x)[:n],
                           extract(padded))
        if name == 'digits':
          logits.append(out[0])
          out = out[1]
        features.append(np.asarray(out, np.float32))
    return (np.concatenate(features),
            np.concatenate(logits) if logits else np.zeros((0,)))

  def _cache_file(self, name: str, count: int) -> str:
    # The seed picks the subset; every image is the same set for any seed.
    seed = self.config.seed if count < self.source.num_examples else None
    key = json.dumps([name, self.source.name, self.source.num_examples,
                      list(self.source.image_shape), count, seed,
                      getattr(self, '_inception_id', '')])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return os.path.join(self.cache_dir, f'real_features_{name}_{digest}.npy')

  def _real_features(self, name: str) -> np.ndarray:
    """Features of a fixed random subset of the real images, cached."""
    if name in self._real:
      return self._real[name]
    count = min(self.config.eval_num_samples, self.source.num_examples)
    path = self._cache_file(name, count)
    if os.path.exists(path):
      features = np.load(path)
    else:
      order = np.random.default_rng(self.config.seed).permutation(
          self.source.num_examples)
      indices = np.sort(order[:count])
      batches = (visualize.from_uint8(self.source.load(idx)['image'])
                 for idx in in_chunks(indices, self.config.batch_size))
      features, _ = self._features(name, batches)
      if jax.process_index() == 0:
        os.makedirs(self.cache_dir, exist_ok=True)
        np.save(path + '.tmp.npy', features)
        os.replace(path + '.tmp.npy', path)
    self._real[name] = features
    return features

  def _real_halves(self, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(self.config.seed).permutation(len(real))
    half = len(real) // 2
    return real[order[:half]], real[order[half:2 * half]]

  def evaluate(self, make_batches: Callable) -> dict[str, float]:
    """The metrics of a model's samples.

    ``make_batches(key, num, batch_size)`` yields dicts of generated 'image'
    in [-1, 1] (a family's ``eval_batches``), with the 'label' each was
    asked for if the model is conditional. The key is the same every call,
    so evaluations of one run differ only by the model.
    """
    config = self.config
    if not self.active:
      return {}
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), EVAL_STREAM)
    fake_batches, asked_labels = [], []
    for batch in make_batches(key, config.eval_num_samples,
                              config.batch_size):
      # Quantised to uint8 like the real images (and like every FID tool
      # that reads saved PNGs), so no score rewards or punishes sub-pixel
      # values.
      fake_batches.append(visualize.from_uint8(visualize.to_uint8(
          batch['image'])))
      if 'label' in batch:
        asked_labels.append(np.asarray(batch['label']))
    results = dict(self._constants)
    if 'digits' in self.active:
      real = self._real_features('digits')
      fake, logits = self._features('digits', fake_batches)
      results.update(digits_classifier.class_scores(logits))
      if asked_labels:
        results.update(digits_classifier.class_accuracy(
            logits, np.concatenate(asked_labels)))
      # FD's bias falls with the sample counts, so G is scored like-for-like
      # with the floor: half-real-set-sized samples against real half B,
      # where the floor is real half A against B.
      half_a, half_b = self._real_halves(real)
      results['digits_fd'] = metrics.frechet_distance_of_features(
          fake[:len(half_a)], half_b)
      if 'digits_fd_real_halves' not in self._constants:
        self._constants['digits_fd_real_halves'] = (
            metrics.frechet_distance_of_features(half_a, half_b))
      results['digits_fd_real_halves'] = self._constants['digits_fd_real_halves']
    if any(m in self.active for m in INCEPTION_METRICS):
      real = self._real_features('inception')
      fake, _ = self._features('inception', fake_batches)
      if 'fid' in self.active:
        results['fid'] = metrics.frechet_distance_of_features(real, fake)
      if 'kid' in self.active:
        results['kid'], results['kid_std'] = (
            metrics.kernel_inception_distance(real, fake, seed=config.seed))
      if 'pr' in self.active:
        results['precision'], results['recall'] = metrics.precision_recall(
            real, fake)
    results['eval_num_samples'] = config.eval_num_samples
    return results
