"""Training data: image sources and a deterministic, resumable batch order.

Every source is random access (``len`` and ``load(indices)``) and yields uint8
HWC images at the configured size and channel count; scaling to [-1, 1]
happens on the device (``step.to_model_range``), so the host ships 4x fewer
bytes.

Order. Batch j of the run holds the examples at positions
[(j mod b) * B, (j mod b + 1) * B) of the permutation of epoch j // b
(b = batches per epoch, remainder dropped per epoch), and that permutation is
grain's index shuffle seeded by (seed + epoch). Training step t consumes the
k = d_steps batches k*t ... k*t + k - 1 (Algorithm 1 draws a fresh minibatch
for every D update). Everything is a pure function of (seed, epoch, index):
no iterator state exists, so a run resumed at step t sees exactly the batches
an uninterrupted run would have seen, for any process count.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import warnings
from typing import Callable, Iterator, Sequence

import grain
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


class DataError(ValueError):
  """A data source that cannot be used; the message names the source or file."""


@dataclasses.dataclass(frozen=True)
class ImageSource:
  """Random-access images: ``load(indices)`` -> uint8 (n, size, size, channels)."""
  name: str
  num_examples: int
  image_shape: tuple[int, int, int]
  load: Callable[[np.ndarray], np.ndarray]


SOURCES = "'digits', 'folder:PATH' or 'tfds:NAME[SPLIT]'"


def make_source(source: str, image_size: int, channels: int,
                tfds_dir: str = '') -> ImageSource:
  """Parses ``config.data.source``: 'digits', 'folder:PATH', 'tfds:NAME[SPLIT]'."""
  if channels not in (1, 3):
    raise DataError(f'channels must be 1 or 3, got {channels}')
  if source == 'digits':
    return digits_source(image_size, channels)
  if source.startswith('folder:'):
    return folder_source(source[len('folder:'):], image_size, channels)
  if source.startswith('tfds:'):
    return tfds_source(source[len('tfds:'):], image_size, channels, tfds_dir)
  raise DataError(f'data.source must be {SOURCES}, got {source!r}')


def _to_channels(image: Image.Image, channels: int) -> Image.Image:
  return image.convert('L' if channels == 1 else 'RGB')


def _fit(image: Image.Image, image_size: int) -> Image.Image:
  """Resize the shorter side to image_size and centre-crop the longer one."""
  return ImageOps.fit(image, (image_size, image_size),
                      method=Image.Resampling.BICUBIC)


def _as_hwc(images: Sequence[Image.Image], channels: int) -> np.ndarray:
  array = np.stack([np.asarray(image, dtype=np.uint8) for image in images])
  return array.reshape(*array.shape[:3], channels)


def digits_source(image_size: int, channels: int) -> ImageSource:
  """scikit-learn's bundled 1,797 handwritten digits (8x8, 17 grey levels)."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits().images  # float in [0, 16]
  pixels = np.round(digits * (255.0 / 16.0)).astype(np.uint8)
  images = _as_hwc([
      _to_channels(_fit(Image.fromarray(p, mode='L'), image_size), channels)
      for p in pixels], channels)
  return ImageSource('digits', len(images), images.shape[1:],
                     lambda indices: images[indices])


def _list_images(root: str) -> list[str]:
  paths = []
  for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
    dirnames.sort()
    paths.extend(os.path.join(dirpath, name) for name in sorted(filenames)
                 if name.lower().endswith(IMAGE_EXTENSIONS))
  return paths


def _open_reduced(path: str, image_size: int) -> Image.Image:
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


def _normalise_mode(image: Image.Image) -> Image.Image:
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
class _FileCheck:
  path: str
  problem: str | None = None  # why the file cannot be used
  mode: str = ''
  size: tuple[int, int] = (0, 0)


def _check_file(path: str, image_size: int) -> _FileCheck:
  """Decodes ``path`` once (at the reduced JPEG scale) to find every file
  that would fail in the middle of training: empty, not an image, truncated."""
  try:
    if os.path.getsize(path) == 0:
      return _FileCheck(path, 'empty file')
    with Image.open(path) as header:
      mode, size = header.mode, header.size
    with _open_reduced(path, image_size):
      pass
  except Image.DecompressionBombError as e:
    return _FileCheck(path, f'too large to decode safely ({e})')
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    return _FileCheck(path, f'{type(e).__name__}: {e}')
  return _FileCheck(path, None, mode, size)


_MODE_NAMES = {'L': None, 'RGB': None, '1': '1-bit', 'P': 'palette',
               'RGBA': 'RGBA', 'LA': 'grey+alpha', 'CMYK': 'CMYK',
               'I;16': '16-bit', 'I;16B': '16-bit', 'I;16L': '16-bit',
               'I': '32-bit', 'F': 'float'}


def _examples(items: Sequence[str], limit: int = 3) -> str:
  return ', '.join(items[:limit]) + (', ...' if len(items) > limit else '')


def _report_folder(root: str, checks: Sequence[_FileCheck], image_size: int,
                   channels: int) -> None:
  """One counted warning per kind of problem, with the first few names."""
  bad = [c for c in checks if c.problem]
  if bad:
    logging.warning(
        'Skipped %d of %d files in %s that are not usable images: %s',
        len(bad), len(checks), root,
        _examples([f'{c.path} ({c.problem})' for c in bad]))
  good = [c for c in checks if not c.problem]
  converted: dict[str, list[str]] = {}
  for c in good:
    name = _MODE_NAMES.get(c.mode, c.mode)
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
                    '; '.join(f'{len(paths)} {kind} (e.g. {_examples(paths, 2)})'
                              for kind, paths in sorted(converted.items())))
  small = [c.path for c in good if min(c.size) < image_size]
  if small:
    logging.warning('Upscaled %d images of %s whose shorter side is under '
                    'image_size %d: %s', len(small), root, image_size,
                    _examples(small))


def folder_source(root: str, image_size: int, channels: int,
                  num_threads: int = 8) -> ImageSource:
  """Every JPEG/PNG below ``root`` (recursively, sorted for a stable order).

  Each file is decoded once up front (in ``num_threads`` threads), so a bad
  file is skipped and counted now instead of stopping training later.
  """
  root = os.path.expanduser(root)
  if not os.path.isdir(root):
    raise DataError(f'data.source folder {root!r} does not exist or is not a '
                    'directory')
  if not os.access(root, os.R_OK | os.X_OK):
    raise DataError(f'data.source folder {root!r} is not readable')
  candidates = _list_images(root)
  with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
    checks = list(pool.map(lambda p: _check_file(p, image_size), candidates))
  _report_folder(root, checks, image_size, channels)
  paths = [c.path for c in checks if not c.problem]
  if not paths:
    raise DataError(f'data.source folder {root!r} holds no usable '
                    f'{"/".join(IMAGE_EXTENSIONS)} images '
                    f'({len(candidates)} candidate files)')

  def decode(path: str) -> Image.Image:
    try:
      with _open_reduced(path, image_size) as image:
        image = _normalise_mode(image)
        return _to_channels(_fit(image, image_size), channels)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
      # Only if the file changed since the check: never skip silently here,
      # that would shift every later batch of the run.
      raise DataError(f'cannot decode image {path} (it decoded when the run '
                      f'started): {e}') from e

  def load(indices: np.ndarray) -> np.ndarray:
    return _as_hwc([decode(paths[i]) for i in indices], channels)

  return ImageSource(f'folder:{root}', len(paths),
                     (image_size, image_size, channels), load)


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
                data_dir: str = '') -> ImageSource:
  """A prepared TFDS dataset's 'image' feature, random access (ArrayRecord).

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

  def to_image(example) -> Image.Image:
    pixels = np.asarray(example['image'], dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    return _to_channels(_fit(image, image_size), channels)

  def load(indices: np.ndarray) -> np.ndarray:
    return _as_hwc([to_image(data[int(i)]) for i in indices], channels)

  return ImageSource(f'tfds:{name}[{split}]', len(data),
                     (image_size, image_size, channels), load)


def batches_per_epoch(num_examples: int, batch_size: int) -> int:
  return num_examples // batch_size


def train_batches(source: ImageSource, *, seed: int, batch_size: int,
                  d_steps: int, num_steps: int, start_step: int = 0,
                  num_threads: int = 2,
                  prefetch: int = 4, process_index: int = 0,
                  process_count: int = 1) -> Iterator[np.ndarray]:
  """Yields, for steps [start_step, num_steps), uint8 (d_steps, local_batch, H, W, C).

  ``batch_size`` is global; each process decodes only its contiguous share of
  every global batch. Decoding runs in ``num_threads`` threads, ``prefetch``
  steps ahead of the consumer.
  """
  if batches_per_epoch(source.num_examples, batch_size) < 1:
    raise DataError(f'batch_size {batch_size} is larger than the '
                    f'{source.num_examples} examples of {source.name}')
  if batch_size % process_count:
    raise DataError(f'batch_size {batch_size} does not divide over '
                    f'{process_count} processes')
  per_epoch = batches_per_epoch(source.num_examples, batch_size)
  epochs = -(-num_steps * d_steps // per_epoch)  # ceil
  local = batch_size // process_count
  rows = slice(process_index * local, (process_index + 1) * local)
  indices = (grain.MapDataset.range(source.num_examples)
             .shuffle(seed=seed % 2**32)
             .batch(batch_size, drop_remainder=True)  # per epoch
             .repeat(epochs)  # reseeds the shuffle for every epoch
             .batch(d_steps, drop_remainder=True))
  steps = indices.slice(slice(start_step, num_steps)).map(
      lambda idx: source.load(idx[:, rows].reshape(-1)).reshape(
          d_steps, local, *source.image_shape))
  return iter(steps.to_iter_dataset(grain.ReadOptions(
      num_threads=num_threads, prefetch_buffer_size=prefetch)))
