"""The 'what-where' digits: captions and boxes whose meaning a machine checks.

GAWWN (Reed et al. 2016, "Learning What and Where to Draw") learns from
CUB birds with captions and part locations; neither is available offline,
so this source makes the task from scikit-learn's digits, where "what" and
"where" have known answers. Example i of a split is a pure function of
(seed, split, i):

  * a black ``image_size`` canvas with one digit: its 8x8 scan cropped to its
    ink, scaled (bilinear) into a random box (height 1/4 to 7/8 of the
    canvas, width 0.55 to 1 times the height: digits are tall) and painted
    in one of ``COLOURS`` (ink = grey level x colour);
  * 'box': that box as (x, y, w, h), fractions of the canvas: the digit's
    ink fills it edge to edge, so the generated ink's bounding box can be
    scored against it (IoU);
  * 'caption': a sentence naming the digit, its colour, its size and where
    it is ("a small red 7 in the upper left", "at the top left there is a
    tiny scarlet seven", ...), as character codes (``encode``), drawn from
    ``TEMPLATES`` with synonyms for every word, so an encoder has to read
    the words, not match whole sentences;
  * 'content': (digit, colour, size, place) indices: what the caption says;
  * 'contrast_caption': the same sentence, word for word, naming another
    digit: a wrong caption that only the digit makes wrong (GAN-CLS's
    ``contrast_fraction``).

The split is by digit image (the digits classifier's: its training digits
train, its 359 held-out digits test, so test digits are unseen), and by
phrasing: 'train' uses the first ``NUM_TRAIN_TEMPLATES`` templates, 'test'
the rest (new word orders of the same vocabulary), unless ``phrasings`` asks
for the training ones.
"""

from __future__ import annotations

import copy

import numpy as np
from PIL import Image

from gan_jax.data import sources

# name -> RGB ink colour (0-255): six hues far apart, for colour_accuracy.
COLOURS = {'red': (235, 45, 40), 'green': (45, 205, 60),
           'blue': (55, 95, 250), 'yellow': (240, 220, 45),
           'cyan': (45, 215, 230), 'magenta': (225, 55, 225)}
COLOUR_NAMES = tuple(COLOURS)
COLOUR_WORDS = {'red': ('red', 'scarlet'), 'green': ('green', 'emerald'),
                'blue': ('blue', 'navy'), 'yellow': ('yellow', 'golden'),
                'cyan': ('cyan', 'turquoise'),
                'magenta': ('magenta', 'purple')}
DIGIT_WORDS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six',
               'seven', 'eight', 'nine')
# Size classes by the box's height as a fraction of the canvas.
SIZE_WORDS = (('small', 'little', 'tiny'), ('medium', 'mid-sized', 'modest'),
              ('large', 'big', 'huge'))
SIZE_EDGES = (0.4375, 0.65625)  # height < 28/64: small; >= 42/64: large
MIN_HEIGHT, MAX_HEIGHT = 0.25, 0.875
MIN_ASPECT, MAX_ASPECT = 0.55, 1.0  # width / height
# Where: the box centre's cell of a 3x3 grid, as (row, column).
_ROW_WORDS = (('top', 'upper'), None, ('bottom', 'lower'))
_SIDE_WORDS = ('left', None, 'right')
# {S} size, {C} colour, {D} digit, {L} location phrase.
TEMPLATES = (
    'a {S} {C} {D} {L}',
    '{L}, a {S} {C} {D}',
    'there is a {S} {C} {D} {L}',
    '{S} {C} {D} {L}',
    'a {C} {D}, {S}, {L}',
    'the {D} is {C} and {S} and sits {L}',
    # held out: the test split's phrasings
    '{L} there is a {C} {D} that is {S}',
    'a {D} in {C}, {S} and {L}',
)
NUM_TRAIN_TEMPLATES = 6
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 ,.-'"
CONTENT_NAMES = ('digit', 'colour', 'size', 'place')  # 'content' columns
CAPTION_LENGTH = 80  # characters; shorter captions are padded with 0
SPLITS = ('train', 'test')
PHRASINGS = ('split', 'train', 'held_out')
_SPLIT_IDS = {'train': 0, 'test': 1}


def encode(caption: str, length: int = CAPTION_LENGTH) -> np.ndarray:
  """int32 (length,) codes: 1 + the index in ``ALPHABET``, 0 after the end.
  Upper case is read as lower case; any other character is an error."""
  text = caption.lower()
  unknown = sorted({c for c in text if c not in ALPHABET})
  if unknown:
    raise ValueError(f'caption {caption!r} has characters outside the '
                     f'alphabet: {"".join(unknown)!r} (allowed: letters, '
                     f"digits, space and {ALPHABET[37:]!r})")
  if not text.strip():
    raise ValueError('caption is empty')
  if len(text) > length:
    raise ValueError(f'caption {caption!r} has {len(text)} characters, '
                     f'more than {length}')
  codes = np.zeros(length, np.int32)
  codes[:len(text)] = [ALPHABET.index(c) + 1 for c in text]
  return codes


def decode(codes: np.ndarray) -> str:
  return ''.join(ALPHABET[c - 1] for c in np.asarray(codes) if c > 0)


def size_class(height: float) -> int:
  return int(np.searchsorted(SIZE_EDGES, height, side='right'))


def place_class(box: np.ndarray) -> int:
  """The 3x3 cell (row * 3 + column) of the box centre."""
  x, y, w, h = box
  column = min(int((x + w / 2) * 3), 2)
  row = min(int((y + h / 2) * 3), 2)
  return row * 3 + column


def _article(next_word: str) -> str:
  return 'an' if next_word[0] in 'aeiou' else 'a'


def location_phrase(place: int, rng: np.random.Generator) -> str:
  row, column = divmod(place, 3)
  if row == 1 and column == 1:
    return str(rng.choice(['in the middle', 'in the centre', 'in the center']))
  if row == 1:
    side = _SIDE_WORDS[column]
    return str(rng.choice([f'on the {side}', f'at the {side}',
                           f'on the {side} side']))
  edge = _ROW_WORDS[row][0]
  if column == 1:
    return str(rng.choice([f'at the {edge}', f'at the {edge} centre',
                           f'along the {edge}']))
  vertical = str(rng.choice(_ROW_WORDS[row]))
  side = _SIDE_WORDS[column]
  return str(rng.choice([f'in the {vertical} {side}',
                         f'in the {vertical} {side} corner',
                         f'at the {vertical} {side}']))


def caption_for(content: np.ndarray, template: int,
                rng: np.random.Generator) -> str:
  """A sentence saying ``content`` = (digit, colour, size, place)."""
  digit, colour, size, place = (int(v) for v in content)
  digit_word = str(rng.choice([str(digit), DIGIT_WORDS[digit],
                               f'number {digit}', f'digit {DIGIT_WORDS[digit]}']))
  words = {'S': str(rng.choice(SIZE_WORDS[size])),
           'C': str(rng.choice(COLOUR_WORDS[COLOUR_NAMES[colour]])),
           'D': digit_word, 'L': location_phrase(place, rng)}
  return with_articles(TEMPLATES[template].format(**words))


def with_articles(text: str) -> str:
  """'a' before a vowel -> 'an' (after a template's slots are filled)."""
  tokens = text.split(' ')
  for i, token in enumerate(tokens[:-1]):
    if token == 'a':
      tokens[i] = _article(tokens[i + 1])
  return ' '.join(tokens)


def ink_crops() -> tuple[list[np.ndarray], np.ndarray]:
  """Each of scikit-learn's digits as float grey levels in [0, 1] cropped to
  its ink (the rows and columns with a non-zero pixel), and the labels."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  crops = []
  for pixels in digits.images / 16.0:
    rows = np.flatnonzero(pixels.max(1) > 0)
    columns = np.flatnonzero(pixels.max(0) > 0)
    crops.append(pixels[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1])
  return crops, digits.target.astype(np.int32)


def random_box(rng: np.random.Generator, image_size: int,
               heights: tuple[float, float] = (MIN_HEIGHT, MAX_HEIGHT),
               aspects: tuple[float, float] = (MIN_ASPECT, MAX_ASPECT)
               ) -> np.ndarray:
  """(x, y, w, h) in whole pixels, as fractions of the canvas: height and
  width / height uniform in ``heights`` and ``aspects``."""
  height = int(round(rng.uniform(*heights) * image_size))
  width = max(int(round(height * rng.uniform(*aspects))), 2)
  x = int(rng.integers(0, image_size - width + 1))
  y = int(rng.integers(0, image_size - height + 1))
  return np.array([x, y, width, height], np.float32) / image_size


def render(crop: np.ndarray, box: np.ndarray, colour: int,
           image_size: int) -> np.ndarray:
  """uint8 (S, S, 3): ``crop``'s grey levels scaled into ``box`` and
  painted in ``COLOURS[colour]`` on black."""
  x, y, w, h = np.round(np.asarray(box) * image_size).astype(int)
  scaled = np.asarray(Image.fromarray(crop.astype(np.float32), mode='F')
                      .resize((w, h), Image.BILINEAR))
  canvas = np.zeros((image_size, image_size), np.float32)
  canvas[y:y + h, x:x + w] = np.clip(scaled, 0, 1)
  ink = np.array(COLOURS[COLOUR_NAMES[colour]], np.float32)
  return np.round(canvas[..., None] * ink).astype(np.uint8)


def caption_pair(caption_for_, content: np.ndarray, contrast: np.ndarray,
                 template: int, rng: np.random.Generator) -> tuple[str, str]:
  """(caption of ``content``, the same sentence saying ``contrast``): both
  draw their words from ``rng``'s present state, so they differ only where
  the contents do; ``rng`` moves on as the first caption drew."""
  words = copy.deepcopy(rng.bit_generator.state)
  caption = caption_for_(content, template, rng)
  replay = np.random.default_rng()
  replay.bit_generator.state = words
  return caption, caption_for_(contrast, template, replay)


def templates_of(split: str, phrasings: str, num_train: int,
                 num_templates: int) -> np.ndarray:
  """The template indices of ``split``'s captions: ``phrasings`` 'split'
  (training split: the first ``num_train``, test: the others), 'train' or
  'held_out'; bad values are a ``sources.DataError``."""
  if split not in SPLITS:
    raise sources.DataError(f'split must be one of {SPLITS}, got {split!r}')
  if phrasings not in PHRASINGS:
    raise sources.DataError(f'data.phrasings must be one of {PHRASINGS}, '
                            f'got {phrasings!r}')
  if phrasings == 'split':
    phrasings = 'train' if split == 'train' else 'held_out'
  return (np.arange(num_train) if phrasings == 'train' else
          np.arange(num_train, num_templates))


def make_source(split: str, image_size: int = 64, seed: int = 0,
                canvases_per_image: int = 8,
                phrasings: str = 'split') -> sources.Source:
  """The what-where digits of ``split`` (module doc): 'image', 'caption',
  'box', 'content', and 'label' (the digit). ``phrasings`` 'split' uses the
  split's own templates; 'train' or 'held_out' forces one set."""
  templates = templates_of(split, phrasings, NUM_TRAIN_TEMPLATES,
                           len(TEMPLATES))
  if image_size < 16:
    raise sources.DataError(f'image_size must be at least 16 for the '
                            f'what-where digits, got {image_size}')
  crops, labels = ink_crops()
  train_rows, held_out_rows = sources.digits_split(len(crops))
  rows = train_rows if split == 'train' else held_out_rows
  num = len(rows) * canvases_per_image

  def example(i: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng((seed, _SPLIT_IDS[split], int(i)))
    row = rows[i % len(rows)]
    box = random_box(rng, image_size)
    colour = int(rng.integers(len(COLOURS)))
    content = np.array([labels[row], colour, size_class(box[3]),
                        place_class(box)], np.int32)
    template = int(rng.choice(templates))
    contrast = content.copy()  # the same sentence with another digit
    contrast[0] = (content[0] + np.random.default_rng(
        (seed, _SPLIT_IDS[split], int(i), 1)).integers(1, 10)) % 10
    caption, contrast_caption = caption_pair(caption_for, content, contrast,
                                             template, rng)
    return {'image': render(crops[row], box, colour, image_size),
            'caption': encode(caption),
            'contrast_caption': encode(contrast_caption),
            'box': box, 'content': content,
            'label': content[0]}

  def load(indices: np.ndarray) -> dict[str, np.ndarray]:
    examples = [example(i) for i in np.asarray(indices)]
    return {k: np.stack([e[k] for e in examples]) for k in examples[0]}

  features = {
      'image': ((image_size, image_size, 3), np.dtype(np.uint8)),
      'caption': ((CAPTION_LENGTH,), np.dtype(np.int32)),
      'contrast_caption': ((CAPTION_LENGTH,), np.dtype(np.int32)),
      'box': ((4,), np.dtype(np.float32)),
      'content': ((4,), np.dtype(np.int32)),
      'label': ((), np.dtype(np.int32)),
  }
  return sources.Source(f'whatwhere_digits[{split},{phrasings}]', num,
                        features, load,
                        class_names=tuple(str(d) for d in range(10)))
