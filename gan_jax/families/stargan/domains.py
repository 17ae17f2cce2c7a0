"""StarGAN's data: images with binary attributes, and the target-label rule.

Sources (``config.data.source``):

  'digits_domains'   the offline default: scikit-learn's digits in the
                     domains of ``data.attributes``: one ink colour of
                     three (``DIGITS_COLOURS``, an exclusive group like
                     CelebA's hair colours) times each of the transforms
                     named after them (``DIGITS_TRANSFORMS``: 'Bold', the
                     strokes dilated; 'Inverted', ink and background
                     swapped), on or off. Each digit's domain is fixed
                     (drawn once from ``_DOMAIN_SEED``), as each CelebA face
                     has its attributes; the digits classifier's training
                     split trains, its held-out split tests, and for a test
                     digit x and any target c' the right answer is
                     ``render(grey(x), c')``.
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

DIGITS_COLOURS = ('Red', 'Green', 'Blue')  # one of them: an exclusive group
DIGITS_TRANSFORMS = ('Bold', 'Inverted')  # each on or off, in this order
# The ink colour of each colour attribute (RGB, 0-255).
COLOURS = np.array([[240.0, 60.0, 40.0], [50.0, 200.0, 70.0],
                    [60.0, 90.0, 250.0]])
_DOMAIN_SEED = 0
SOURCES = "'digits_domains' or 'attributes:PATH'"
SPLITS = ('train', 'test')


DIGITS_ATTRIBUTES_RULE = (
    f'must be {",".join(DIGITS_COLOURS)} followed by one or more of '
    f'{",".join(DIGITS_TRANSFORMS)} (in that order) for data.source '
    "'digits_domains'")


def valid_digits_attributes(names: tuple[str, ...]) -> bool:
  """The three colours, then one or more of DIGITS_TRANSFORMS, in order."""
  names = tuple(names)
  transforms = names[len(DIGITS_COLOURS):]
  return (names[:len(DIGITS_COLOURS)] == DIGITS_COLOURS and bool(transforms)
          and transforms == tuple(t for t in DIGITS_TRANSFORMS
                                  if t in transforms))


def bold(ink: np.ndarray) -> np.ndarray:
  """Strokes dilated: the grey-level maximum over a square of side
  2 r + 1, r = max(1, S // 32) (1 pixel at 32 px), of ink (n, S, S, 1)."""
  radius = max(1, ink.shape[1] // 32)
  padded = np.pad(ink, ((0, 0), (radius, radius), (radius, radius), (0, 0)))
  size = ink.shape[1]
  return np.max([padded[:, i:i + size, j:j + size]
                 for i in range(2 * radius + 1)
                 for j in range(2 * radius + 1)], axis=0)


def render(grey: np.ndarray, attributes: np.ndarray,
           names: tuple[str, ...]) -> np.ndarray:
  """uint8 grey digits (n, S, S, 1) in the domains of ``attributes`` (n, A)
  named by ``names`` (``valid_digits_attributes``; exactly one colour set):
  ink x = grey / 255, dilated if Bold, then 1 - x if Inverted, times the
  colour; uint8 RGB (n, S, S, 3)."""
  attributes = np.asarray(attributes)
  x = np.asarray(grey, np.float64)[..., :1] / 255.0
  for name, transform in (('Bold', bold), ('Inverted', lambda v: 1.0 - v)):
    if name in names:
      on = attributes[:, names.index(name), None, None, None] > 0.5
      x = np.where(on, transform(x), x)
  colour = COLOURS[np.argmax(attributes[:, :3], -1)][:, None, None, :]
  return np.clip(np.round(x * colour), 0, 255).astype(np.uint8)


def digits_domains(split: str, image_size: int, names: tuple[str, ...]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(uint8 grey digits (n, S, S, 1), float32 attributes (n, A) named by
  ``names``, labels) of ``split``: the digits classifier's training or
  held-out digits, each in its fixed domain."""
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
  if not valid_digits_attributes(names):
    raise sources.DataError(f'data.attributes {DIGITS_ATTRIBUTES_RULE}, got '
                            f'{",".join(names)}')
  source = sources.digits_source(image_size, 1, labels=True)
  digits = source.load(np.arange(source.num_examples))
  count = source.num_examples
  rng = np.random.default_rng(_DOMAIN_SEED)
  # Drawn in a fixed order whatever the names, so a digit keeps its colour
  # and each transform's value in every choice of attributes.
  colour = rng.integers(0, 3, count)
  drawn = {'Inverted': rng.integers(0, 2, count),
           'Bold': rng.integers(0, 2, count)}
  attributes = np.zeros((count, len(names)), np.float32)
  attributes[np.arange(count), colour] = 1.0
  for j, name in enumerate(names[len(DIGITS_COLOURS):], len(DIGITS_COLOURS)):
    attributes[:, j] = drawn[name]
  train, held_out = sources.digits_split(count)
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
    grey, labels, _ = digits_domains(split, image_size, tuple(attributes))
    images = render(grey, labels, tuple(attributes))
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
