"""Scores of an image-to-image translator on test pairs (pix2pix's evaluation).

Every score compares n translations T_i with their real targets Y_i, both
uint8 images (n, H, W, C): the translations are quantised to uint8 first, like
the saved PNGs every published number is computed from, so a score read from
our files (``scripts/score_translations.py``) and one computed in memory agree.
With x = T_i, y = Y_i as float64 pixel values in [0, 255]:

  'l1'     mean over all pixels and channels of |x - y| / 127.5: the mean
           absolute error in the model's [-1, 1] scale, the scale of pix2pix's
           L1 loss (Isola et al. 2017, Eq. 3).
  'psnr'   mean over images of 10 log10(255^2 / MSE_i), MSE_i the mean of
           (x - y)^2 over the image's pixels and channels; an image with
           MSE_i = 0 counts as 100 dB (a finite cap instead of +inf, so one
           exact copy does not make the mean infinite). This is the mean of
           per-image PSNRs, not the PSNR of the pooled MSE.
  'ssim'   mean over images of the structural similarity (Wang, Bovik, Sheikh
           & Simoncelli 2004, "Image Quality Assessment: From Error Visibility
           to Structural Similarity", Eq. 13) with their reference settings:
               SSIM(x, y) = (2 mu_x mu_y + C1)(2 s_xy + C2)
                            / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
           C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 255, where mu, s^2, s_xy are
           the means, variances and covariance under an 11x11 Gaussian window
           (sigma 1.5, weights normalised to sum 1): population moments
           (weights summing to 1, no n/(n-1) correction), as ``ssim_index.m``.
           The map is computed per channel at every position where the whole
           window fits in the image (``filter2(w, x, 'valid')``: no padding,
           (H-10) x (W-10) values), averaged over that region and the channels
           for each image, then over images. No automatic downsampling (the
           later ``ssim.m`` first downsamples by round(min(H, W) / 256), which
           is 1, i.e. none, for images up to 383 px). scikit-image's
           ``structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
           use_sample_covariance=False, data_range=255, channel_axis=-1)``
           filters the whole image with reflected borders and then crops 5 px
           ((11 - 1) // 2) from each side; its 11-tap kernel (truncate 3.5)
           then never reaches the reflected border, so what it averages is this
           same valid region and its value equals ours up to float rounding
           (checked: within 3e-16 on 13x14x1, 32x40x3 and 64x64x3 pairs).
           Images under 11 px on a side have no valid window: ValueError.
  'fid'    Frechet Inception distance (Heusel et al. 2017) between the
           Inception pool_3 features of the n translations and of the n
           targets (``metrics.frechet_distance_of_features``). On a test set of
           ~100 pairs (facades: 106) it is strongly biased upward and noisy:
           FID's bias grows as the sample shrinks (Chong & Forsyth 2020,
           "Effectively Unbiased FID and Inception Score and Where to Find
           Them"), and with n < 2048 the covariances are singular. It ranks
           runs scored on the same test set only; it is not comparable with
           FIDs of other sample sizes.
  'digits' for translators whose targets are the project's digits: the
           accuracy of the digits classifier (``digits_classifier.py``) at
           naming the target's label from the translation
           (``digits_class_accuracy`` and per class), next to its accuracy on
           the real targets (``digits_class_accuracy_targets``, the ceiling).

Also the files every translator family writes the same way: its test grid
(``save_test_grid``) and ``--mode=translate``'s outputs
(``write_translations``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Callable

import jax
import numpy as np
from PIL import Image, ImageOps

from gan_jax.core import errors, visualize
from gan_jax.data import sources
from gan_jax.eval import digits_classifier, evaluation, metrics

METRICS = ('l1', 'psnr', 'ssim', 'fid', 'digits')
PIXEL_METRICS = ('l1', 'psnr', 'ssim')
# The PSNR of an image equal to its target (MSE 0), instead of +inf.
PSNR_OF_IDENTICAL = 100.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
DATA_RANGE = 255.0


def check_pair(translated: np.ndarray, target: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
  """Both as arrays, if they are non-empty uint8 images (n, H, W, C) of one
  shape; otherwise one ValueError saying which is not."""
  translated, target = np.asarray(translated), np.asarray(target)
  for name, images in (('translated', translated), ('target', target)):
    if images.dtype != np.uint8 or images.ndim != 4:
      raise ValueError(f'{name} must be uint8 images (n, H, W, C), got '
                       f'{images.dtype} of shape {images.shape}')
  if translated.shape != target.shape:
    raise ValueError(f'translated and target shapes differ: '
                     f'{translated.shape} vs {target.shape}')
  if not len(target):
    raise ValueError('no images to score')
  return translated, target


def l1(translated: np.ndarray, target: np.ndarray) -> float:
  """Mean |translated - target| over all pixels and channels, / 127.5."""
  translated, target = check_pair(translated, target)
  diff = np.abs(translated.astype(np.float64) - target.astype(np.float64))
  return float(diff.mean() / 127.5)


def psnr(translated: np.ndarray, target: np.ndarray) -> float:
  """Mean over images of 10 log10(255^2 / MSE_i); MSE_i = 0 counts 100 dB."""
  translated, target = check_pair(translated, target)
  diff = translated.astype(np.float64) - target.astype(np.float64)
  mse = np.mean(diff * diff, axis=(1, 2, 3))
  safe = np.where(mse > 0, mse, 1.0)
  values = np.where(mse > 0, 10.0 * np.log10(DATA_RANGE**2 / safe),
                    PSNR_OF_IDENTICAL)
  return float(values.mean())


def gaussian_window_1d(size: int = SSIM_WINDOW,
                       sigma: float = SSIM_SIGMA) -> np.ndarray:
  """exp(-x^2 / (2 sigma^2)) at x = -(size-1)/2 .. (size-1)/2, summing to 1.

  Its outer product with itself is MATLAB's ``fspecial('gaussian', size,
  sigma)``, the window of Wang et al.'s ``ssim_index.m``.
  """
  x = np.arange(size, dtype=np.float64) - (size - 1) / 2
  w = np.exp(-x * x / (2 * sigma * sigma))
  return w / w.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
  """(H, W, C) -> (H-k+1, W-k+1, C): the separable window's weighted sum at
  every position where it fits (correlation; the window is symmetric)."""
  k = len(window)
  rows = np.lib.stride_tricks.sliding_window_view(image, k, axis=0) @ window
  return np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ window


def ssim_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """The SSIM map (H-10, W-10, C) of two (H, W, C) images in [0, 255]."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  window = gaussian_window_1d()
  c1 = (SSIM_K1 * DATA_RANGE)**2
  c2 = (SSIM_K2 * DATA_RANGE)**2
  mu_x, mu_y = _filter_valid(x, window), _filter_valid(y, window)
  var_x = _filter_valid(x * x, window) - mu_x * mu_x
  var_y = _filter_valid(y * y, window) - mu_y * mu_y
  cov_xy = _filter_valid(x * y, window) - mu_x * mu_y
  return ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
          / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)))


def ssim(translated: np.ndarray, target: np.ndarray) -> float:
  """Mean over images of SSIM (Wang et al. 2004; 11x11 Gaussian window,
  sigma 1.5, K1 0.01, K2 0.03, L 255, population moments), each image's map
  averaged over its valid region (no padding) and channels. See the module
  docstring for how this relates to scikit-image."""
  translated, target = check_pair(translated, target)
  _, height, width, _ = target.shape
  if min(height, width) < SSIM_WINDOW:
    raise ValueError(f'SSIM needs images of at least {SSIM_WINDOW}x'
                     f'{SSIM_WINDOW} pixels (its window), got {height}x{width}')
  # One image at a time: float64 maps of a whole test set would be GBs.
  return float(np.mean([ssim_map(a, b).mean()
                        for a, b in zip(translated, target)]))


def validate(config) -> None:
  """config.eval_metrics within METRICS; config.eval_batch_size an int >= 2."""
  unknown = [m for m in tuple(config.eval_metrics) if m not in METRICS]
  if unknown:
    raise errors.ConfigError(
        f'config.eval_metrics: unknown {unknown}, choose from {METRICS}')
  size = config.eval_batch_size
  if not isinstance(size, int) or isinstance(size, bool) or size < 2:
    raise errors.ConfigError(
        f'config.eval_batch_size must be an integer >= 2, got {size!r}')


class TranslationEvaluator:
  """Scores translations of a fixed test set against its targets.

  Args:
    config: needs ``eval_metrics`` (names in METRICS), ``eval_batch_size``
      (images per feature-extractor call) and, for 'fid',
      ``eval_inception_weights`` (or $GAN_JAX_INCEPTION_WEIGHTS).
    targets: the real test targets, uint8 (n, H, W, C).
    cache_dir: where the targets' Inception features (and the digits
      classifier) are cached.
    labels: the targets' digit classes (n,); required by 'digits'.
    name: the test set's name, part of the feature cache's key.
  """

  def __init__(self, config, targets: np.ndarray, cache_dir: str,
               labels: np.ndarray | None = None, name: str = ''):
    validate(config)
    targets = np.asarray(targets)
    if targets.dtype != np.uint8 or targets.ndim != 4 or not len(targets):
      raise ValueError('targets must be uint8 images (n, H, W, C), got '
                       f'{targets.dtype} of shape {targets.shape}')
    self.config = config
    self.targets = targets
    self.cache_dir = cache_dir
    self.name = name
    self.metrics = tuple(config.eval_metrics)
    self.skipped: dict[str, str] = {}
    self._extractors: dict[str, Callable] = {}
    self._constants: dict[str, float] = {}
    self._target_features: np.ndarray | None = None
    self.labels = None
    if 'digits' in self.metrics:
      if labels is None:
        raise ValueError("eval metric 'digits' needs the targets' labels")
      self.labels = np.asarray(labels)
      if self.labels.shape != (len(targets),):
        raise ValueError(f'labels must have shape ({len(targets)},), got '
                         f'{self.labels.shape}')
      _, height, width, channels = targets.shape
      if height != width:
        raise ValueError("eval metric 'digits' needs square images, got "
                         f'{height}x{width}')
      classifier = digits_classifier.get_classifier(height, channels,
                                                    cache_dir)
      self._extractors['digits'] = classifier.apply
      self._constants['digits_classifier_accuracy'] = (
          classifier.held_out_accuracy)
    if 'fid' in self.metrics:
      extract, weights_id_or_reason = evaluation.load_inception(config)
      if extract is None:
        self.skipped['fid'] = weights_id_or_reason
        logging.warning('Skipping fid: %s', weights_id_or_reason)
      else:
        self._extractors['inception'] = extract
        self._inception_id = weights_id_or_reason

  @property
  def active(self) -> tuple[str, ...]:
    return tuple(m for m in self.metrics if m not in self.skipped)

  def _outputs(self, name: str, images: np.ndarray) -> np.ndarray:
    """Inception features, or digits logits, of uint8 ``images``."""
    extract = self._extractors[name]
    size = self.config.eval_batch_size
    outputs = []
    for _, padded, count in evaluation.padded_chunks(images, size):
      out = extract(visualize.from_uint8(padded))
      if name == 'digits':
        out = out[0]  # (logits, features)
      outputs.append(np.asarray(out, np.float32)[:count])
    return np.concatenate(outputs)

  def _cache_file(self) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(self.targets).tobytes())
    key = json.dumps([self.name, list(self.targets.shape),
                      digest.hexdigest(), self._inception_id])
    short = hashlib.sha256(key.encode()).hexdigest()[:16]
    return os.path.join(self.cache_dir,
                        f'target_features_inception_{short}.npy')

  def target_features(self) -> np.ndarray:
    """The targets' Inception features, computed once and cached on disk."""
    if self._target_features is None:
      path = self._cache_file()
      if os.path.exists(path):
        features = np.load(path)
      else:
        features = self._outputs('inception', self.targets)
        if jax.process_index() == 0:
          os.makedirs(self.cache_dir, exist_ok=True)
          np.save(path + '.tmp.npy', features)
          os.replace(path + '.tmp.npy', path)  # never a half-written cache
      self._target_features = features
    return self._target_features

  def fid(self, translated: np.ndarray) -> float:
    """FID of uint8 ``translated`` against the targets as a distribution:
    any number of images of the targets' (H, W, C), not paired with them
    (an unpaired translator's test sets differ in size)."""
    translated = np.asarray(translated)
    if translated.dtype != np.uint8 or translated.shape[1:] != (
        self.targets.shape[1:]) or not len(translated):
      raise ValueError(f'translated must be uint8 images (n, '
                       f'{", ".join(map(str, self.targets.shape[1:]))}), got '
                       f'{translated.dtype} of shape {translated.shape}')
    return metrics.frechet_distance_of_features(
        self.features(translated), self.target_features())

  def features(self, images: np.ndarray) -> np.ndarray:
    """Inception features of uint8 ``images`` (fid must be active)."""
    return self._outputs('inception', np.asarray(images))

  def score(self, translated: np.ndarray) -> dict[str, float]:
    """The active metrics of ``translated`` (uint8, the targets' shape),
    image i being the translation of target i; plus 'eval_num_pairs'."""
    translated, targets = check_pair(translated, self.targets)
    functions = {'l1': l1, 'psnr': psnr, 'ssim': ssim}
    results: dict[str, float] = {}
    for metric in PIXEL_METRICS:
      if metric in self.active:
        results[metric] = functions[metric](translated, targets)
    if 'fid' in self.active:
      results['fid'] = self.fid(translated)
    if 'digits' in self.active:
      if 'digits_class_accuracy_targets' not in self._constants:
        self._constants['digits_class_accuracy_targets'] = (
            digits_classifier.class_accuracy(
                self._outputs('digits', targets),
                self.labels)['digits_class_accuracy'])
      results.update(self._constants)
      results.update(digits_classifier.class_accuracy(
          self._outputs('digits', translated), self.labels))
    results['eval_num_pairs'] = len(translated)
    return results


# --- What every translator family writes: test grids, --mode=translate --


def save_test_grid(grid_dir: str, step, images: np.ndarray,
                   columns: int) -> None:
  """Writes ``images`` (in [-1, 1]), ``columns`` to a row, as
  GRID_DIR/test_grid_step_N.png, N the training step ``step``."""
  step_ = int(jax.device_get(step))
  os.makedirs(grid_dir, exist_ok=True)
  visualize.save_png(visualize.image_grid(images, cols=columns),
                     os.path.join(grid_dir, f'test_grid_step_{step_:07d}.png'))


def write_translations(input_dir: str, output: str, size: int,
                       channels: int, translate_one, what: str,
                       center_crop: bool = False,
                       resample: str = 'bicubic') -> str:
  """Translates every image below ``input_dir`` into ``output``.

  Each image is converted to ``channels`` and resized (``resample``:
  bicubic, or bilinear) to size x size, as the reference's test resizes,
  not keeping its aspect ratio (with ``center_crop``, its centred square is
  cut out first, and the output has that square's size);
  ``translate_one(uint8 (1, size, size, channels), index)`` gives its
  translation in [-1, 1] (size, size, C), which is resized back to the
  image's own size and written as OUTPUT/<same relative path>.png. Files
  that are not images are skipped and counted in one warning; a folder
  without any usable image is one error.
  """
  root = sources.open_dir(input_dir, '--input folder')
  paths = sources.list_images(root)
  written, bad = 0, []
  for index, path in enumerate(paths):
    try:
      with Image.open(path) as image:
        image = sources.to_channels(sources.normalise_mode(image), channels)
        if center_crop:
          side = min(image.size)
          image = ImageOps.fit(image, (side, side))  # the centre, as is
        original = image.size
        pixels = np.asarray(image.resize((size, size),
                                         sources.RESAMPLING[resample]))
    except (OSError, SyntaxError, ValueError) as e:
      bad.append(f'{path} ({type(e).__name__}: {e})')
      continue
    pixels = pixels.reshape(1, size, size, channels)
    out = visualize.to_uint8(np.asarray(translate_one(pixels, index)))
    result = visualize.to_pil(out).resize(original, Image.Resampling.BICUBIC)
    relative = os.path.splitext(os.path.relpath(path, root))[0] + '.png'
    target = os.path.join(output, relative)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    result.save(target)
    written += 1
  if bad:
    logging.warning('Skipped %d of %d files in %s that are not usable '
                    'images: %s', len(bad), len(paths), root,
                    sources.first_few(bad))
  if not written:
    raise sources.DataError(f'--input folder {root!r} holds no usable '
                            f'{"/".join(sources.IMAGE_EXTENSIONS)} images')
  logging.info('Translated %d images of %s with %s into %s', written, root,
               what, output)
  return output
