"""Unpaired data for translation between two domains (CycleGAN): A and B.

An unpaired training source (``sources.Source`` with ``parts``) has two
parts that ``order.train_batches`` draws in independent orders:

  'input'  uint8 (n, L, L, Ca): images of domain A (part 0);
  'image'  uint8 (n, L, L, Cb): images of domain B (part 1).

Its ``num_examples`` is max(|A|, |B|), the reference's epoch
(``unaligned_dataset.__len__``). Images are converted to the configured
channels and squashed to (L, L) bicubic as ``data/paired.py`` does (the
reference's ``Resize([L, L], BICUBIC)``), after an optional centre crop to a
square (``data.center_crop``: aligned CelebA faces are 89x109, and
squashing them would stretch every face).

Kinds (``config.data.source``):

  'digits_colour'          the offline default: A = scikit-learn's digits
                           (grey, white ink on black), B = ``colour_digits``
                           of *other* digits (dark blue ink on yellow); the
                           two halves of the digits classifier's training
                           split, so no digit appears in both domains. Its
                           test pairs are (digit, colour_digits(digit)) of
                           the held-out digits: the known answer.
  'unpaired:PATH'          the reference's layout: PATH/trainA, PATH/trainB
                           (and PATH/testA, PATH/testB for evaluation).
  'unpaired:PATH_A,PATH_B' two folders, every image of each (at any depth)
                           a training image of its domain, unless
                           ``data.eval_holdout`` keeps the last N (by name)
                           of each for evaluation.
  'paired:...'             any ``data/paired.py`` source with its pairs
                           broken: A and B are drawn as two independent
                           parts, so training never sees them as pairs
                           (CycleGAN's facades comparison); its test pairs
                           stay paired for evaluation.

``make_eval_domains`` returns the evaluation images: a dict with 'input'
(A) and 'image' (B) and ``paired`` telling whether image i of A and of B
belong together (then paired metrics apply), else only distribution scores
(FID) do.

Bad input: an empty domain, or one without a usable image, is one error
naming its folder; undecodable files are skipped and counted in one warning
per domain; images whose channels differ from the configured ones are
converted and counted in one warning per domain.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from PIL import Image

from gan_jax.data import paired, sources
from gan_jax.data.sources import DataError

SOURCES = ("'digits_colour', 'unpaired:PATH' (PATH/trainA, PATH/trainB), "
           "'unpaired:PATH_A,PATH_B' (two folders) or a Pix2Pix source "
           "('paired:...', 'digits_edges': its pairs broken)")
SPLITS = ('train', 'test')
_DIGITS_SIZE = 32
# colour_digits: the background and ink colours B paints with.
BACKGROUND = np.array([240.0, 200.0, 60.0])  # yellow
INK = np.array([30.0, 60.0, 160.0])  # dark blue
_DOMAIN_DIRS = {'train': ('trainA', 'trainB'), 'test': ('testA', 'testB')}


def is_spec(spec: str) -> bool:
  """Whether ``spec`` is one of ``SOURCES`` (by its form; folders are checked
  when read)."""
  if not isinstance(spec, str):
    return False
  if spec in ('digits_colour', 'digits_edges'):
    return True
  for prefix in ('unpaired:', 'paired:'):
    if spec.startswith(prefix) and len(spec) > len(prefix):
      return True
  return False


def colour_digits(grey: np.ndarray) -> np.ndarray:
  """The digits task's known mapping A -> B: uint8 grey (..., 1) with
  intensity x -> uint8 RGB (..., 3) = round(BACKGROUND (1 - x) + INK x),
  x = grey / 255: white-on-black digits become dark blue on yellow. It is
  invertible (each channel is affine in x with a non-zero slope; after the
  uint8 rounding, ``uncolour_digits`` recovers x to +-1 grey level) and
  changes both colour and polarity."""
  x = np.asarray(grey, np.float64)[..., :1] / 255.0
  rgb = BACKGROUND * (1.0 - x) + INK * x
  return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def uncolour_digits(rgb: np.ndarray) -> np.ndarray:
  """The inverse of ``colour_digits`` (least squares over the channels):
  uint8 RGB (..., 3) -> uint8 grey (..., 1)."""
  slope = INK - BACKGROUND
  x = ((np.asarray(rgb, np.float64) - BACKGROUND) @ slope) / (slope @ slope)
  return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)[..., None]


def _field_source(name: str, field: str, images: np.ndarray
                  ) -> sources.Source:
  return sources.Source(
      name, len(images), {field: (images.shape[1:], np.dtype(np.uint8))},
      lambda i: {field: images[i]})


def _digits(split: str, load_size: int, channels: tuple[int, int]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
  """(A images, B images, labels of test pairs or None) of 'digits_colour'."""
  source = sources.digits_source(_DIGITS_SIZE, 1, labels=True)
  examples = source.load(np.arange(source.num_examples))
  digits, labels = examples['image'], examples['label']
  train, held_out = sources.digits_split(len(digits))
  if split == 'train':
    a_indices, b_indices = train[0::2], train[1::2]
  else:
    a_indices = b_indices = held_out

  def render(images: np.ndarray, want: int) -> np.ndarray:
    out = []
    for image in images:
      mode = 'L' if image.shape[-1] == 1 else 'RGB'
      pil = Image.fromarray(image[..., 0] if mode == 'L' else image, mode)
      out.append(paired.resized(pil, want, load_size))
    return sources.as_hwc(out, want)

  a = render(digits[a_indices], channels[0])
  b = render(colour_digits(digits[b_indices]), channels[1])
  return a, b, (labels[held_out] if split == 'test' else None)


def _domain_images(folder: str, what: str, load_size: int, channels: int,
                   center_crop: bool, num_threads: int,
                   holdout: int = 0, split: str = 'train') -> np.ndarray:
  """Every usable image below ``folder`` (sorted by path), decoded once,
  squashed to (L, L); the last ``holdout`` are the 'test' split, the rest
  'train'."""
  folder = sources.open_dir(folder, what)
  candidates = sources.list_images(folder)
  if not candidates:
    raise DataError(f'{what} {folder!r} holds no '
                    f'{"/".join(sources.IMAGE_EXTENSIONS)} images')
  checks = sources.check_files(candidates, load_size, num_threads)
  good = [c for c in checks if not c.problem]
  paired.report_undecodable(folder, len(checks) - len(good),
                            len(candidates), 'files that are not usable '
                            'images', checks)
  paired.report_modes(folder, good)
  if not good:
    raise DataError(f'{what} {folder!r} holds no usable image '
                    f'({len(candidates)} files; see the warning above)')
  if holdout:
    if holdout >= len(good):
      raise DataError(f'data.eval_holdout {holdout} leaves no training image '
                      f'of the {len(good)} in {folder!r}')
    good = good[-holdout:] if split == 'test' else good[:-holdout]
  wrong_channels = []

  def load(check) -> Image.Image:
    def use(image):
      image = sources.normalise_mode(image)
      if (image.mode == 'L') != (channels == 1):
        wrong_channels.append(check.path)
      if center_crop and image.size[0] != image.size[1]:
        side = min(image.size)
        left = (image.size[0] - side) // 2
        top = (image.size[1] - side) // 2
        image = image.crop((left, top, left + side, top + side))
      return paired.resized(image, channels, load_size)
    return paired.decode(check.path, use)

  images = sources.as_hwc([load(c) for c in good], channels)
  if wrong_channels:
    logging.warning('Converted %d of %d images of %s to %d channel%s (the '
                    'configured channels of this domain): %s',
                    len(wrong_channels), len(good), folder, channels,
                    '' if channels == 1 else 's',
                    sources.first_few(wrong_channels))
  return images


def _folders(spec: str, split: str, holdout: int) -> tuple[str, str, int]:
  """(folder of A, folder of B, holdout) for an 'unpaired:' spec."""
  rest = spec[len('unpaired:'):]
  folders = [os.path.expanduser(p.strip()) for p in rest.split(',')]
  if len(folders) > 2 or not all(folders):
    raise DataError(f"data.source {spec!r}: write 'unpaired:PATH' (with "
                    "trainA/ and trainB/) or 'unpaired:PATH_A,PATH_B'")
  if len(folders) == 2:
    if split == 'test' and not holdout:
      raise DataError(f'data.source {spec!r} is two folders of training '
                      'images and implies no test images: set '
                      'data.eval_holdout or data.eval_source')
    return folders[0], folders[1], holdout
  root = sources.open_dir(folders[0], 'data.source unpaired folder')
  dir_a, dir_b = _DOMAIN_DIRS[split]
  missing = [d for d in (dir_a, dir_b)
             if not os.path.isdir(os.path.join(root, d))]
  if missing:
    raise DataError(f'data.source {spec!r}: folder {root!r} has no '
                    f'{" or ".join(m + "/" for m in missing)} (the '
                    f"reference's layout: trainA/ trainB/ testA/ testB/)")
  return os.path.join(root, dir_a), os.path.join(root, dir_b), 0


def has_eval_split(spec: str, holdout: int) -> bool:
  """Whether ``spec`` implies evaluation images (test split or holdout)."""
  if spec in ('digits_colour', 'digits_edges') or holdout:
    return True
  if spec.startswith('paired:'):
    return paired.eval_spec(spec) is not None
  rest = spec[len('unpaired:'):]
  if ',' in rest:
    return False
  root = os.path.expanduser(rest.strip())
  return all(os.path.isdir(os.path.join(root, d)) for d in _DOMAIN_DIRS['test'])


def load_domains(spec: str, split: str, load_size: int,
                 channels: tuple[int, int], *, center_crop: bool = False,
                 holdout: int = 0, direction: str = 'AtoB',
                 num_threads: int = 8) -> tuple[dict[str, np.ndarray], bool]:
  """({'input': A images, 'image': B images[, 'label']}, paired) of a split.

  ``paired`` is True where A[i] and B[i] belong together (digits, a paired
  source): the evaluation's paired metrics apply.
  """
  if not is_spec(spec):
    raise DataError(f'data.source must be {SOURCES}, got {spec!r}')
  if split not in SPLITS:
    raise DataError(f'split must be one of {SPLITS}, got {split!r}')
  if spec == 'digits_colour':
    a, b, labels = _digits(split, load_size, channels)
    out = {'input': a, 'image': b}
    if labels is not None:
      out['label'] = labels
    return out, split == 'test'
  if spec.startswith('paired:') or spec == 'digits_edges':
    source = paired.make_paired_source(spec, split, load_size, channels[0],
                                       channels[1], direction, num_threads)
    return source.load(np.arange(source.num_examples)), True
  folder_a, folder_b, holdout = _folders(spec, split, holdout)
  a = _domain_images(folder_a, 'data.source domain A folder', load_size,
                     channels[0], center_crop, num_threads, holdout, split)
  b = _domain_images(folder_b, 'data.source domain B folder', load_size,
                     channels[1], center_crop, num_threads, holdout, split)
  return {'input': a, 'image': b}, False


def make_unpaired_source(spec: str, load_size: int,
                         channels: tuple[int, int], *,
                         center_crop: bool = False, holdout: int = 0,
                         direction: str = 'AtoB',
                         num_threads: int = 8) -> sources.Source:
  """The training source of ``spec`` (one of ``SOURCES``): domains A
  ('input') and B ('image') as independent parts, decoded once up front."""
  domains, _ = load_domains(spec, 'train', load_size, channels,
                            center_crop=center_crop, holdout=holdout,
                            direction=direction, num_threads=num_threads)
  name = f'{spec}[train]'
  part_a = _field_source(f'{name} A', 'input', domains['input'])
  part_b = _field_source(f'{name} B', 'image', domains['image'])
  features = {**part_a.features, **part_b.features}

  def load(indices: np.ndarray) -> dict[str, np.ndarray]:
    # Not used for training (the parts are); for inspection: example i of
    # each domain, wrapping the smaller one.
    indices = np.asarray(indices)
    return {'input': domains['input'][indices % part_a.num_examples],
            'image': domains['image'][indices % part_b.num_examples]}

  return sources.Source(name, max(part_a.num_examples, part_b.num_examples),
                        features, load, parts=(part_a, part_b))
