"""Sample grids and their animation (Pillow)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] floats -> uint8 pixels."""
  return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0,
                 255).astype(np.uint8)


def from_uint8(pixels: np.ndarray) -> np.ndarray:
  """uint8 pixels -> float32 in [-1, 1] (on the host; the training step does
  the same on the device, ``step.to_model_range``)."""
  return np.asarray(pixels).astype(np.float32) / 127.5 - 1.0


def image_grid(images: np.ndarray, padding: int = 2,
               cols: int | None = None) -> np.ndarray:
  """(n, h, w, c) images in [-1, 1] -> one uint8 (H, W, c) grid, row by row;
  near square unless ``cols`` is given."""
  images = to_uint8(images)
  n, h, w, c = images.shape
  cols = cols or math.ceil(math.sqrt(n))
  rows = math.ceil(n / cols)
  grid = np.zeros((rows * (h + padding) + padding,
                   cols * (w + padding) + padding, c), np.uint8)
  for i, image in enumerate(images):
    r, col = divmod(i, cols)
    top, left = padding + r * (h + padding), padding + col * (w + padding)
    grid[top:top + h, left:left + w] = image
  return grid


def to_pil(grid: np.ndarray) -> Image.Image:
  return Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)


def save_png(grid: np.ndarray, path: str, scale: int = 1) -> None:
  image = to_pil(grid)
  if scale > 1:
    image = image.resize((image.width * scale, image.height * scale),
                         Image.Resampling.NEAREST)
  image.save(path)


def save_gif(frame_paths: Sequence[str], path: str,
             duration_ms: int = 700) -> None:
  """Animates saved grids (in the given order); the last frame lingers."""
  frames = [Image.open(p).convert('RGB') for p in frame_paths]
  durations = [duration_ms] * (len(frames) - 1) + [3 * duration_ms]
  frames[0].save(path, save_all=True, append_images=frames[1:],
                 duration=durations, loop=0)
