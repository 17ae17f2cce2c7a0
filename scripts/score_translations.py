#!/usr/bin/env python3
"""Scores image translations saved as files against their targets.

The same functions as gan_jax's own evaluation of a translator
(``gan_jax/eval/translation.py``: L1 in [-1, 1] scale, mean per-image PSNR,
SSIM of Wang et al. 2004, FID on the test pairs), so the outputs of other
codebases are scored exactly like ours. Translations are files in
``--translated`` named by ``--pattern``; targets are files in ``--targets``
named by ``--target_pattern`` (both default ``{stem}.png``), or the uint8
array 'image' with its str array 'stem' (and optionally int 'label', for
'digits') of ``--targets_npz``. Pairs are matched by stem; stems found on one
side only are reported in one warning and left out.

Images are read as uint8: grayscale files ('1', 'L', 'LA') as one channel,
the rest as RGB (alpha dropped); if any image is RGB, one-channel images are
tiled to three, which changes none of the scores. With ``--size S`` both sides
are first resized to SxS (PIL bicubic); otherwise each translation must have
its target's size, and all pairs one size.

Usage (the reference PyTorch pix2pix writes both sides into one folder):
  python scripts/score_translations.py \\
      --translated results/facades_pix2pix/test_latest/images \\
      --pattern '{stem}_fake_B.png' \\
      --targets results/facades_pix2pix/test_latest/images \\
      --target_pattern '{stem}_real_B.png' \\
      --metrics l1,psnr,ssim,fid \\
      --inception_weights /work/cache/inception_fid.npz \\
      --output scores.json
  python scripts/score_translations.py --translated workdir/translations \\
      --targets_npz workdir/test_targets.npz --metrics l1,psnr,ssim

Prints the scores as JSON (and writes them to ``--output``). FID on a test
set of ~100 pairs is strongly biased upward: compare it only between runs
scored on the same test set.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile

import ml_collections
import numpy as np
from PIL import Image

from gan_jax.eval import translation

_GRAY_MODES = ('1', 'L', 'LA')
_COLOR_MODES = ('P', 'RGB', 'RGBA')


class ScoreError(Exception):
  """A problem with the inputs; reported as one line."""


def _stem_regex(pattern: str, flag: str) -> re.Pattern:
  if pattern.count('{stem}') != 1:
    raise ScoreError(f"{flag} must contain '{{stem}}' once, got {pattern!r}")
  prefix, suffix = pattern.split('{stem}')
  return re.compile('^' + re.escape(prefix) + '(.+)' + re.escape(suffix) + '$')


def find_files(directory: str, pattern: str, flag: str) -> dict[str, str]:
  """{stem: path} of the files in ``directory`` whose names match pattern."""
  if not os.path.isdir(directory):
    raise ScoreError(f'{directory!r} is not a directory')
  regex = _stem_regex(pattern, flag)
  found = {}
  for name in sorted(os.listdir(directory)):
    match = regex.match(name)
    if match:
      found[match.group(1)] = os.path.join(directory, name)
  if not found:
    raise ScoreError(f'no file in {directory!r} matches {flag} {pattern!r}')
  return found


def _to_array(image: Image.Image, size: int | None, where: str) -> np.ndarray:
  if image.mode in _GRAY_MODES:
    image = image.convert('L')
  elif image.mode in _COLOR_MODES:
    image = image.convert('RGB')
  else:
    raise ScoreError(f'{where}: unsupported image mode {image.mode!r} '
                     '(8-bit grayscale or RGB only)')
  if size:
    image = image.resize((size, size), Image.BICUBIC)
  pixels = np.asarray(image, np.uint8)
  return pixels[..., None] if pixels.ndim == 2 else pixels


def read_image(path: str, size: int | None) -> np.ndarray:
  """uint8 (H, W, 1 or 3) pixels of an image file, resized if ``size``."""
  try:
    with Image.open(path) as image:
      return _to_array(image, size, path)
  except OSError as e:
    raise ScoreError(f'cannot read {path!r}: {e}') from e


def read_targets_npz(path: str, size: int | None
                     ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
  """({stem: uint8 (H, W, C)}, {stem: label} or {}) from a targets .npz."""
  try:
    with np.load(path, allow_pickle=False) as npz:
      arrays = {k: npz[k] for k in npz.files}
  except (OSError, ValueError) as e:
    raise ScoreError(f'cannot read {path!r}: {e}') from e
  images, stems = arrays.get('image'), arrays.get('stem')
  if images is None or stems is None:
    raise ScoreError(f"{path!r} needs arrays 'image' and 'stem', has "
                     f'{sorted(arrays)}')
  if images.ndim == 3:
    images = images[..., None]
  if images.dtype != np.uint8 or images.ndim != 4:
    raise ScoreError(f"{path!r}: 'image' must be uint8 (n, H, W, C), got "
                     f'{images.dtype} of shape {images.shape}')
  if stems.dtype.kind != 'U' or stems.shape != (len(images),):
    raise ScoreError(f"{path!r}: 'stem' must be a str array of shape "
                     f'({len(images)},), got {stems.dtype} {stems.shape}')
  if len(set(stems.tolist())) != len(stems):
    raise ScoreError(f"{path!r}: 'stem' has duplicates")
  if 'label' in arrays and arrays['label'].shape != (len(images),):
    raise ScoreError(f"{path!r}: 'label' must have shape ({len(images)},), "
                     f"got {arrays['label'].shape}")
  if size:
    images = [_to_array(Image.fromarray(im[..., 0] if im.shape[-1] == 1
                                        else im), size, path)
              for im in images]
  targets = {str(s): np.asarray(im) for s, im in zip(stems, images)}
  labels = ({str(s): int(l) for s, l in zip(stems, arrays['label'])}
            if 'label' in arrays else {})
  return targets, labels


def match_stems(translated: dict, targets: dict) -> list[str]:
  """The stems on both sides, sorted; one warning counting the rest."""
  matched = sorted(set(translated) & set(targets))
  only_translated = sorted(set(translated) - set(targets))
  only_targets = sorted(set(targets) - set(translated))
  if not matched:
    raise ScoreError(
        f'no translation matches a target by stem (translations e.g. '
        f'{sorted(translated)[:3]}, targets e.g. {sorted(targets)[:3]}); '
        'check --pattern / --target_pattern')
  if only_translated or only_targets:
    logging.warning(
        'Unmatched stems: %d translation(s) without a target (e.g. %s), %d '
        'target(s) without a translation (e.g. %s); scoring the %d matched '
        'pairs.', len(only_translated), only_translated[:3],
        len(only_targets), only_targets[:3], len(matched))
  return matched


def _stack(images: list[np.ndarray], names: list[str]) -> np.ndarray:
  shape = images[0].shape[:2]
  for image, name in zip(images, names):
    if image.shape[:2] != shape:
      raise ScoreError(f'{name} is {image.shape[0]}x{image.shape[1]}, '
                       f'{names[0]} is {shape[0]}x{shape[1]}: all pairs must '
                       'share one size (use --size)')
  if any(image.shape[-1] == 3 for image in images):
    images = [np.repeat(im, 3, axis=-1) if im.shape[-1] == 1 else im
              for im in images]
  return np.stack(images)


def load_pairs(args) -> tuple[np.ndarray, np.ndarray, np.ndarray | None,
                              str]:
  """(translated, targets, labels or None, name of the targets)."""
  translated_files = find_files(args.translated, args.pattern, '--pattern')
  labels = {}
  if args.targets_npz:
    targets, labels = read_targets_npz(args.targets_npz, args.size)
    target_names = {s: f'{args.targets_npz}[{s!r}]' for s in targets}
    name = os.path.abspath(args.targets_npz)
  else:
    target_files = find_files(args.targets, args.target_pattern,
                              '--target_pattern')
    targets = {s: None for s in target_files}
    target_names = target_files
    name = os.path.abspath(args.targets)
  stems = match_stems(translated_files, targets)
  fakes, reals = [], []
  for stem in stems:
    fake = read_image(translated_files[stem], args.size)
    real = targets[stem]
    if real is None:
      real = read_image(target_names[stem], args.size)
    if fake.shape[:2] != real.shape[:2]:
      raise ScoreError(
          f'{translated_files[stem]} is {fake.shape[0]}x{fake.shape[1]} but '
          f'its target {target_names[stem]} is {real.shape[0]}x'
          f'{real.shape[1]} (use --size to resize both)')
    fakes.append(fake)
    reals.append(real)
  both = _stack(fakes + reals, [translated_files[s] for s in stems]
                + [target_names[s] for s in stems])
  label_array = (np.array([labels[s] for s in stems])
                 if labels and all(s in labels for s in stems) else None)
  return both[:len(stems)], both[len(stems):], label_array, name


def make_config(args) -> ml_collections.ConfigDict:
  """The few fields TranslationEvaluator reads."""
  return ml_collections.ConfigDict({
      'eval_metrics': tuple(m for m in args.metrics.split(',') if m),
      'eval_batch_size': args.batch_size,
      'eval_inception_weights': args.inception_weights,
  })


def score(args) -> dict[str, float]:
  config = make_config(args)
  translation.validate(config)
  translated, targets, labels, name = load_pairs(args)
  if 'digits' in config.eval_metrics and labels is None:
    raise ScoreError("'digits' needs --targets_npz with an int 'label' array "
                     'for every matched stem')
  with tempfile.TemporaryDirectory() as scratch:
    evaluator = translation.TranslationEvaluator(
        config, targets, args.cache_dir or scratch, labels=labels, name=name)
    return evaluator.score(translated)


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--translated', required=True,
                      help='folder of the translations')
  parser.add_argument('--pattern', default='{stem}.png',
                      help="translation file names, e.g. '{stem}_fake_B.png'")
  targets = parser.add_mutually_exclusive_group(required=True)
  targets.add_argument('--targets', help='folder of the targets')
  targets.add_argument('--targets_npz',
                       help="a .npz of uint8 'image' and str 'stem' arrays")
  parser.add_argument('--target_pattern', default='{stem}.png',
                      help="target file names, e.g. '{stem}_real_B.png'")
  parser.add_argument('--metrics', default='l1,psnr,ssim,fid',
                      help=f'comma-separated, from {translation.METRICS}')
  parser.add_argument('--inception_weights', default='',
                      help='the FID Inception .npz (default: '
                      '$GAN_JAX_INCEPTION_WEIGHTS; without it fid is skipped)')
  parser.add_argument('--size', type=int, default=None,
                      help='resize both sides to SIZExSIZE (bicubic) first')
  parser.add_argument('--batch_size', type=int, default=50,
                      help='images per feature-extractor call')
  parser.add_argument('--cache_dir', default='',
                      help='keep target features / the digits classifier '
                      'here (default: a temporary folder)')
  parser.add_argument('--output', help='also write the JSON here')
  args = parser.parse_args(argv)
  if args.size is not None and args.size < 1:
    parser.error(f'--size must be positive, got {args.size}')
  return args


def main(argv=None) -> int:
  logging.basicConfig(level=logging.WARNING,
                      format='%(levelname)s: %(message)s')
  args = parse_args(argv)
  try:
    results = score(args)
  except (ScoreError, ValueError) as e:  # ConfigError is a ValueError.
    print(f'score_translations.py: error: {e}', file=sys.stderr)
    return 2
  text = json.dumps(results, indent=2, sort_keys=True)
  print(text)
  if args.output:
    with open(args.output, 'w') as f:
      f.write(text + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
