"""Paired data for image-to-image translation (pix2pix): (input, target) images.

A paired source is a ``sources.Source`` whose ``load(indices)`` returns

  'input'  uint8 (n, L, L, Ca): A, what the translator is given;
  'image'  uint8 (n, L, L, Cb): B, what it should produce (the field name
           every source shares, so the rest of the pipeline treats it as the
           real image);
  'label'  int32 (n,): the digit, for 'digits_edges' only.

L is ``load_size``. Every image is converted (``sources.normalise_mode``,
then to 1 or 3 channels) and resized to (L, L) with bicubic filtering,
squashing its aspect ratio as the reference pix2pix code does (torchvision's
``Resize([L, L], BICUBIC)``), not centre-cropping like ``sources``. Files are
decoded at full resolution before resizing (no JPEG draft mode), also as the
reference does.

Kinds (``config.data.source``):

  'digits_edges'          the offline default: pix2pix's edges2X recipe on
                          scikit-learn's digits (A = the digit's edge map,
                          B = the digit), split as the digits classifier
                          splits them.
  'paired:PATH'           pix2pix's aligned format: each file holds A on its
                          left half and B on its right half.
  'paired:PATH_A,PATH_B'  two folders of aligned images, matched by name.

Folders with a train/ subfolder (pix2pix's datasets layout, e.g. facades'
train/ val/ test/) give split 'train' from train/ and split 'test' from test/,
or val/ if there is no test/. Without train/, the folder itself is the
training set and there is no implied test set (``eval_spec`` is None).

Every file is decoded once up front, so bad files are skipped and counted
(one warning per kind of problem) before training instead of stopping it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Callable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from gan_jax.data import sources
from gan_jax.data.sources import DataError

KINDS = ('digits_edges', 'paired:')
SOURCES = ("'digits_edges' or 'paired:PATH' (pix2pix's AB files) or "
           "'paired:PATH_A,PATH_B' (two folders, matched by name)")
DIRECTIONS = ('AtoB', 'BtoA')
SPLITS = ('train', 'test')

_DIGITS_SIZE = 32  # the digits are drawn at this size, then resized
_TRAIN_DIR = 'train'
_TEST_DIRS = ('test', 'val')  # the first that exists is the 'test' split
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError,
                  Image.DecompressionBombError)


@dataclasses.dataclass(frozen=True)
class _Spec:
  """A parsed ``config.data.source``: 'digits_edges' or one or two folders."""
  kind: str  # 'digits_edges', 'ab' (one folder of AB files) or 'pair'
  folders: tuple[str, ...] = ()  # as written, '~' expanded


def _parse(spec: str) -> _Spec:
  """``config.data.source`` -> _Spec; anything else is a DataError."""
  if spec == 'digits_edges':
    return _Spec('digits_edges')
  if not isinstance(spec, str) or not spec.startswith('paired:'):
    raise DataError(f'data.source must be {SOURCES}, got {spec!r}')
  rest = spec[len('paired:'):]
  folders = tuple(os.path.expanduser(p.strip()) for p in rest.split(','))
  if len(folders) > 2:
    raise DataError(f'data.source {spec!r} names {len(folders)} folders; '
                    "write 'paired:PATH' or 'paired:PATH_A,PATH_B'")
  if not all(folders):
    raise DataError(f'data.source {spec!r} has an empty folder path; write '
                    "'paired:PATH' or 'paired:PATH_A,PATH_B'")
  return _Spec('ab' if len(folders) == 1 else 'pair', folders)


def _has_train_dir(folder: str) -> bool:
  return os.path.isdir(os.path.join(folder, _TRAIN_DIR))


def _has_split_layout(parsed: _Spec) -> bool:
  """Whether every folder of ``parsed`` has a train/ subfolder."""
  return bool(parsed.folders) and all(_has_train_dir(f)
                                      for f in parsed.folders)


def eval_spec(spec: str) -> str | None:
  """The spec of the evaluation pairs implied by a training spec, or None if
  it implies none.

  'digits_edges' has its held-out digits; a folder spec implies a test set
  only in the train/ + test/ (or val/) layout, where ``make_paired_source``
  with split 'test' reads it. A folder without train/ is all training data.
  """
  parsed = _parse(spec)
  if parsed.kind == 'digits_edges':
    return spec
  return spec if _has_split_layout(parsed) else None


def _split_folder(folder: str, split: str, spec: str) -> str:
  """The folder holding ``split`` of ``folder`` (see the module docstring)."""
  folder = sources.open_dir(folder, 'data.source paired folder')
  if not _has_train_dir(folder):
    if split == 'train':
      return folder
    raise DataError(f'data.source {spec!r}: folder {folder!r} has no '
                    f'{_TRAIN_DIR}/ subfolder, so it is all training data and '
                    f'has no {split!r} split (use the {_TRAIN_DIR}/ and '
                    f'{"/ or ".join(_TEST_DIRS)}/ layout for one)')
  if split == 'train':
    return sources.open_dir(os.path.join(folder, _TRAIN_DIR),
                             'data.source paired folder')
  for name in _TEST_DIRS:
    path = os.path.join(folder, name)
    if os.path.isdir(path):
      return sources.open_dir(path, 'data.source paired folder')
  raise DataError(f'data.source {spec!r}: folder {folder!r} has a '
                  f'{_TRAIN_DIR}/ subfolder but neither '
                  f'{" nor ".join(os.path.join(folder, n) for n in _TEST_DIRS)}'
                  f' for the {split!r} split')


def _check_channels(field: str, channels: int) -> None:
  if channels not in (1, 3):
    raise DataError(f'{field} must be 1 or 3, got {channels!r}')


def make_paired_source(spec: str, split: str, load_size: int,
                       input_channels: int, target_channels: int,
                       direction: str = 'AtoB',
                       num_threads: int = 8) -> sources.Source:
  """Parses ``config.data.source`` (one of ``SOURCES``) into a paired source.

  Args:
    spec: 'digits_edges', 'paired:PATH' or 'paired:PATH_A,PATH_B'.
    split: 'train' or 'test' (see the module docstring for the folders).
    load_size: L, the side every image is resized to.
    input_channels: channels of 'input' (1 or 3; 3 replicates grey).
    target_channels: channels of 'image' (1 or 3).
    direction: 'AtoB' ('input' = A) or 'BtoA' ('input' = B, 'image' = A);
      facades' labels -> photo task is BtoA.
    num_threads: threads for the up-front decode of every file.

  Returns:
    A ``sources.Source`` named e.g. 'paired:/data/facades[train]', examples
    ordered by file name.

  Raises:
    DataError: naming the field, folder or file that cannot be used.
  """
  parsed = _parse(spec)
  if direction not in DIRECTIONS:
    raise DataError(f'data.direction must be one of {", ".join(DIRECTIONS)}, '
                    f'got {direction!r}')
  if split not in SPLITS:
    raise DataError(f'split must be one of {", ".join(SPLITS)}, got {split!r}')
  if not isinstance(load_size, (int, np.integer)) or load_size < 1:
    raise DataError(f'load_size must be a positive integer, got {load_size!r}')
  _check_channels('input_channels', input_channels)
  _check_channels('target_channels', target_channels)
  swap = direction == 'BtoA'
  num_threads = max(1, int(num_threads))
  if parsed.kind == 'digits_edges':
    return _digits_edges_source(split, load_size, input_channels,
                                target_channels, swap)
  folders = [_split_folder(f, split, spec) for f in parsed.folders]
  if parsed.kind == 'pair':
    with_train = [f for f in parsed.folders if _has_train_dir(f)]
    if len(with_train) == 1:
      logging.warning('data.source %r: only %s has a %s/ subfolder, so both '
                      'folders are read whole (give both the %s/ layout to '
                      'split them)', spec, with_train[0], _TRAIN_DIR,
                      _TRAIN_DIR)
  name = f"paired:{','.join(parsed.folders)}[{split}]"
  channels = (input_channels, target_channels)
  if parsed.kind == 'ab':
    return _ab_source(name, folders[0], load_size, channels, swap, num_threads)
  return _pair_source(name, folders[0], folders[1], load_size, channels, swap,
                      num_threads)


def resized(image: Image.Image, channels: int, load_size: int) -> Image.Image:
  """Mode-normalised, ``channels``-channel, squashed to (L, L) bicubic."""
  image = sources.to_channels(sources.normalise_mode(image), channels)
  if image.size == (load_size, load_size):
    return image
  return image.resize((load_size, load_size), Image.Resampling.BICUBIC)


def decode(path: str, use: Callable[[Image.Image], tuple]) -> tuple:
  """Opens ``path`` at full resolution and returns ``use(image)``; a failure
  is a DataError naming the file (the up-front check decoded it, so only a
  file changed since then fails here: never skip it silently, that would
  shift every later batch of the run)."""
  try:
    with Image.open(path) as image:
      image.load()
      return use(image)
  except _DECODE_ERRORS as e:
    raise DataError(f'cannot decode image {path} (it decoded when the run '
                    f'started): {e}') from e


def _features(load_size: int, channels: tuple[int, int]) -> sources.Features:
  return {'input': ((load_size, load_size, channels[0]), np.dtype(np.uint8)),
          'image': ((load_size, load_size, channels[1]), np.dtype(np.uint8))}


def _size_text(size: tuple[int, int]) -> str:
  return f'{size[0]}x{size[1]}'


def report_undecodable(where: str, bad: int, total: int, unit: str,
                       checks: Sequence[sources.FileCheck]) -> None:
  """One counted warning: ``bad`` of ``total`` ``unit`` skipped for the
  undecodable files among ``checks`` (empty, not an image, truncated)."""
  if bad:
    logging.warning('Skipped %d of %d %s (in %s): %s', bad, total, unit,
                    where,
                    sources.first_few([f'{c.path} ({c.problem})'
                                       for c in checks if c.problem]))


def report_modes(where: str, checks: Sequence[sources.FileCheck]) -> None:
  """One counted warning for files in an unusual mode (16-bit, alpha, CMYK,
  palette, ...), which ``sources.normalise_mode`` converts to 8-bit L or
  RGB. Grey vs colour is the configured channels, asked for, so not
  reported."""
  converted: dict[str, list[str]] = {}
  for c in checks:
    kind = sources.MODE_NAMES.get(c.mode, c.mode)
    if kind and not c.problem:
      converted.setdefault(kind, []).append(c.path)
  if converted:
    logging.warning('Converted %d images of %s to 8-bit grey/RGB: %s',
                    sum(map(len, converted.values())), where,
                    '; '.join(f'{len(paths)} {kind} (e.g. '
                              f'{sources.first_few(paths, 2)})'
                              for kind, paths in sorted(converted.items())))


def _ab_source(name: str, folder: str, load_size: int,
               channels: tuple[int, int], swap: bool,
               num_threads: int) -> sources.Source:
  """pix2pix's aligned format: A = the left half of each file, B = the right
  half (w2 = w // 2, so A = columns [0, w2), B = [w2, 2 * w2))."""
  candidates = sources.list_images(folder)
  checks = sources.check_files(candidates, load_size, num_threads)
  good = [c for c in checks if not c.problem]
  report_undecodable(folder, len(checks) - len(good), len(candidates),
                     'files that are not usable images', checks)
  odd = [c for c in good if c.size[0] % 2]
  if odd:
    logging.warning('Skipped %d of %d files in %s whose width is odd, so they '
                    'cannot be split into two equal halves A|B: %s', len(odd),
                    len(candidates), folder,
                    sources.first_few([f'{c.path} ({_size_text(c.size)})'
                                       for c in odd]))
  good = [c for c in good if not c.size[0] % 2]
  report_modes(folder, good)
  if not good:
    raise DataError(f'data.source folder {folder!r} holds no usable AB image '
                    f'({len(candidates)} {"/".join(sources.IMAGE_EXTENSIONS)}'
                    f' files, {len(odd)} of odd width; see the warnings '
                    'above)')
  paths = tuple(c.path for c in good)
  input_channels, target_channels = channels

  def halves(image: Image.Image) -> tuple[Image.Image, Image.Image]:
    image = sources.normalise_mode(image)
    w2, h = image.size[0] // 2, image.size[1]
    a = image.crop((0, 0, w2, h))
    b = image.crop((w2, 0, 2 * w2, h))
    first, second = (b, a) if swap else (a, b)
    return (resized(first, input_channels, load_size),
            resized(second, target_channels, load_size))

  def load(indices: np.ndarray) -> dict[str, np.ndarray]:
    pairs = [decode(paths[i], halves) for i in indices]
    return {'input': sources.as_hwc([p[0] for p in pairs], input_channels),
            'image': sources.as_hwc([p[1] for p in pairs], target_channels)}

  return sources.Source(name, len(paths), _features(load_size, channels), load)


def _stems(folder: str) -> tuple[dict[str, str], list[str]]:
  """({name relative to ``folder`` without extension: path}, names that
  several files share, e.g. x.jpg and x.png, so neither can be paired)."""
  found: dict[str, list[str]] = {}
  for path in sources.list_images(folder):
    stem = os.path.splitext(os.path.relpath(path, folder))[0]
    found.setdefault(stem, []).append(path)
  unique = {stem: paths[0] for stem, paths in found.items() if len(paths) == 1}
  return unique, sorted(stem for stem, paths in found.items()
                        if len(paths) > 1)


def _pair_source(name: str, folder_a: str, folder_b: str, load_size: int,
                 channels: tuple[int, int], swap: bool,
                 num_threads: int) -> sources.Source:
  """A in ``folder_a``, B in ``folder_b``, paired by name relative to the
  folder without extension (a.jpg pairs with a.png; subfolders allowed)."""
  where = f'{folder_a} / {folder_b}'
  files_a, repeated_a = _stems(folder_a)
  files_b, repeated_b = _stems(folder_b)
  repeated = sorted(set(repeated_a) | set(repeated_b))
  if repeated:
    logging.warning('Skipped %d names in %s that several files share (e.g. '
                    'x.jpg and x.png), so which to pair is ambiguous: %s',
                    len(repeated), where, sources.first_few(repeated))
    for stem in repeated:
      files_a.pop(stem, None)
      files_b.pop(stem, None)
  stems = sorted(set(files_a) & set(files_b))
  only_a = sorted(set(files_a) - set(files_b))
  only_b = sorted(set(files_b) - set(files_a))
  if not stems:
    examples_a = sources.first_few(sorted(files_a)) or 'none'
    examples_b = sources.first_few(sorted(files_b)) or 'none'
    raise DataError(
        f'data.source folders {folder_a!r} and {folder_b!r} have no image '
        f'names in common (A and B are paired by name without extension): '
        f'{len(files_a)} in A (e.g. {examples_a}), {len(files_b)} in B (e.g. '
        f'{examples_b})')
  if only_a or only_b:
    logging.warning('Skipped %d images in %s with no file of the same name in '
                    'the other folder: %d only in A (%s), %d only in B (%s)',
                    len(only_a) + len(only_b), where, len(only_a),
                    sources.first_few(only_a) or 'none', len(only_b),
                    sources.first_few(only_b) or 'none')
  paths_a = [files_a[s] for s in stems]
  paths_b = [files_b[s] for s in stems]
  checks = sources.check_files(paths_a + paths_b, load_size, num_threads)
  checks_a, checks_b = checks[:len(stems)], checks[len(stems):]
  decoded = [not (a.problem or b.problem) for a, b in zip(checks_a, checks_b)]
  report_undecodable(where, decoded.count(False), len(stems),
                     'pairs with a file that is not a usable image', checks)
  mismatched = [f'{s} (A {_size_text(a.size)}, B {_size_text(b.size)})'
                for s, a, b, ok in zip(stems, checks_a, checks_b, decoded)
                if ok and a.size != b.size]
  if mismatched:
    logging.warning('Skipped %d of %d pairs in %s whose A and B differ in '
                    'size, so they cannot be pixel-aligned: %s',
                    len(mismatched), len(stems), where,
                    sources.first_few(mismatched))
  keep = [ok and a.size == b.size
          for a, b, ok in zip(checks_a, checks_b, decoded)]
  report_modes(where, [c for c, k in zip(checks_a + checks_b, keep + keep)
                       if k])
  pairs = tuple((a, b) for a, b, k in zip(paths_a, paths_b, keep) if k)
  if not pairs:
    raise DataError(f'data.source folders {folder_a!r} and {folder_b!r} hold '
                    f'no usable pair ({len(stems)} matched names; see the '
                    'warnings above)')
  input_channels, target_channels = channels

  def load(indices: np.ndarray) -> dict[str, np.ndarray]:
    inputs, targets = [], []
    for i in indices:
      path_a, path_b = pairs[i]
      a = decode(path_a, lambda image: (image.size, resized(
          image, target_channels if swap else input_channels, load_size)))
      b = decode(path_b, lambda image: (image.size, resized(
          image, input_channels if swap else target_channels, load_size)))
      if a[0] != b[0]:
        raise DataError(f'images {path_a} ({_size_text(a[0])}) and {path_b} '
                        f'({_size_text(b[0])}) differ in size (they matched '
                        'when the run started)')
      first, second = (b[1], a[1]) if swap else (a[1], b[1])
      inputs.append(first)
      targets.append(second)
    return {'input': sources.as_hwc(inputs, input_channels),
            'image': sources.as_hwc(targets, target_channels)}

  return sources.Source(name, len(pairs), _features(load_size, channels), load)


def digits_edges(image_size: int = _DIGITS_SIZE
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """pix2pix's edges2X recipe on scikit-learn's 1,797 digits.

  The digits are drawn as ``sources.digits_source`` draws them (S x S grey,
  white strokes on black), thresholded at 128 to a mask; the edge map is the
  mask's inner boundary (mask pixels with a 4-neighbour outside the mask, the
  border counting as outside), 255 on 0.

  Returns:
    (edge maps uint8 (1797, S, S, 1), digits uint8 (1797, S, S, 1),
    labels int32 (1797,)).
  """
  source = sources.digits_source(image_size, 1, labels=True)
  examples = source.load(np.arange(source.num_examples))
  digits, labels = examples['image'], examples['label']
  mask = digits[..., 0] >= 128
  padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)), constant_values=False)
  interior = (padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1]
              & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:])
  edges = np.where(mask & ~interior, 255, 0).astype(np.uint8)[..., None]
  return edges, digits, labels


def _digits_edges_source(split: str, load_size: int, input_channels: int,
                         target_channels: int,
                         swap: bool) -> sources.Source:
  """'digits_edges': the digits classifier's split (its training digits for
  'train', its held-out ones for 'test'), so the translator is never scored
  on digits it, or the classifier judging it, trained on."""
  edges, digits, labels = digits_edges(_DIGITS_SIZE)
  train_indices, held_out_indices = sources.digits_split(len(digits))
  indices = train_indices if split == 'train' else held_out_indices
  first, second = (digits, edges) if swap else (edges, digits)

  def render(pixels: np.ndarray, channels: int) -> np.ndarray:
    return sources.as_hwc([
        resized(Image.fromarray(pixels[i, ..., 0], 'L'), channels, load_size)
        for i in indices], channels)

  inputs = render(first, input_channels)
  targets = render(second, target_channels)
  split_labels = labels[indices]
  features = {**_features(load_size, (input_channels, target_channels)),
              'label': ((), np.dtype(np.int32))}
  return sources.Source(
      f'digits_edges[{split}]', len(indices), features,
      lambda i: {'input': inputs[i], 'image': targets[i],
                 'label': split_labels[i]},
      class_names=tuple(str(d) for d in range(10)))
