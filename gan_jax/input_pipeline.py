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

import dataclasses
import logging
import os
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


def folder_source(root: str, image_size: int, channels: int) -> ImageSource:
  """Every JPEG/PNG below ``root`` (recursively, sorted for a stable order)."""
  root = os.path.expanduser(root)
  if not os.path.isdir(root):
    raise DataError(f'data.source folder {root!r} does not exist or is not a '
                    'directory')
  candidates = _list_images(root)
  paths, unreadable = [], []
  for path in candidates:
    try:  # Reads only the header: cheap, and catches non-images early.
      with Image.open(path) as image:
        image.size  # pylint: disable=pointless-statement
      paths.append(path)
    except (UnidentifiedImageError, OSError):
      unreadable.append(path)
  if unreadable:
    logging.warning('Skipped %d of %d files in %s that are not readable '
                    'images, e.g. %s', len(unreadable), len(candidates), root,
                    ', '.join(unreadable[:3]))
  if not paths:
    raise DataError(f'data.source folder {root!r} holds no readable '
                    f'{"/".join(IMAGE_EXTENSIONS)} images '
                    f'({len(candidates)} candidate files)')

  def decode(path: str) -> Image.Image:
    try:
      with Image.open(path) as image:
        return _to_channels(_fit(_to_channels(image, 3 if channels == 3 else 1),
                                 image_size), channels)
    except (UnidentifiedImageError, OSError) as e:
      raise DataError(f'cannot decode image {path}: {e}') from e

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
