"""Training data sources: random-access examples as dicts of arrays.

This file holds the sources; ``order.py`` holds the deterministic, resumable
batch order (``train_batches``) built on them.

Every source is random access: ``num_examples`` and ``load(indices)`` -> a
dict of arrays with one row per index. ``features`` names each field's
per-example shape and dtype:

  'image'       uint8 (S, S, C), always; scaling to [-1, 1] happens on the
                device (``step.to_model_range``), so the host ships 4x fewer
                bytes.
  'label'       int32 (), a class index into ``class_names``; only when asked
                for (``labels=True``).
  'attributes'  float32 (A,), 0 or 1 per name of ``attribute_names``; only
                when asked for (``attributes=(names...)``).

Kinds (``config.data.source``):

  'digits'             scikit-learn's 1,797 handwritten digits; labels 0..9.
  'digits[train]'      their 1,438 training digits, or 'digits[test]' the 359
                       held out (``digits_split``: the split the project's
                       digits classifier and translation tasks use).
  'folder:PATH'        every JPEG/PNG below PATH (recursively); with labels,
                       one subfolder of PATH per class.
  'tfds:NAME[SPLIT]'   a prepared TFDS dataset's 'image' (and 'label').
  'attributes:PATH'    CelebA's layout: images in PATH or PATH/img_align_celeba/
                       and their binary attributes in PATH/list_attr_celeba.txt.

Asking a kind for a field it cannot give is a ``DataError`` naming
``data.source``; so is every unusable source, with the file or folder named.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import random
import warnings
from typing import Callable, Mapping, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gan_jax.core import errors

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
ATTRIBUTE_FILE = 'list_attr_celeba.txt'
ATTRIBUTE_IMAGE_DIR = 'img_align_celeba'

Features = Mapping[str, tuple[tuple[int, ...], np.dtype]]


class DataError(errors.UserError, ValueError):
  """A data source that cannot be used; the message names the source or file."""


@dataclasses.dataclass(frozen=True)
class Source:
  """Random-access examples: ``load(indices)`` -> {field: (n, *shape) array}.

  ``features`` maps each field ``load`` returns to its per-example (shape,
  dtype); 'image' is always there, uint8 (size, size, channels).

  An unpaired source (``data/unpaired.py``: two domains, no pairs) sets
  ``parts``: sources of disjoint fields that training draws in independent
  orders (``order.train_batches``); its ``num_examples`` is the epoch's
  length and its ``load`` is not used for training.
  """
  name: str
  num_examples: int
  features: Features
  load: Callable[[np.ndarray], dict[str, np.ndarray]]
  class_names: tuple[str, ...] = ()  # 'label' indexes these
  attribute_names: tuple[str, ...] = ()  # the columns of 'attributes'
  parts: tuple['Source', ...] = ()  # drawn independently (see above)
  file_names: tuple[str, ...] = ()  # example i's file, where one exists

  @property
  def image_shape(self) -> tuple[int, ...]:
    return self.features['image'][0]

  @property
  def num_classes(self) -> int:
    return len(self.class_names)


SOURCES = ("'digits[SPLIT]' (SPLIT train or test; none: all), 'folder:PATH', "
           "'tfds:NAME[SPLIT]' or 'attributes:PATH'")
KINDS = ('digits', 'folder:', 'tfds:', 'attributes:')
_LABEL_SOURCES = ("'digits', 'folder:PATH' (one subfolder per class) or "
                  "'tfds:NAME[SPLIT]'")


def _image_feature(image_size: int, channels: int) -> Features:
  return {'image': ((image_size, image_size, channels), np.dtype(np.uint8))}


_LABEL_FEATURE = {'label': ((), np.dtype(np.int32))}


def kind_of(source: str) -> str | None:
  """Which of ``KINDS`` ``config.data.source`` is ('folder:' for
  'folder:PATH', 'digits' for 'digits[test]'), or None."""
  if source in ('digits',) + tuple(f'digits[{s}]' for s in DIGITS_SPLITS):
    return 'digits'
  return next((k for k in KINDS
               if k.endswith(':') and source.startswith(k)), None)


# The held-out share of the digits and the seed of their split: one split for
# the whole project (the digits classifier learns on its training part, and
# every task scored on held-out digits holds out the same ones).
DIGITS_SPLITS = ('train', 'test')
_DIGITS_TEST_FRACTION = 0.2
_DIGITS_SPLIT_SEED = 0


def digits_split(num: int) -> tuple[np.ndarray, np.ndarray]:
  """(training indices, held-out indices) of ``num`` digits: the project's
  one split of the digits, used by every digits task and the classifier."""
  order = np.random.default_rng(_DIGITS_SPLIT_SEED).permutation(num)
  held_out = int(num * _DIGITS_TEST_FRACTION)
  return order[held_out:], order[:held_out]


def make_source(source: str, image_size: int, channels: int,
                tfds_dir: str = '', *, labels: bool = False,
                attributes: Sequence[str] | str = ()) -> Source:
  """Parses ``config.data.source`` (one of ``SOURCES``).

  ``labels``: also load 'label' (class index). ``attributes``: names (or one
  comma-separated string) of the binary attributes to load as 'attributes',
  in that order; only 'attributes:PATH' sources have them.
  """
  if channels not in (1, 3):
    raise DataError(f'channels must be 1 or 3, got {channels}')
  if isinstance(attributes, str):
    attributes = [a.strip() for a in attributes.split(',') if a.strip()]
  attributes = tuple(attributes)
  kind = kind_of(source)
  if kind is None:
    raise DataError(f'data.source must be {SOURCES}, got {source!r}')
  if attributes and kind != 'attributes:':
    raise DataError(f'data.source {source!r} has no attributes (asked for '
                    f'{", ".join(attributes)}); only \'attributes:PATH\' '
                    'sources do')
  if labels and kind == 'attributes:':
    raise DataError(f'data.source {source!r} has no class labels; labels '
                    f'come from {_LABEL_SOURCES}')
  rest = source[len(kind):]
  if kind == 'digits':
    return digits_source(image_size, channels, labels=labels,
                         split=source[len('digits['):-1] or 'all')
  if kind == 'folder:':
    return folder_source(rest, image_size, channels, labels=labels)
  if kind == 'tfds:':
    return tfds_source(rest, image_size, channels, tfds_dir, labels=labels)
  return attributes_source(rest, image_size, channels, attributes)


def to_channels(image: Image.Image, channels: int) -> Image.Image:
  """An 'L' or 'RGB' image as 1 or 3 channels."""
  return image.convert('L' if channels == 1 else 'RGB')


RESAMPLING = {'bicubic': Image.Resampling.BICUBIC,
              'bilinear': Image.Resampling.BILINEAR}


def _fit(image: Image.Image, image_size: int,
         resample: str = 'bicubic') -> Image.Image:
  """Centre-crop the longer side to a square and resize it to image_size
  (PIL's ``resample`` filter, antialiased when shrinking)."""
  return ImageOps.fit(image, (image_size, image_size),
                      method=RESAMPLING[resample])


def as_hwc(images: Sequence[Image.Image], channels: int) -> np.ndarray:
  """Same-size PIL images -> uint8 (n, H, W, channels)."""
  array = np.stack([np.asarray(image, dtype=np.uint8) for image in images])
  return array.reshape(*array.shape[:3], channels)


def digits_source(image_size: int, channels: int, *,
                  labels: bool = False, split: str = 'all') -> Source:
  """scikit-learn's bundled 1,797 handwritten digits (8x8, 17 grey levels);
  with ``labels``, 'label' is the digit (scikit-learn's ``target``).
  ``split`` 'train' or 'test' keeps that part of ``digits_split`` (in the
  split's order); 'all' keeps every digit."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  rows = np.arange(len(digits.images))
  if split != 'all':
    if split not in DIGITS_SPLITS:
      raise DataError(f"digits split must be one of {DIGITS_SPLITS}, got "
                      f'{split!r}')
    rows = digits_split(len(rows))[DIGITS_SPLITS.index(split)]
  name = 'digits' if split == 'all' else f'digits[{split}]'
  pixels = np.round(digits.images[rows] * (255.0 / 16.0)).astype(np.uint8)
  images = as_hwc([
      to_channels(_fit(Image.fromarray(p, mode='L'), image_size), channels)
      for p in pixels], channels)
  features = dict(_image_feature(image_size, channels))
  if not labels:
    return Source(name, len(images), features,
                  lambda indices: {'image': images[indices]})
  targets = digits.target[rows].astype(np.int32)
  return Source(name, len(images), {**features, **_LABEL_FEATURE},
                lambda indices: {'image': images[indices],
                                 'label': targets[indices]},
                class_names=tuple(str(d) for d in range(10)))


def list_images(root: str) -> list[str]:
  """Every file below ``root`` (links followed) with an image extension,
  in sorted order."""
  paths = []
  for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
    dirnames.sort()
    paths.extend(os.path.join(dirpath, name) for name in sorted(filenames)
                 if name.lower().endswith(IMAGE_EXTENSIONS))
  return paths


def open_reduced(path: str, image_size: int) -> Image.Image:
  """Opens and decodes ``path``; a JPEG decodes at the smallest DCT scale
  (1/2 .. 1/8) that keeps both sides >= image_size, so a huge photo never
  becomes a huge bitmap."""
  with warnings.catch_warnings():
    # Large files are fine here (draft keeps them small); PIL still raises
    # DecompressionBombError past twice its limit, and that file is skipped.
    warnings.simplefilter('ignore', Image.DecompressionBombWarning)
    image = Image.open(path)
    try:
      image.draft(image.mode, (image_size, image_size))
      image.load()
    except BaseException:
      image.close()
      raise
  return image


def normalise_mode(image: Image.Image) -> Image.Image:
  """Any PIL mode -> 'L' or 'RGB' with 8-bit values that mean what they say.

  16/32-bit greys are rescaled (a plain convert('L') clips them to white),
  transparency is composited onto white (dropping alpha would expose
  whatever colour hides under transparent pixels), CMYK, palette, 1-bit and
  the rest go through PIL's conversion.
  """
  if image.mode in ('L', 'RGB'):
    return image
  if image.mode in ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F'):
    values = np.asarray(image, np.float64)
    if image.mode.startswith('I;16'):
      top = 65535.0
    elif image.mode == 'F' and values.max() <= 1.0:
      top = 1.0
    else:  # 'I' holds 16-bit PNGs, or 8-bit values widened
      top = 255.0 if values.max() <= 255 else 65535.0
    return Image.fromarray(np.round(np.clip(values / top, 0, 1) * 255)
                           .astype(np.uint8), 'L')
  if image.mode in ('RGBA', 'LA', 'PA', 'La', 'RGBa') or (
      image.mode == 'P' and 'transparency' in image.info):
    rgba = image.convert('RGBA')
    white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert('RGB')
  return image.convert('RGB')


@dataclasses.dataclass(frozen=True)
class FileCheck:
  path: str
  problem: str | None = None  # why the file cannot be used
  mode: str = ''
  size: tuple[int, int] = (0, 0)


def _check_file(path: str, image_size: int) -> FileCheck:
  """Decodes ``path`` once (at the reduced JPEG scale) to find every file
  that would fail in the middle of training: empty, not an image, truncated."""
  try:
    if os.path.getsize(path) == 0:
      return FileCheck(path, 'empty file')
    with Image.open(path) as header:
      mode, size = header.mode, header.size
    with open_reduced(path, image_size):
      pass
  except Image.DecompressionBombError as e:
    return FileCheck(path, f'too large to decode safely ({e})')
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    return FileCheck(path, f'{type(e).__name__}: {e}')
  return FileCheck(path, None, mode, size)


MODE_NAMES = {'L': None, 'RGB': None, '1': '1-bit', 'P': 'palette',
              'RGBA': 'RGBA', 'LA': 'grey+alpha', 'CMYK': 'CMYK',
              'I;16': '16-bit', 'I;16B': '16-bit', 'I;16L': '16-bit',
              'I': '32-bit', 'F': 'float'}


def first_few(items: Sequence[str], limit: int = 3) -> str:
  """The first ``limit`` items for a message: 'a, b, c, ...'."""
  return ', '.join(items[:limit]) + (', ...' if len(items) > limit else '')


def _report_folder(root: str, checks: Sequence[FileCheck], image_size: int,
                   channels: int) -> None:
  """One counted warning per kind of problem, with the first few names."""
  bad = [c for c in checks if c.problem]
  if bad:
    logging.warning(
        'Skipped %d of %d files in %s that are not usable images: %s',
        len(bad), len(checks), root,
        first_few([f'{c.path} ({c.problem})' for c in bad]))
  good = [c for c in checks if not c.problem]
  converted: dict[str, list[str]] = {}
  for c in good:
    name = MODE_NAMES.get(c.mode, c.mode)
    if c.mode == 'L' and channels == 3:
      name = 'greyscale'
    if c.mode == 'RGB' and channels == 1:
      name = None  # the configured channels, asked for
    if name:
      converted.setdefault(name, []).append(c.path)
  if converted:
    logging.warning('Converted %d images of %s to %s: %s',
                    sum(map(len, converted.values())), root,
                    'greyscale' if channels == 1 else 'RGB',
                    '; '.join(f'{len(paths)} {kind} (e.g. {first_few(paths, 2)})'
                              for kind, paths in sorted(converted.items())))
  small = [c.path for c in good if min(c.size) < image_size]
  if small:
    logging.warning('Upscaled %d images of %s whose shorter side is under '
                    'image_size %d: %s', len(small), root, image_size,
                    first_few(small))


def open_dir(root: str, what: str = 'data.source folder') -> str:
  """``root`` with ~ expanded; one DataError naming ``what`` if it is not a
  readable folder."""
  root = os.path.expanduser(root)
  if not os.path.isdir(root):
    raise DataError(f'{what} {root!r} does not exist or is not a directory')
  if not os.access(root, os.R_OK | os.X_OK):
    raise DataError(f'{what} {root!r} is not readable')
  return root


def check_files(paths: Sequence[str], image_size: int,
                num_threads: int) -> list[FileCheck]:
  """Opens and decodes every file in ``num_threads`` threads."""
  with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
    return list(pool.map(lambda p: _check_file(p, image_size), paths))


def _decoder(image_size: int, channels: int,
             resample: str = 'bicubic') -> Callable[[str], Image.Image]:
  """path -> the image as training sees it (mode, channels, size)."""

  def decode(path: str) -> Image.Image:
    try:
      with open_reduced(path, image_size) as image:
        image = normalise_mode(image)
        return to_channels(_fit(image, image_size, resample), channels)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
      # Only if the file changed since the check: never skip silently here,
      # that would shift every later batch of the run.
      raise DataError(f'cannot decode image {path} (it decoded when the run '
                      f'started): {e}') from e

  return decode


def _class_folders(root: str) -> tuple[list[str], list[list[str]]]:
  """(class names, candidate image paths of each) of a labelled folder.

  Classes are the sorted subfolders of ``root`` (hidden ones, '.name', are
  not classes); each holds its images at any depth. Images directly in
  ``root`` and class folders without images are one error naming them.
  """
  with os.scandir(root) as entries:
    entries = sorted(entries, key=lambda e: e.name)
  stray = [e.name for e in entries if e.is_file()
           and e.name.lower().endswith(IMAGE_EXTENSIONS)]
  names = [e.name for e in entries
           if e.is_dir() and not e.name.startswith('.')]
  paths = [list_images(os.path.join(root, name)) for name in names]
  problems = []
  if stray:
    problems.append(f'{len(stray)} images lie directly in it, outside any '
                    f'class folder ({first_few(stray)})')
  empty = [name for name, p in zip(names, paths) if not p]
  if empty:
    problems.append(f'{len(empty)} class folders hold no '
                    f'{"/".join(IMAGE_EXTENSIONS)} images ({first_few(empty)})')
  if not names:
    problems.append('it has no class subfolders')
  if problems:
    raise DataError(f'data.source folder {root!r} with labels needs one '
                    f'subfolder of images per class: {"; ".join(problems)}')
  return names, paths


def folder_source(root: str, image_size: int, channels: int,
                  num_threads: int = 8, *, labels: bool = False) -> Source:
  """Every JPEG/PNG below ``root`` (recursively, sorted for a stable order).

  With ``labels``, every subfolder of ``root`` is a class (sorted names;
  'label' is the index) holding its images at any depth; examples are
  ordered by class, then by path.

  Each file is decoded once up front (in ``num_threads`` threads), so a bad
  file is skipped and counted now instead of stopping training later.
  """
  root = open_dir(root)
  if labels:
    class_names, class_paths = _class_folders(root)
  else:
    class_names, class_paths = [], [list_images(root)]
  candidates = [p for paths_ in class_paths for p in paths_]
  checks = check_files(candidates, image_size, num_threads)
  _report_folder(root, checks, image_size, channels)
  usable = {c.path for c in checks if not c.problem}
  if not usable:
    raise DataError(f'data.source folder {root!r} holds no usable '
                    f'{"/".join(IMAGE_EXTENSIONS)} images '
                    f'({len(candidates)} candidate files)')
  class_paths = [[p for p in paths_ if p in usable] for paths_ in class_paths]
  paths = [p for paths_ in class_paths for p in paths_]
  decode = _decoder(image_size, channels)
  features = dict(_image_feature(image_size, channels))

  def load_images(indices: np.ndarray) -> np.ndarray:
    return as_hwc([decode(paths[i]) for i in indices], channels)

  if not labels:
    return Source(f'folder:{root}', len(paths), features,
                  lambda indices: {'image': load_images(indices)},
                  file_names=tuple(os.path.relpath(p, root) for p in paths))
  unusable = [name for name, p in zip(class_names, class_paths) if not p]
  if unusable:
    raise DataError(f'data.source folder {root!r}: {len(unusable)} class '
                    'folders hold no usable images (see the warning above): '
                    f'{first_few(unusable)}')
  targets = np.concatenate([np.full(len(p), label, np.int32)
                            for label, p in enumerate(class_paths)])
  return Source(f'folder:{root}', len(paths), {**features, **_LABEL_FEATURE},
                lambda indices: {'image': load_images(indices),
                                 'label': targets[indices]},
                class_names=tuple(class_names))


def _parse_tfds_spec(spec: str) -> tuple[str, str]:
  """'mnist' -> ('mnist', 'train'); 'celeb_a[test]' -> ('celeb_a', 'test')."""
  name, bracket, split = spec.partition('[')
  if bracket and not split.endswith(']'):
    raise DataError(f"data.source 'tfds:{spec}': write the split as "
                    "tfds:NAME[SPLIT], e.g. tfds:mnist[train]")
  if not name:
    raise DataError("data.source 'tfds:' needs a dataset name, e.g. tfds:mnist")
  return name, split[:-1] if bracket else 'train'


def tfds_source(spec: str, image_size: int, channels: int,
                data_dir: str = '', *, labels: bool = False) -> Source:
  """A prepared TFDS dataset's 'image' feature, random access (ArrayRecord);
  with ``labels``, its 'label' feature too (class names from its ClassLabel).

  ``data_dir`` (config.data.tfds_dir) may be local or gs://; empty means
  TFDS's default ($TFDS_DATA_DIR or ~/tensorflow_datasets). A dataset not yet
  there is downloaded and prepared, which needs TensorFlow
  (pip install 'gan_jax[tfds]').
  """
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise DataError(f"data.source 'tfds:{spec}' needs tensorflow-datasets: "
                    "pip install 'gan_jax[tfds]'") from e
  name, split = _parse_tfds_spec(spec)
  try:
    data = tfds.data_source(name, split=split, data_dir=data_dir or None)
  except Exception as e:  # TFDS raises many types; name the dataset once.
    raise DataError(f"cannot open data.source 'tfds:{spec}' (split {split!r}, "
                    f"data.tfds_dir {data_dir or 'default'!r}): {e}") from e
  features = dict(_image_feature(image_size, channels))
  class_names = ()
  if labels:
    info_features = data.dataset_info.features
    if 'label' not in info_features:
      raise DataError(f"data.source 'tfds:{spec}' has no 'label' feature "
                      f"(it has {', '.join(sorted(info_features.keys()))})")
    class_names = tuple(getattr(info_features['label'], 'names', None) or ())
    features.update(_LABEL_FEATURE)

  def to_image(example) -> Image.Image:
    pixels = np.asarray(example['image'], dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    return to_channels(_fit(image, image_size), channels)

  def load(indices: np.ndarray) -> dict[str, np.ndarray]:
    examples = [data[int(i)] for i in indices]
    batch = {'image': as_hwc([to_image(e) for e in examples], channels)}
    if labels:
      batch['label'] = np.array([e['label'] for e in examples], np.int32)
    return batch

  return Source(f'tfds:{name}[{split}]', len(data), features, load,
                class_names=class_names)


_SIGNS = {'1': True, '+1': True, '-1': False}


@dataclasses.dataclass(frozen=True)
class AttributeTable:
  names: tuple[str, ...]  # every attribute of the file, in its order
  files: tuple[str, ...]  # image file names, in the file's order
  values: np.ndarray  # bool (len(files), len(names)): True where +1


def read_attribute_file(path: str) -> AttributeTable:
  """CelebA's ``list_attr_celeba.txt``: line 1 the number of images, line 2
  the attribute names, then one line per image, ``FILE v1 ... vA`` with each
  value +1 or -1. A malformed line is an error naming the file and line."""
  try:
    with open(path, encoding='utf-8') as f:
      lines = f.read().splitlines()
  except (OSError, UnicodeDecodeError) as e:
    raise DataError(f'cannot read attribute file {path}: {e}') from e

  def malformed(line: int, why: str) -> DataError:
    return DataError(f'malformed attribute file {path}, line {line}: {why}')

  count = lines[0].strip() if lines else ''
  if not count.isdigit():
    raise malformed(1, f'expected the number of images, got {count!r}')
  names = tuple(lines[1].split()) if len(lines) > 1 else ()
  if not names:
    raise malformed(2, 'expected the attribute names')
  repeated = sorted({n for n in names if names.count(n) > 1})
  if repeated:
    raise malformed(2, f'attribute names repeat: {", ".join(repeated)}')
  first_line: dict[str, int] = {}
  rows = []
  for number, line in enumerate(lines[2:], start=3):
    fields = line.split()
    if not fields:
      continue  # blank lines (a trailing newline) carry nothing
    file, signs = fields[0], fields[1:]
    if len(signs) != len(names):
      raise malformed(number, f'{file} has {len(signs)} values for the '
                      f'{len(names)} attributes of line 2')
    try:
      rows.append([_SIGNS[v] for v in signs])
    except KeyError as e:
      raise malformed(number, f'{file}: value {e.args[0]!r} is not +1 or '
                      '-1') from None
    if file in first_line:
      raise malformed(number, f'{file} is listed again (first on line '
                      f'{first_line[file]})')
    first_line[file] = number
  if len(rows) != int(count):
    raise malformed(1, f'says {int(count)} images, the file lists '
                    f'{len(rows)}')
  return AttributeTable(names, tuple(first_line),
                         np.array(rows, bool).reshape(len(rows), len(names)))


# The reference StarGAN's split of CelebA (yunjey/stargan, data_loader.py):
# the attribute file's rows shuffled by Python's random.seed(1234), the first
# 1,999 of them the test set.
SPLIT_SEED = 1234
SPLITS = ('all', 'train', 'test')


def split_rows(num_rows: int, test_count: int, split: str) -> np.ndarray:
  """The rows (in file order) of ``split`` when the first ``test_count`` of
  the rows shuffled as the reference shuffles them are the test set."""
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
  if split == 'all':
    return np.arange(num_rows)
  order = list(range(num_rows))
  # random.shuffle's permutation depends only on the length and the state,
  # so shuffling row numbers reproduces the reference's shuffled lines.
  random.Random(SPLIT_SEED).shuffle(order)
  rows = order[:test_count] if split == 'test' else order[test_count:]
  return np.sort(np.array(rows, dtype=np.int64))


def attributes_source(root: str, image_size: int, channels: int,
                      attributes: Sequence[str] = (),
                      num_threads: int = 8, *, split: str = 'all',
                      test_count: int = 0,
                      resample: str = 'bicubic') -> Source:
  """Images with binary attributes, in CelebA's layout.

  The images lie in ``root``/img_align_celeba/ if that folder exists, else in
  ``root``; ``root``/list_attr_celeba.txt lists their attributes (see
  ``read_attribute_file``). 'attributes' holds the ``attributes`` named, in
  that order, as float32 0/1 (-1 -> 0, +1 -> 1). Examples are sorted by file
  name. Files listed but missing, files present but not listed, and files
  that do not decode are skipped, each kind with one counted warning. Images
  are centre-cropped to a square and resized with ``resample`` (CelebA's
  aligned faces are cropped to 178 x 178 at full resolution before
  resizing). ``split`` 'train' or 'test' keeps the rows of ``split_rows``
  (StarGAN's split with ``test_count`` 1999); 'all' keeps every row.
  """
  attributes = tuple(attributes)
  root = open_dir(root, 'data.source attributes folder')
  table_path = os.path.join(root, ATTRIBUTE_FILE)
  if not os.path.isfile(table_path):
    raise DataError(f'data.source attributes folder {root!r} has no '
                    f'{ATTRIBUTE_FILE} (CelebA\'s attribute file)')
  table = read_attribute_file(table_path)
  if test_count > len(table.files) and split != 'all':
    raise DataError(f'{table_path} lists {len(table.files)} images, fewer '
                    f'than the {test_count} of the test split')
  kept = set(table.files[i] for i in split_rows(len(table.files), test_count,
                                                split))
  unknown = [a for a in attributes if a not in table.names]
  if unknown:
    raise DataError(f'unknown attributes {", ".join(unknown)} (not in '
                    f'{table_path}); valid names: {", ".join(table.names)}')
  repeated = sorted({a for a in attributes if attributes.count(a) > 1})
  if repeated:
    raise DataError(f'attributes asked for more than once: '
                    f'{", ".join(repeated)}')
  image_dir = os.path.join(root, ATTRIBUTE_IMAGE_DIR)
  if not os.path.isdir(image_dir):
    image_dir = root
  with os.scandir(image_dir) as entries:
    present = {e.name for e in entries if e.is_file()}
  row_of = {file: row for row, file in enumerate(table.files)}
  missing = [f for f in table.files if f in kept and f not in present]
  if missing:
    logging.warning('Skipped %d of %d images listed in %s that are not in '
                    '%s: %s', len(missing), len(kept), table_path,
                    image_dir, first_few(missing))
  unlisted = sorted(f for f in present - set(row_of)
                    if f.lower().endswith(IMAGE_EXTENSIONS))
  if unlisted:
    logging.warning('Skipped %d images in %s that %s does not list: %s',
                    len(unlisted), image_dir, table_path, first_few(unlisted))
  files = sorted(present & kept)  # a listed file that is no image
  # fails the check below and is skipped with the others that do not decode
  checks = check_files([os.path.join(image_dir, f) for f in files],
                        image_size, num_threads)
  _report_folder(image_dir, checks, image_size, channels)
  files = [f for f, c in zip(files, checks) if not c.problem]
  if not files:
    raise DataError(f'data.source attributes folder {root!r} holds no usable '
                    f'image listed in {ATTRIBUTE_FILE} ({len(table.files)} '
                    f'listed, {len(present)} image files in {image_dir})')
  paths = [os.path.join(image_dir, f) for f in files]
  columns = [table.names.index(a) for a in attributes]
  values = table.values[np.array([row_of[f] for f in files])][:, columns]
  values = values.astype(np.float32)
  decode = _decoder(image_size, channels, resample)
  features = dict(_image_feature(image_size, channels))
  if attributes:
    features['attributes'] = ((len(attributes),), np.dtype(np.float32))

  def load(indices: np.ndarray) -> dict[str, np.ndarray]:
    batch = {'image': as_hwc([decode(paths[i]) for i in indices], channels)}
    if attributes:
      batch['attributes'] = values[indices]
    return batch

  name = f'attributes:{root}' + ('' if split == 'all' else f'[{split}]')
  return Source(name, len(paths), features, load,
                attribute_names=tuple(attributes), file_names=tuple(files))
