"""Masks of the pixels to fill: ``config.inpaint_mask``.

A mask is float32 (H, W, 1): 1 where the pixel is known, 0 in the hole (the
convention of Yeh et al.'s release, moodoki/semantic_image_inpainting,
``inpaint.py: gen_mask``). Kinds:

  'center'         the central square of half the side: a quarter of the
                   area (the release's 'center', scale 0.25; Pathak et al.'s
                   centre region).
  'half'           the left half (the release's 'left').
  'random_blocks'  eight squares of side S/8 .. S/4 at random places, about
                   a quarter of the image on average (0.1 .. 0.4); image i's
                   are a pure function of (config.seed, i).
  DIR              mask images in DIR, sorted by name; image i takes mask
                   i mod count. Grey levels < 128 are the hole (black = hole,
                   as the release's ``loadmask``).

Every mask must have both a hole and known pixels (the fill has nothing to
fill, or nothing to condition on, otherwise); a mask file of another size is
refused, not resized (a resized mask would move the hole the user drew).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, UnidentifiedImageError

from gan_jax.core import errors
from gan_jax.data import sources

KINDS = ('center', 'half', 'random_blocks')
# Squares per 'random_blocks' mask: 8 squares of side S/8 .. S/4 leave
# about a quarter of the image missing on average (their union), as 'center'.
RANDOM_BLOCKS = 8


def validate(config) -> None:
  spec = config.inpaint_mask
  errors.require(isinstance(spec, str) and bool(spec), 'inpaint_mask',
                 f'must be one of {KINDS} or a folder of mask images', spec)
  if spec not in KINDS and not os.path.isdir(spec):
    raise errors.ConfigError(
        f'config.inpaint_mask: {spec!r} is neither one of {KINDS} nor a '
        'folder of mask images')


def center(size: int) -> np.ndarray:
  mask = np.ones((size, size, 1), np.float32)
  side = size // 2
  start = (size - side) // 2
  mask[start:start + side, start:start + side] = 0.0
  return mask


def half(size: int) -> np.ndarray:
  mask = np.ones((size, size, 1), np.float32)
  mask[:, :size // 2] = 0.0
  return mask


def random_blocks(key: jax.Array, size: int) -> jax.Array:
  """One 'random_blocks' mask (size, size, 1): the union of
  ``RANDOM_BLOCKS`` squares, sides uniform in [size/8, size/4], corners
  uniform; jittable, so training draws them on the device and evaluation
  draws image i's from fold_in(PRNGKey(seed), i)."""
  side_key, top_key, left_key = jax.random.split(key, 3)
  low, high = max(1, size // 8), max(1, size // 4)
  sides = jax.random.randint(side_key, (RANDOM_BLOCKS,), low, high + 1)
  tops = jnp.floor(jax.random.uniform(top_key, (RANDOM_BLOCKS,))
                   * (size - sides + 1)).astype(jnp.int32)
  lefts = jnp.floor(jax.random.uniform(left_key, (RANDOM_BLOCKS,))
                    * (size - sides + 1)).astype(jnp.int32)
  rows = jnp.arange(size)[None, :, None]
  cols = jnp.arange(size)[None, None, :]
  inside = ((rows >= tops[:, None, None]) & (rows < (tops + sides)[:, None, None])
            & (cols >= lefts[:, None, None])
            & (cols < (lefts + sides)[:, None, None]))
  return (1.0 - jnp.any(inside, 0).astype(jnp.float32))[..., None]


def _read_mask_files(folder: str, size: int) -> list[np.ndarray]:
  paths = sorted(os.path.join(folder, name) for name in os.listdir(folder)
                 if name.lower().endswith(sources.IMAGE_EXTENSIONS))
  if not paths:
    raise errors.ConfigError(
        f'config.inpaint_mask: the folder {folder!r} holds no '
        f'{"/".join(sources.IMAGE_EXTENSIONS)} mask images')
  masks = []
  for path in paths:
    try:
      with Image.open(path) as image:
        grey = np.asarray(image.convert('L'))
    except (OSError, UnidentifiedImageError) as e:
      raise errors.ConfigError(
          f'config.inpaint_mask: cannot read the mask {path!r}: {e}') from e
    if grey.shape != (size, size):
      raise errors.ConfigError(
          f'config.inpaint_mask: the mask {path!r} is {grey.shape[1]}x'
          f'{grey.shape[0]}; the images are {size}x{size} (masks are not '
          'resized: draw them at the image size)')
    masks.append((grey >= 128).astype(np.float32)[..., None])
    check(masks[-1], path)
  return masks


def check(mask: np.ndarray, where: str) -> None:
  """Refuses a mask with no hole or no known pixel, naming ``where``."""
  if mask.min() > 0:
    raise errors.ConfigError(f'config.inpaint_mask: {where} has no missing '
                             'pixel (grey < 128): nothing to fill')
  if mask.max() == 0:
    raise errors.ConfigError(f'config.inpaint_mask: {where} has no known '
                             'pixel (grey >= 128): nothing to fill from')


def make_masks(spec: str, num: int, size: int, seed: int) -> np.ndarray:
  """(num, size, size, 1) float32 masks, 1 = known, 0 = hole."""
  if spec == 'center':
    return np.repeat(center(size)[None], num, 0)
  if spec == 'half':
    return np.repeat(half(size)[None], num, 0)
  if spec == 'random_blocks':
    key = jax.random.PRNGKey(seed)
    return np.asarray(jax.vmap(lambda i: random_blocks(
        jax.random.fold_in(key, i), size))(jnp.arange(num)))
  files = _read_mask_files(spec, size)
  return np.stack([files[i % len(files)] for i in range(num)])
