"""StarGAN's data: images with binary attributes, and the target-label rule.

Sources (``config.data.source``):

  'digits_domains'   the offline default: scikit-learn's digits in
                     ``DIGITS_ATTRIBUTES``, one colour of three (an exclusive
                     group, like CelebA's hair colours) times inverted or
                     not: six domains with known translations. Each digit's
                     domain is fixed (drawn once from ``_DOMAIN_SEED``), as
                     each CelebA face has its attributes; the digits
                     classifier's training split trains, its held-out split
                     tests, and for a test digit x and any target c' the
                     right answer is ``render(grey(x), c')``.
  'attributes:PATH'  CelebA's layout (``sources.attributes_source``): the
                     attributes named by ``data.attributes``; the
                     reference's split (its rows shuffled by Python's
                     random.seed(1234), the first ``data.test_count`` =
                     1,999 are the test set); centre crop to a square, then
                     bilinear resizing to image_size, as the reference's
                     CenterCrop + Resize.

``target_labels`` is the reference's ``create_labels``: one target per
attribute, the exclusive group set one-hot, any other attribute flipped.
"""

from __future__ import annotations

import numpy as np

from gan_jax.data import sources
from gan_jax.eval import digits_classifier

DIGITS_ATTRIBUTES = ('Red', 'Green', 'Blue', 'Inverted')
DIGITS_EXCLUSIVE = ('Red', 'Green', 'Blue')
# The ink colour of each colour attribute (RGB, 0-255).
COLOURS = np.array([[240.0, 60.0, 40.0], [50.0, 200.0, 70.0],
                    [60.0, 90.0, 250.0]])
_DOMAIN_SEED = 0
SOURCES = "'digits_domains' or 'attributes:PATH'"
SPLITS = ('train', 'test')


def render(grey: np.ndarray, attributes: np.ndarray) -> np.ndarray:
  """uint8 grey digits (n, S, S, 1) in the domains of ``attributes`` (n, 4)
  (``DIGITS_ATTRIBUTES``; exactly one colour set): ink x = grey / 255, or
  1 - x if inverted, times the colour; uint8 RGB (n, S, S, 3). Invertible:
  ``grey_of`` recovers the digit to +-1 grey level."""
  attributes = np.asarray(attributes)
  x = np.asarray(grey, np.float64)[..., :1] / 255.0
  inverted = attributes[:, 3, None, None, None] > 0.5
  x = np.where(inverted, 1.0 - x, x)
  colour = COLOURS[np.argmax(attributes[:, :3], -1)][:, None, None, :]
  return np.clip(np.round(x * colour), 0, 255).astype(np.uint8)


def digits_domains(split: str, image_size: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(uint8 grey digits (n, S, S, 1), float32 attributes (n, 4), labels) of
  ``split``: the digits classifier's training or held-out digits, each in
  its fixed domain."""
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
  source = sources.digits_source(image_size, 1, labels=True)
  digits = source.load(np.arange(source.num_examples))
  rng = np.random.default_rng(_DOMAIN_SEED)
  colour = rng.integers(0, 3, source.num_examples)
  inverted = rng.integers(0, 2, source.num_examples)
  attributes = np.zeros((source.num_examples, 4), np.float32)
  attributes[np.arange(source.num_examples), colour] = 1.0
  attributes[:, 3] = inverted
  train, held_out = digits_classifier._split(source.num_examples)  # pylint: disable=protected-access
  rows = train if split == 'train' else held_out
  return digits['image'][rows], attributes[rows], digits['label'][rows]


def make_source(spec: str, split: str, image_size: int, channels: int,
                attributes: tuple[str, ...], test_count: int,
                num_threads: int = 8) -> sources.Source:
  """The images and 'attributes' of ``split`` of ``spec`` (``SOURCES``)."""
  if spec == 'digits_domains':
    if channels != 3:
      raise sources.DataError("data.source 'digits_domains' is coloured: "
                              f'channels must be 3, got {channels}')
    if tuple(attributes) != DIGITS_ATTRIBUTES:
      raise sources.DataError(
          f"data.source 'digits_domains' has the attributes "
          f'{",".join(DIGITS_ATTRIBUTES)}; data.attributes is '
          f'{",".join(attributes)}')
    grey, labels, _ = digits_domains(split, image_size)
    images = render(grey, labels)
    return sources.Source(
        f'digits_domains[{split}]', len(images),
        {'image': (images.shape[1:], np.dtype(np.uint8)),
         'attributes': ((len(attributes),), np.dtype(np.float32))},
        lambda i: {'image': images[i], 'attributes': labels[i]},
        attribute_names=tuple(attributes))
  if spec.startswith('attributes:') and len(spec) > len('attributes:'):
    return sources.attributes_source(
        spec[len('attributes:'):], image_size, channels, attributes,
        num_threads, split=split, test_count=test_count, resample='bilinear')
  raise sources.DataError(f'data.source must be {SOURCES}, got {spec!r}')


def target_labels(labels: np.ndarray, names: tuple[str, ...],
                  exclusive: tuple[str, ...]) -> np.ndarray:
  """The reference's ``create_labels``: (A, n, A) targets, target j of
  every image its own labels with attribute j changed: set to 1 (and the
  rest of the exclusive group, e.g. the other hair colours, to 0) if
  ``names[j]`` is in ``exclusive``, else flipped."""
  labels = np.asarray(labels, np.float32)
  group = [k for k, name in enumerate(names) if name in exclusive]
  targets = []
  for j in range(len(names)):
    target = labels.copy()
    if j in group:
      target[:, group] = 0.0
      target[:, j] = 1.0
    else:
      target[:, j] = 1.0 - target[:, j]
    targets.append(target)
  return np.stack(targets)


def set_attributes(labels: np.ndarray, names: tuple[str, ...],
                   exclusive: tuple[str, ...], wanted: dict[str, float]
                   ) -> np.ndarray:
  """``labels`` (n, A) with the attributes of ``wanted`` ({name: 0 or 1})
  set; setting one of the exclusive group to 1 clears the others."""
  labels = np.array(labels, np.float32)
  for name, value in wanted.items():
    j = names.index(name)
    if name in exclusive and value:
      labels[:, [k for k, n in enumerate(names) if n in exclusive]] = 0.0
    labels[:, j] = value
  return labels
