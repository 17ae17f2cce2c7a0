"""The what-where faces: CelebA faces captioned from their attributes, each
pasted into a box on a black canvas, so "where" is tested on real textures.

Example i of a split is a pure function of (seed, split, i), as for the
digits (``whatwhere``):

  * a black ``image_size`` canvas with one aligned CelebA face (centre
    square, ``sources.attributes_source``) scaled (bilinear) into a random
    box: height 3/8 to 7/8 of the canvas, width 0.8 to 1 times the height;
  * 'box' (x, y, w, h), fractions of the canvas;
  * 'caption': a sentence from the face's CelebA attributes, its size and
    its place ("a smiling young woman with blond hair and bangs at the top
    left", "in the lower right corner there is a serious older man with
    glasses, small"), from ``TEMPLATES`` with synonyms for every word;
  * 'content': ``CONTENT_NAMES`` indices: male, young, smiling, hair
    (``HAIR``: 'other' when CelebA marks none or several of the three
    colours), bangs, eyeglasses, size, place;
  * 'contrast_caption': the same sentence with one of the six face
    attributes changed (``contrast_content``), as the digits'.

Split: StarGAN's (the first ``test_count`` = 1,999 of CelebA's shuffled
rows are the test faces, ``sources.split_rows``), so test faces are unseen; phrasings as the
digits: 'train' the first ``NUM_TRAIN_TEMPLATES`` templates, 'test' the
others.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gan_jax.data import sources
from gan_jax.families.gawwn import scoring, whatwhere

SOURCE_PREFIX = 'whatwhere_faces:'
# CelebA's attributes that captions name, in the order of 'attributes'.
ATTRIBUTES = ('Male', 'Young', 'Smiling', 'Black_Hair', 'Blond_Hair',
              'Brown_Hair', 'Bangs', 'Eyeglasses')
CONTENT_NAMES = ('male', 'young', 'smiling', 'hair', 'bangs', 'eyeglasses',
                 'size', 'place')
HAIR = ('other', 'black', 'blond', 'brown')
MIN_HEIGHT, MAX_HEIGHT = 0.375, 0.875
MIN_ASPECT, MAX_ASPECT = 0.8, 1.0
CAPTION_LENGTH = 128

_PERSON = {0: ('woman', 'lady'), 1: ('man', 'guy', 'gentleman')}
_AGE = {0: ('older', 'middle-aged', 'mature'), 1: ('young', 'youthful')}
_SMILE = {0: ('serious', 'unsmiling', 'straight-faced'),
          1: ('smiling', 'grinning', 'cheerful')}
_HAIR_WORDS = {1: ('black hair', 'dark hair'), 2: ('blond hair', 'fair hair'),
               3: ('brown hair', 'chestnut hair')}
_BANGS = ('bangs', 'a fringe')
_GLASSES = ('glasses', 'spectacles', 'eyeglasses')
# {A} age, {M} smile, {P} person, {W} ' with ...' (or nothing), {S} size,
# {L} location phrase.
TEMPLATES = (
    'a {M} {A} {P}{W} {L}',
    '{L}, a {S} {A} {P}{W}, {M}',
    'there is a {S} {M} {A} {P}{W} {L}',
    '{S} {A} {P} {L}{W}, {M}',
    'a {A} {P}, {M}, {S}, {L}{W}',
    'the {P} is {A} and {M} and sits {L}{W}',
    # held out: the test split's phrasings
    '{L} there is a {M} {P}{W} who is {A}',
    'a {S} {P}{W}, {A} and {M}, {L}',
)
NUM_TRAIN_TEMPLATES = 6


def content_of(attributes: np.ndarray, box: np.ndarray) -> np.ndarray:
  """int32 (8,) ``CONTENT_NAMES`` values of a face's 0/1 ``ATTRIBUTES``."""
  a = np.asarray(attributes) > 0.5
  colours = a[3:6]
  hair = int(np.argmax(colours)) + 1 if colours.sum() == 1 else 0
  return np.array([a[0], a[1], a[2], hair, a[6], a[7],
                   whatwhere.size_class(box[3]), whatwhere.place_class(box)],
                  np.int32)


def attributes_of(content: np.ndarray) -> np.ndarray:
  """The 0/1 ``ATTRIBUTES`` a caption of ``content`` says (n, 8)."""
  content = np.atleast_2d(content)
  hair = content[:, 3]
  return np.stack([content[:, 0], content[:, 1], content[:, 2], hair == 1,
                   hair == 2, hair == 3, content[:, 4], content[:, 5]],
                  1).astype(np.float32)


def contrast_content(content: np.ndarray, rng: np.random.Generator
                     ) -> np.ndarray:
  """``content`` with one of the face's six attributes changed (the hair to
  another of ``HAIR``): what a wrong caption that differs in one word says."""
  contrast = np.array(content)
  column = int(rng.integers(6))
  if column == 3:
    contrast[3] = (content[3] + rng.integers(1, len(HAIR))) % len(HAIR)
  else:
    contrast[column] = 1 - content[column]
  return contrast


def caption_for(content: np.ndarray, template: int,
                rng: np.random.Generator) -> str:
  """A sentence saying ``content`` (``CONTENT_NAMES``)."""
  male, young, smiling, hair, bangs, glasses, size, place = (
      int(v) for v in content)
  features = []
  if hair:
    features.append(str(rng.choice(_HAIR_WORDS[hair])))
  if bangs:
    features.append(str(rng.choice(_BANGS)))
  if glasses:
    features.append(str(rng.choice(_GLASSES)))
  if len(features) > 1:
    features = [', '.join(features[:-1]) + ' and ' + features[-1]]
  words = {'A': str(rng.choice(_AGE[young])),
           'M': str(rng.choice(_SMILE[smiling])),
           'P': str(rng.choice(_PERSON[male])),
           'W': f' with {features[0]}' if features else '',
           'S': str(rng.choice(whatwhere.SIZE_WORDS[size])),
           'L': whatwhere.location_phrase(place, rng)}
  return whatwhere.with_articles(TEMPLATES[template].format(**words))


def paste(face: np.ndarray, box: np.ndarray, image_size: int) -> np.ndarray:
  """uint8 (S, S, 3): ``face`` scaled into ``box`` on black."""
  x, y, w, h = np.round(np.asarray(box) * image_size).astype(int)
  canvas = np.zeros((image_size, image_size, 3), np.uint8)
  canvas[y:y + h, x:x + w] = np.asarray(
      Image.fromarray(face).resize((w, h), Image.BILINEAR))
  return canvas


def face_source(root: str, split: str, image_size: int, test_count: int,
                num_threads: int = 8) -> sources.Source:
  """The faces of ``split`` with their ``ATTRIBUTES`` (one check of every
  file, errors naming the folder, as ``sources.attributes_source``); the
  test split is StarGAN's with ``test_count`` 1999."""
  return sources.attributes_source(
      root, image_size, 3, ATTRIBUTES, num_threads, split=split,
      test_count=test_count, resample='bilinear')


def make_source(spec: str, split: str, image_size: int = 64, seed: int = 0,
                canvases_per_image: int = 2, test_count: int = 1999,
                phrasings: str = 'split', num_threads: int = 8
                ) -> sources.Source:
  """The what-where faces of ``split`` (module doc) from
  ``whatwhere_faces:PATH`` (CelebA's layout: PATH/list_attr_celeba.txt)."""
  if not spec.startswith(SOURCE_PREFIX) or len(spec) == len(SOURCE_PREFIX):
    raise sources.DataError(f'data.source must be {SOURCE_PREFIX}PATH, got '
                            f'{spec!r}')
  templates = whatwhere.templates_of(split, phrasings, NUM_TRAIN_TEMPLATES,
                                     len(TEMPLATES))
  faces = face_source(spec[len(SOURCE_PREFIX):], split, image_size,
                      test_count, num_threads)
  split_id = whatwhere.SPLITS.index(split)

  def load(indices: np.ndarray) -> dict[str, np.ndarray]:
    indices = np.asarray(indices)
    rows = indices % faces.num_examples
    data = faces.load(rows)
    out = {k: [] for k in ('image', 'caption', 'contrast_caption', 'box',
                           'content')}
    for i, face, attributes in zip(indices, data['image'],
                                   data['attributes']):
      rng = np.random.default_rng((seed, split_id, int(i)))
      box = whatwhere.random_box(rng, image_size, (MIN_HEIGHT, MAX_HEIGHT),
                                 (MIN_ASPECT, MAX_ASPECT))
      content = content_of(attributes, box)
      template = int(rng.choice(templates))
      contrast = contrast_content(content, np.random.default_rng(
          (seed, split_id, int(i), 1)))
      caption, contrast_caption = whatwhere.caption_pair(
          caption_for, content, contrast, template, rng)
      out['image'].append(paste(face, box, image_size))
      out['caption'].append(whatwhere.encode(caption, CAPTION_LENGTH))
      out['contrast_caption'].append(whatwhere.encode(contrast_caption,
                                                      CAPTION_LENGTH))
      out['box'].append(box)
      out['content'].append(content)
    batch = {k: np.stack(v) for k, v in out.items()}
    batch['attributes'] = data['attributes']
    return batch

  features = {
      'image': ((image_size, image_size, 3), np.dtype(np.uint8)),
      'caption': ((CAPTION_LENGTH,), np.dtype(np.int32)),
      'contrast_caption': ((CAPTION_LENGTH,), np.dtype(np.int32)),
      'box': ((4,), np.dtype(np.float32)),
      'content': ((len(CONTENT_NAMES),), np.dtype(np.int32)),
      'attributes': ((len(ATTRIBUTES),), np.dtype(np.float32)),
  }
  return sources.Source(
      f'whatwhere_faces[{faces.name},{split},{phrasings}]',
      faces.num_examples * canvases_per_image, features, load,
      attribute_names=ATTRIBUTES)


# --- Scoring ----------------------------------------------------------------

CLASSIFIER_SIZE = 32  # the attribute classifier reads faces at 32 x 32


def crops(images: np.ndarray, boxes: np.ndarray,
          size: int = CLASSIFIER_SIZE) -> np.ndarray:
  """uint8 (n, size, size, 3): each canvas's box, scaled (bilinear) to a
  square, as the classifier's training faces (``face_source`` at size)."""
  out = np.zeros((len(images), size, size, 3), np.uint8)
  for i, (image, box) in enumerate(zip(images, np.asarray(boxes))):
    out[i] = np.asarray(Image.fromarray(scoring.box_crop(image, box)).resize(
        (size, size), Image.BILINEAR))
  return out


def score(predict, images: np.ndarray, boxes: np.ndarray,
          content: np.ndarray) -> dict[str, np.ndarray]:
  """Per-image checks of uint8 canvases against what they were asked for:
  'attributes' (n, 8) bool, the classifier (``predict``: uint8 faces ->
  bool (n, 8)) on the box's crop agrees with the caption on each of
  ``ATTRIBUTES``; 'where_iou' as the digits' (``scoring``)."""
  said = attributes_of(content) > 0.5
  return {'attributes': predict(crops(images, boxes)) == said,
          'where_iou': scoring.iou(scoring.ink_boxes(images), boxes)}
