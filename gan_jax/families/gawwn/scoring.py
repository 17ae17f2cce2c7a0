"""What and where, checked by a machine, on what-where digit canvases.

For a generated canvas asked to hold the digit d in colour k inside the box
b (``whatwhere``):

  * what: the project's digits classifier (``eval.digits_classifier``, the
    digits at ``CLASSIFIER_SIZE``, grey) on the crop at b, made grey (the
    brightest channel, scaled to the crop's maximum) and scaled to fill
    ``CLASSIFIER_SIZE`` as the classifier's inputs fill it (an 8x8 scan's ink
    spans ``_INK_FILL`` of it on average) -> correct if it says d;
  * colour: the ink's mean colour (pixels brighter than ``INK_THRESHOLD``,
    weighted by brightness) -> the nearest of ``whatwhere.COLOURS`` by angle
    (ink is grey level x colour, so the direction is the colour);
  * where: the bounding box of the ink (pixels brighter than
    ``INK_THRESHOLD`` in any channel) against b, intersection over union.

The same functions score the real canvases: their rates are the ceilings
(a crop is a blurred 8x8 scan; the classifier never saw one without its
margin).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gan_jax.families.gawwn import whatwhere

INK_THRESHOLD = 0.25  # of full brightness: darker pixels are background
CLASSIFIER_SIZE = 32
_SCAN = 8  # scikit-learn's digits are 8x8 scans
_INK_COLUMNS = (1, 7)  # where most scans have their ink


def brightness(images: np.ndarray) -> np.ndarray:
  """(n, S, S) in [0, 1]: each pixel's brightest channel (uint8 input)."""
  return np.asarray(images, np.float32).max(-1) / 255.0


def ink_boxes(images: np.ndarray) -> np.ndarray:
  """(n, 4) float (x, y, w, h), fractions of the canvas: the bounding box of
  the pixels brighter than ``INK_THRESHOLD``; zeros where there are none."""
  ink = brightness(images) > INK_THRESHOLD
  size = ink.shape[1]
  boxes = np.zeros((len(ink), 4), np.float32)
  for i, mask in enumerate(ink):
    rows, columns = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size:
      boxes[i] = (columns[0], rows[0], columns[-1] + 1 - columns[0],
                  rows[-1] + 1 - rows[0])
  return boxes / size


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Intersection over union of (n, 4) boxes (x, y, w, h)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  left = np.maximum(a[:, 0], b[:, 0])
  right = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
  top = np.maximum(a[:, 1], b[:, 1])
  bottom = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
  inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
  union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
  return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
  """The pixels of (S, S, ...) ``image`` inside ``box`` (fractions of the
  canvas, rounded to whole pixels; at least one pixel, inside the canvas)."""
  size = image.shape[0]
  x, y, w, h = np.round(np.asarray(box) * size).astype(int)
  x, y = np.clip(x, 0, size - 1), np.clip(y, 0, size - 1)
  return image[y:y + max(h, 1), x:x + max(w, 1)]


def classifier_inputs(images: np.ndarray, boxes: np.ndarray) -> np.ndarray:
  """(n, CLASSIFIER_SIZE, CLASSIFIER_SIZE, 1) in [-1, 1]: each box's crop,
  grey, scaled to its own maximum, brought back to the digits' 8x8 scan as
  the classifier saw them (the ink spans all 8 rows and, for 77 % of the
  scans, columns 1-6: the crop is area-resampled to 8 x 6 there), then
  upscaled bicubically as ``sources.digits_source`` renders them."""
  grey = brightness(images)
  out = np.zeros((len(grey), CLASSIFIER_SIZE, CLASSIFIER_SIZE), np.float32)
  for i, (image, box) in enumerate(zip(grey, np.asarray(boxes))):
    crop = box_crop(image, box)
    peak = crop.max()
    if peak <= 0:
      continue
    scan = np.zeros((_SCAN, _SCAN), np.float32)
    scan[:, _INK_COLUMNS[0]:_INK_COLUMNS[1]] = np.asarray(
        Image.fromarray(crop / peak, mode='F').resize(
            (_INK_COLUMNS[1] - _INK_COLUMNS[0], _SCAN), Image.BOX))
    out[i] = np.asarray(Image.fromarray(scan, mode='F').resize(
        (CLASSIFIER_SIZE, CLASSIFIER_SIZE), Image.BICUBIC))
  return (np.clip(out, 0, 1) * 2 - 1)[..., None]


def ink_colours(images: np.ndarray) -> np.ndarray:
  """(n,) index into ``whatwhere.COLOUR_NAMES`` of each canvas's ink colour;
  -1 where no pixel is ink."""
  pixels = np.asarray(images, np.float32) / 255.0
  weight = brightness(images)
  weight = np.where(weight > INK_THRESHOLD, weight, 0.0)
  mean = np.einsum('nhw,nhwc->nc', weight, pixels)
  palette = np.array(list(whatwhere.COLOURS.values()), np.float32)
  palette /= np.linalg.norm(palette, axis=1, keepdims=True)
  norms = np.linalg.norm(mean, axis=1, keepdims=True)
  nearest = np.argmax((mean / np.maximum(norms, 1e-12)) @ palette.T, 1)
  return np.where(norms[:, 0] > 0, nearest, -1)


def score(classify, images: np.ndarray, boxes: np.ndarray,
          content: np.ndarray) -> dict[str, np.ndarray]:
  """Per-image checks of uint8 canvases against what they were asked for:
  'what' (digit right), 'colour' (colour right), 'where_iou'; ``classify``
  maps classifier inputs to logits."""
  logits = np.asarray(classify(classifier_inputs(images, boxes)))
  return {'what': np.argmax(logits, -1) == content[:, 0],
          'colour': ink_colours(images) == content[:, 1],
          'where_iou': iou(ink_boxes(images), boxes)}
