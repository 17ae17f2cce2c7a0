"""``--mode=inpaint``: fill the holes of held-out (or the user's) images, score
every fill, and write them.

Shared by the families that inpaint: a family passes ``fill(images, known,
key) -> {method: completed images}`` (DCGAN: latent search, raw and blended;
the Context Encoder: its network's prediction); this file reads the images
(``--input=DIR``, else ``config.data.eval_source``), makes the masks
(``masks.py``), adds two baselines, and scores every method on the same
images and holes:

  'mean_fill'  each hole filled with the image's mean known colour (per
               channel);
  'harmonic'   the harmonic (Laplace) fill of the hole from its border
               (``poisson.harmonic_fill``), classical smooth inpainting.

Scores, per method, over the hole only (the known pixels are the input's):
``l1_hole`` (mean |x - y| / 127.5 over the hole's pixels and channels, then
over images), ``psnr_hole`` (per image 10 log10(255^2 / MSE over the hole),
then the mean; MSE 0 counts 100 dB) and ``ssim_hole`` (Wang et al. 2004's
SSIM map, ``eval/translation.py``, averaged over the window centres that lie
in the hole; holes wholly within 5 px of the border have no such centre and
are left out). Image-level scores when ``config.eval_metrics`` asks for them:
'fid' (any of fid/kid/pr) of the completed images against the originals, and
'digits': how often the digits classifier names the original's class, also
for the masked inputs (``masked``, the hole grey) and the originals.

Output: ``OUTPUT/<method>/<name>.png`` per method (and ``masked/``, and
``original/``: the images as the model sees them, at its size),
``grid.png`` (original | masked | each method, one row per image, the first
``inpaint_grid_rows`` images) and ``metrics.json``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Callable

import jax
import ml_collections
import numpy as np

from gan_jax.core import errors, visualize
from gan_jax.data import sources
from gan_jax.eval import evaluation, translation
from gan_jax.inpainting import masks, poisson

Fill = Callable[[np.ndarray, np.ndarray, jax.Array], dict[str, np.ndarray]]
# fold_in(PRNGKey(config.seed), INPAINT_STREAM): the randomness of a fill
# (e.g. latent search's initial z).
INPAINT_STREAM = 5


def validate(config) -> None:
  masks.validate(config)
  errors.positive_ints(config, 'inpaint_num_images', 'inpaint_grid_rows')


def _hole_mean(values: np.ndarray, hole: np.ndarray) -> float:
  return float((values * hole).sum() / hole.sum())


def hole_scores(completed: np.ndarray, original: np.ndarray,
                known: np.ndarray) -> dict[str, float]:
  """l1_hole, psnr_hole, ssim_hole of uint8 ``completed`` against uint8
  ``original`` (n, H, W, C), over the holes of ``known`` (n, H, W, 1)."""
  completed, original = translation.check_pair(completed, original)
  hole = np.broadcast_to(1.0 - np.asarray(known, np.float64),
                         original.shape)
  l1s, psnrs, ssims = [], [], []
  margin = (translation.SSIM_WINDOW - 1) // 2
  for x, y, h in zip(completed.astype(np.float64),
                     original.astype(np.float64), hole):
    diff = x - y
    l1s.append(_hole_mean(np.abs(diff), h) / 127.5)
    mse = _hole_mean(diff * diff, h)
    psnrs.append(10.0 * np.log10(translation.DATA_RANGE**2 / mse) if mse > 0
                 else translation.PSNR_OF_IDENTICAL)
    centres = h[margin:h.shape[0] - margin, margin:h.shape[1] - margin]
    if centres.sum() > 0:
      ssims.append(_hole_mean(translation.ssim_map(x, y), centres))
  scores = {'l1_hole': float(np.mean(l1s)), 'psnr_hole': float(np.mean(psnrs))}
  if ssims:
    scores['ssim_hole'] = float(np.mean(ssims))
  return scores


def mean_fill(images: np.ndarray, known: np.ndarray) -> np.ndarray:
  """Each hole filled with its image's mean known colour."""
  mean = (images * known).sum((1, 2), keepdims=True) / known.sum(
      (1, 2), keepdims=True)
  return images * known + mean * (1.0 - known)


def masked(images: np.ndarray, known: np.ndarray) -> np.ndarray:
  """The input as the fills see it, the hole mid-grey (0 in [-1, 1])."""
  return images * known


def _names(source: sources.Source, count: int) -> list[str]:
  """Output file stems: the input's relative path without its extension
  (folders joined by '_'), with it where two inputs would collide."""
  if not source.file_names:
    return [f'{i:06d}' for i in range(count)]
  paths = [p.replace(os.sep, '_') for p in source.file_names[:count]]
  stems = [os.path.splitext(p)[0] for p in paths]
  return [p.replace('.', '_') if stems.count(stem) > 1 else stem
          for p, stem in zip(paths, stems)]


def load(config, input_dir: str | None = None):
  """(uint8 images, labels or None, names, what) of the images to fill:
  ``input_dir``'s, else config.data.eval_source's first
  ``inpaint_num_images``."""
  size, channels = config.image_size, config.channels
  if input_dir:
    source = sources.folder_source(input_dir, size, channels)
  else:
    spec = config.data.get('eval_source', '')
    if not spec:
      raise errors.ConfigError(
          '--mode=inpaint needs --input=DIR (images to fill) or '
          'config.data.eval_source (held-out images, e.g. digits[test])')
    is_digits = sources.kind_of(spec) == 'digits'
    source = sources.make_source(spec, size, channels, config.data.tfds_dir,
                                 labels=is_digits)
    if spec == config.data.source or (
        is_digits and config.data.source == 'digits'):
      logging.warning(
          'inpaint: data.eval_source %r is (or is inside) the training '
          'source %r: the model has seen these images; train on '
          "'digits[train]' (or another folder) to score held-out fills",
          spec, config.data.source)
  count = min(config.inpaint_num_images, source.num_examples)
  examples = source.load(np.arange(count))
  return (examples['image'], examples.get('label'), _names(source, count),
          source.name)


class InpaintEvaluator:
  """The images to fill (``--input`` or data.eval_source), their masks, and
  their scorer: ``score(completed)`` -> the hole scores and the image-level
  ones ``config.eval_metrics`` asks for ('fid' for any Inception metric,
  'digits' where the images are labelled digits).

  Attributes: ``images`` (n, S, S, C) in [-1, 1], ``originals`` (uint8),
  ``known`` masks (n, S, S, 1), ``names``, ``what`` (the images' source),
  ``active`` and ``skipped`` (the loop's evaluator interface).
  """

  def __init__(self, config, cache_dir: str, input_dir: str | None = None,
               loaded: tuple | None = None):
    """``loaded``: ``load(config, input_dir)``'s result, if already read."""
    validate(config)
    self.originals, labels, self.names, self.what = (
        loaded or load(config, input_dir))
    self.images = visualize.from_uint8(self.originals)
    self.known = masks.make_masks(config.inpaint_mask, len(self.images),
                                  config.image_size, config.seed)
    wanted = []
    if any(m in evaluation.INCEPTION_METRICS for m in config.eval_metrics):
      wanted.append('fid')
    if 'digits' in config.eval_metrics and labels is not None:
      wanted.append('digits')
    self._images_scorer = None
    self.skipped: dict[str, str] = {}
    if wanted:
      sub = ml_collections.ConfigDict({
          'eval_metrics': tuple(wanted),
          'eval_batch_size': config.eval_batch_size,
          'eval_inception_weights': config.eval_inception_weights})
      self._images_scorer = translation.TranslationEvaluator(
          sub, self.originals, cache_dir, labels, name=f'inpaint:{self.what}')
      self.skipped = dict(self._images_scorer.skipped)
    self.active = ('hole',) + (self._images_scorer.active
                               if self._images_scorer else ())

  def score(self, completed: np.ndarray, holes: bool = True
            ) -> dict[str, float]:
    """Scores of ``completed`` (in [-1, 1], the images' order); without
    ``holes`` only the image-level ones (for the masked inputs)."""
    pixels = visualize.to_uint8(completed)
    scores = (hole_scores(pixels, self.originals, self.known) if holes
              else {})
    scorer = self._images_scorer
    if scorer is not None and 'fid' in scorer.active:
      scores['fid'] = scorer.fid(pixels)
    if scorer is not None and 'digits' in scorer.active:
      scores.update(scorer.score(pixels))
      scores.pop('eval_num_pairs', None)
    return scores


def run(config, fill: Fill, step: int, output: str, input_dir: str | None,
        cache_dir: str) -> str:
  """Fills, scores and writes; returns ``output``."""
  evaluator = InpaintEvaluator(config, cache_dir, input_dir)
  images, known = evaluator.images, evaluator.known
  logging.info('inpaint: %d images of %s, mask %s (%.1f%% missing), step %d',
               len(images), evaluator.what, config.inpaint_mask,
               100 * (1 - known.mean()), step)
  methods: dict[str, np.ndarray] = {'masked': masked(images, known),
                                    'mean_fill': mean_fill(images, known)}
  seconds: dict[str, float] = {}
  start = time.perf_counter()
  methods['harmonic'] = np.asarray(poisson.harmonic_fill(images, known))
  seconds['harmonic'] = time.perf_counter() - start
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), INPAINT_STREAM)
  start = time.perf_counter()
  methods.update(fill(images, known, key))
  seconds['fill'] = time.perf_counter() - start

  results = {}
  for method, completed in methods.items():
    results[method] = evaluator.score(completed, holes=method != 'masked')
  for folder, pixels in [('original', evaluator.originals)] + [
      (method, visualize.to_uint8(images_)) for method, images_ in
      methods.items()]:
    os.makedirs(os.path.join(output, folder), exist_ok=True)
    for name, image in zip(evaluator.names, pixels):
      visualize.to_pil(image).save(os.path.join(output, folder,
                                                f'{name}.png'))

  rows = min(config.inpaint_grid_rows, len(images))
  columns = [images] + list(methods.values())
  grid = np.stack([c[:rows] for c in columns], 1).reshape(
      rows * len(columns), *images.shape[1:])
  visualize.save_png(visualize.image_grid(grid, cols=len(columns)),
                     os.path.join(output, 'grid.png'),
                     scale=2 if config.image_size <= 32 else 1)
  report = {'step': step, 'images': evaluator.what,
            'num_images': len(images), 'mask': config.inpaint_mask,
            'missing_fraction': float(1 - known.mean()),
            'grid_columns': ['original', *methods], 'methods': results,
            'skipped': evaluator.skipped, 'seconds': seconds,
            'fill_images_per_second': len(images) / seconds['fill']}
  with open(os.path.join(output, 'metrics.json'), 'w') as f:
    json.dump(report, f, indent=2)
  for method, scores in results.items():
    logging.info('inpaint %-22s %s', method, ' '.join(
        f'{k}={v:.4f}' for k, v in scores.items()
        if not k.startswith('digits_class_accuracy_')))
  logging.info('inpaint: wrote %s (%.1f images/s filled)', output,
               report['fill_images_per_second'])
  return output
