"""GAWWN as a family: text and a box in, an image with that content there out.

Reed, Akata, Mohan, Tenka, Schiele and Lee 2016, "Learning What and Where to
Draw" (NIPS), bounding-box conditioning, as the authors' Lua release trains
it (reedscot/nips2016, ``main_cub_bbox.lua`` with ``train_cub_bbox.sh``),
on data where "what" and "where" can be checked: captioned digits
(``whatwhere``) or CelebA faces (``faces``), each a ``Task``. Players
'text' (the caption encoder, ``text``), 'g' and 'd' (``models``); the update
is ``step.make_train_step``; this file wires them to the config, the grids,
the evaluation and the ``generate`` mode.

Followed from the release: G's global and local paths and D's region and
global branches with the spatial transformer on a 16 x 16 grid (``models``),
batch norm, N(0, 0.02) init, GAN-CLS with cls_weight 0.5 and wrong captions
by permuting the batch, non-saturating G loss, one D then one G step per
minibatch, Adam 2e-4 with beta1 0.5, noise N(0, 1) of 100 dimensions, batch
16 (``train_cub_bbox.sh``), a fixed caption encoder trained before the GAN
(``pretrain``).

Knowingly different:
  * the caption encoder is a small char-CNN-GRU trained here by DS-SJE on
    the task's own captions (the release loads CUB's precomputed 1,024-d
    char-CNN-RNN embeddings): ``text_steps`` DS-SJE updates of
    ``text_batch_size`` captions before the game's first step; beside the
    GRU it reads words through a max over the first conv layer's features
    (``model.text_read_words``);
  * 64 px and ngf = ndf = 32 on the digits (the release: 128 px, 128);
    the transposed convolutions after the 16 x 16 join halve the width as
    the release's do, one fewer of them;
  * no flips or crops: a mirrored digit is no digit and a caption says
    "left"; the release flips birds and their boxes;
  * the learning rate is constant (``optimizer.schedule``); the release
    halves it every 100 of its 600 epochs;
  * D judges (real, right caption), (real, wrong) and (fake, right) in one
    batch, where the release makes three passes; with batch norm before its
    last layer those starve D (``step``; ``d_separate_passes`` restores
    them);
  * half of D's wrong captions are contrast captions, the example's own
    sentence with one attribute changed (``contrast_fraction``; ``step``
    says why); the release's are all the batch's captions permuted;
  * G's step reads D's logits from a fresh pass through the updated D, as
    PyTorch's DCGAN does; the release back-propagates through the updated
    D's weights but the activations of its pass before the update.

Evaluation (``evaluate``): ``eval_num_images`` test examples (unseen digit
images, held-out phrasings) generated from their caption and box and scored
by ``scoring``: ``what_accuracy``, ``colour_accuracy``, ``where_iou``; the
controls ``what_accuracy_shuffled`` / ``colour_accuracy_shuffled`` (each
image generated from another example's caption, scored against its own:
chance if G reads the caption), ``where_iou_moved_old`` / ``_new`` (each
image generated in another example's box: IoU with the old and the new
box); ``*_real`` the same checks on the real canvases (the ceilings); and
``text_retrieval`` (the encoder: how often a test caption's best image of
its 64 is one with the same content) and ``text_probe_digit`` / ``_colour``
/ ``_size`` / ``_place`` (``text.attribute_probes``: what the embedding
carries, read by a linear probe fitted on 2,000 training captions);
``d_prefers_right_caption`` (does D read the caption's words: how often it
scores a real canvas higher with its own caption than with its contrast
caption, 0.5 if it does not). On
the faces, ``FaceEvaluator``: the attribute classifier's agreement with the
caption in place of digit and colour (``faces.score``), and the level the
shuffled control should fall to.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.core import errors, optim, visualize
from gan_jax.core import state as state_lib
from gan_jax.data import sources
from gan_jax.eval import digits_classifier
from gan_jax.families import base
from gan_jax.families.dcgan.step import to_model_range
from gan_jax.families.gawwn import faces, models, scoring, step, text
from gan_jax.families.gawwn import whatwhere
from gan_jax.families.stargan import classifier as attribute_classifier
from gan_jax.nn import layers

METRICS = ('what', 'where')
_RETRIEVAL_SET = 64
_PROBE_SET = 2000  # training captions the attribute probes are fitted on


def parse_box(spec) -> np.ndarray:
  """'x,y,w,h' (fractions of the canvas) -> float32 (4,)."""
  try:
    box = np.array([float(v) for v in str(spec).split(',')], np.float32)
  except ValueError:
    box = np.zeros(0)
  errors.require(box.shape == (4,), 'box', 'must be x,y,w,h: four numbers',
                 spec)
  x, y, w, h = box
  errors.require(w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 1.0001
                 and y + h <= 1.0001, 'box', 'must lie inside the canvas: '
                 'x, y >= 0, w, h > 0, x + w <= 1, y + h <= 1', spec)
  return box


class GAWWN(base.Family):
  """What (a caption) and where (a box) to draw."""
  name = 'gawwn'
  progress = (('d_loss', 'D', '%.3f'),
              ('g_loss', 'G', '%.3f'), ('d_real', 'D(x,t)', '%.2f'),
              ('d_wrong', 'D(x,t~)', '%.2f'), ('d_fake', 'D(G,t)', '%.2f'))

  @classmethod
  def validate(cls, config) -> None:
    errors.positive_ints(config, 'model.ngf', 'model.ndf', 'model.z_dim',
                         'model.text_dim', 'model.text_width',
                         'data.canvases_per_image', 'num_sample_images',
                         'text_batch_size')
    errors.require(isinstance(config.text_steps, int)
                   and config.text_steps >= 0, 'text_steps',
                   'must be a non-negative integer', config.text_steps)
    errors.one_of(config, 'model.conv_impl', layers.IMPLS)
    errors.require(config.data.source == 'whatwhere_digits' or (
        config.data.source.startswith(faces.SOURCE_PREFIX)
        and len(config.data.source) > len(faces.SOURCE_PREFIX)),
                   'data.source', "must be 'whatwhere_digits' or "
                   f"'{faces.SOURCE_PREFIX}PATH' (CelebA's layout)",
                   config.data.source)
    errors.positive_ints(config, 'eval_classifier_steps', 'data.test_count')
    errors.one_of(config, 'channels', (3,))
    try:
      models.num_upsamplings(config.image_size)
    except ValueError as e:
      raise errors.ConfigError(f'config.image_size: {e}') from e
    errors.require(0 <= config.cls_weight <= 1, 'cls_weight',
                   'must be in [0, 1]', config.cls_weight)
    errors.require(0 <= config.contrast_fraction <= 1, 'contrast_fraction',
                   'must be in [0, 1]', config.contrast_fraction)
    errors.require(config.interpolation_weight >= 0, 'interpolation_weight',
                   'must be non-negative', config.interpolation_weight)
    errors.boolean(config, 'd_separate_passes')
    errors.require(config.text_lr > 0, 'text_lr', 'must be positive',
                   config.text_lr)
    optim.validate(config)
    if config.caption:
      try:
        whatwhere.encode(config.caption, make_task(config).caption_length)
      except ValueError as e:
        raise errors.ConfigError(f'config.caption: {e}') from e
    parse_box(config.box)

  @classmethod
  def validate_evaluation(cls, config) -> None:
    unknown = [m for m in config.eval_metrics if m not in METRICS]
    errors.require(not unknown, 'eval_metrics',
                   f'has unknown {unknown}, choose from {METRICS}',
                   config.eval_metrics)
    errors.positive_ints(config, 'eval_num_images', 'eval_batch_size')

  def __init__(self, config, num_train_steps: int = 1,
               axis_name: str | None = None):
    super().__init__(config, num_train_steps, axis_name)
    model = config.model
    self.generator = models.Generator(
        image_size=config.image_size, ngf=model.ngf, axis_name=axis_name,
        conv_impl=model.conv_impl)
    self.discriminator = models.Discriminator(
        image_size=config.image_size, ndf=model.ndf,
        text_width=model.text_width, axis_name=axis_name,
        conv_impl=model.conv_impl)
    self.text_encoder = text.CharEncoder(
        model.text_dim, read_words=model.text_read_words)
    self.image_encoder = text.ImageEncoder(model.text_dim)
    self.g_tx = optim.make_optimizer(config.optimizer, num_train_steps)
    self.d_tx = optim.make_optimizer(config.optimizer, num_train_steps,
                                     config.optimizer.d_lr_multiplier)
    self.text_tx = optax.adam(config.text_lr)  # pretrain's, not the game's
    self.train_step = step.make_train_step(
        self.generator, self.discriminator, self.text_encoder,
        self.g_tx, self.d_tx,
        z_dim=model.z_dim,
        cls_weight=config.cls_weight,
        interpolation_weight=config.interpolation_weight,
        separate_passes=config.d_separate_passes,
        contrast_fraction=config.contrast_fraction, axis_name=axis_name)
    sampler = self.generator.clone(axis_name=None)
    self._generate = jax.jit(functools.partial(
        _generate, sampler, model.sample_with_batch_stats))
    self._embed = jax.jit(lambda params, captions: self.text_encoder.apply(
        {'params': params['text']}, captions))
    self._embed_images = jax.jit(
        lambda params, images: self.image_encoder.apply(
            {'params': params['image']}, to_model_range(images)))
    judge = self.discriminator.clone(axis_name=None)
    self._judge = jax.jit(lambda d, images, boxes, embeddings: judge.apply(
        {'params': d.params, 'batch_stats': d.batch_stats},
        to_model_range(images), boxes, embeddings, train=True,
        mutable=['batch_stats'])[0])

  @property
  def batches_per_step(self) -> int:
    return 1

  @functools.cached_property
  def task(self) -> 'Task':
    return make_task(self.config)

  def _source(self, split: str) -> sources.Source:
    return self.task.make_source(split)

  def make_source(self) -> sources.Source:
    return self._source('train')

  def init(self, key):
    config = self.config
    keys = jax.random.split(key, 5)
    n, size = 2, config.image_size
    images = jnp.zeros((n, size, size, 3))
    captions = jnp.ones((n, self.task.caption_length), jnp.int32)
    embedding = jnp.zeros((n, config.model.text_dim))
    boxes = jnp.full((n, 4), 0.25)
    text_params = {
        'text': self.text_encoder.init(keys[0], captions)['params'],
        'image': self.image_encoder.init(keys[1], images)['params']}
    return state_lib.new_state(keys[4], {
        'text': state_lib.make_player({'params': text_params}, self.text_tx),
        'g': state_lib.make_player(self.generator.init(
            keys[2], jnp.zeros((n, config.model.z_dim)), embedding, boxes),
                                   self.g_tx),
        'd': state_lib.make_player(self.discriminator.init(
            keys[3], images, boxes, embedding), self.d_tx)})

  def pretrain(self, state, source):
    """The paper's recipe: the caption encoder learns first (DS-SJE,
    ``text.pretrain``), then the game reads it, fixed."""
    config = self.config
    if not config.text_steps:
      return state
    player = text.pretrain(
        text.make_pretrain_step(self.text_encoder, self.image_encoder,
                                self.text_tx),
        state.players['text'], source, num_steps=config.text_steps,
        batch_size=config.text_batch_size, seed=config.seed)
    return state.replace(players={**state.players, 'text': player})

  # --- Generation ---------------------------------------------------------

  def generate(self, state, captions: np.ndarray, boxes: np.ndarray,
               key: jax.Array) -> np.ndarray:
    """uint8 images for character codes (n, L) and boxes (n, 4), in
    batches of ``eval_batch_size`` (the last one padded with repeats, so
    batch statistics always see a full batch), z from ``key``."""
    chunk = self.config.eval_batch_size
    g = state.players['g']
    embeddings = np.asarray(self._embed(state.players['text'].params,
                                        jnp.asarray(captions)))
    out = []
    for start in range(0, len(captions), chunk):
      rows = np.arange(start, start + chunk) % len(captions)
      z = jax.random.normal(jax.random.fold_in(key, start),
                            (chunk, self.config.model.z_dim))
      images = self._generate(g.params, g.batch_stats, z, embeddings[rows],
                              np.asarray(boxes, np.float32)[rows])
      out.append(visualize.to_uint8(np.asarray(images))[:len(captions)
                                                         - start])
    return np.concatenate(out)

  @functools.cached_property
  def test_data(self) -> dict:
    source = self._source('test')
    num = min(self.config.eval_num_images, source.num_examples)
    return source.load(np.arange(num))

  @functools.cached_property
  def probe_data(self) -> dict:
    """Training captions for ``text.attribute_probes``."""
    source = self._source('train')
    return source.load(np.arange(min(_PROBE_SET, source.num_examples)))

  def sample_grid(self, state):
    """Rows: a test canvas, then G's images for its caption and box, each
    with its own z."""
    num = self.config.num_sample_images
    data = self.test_data
    columns = 8
    captions = np.repeat(data['caption'][:num], columns - 1, 0)
    boxes = np.repeat(data['box'][:num], columns - 1, 0)
    fake = self.generate(state, captions, boxes, jax.random.PRNGKey(1))
    fake = fake.reshape(num, columns - 1, *fake.shape[1:])
    grid = np.concatenate([data['image'][:num, None], fake], 1)
    return visualize.from_uint8(grid.reshape(-1, *grid.shape[2:])), columns

  # --- Evaluation ---------------------------------------------------------

  def make_evaluator(self, training_source, cache_dir):
    del training_source
    return self.task.make_evaluator(cache_dir)

  def evaluate(self, evaluator: '_Evaluator', state) -> dict:
    data = self.test_data
    key = jax.random.PRNGKey(self.config.seed + 2)
    n = len(data['image'])
    other = np.roll(np.arange(n), n // 2)  # another example's caption/box
    fake = self.generate(state, data['caption'], data['box'], key)
    results = evaluator.checks(fake, data['box'], data['content'])
    real = evaluator.checks(data['image'], data['box'], data['content'])
    results.update({f'{k}_real': v for k, v in real.items()})
    shuffled = self.generate(state, data['caption'][other], data['box'], key)
    checks = evaluator.checks(shuffled, data['box'], data['content'])
    results.update({f'{k}_shuffled': v for k, v in checks.items()
                    if not k.startswith('where')})
    results.update(evaluator.agreement(data['content'],
                                       data['content'][other]))
    moved = self.generate(state, data['caption'], data['box'][other], key)
    ink = scoring.ink_boxes(moved)
    results['where_iou_moved_old'] = float(np.mean(scoring.iou(ink,
                                                               data['box'])))
    results['where_iou_moved_new'] = float(np.mean(scoring.iou(
        ink, data['box'][other])))
    text_params = state.players['text'].params
    hits = []
    for start in range(0, n - _RETRIEVAL_SET + 1, _RETRIEVAL_SET):
      rows = slice(start, start + _RETRIEVAL_SET)
      hits.append(text.retrieval_accuracy(
          self._embed_images(text_params, data['image'][rows]),
          self._embed(text_params, data['caption'][rows]),
          data['content'][rows]))
    if hits:
      results['text_retrieval'] = float(np.mean(hits))
    probe = self.probe_data
    probes = text.attribute_probes(
        self.task.content_names,
        self._embed(text_params, probe['caption']), probe['content'],
        self._embed(text_params, data['caption']), data['content'])
    results.update({f'text_{k}': v for k, v in probes.items()})
    results['d_prefers_right_caption'] = self._d_reads_captions(state, data)
    if jax.process_index() == 0:
      evaluator.save_figures(self, state)
    return results

  def _d_reads_captions(self, state, data) -> float:
    """How often D scores a real test canvas higher with its own caption
    than with its contrast caption (one attribute changed): 0.5 when D
    does not read that word. D sees, as in training, a batch of three
    kinds of pair: (x, right), (x, contrast), (x, another's caption)."""
    text_params, d = state.players['text'].params, state.players['d']
    chunk = self.config.eval_batch_size
    wins = []
    for start in range(0, len(data['image']) - chunk + 1, chunk):
      rows = slice(start, start + chunk)
      right = self._embed(text_params, data['caption'][rows])
      contrast = self._embed(text_params, data['contrast_caption'][rows])
      logits = np.asarray(self._judge(
          d, np.tile(data['image'][rows], (3, 1, 1, 1)),
          np.tile(data['box'][rows], (3, 1)),
          jnp.concatenate([right, contrast, jnp.roll(right, 1, 0)])))
      wins.append(logits[:chunk] > logits[chunk:2 * chunk])
    return float(np.mean(np.concatenate(wins))) if wins else float('nan')

  # --- --mode=generate ----------------------------------------------------

  @property
  def modes(self):
    return {'generate': self.generate_mode}

  def figures(self, state, caption: str, box: np.ndarray):
    """(box grid, caption grid): uint8 (rows * S, columns * S, 3). The
    first: ``caption`` in a box that moves along rows and grows along
    columns (the paper's Fig. 4); the second: ``box`` with a caption per
    image (``Task.grid_captions``; the paper's Fig. 5)."""
    size = self.config.image_size
    task = self.task
    codes = whatwhere.encode(caption, task.caption_length)
    positions = np.linspace(0.0, 1.0, 6)
    heights = np.linspace(task.min_height, task.max_height, 6)
    boxes = []
    for row in range(6):
      for column in range(6):
        h = heights[column]
        w = task.grid_aspect * h
        boxes.append([positions[row] * (1 - w), positions[row] * (1 - h),
                      w, h])
    boxes = np.array(boxes, np.float32)
    moving = self.generate(state, np.repeat(codes[None], len(boxes), 0),
                           boxes, jax.random.PRNGKey(3))
    captions, columns = task.grid_captions(box)
    captioned = self.generate(state, captions,
                              np.repeat(box[None], len(captions), 0),
                              jax.random.PRNGKey(4))

    def tile(images, columns):
      rows = len(images) // columns
      return images.reshape(rows, columns, size, size, 3).transpose(
          0, 2, 1, 3, 4).reshape(rows * size, columns * size, 3)

    return tile(moving, 6), tile(captioned, columns)

  def generate_mode(self, state, step_: int, output: str) -> str:
    """--mode=generate --config.caption='a large blue 3' --config.box=x,y,w,h:
    OUTPUT/sample_*.png (``num_sample_images`` images, one z each) and the
    box and caption grids (``figures``)."""
    from PIL import Image  # pylint: disable=g-import-not-at-top
    config = self.config
    errors.require(bool(config.caption), 'caption',
                   "must be set for --mode=generate, e.g. 'a large blue 3'",
                   config.caption)
    box = parse_box(config.box)
    num = config.num_sample_images
    images = self.generate(state, np.repeat(
        whatwhere.encode(config.caption, self.task.caption_length)[None],
        num, 0),
                           np.repeat(box[None], num, 0),
                           jax.random.PRNGKey(config.seed))
    os.makedirs(output, exist_ok=True)
    for i, image in enumerate(images):
      Image.fromarray(image).save(os.path.join(output, f'sample_{i:03d}.png'))
    moving, captioned = self.figures(state, config.caption, box)
    Image.fromarray(moving).save(os.path.join(output, 'boxes.png'))
    Image.fromarray(captioned).save(os.path.join(output, 'captions.png'))
    print(f'Wrote {num} images of {config.caption!r} in box {config.box} '
          f'and the box and caption grids of the step-{step_} G to {output}')
    return output


class _Evaluator:
  """The grids every evaluation writes; ``checks`` is the task's."""
  figure_caption: str
  figure_box = np.array([0.3, 0.2, 0.4, 0.6], np.float32)

  def __init__(self, config, cache_dir: str):
    self.config = config
    self.active = tuple(config.eval_metrics)
    self.skipped = {}
    self.grid_dir = cache_dir

  def save_figures(self, family: GAWWN, state) -> None:
    from PIL import Image  # pylint: disable=g-import-not-at-top
    os.makedirs(self.grid_dir, exist_ok=True)
    step_ = int(jax.device_get(state.step))
    moving, captioned = family.figures(state, self.figure_caption,
                                       self.figure_box)
    Image.fromarray(moving).save(os.path.join(
        self.grid_dir, f'boxes_step_{step_:07d}.png'))
    Image.fromarray(captioned).save(os.path.join(
        self.grid_dir, f'captions_step_{step_:07d}.png'))


class Evaluator(_Evaluator):
  """Digits: the digits classifier and the checks of ``scoring``."""
  figure_caption = 'a large red 3 in the middle'

  def __init__(self, config, cache_dir: str):
    super().__init__(config, cache_dir)
    self.classifier = digits_classifier.get_classifier(
        scoring.CLASSIFIER_SIZE, 1, cache_dir)

  def checks(self, images, boxes, content) -> dict[str, float]:
    each = scoring.score(lambda x: self.classifier.apply(x)[0], images,
                         boxes, content)
    return {'what_accuracy': float(np.mean(each['what'])),
            'colour_accuracy': float(np.mean(each['colour'])),
            'where_iou': float(np.mean(each['where_iou']))}

  def agreement(self, content, other) -> dict[str, float]:
    del content, other  # the shuffled controls' chance levels are known
    return {}


class FaceEvaluator(_Evaluator):
  """Faces: the attribute classifier (StarGAN's, ``stargan.classifier``)
  trained on the training faces, on each box's crop (``faces.score``)."""
  figure_caption = 'a smiling young woman with blond hair in the middle'

  def __init__(self, config, cache_dir: str):
    super().__init__(config, cache_dir)
    root = config.data.source[len(faces.SOURCE_PREFIX):]
    size = faces.CLASSIFIER_SIZE
    data = config.data
    train = faces.face_source(root, 'train', size, data.test_count,
                              data.num_workers)
    test = faces.face_source(root, 'test', size, data.test_count,
                             data.num_workers)
    test_data = test.load(np.arange(test.num_examples))

    def load_train():
      data = train.load(np.arange(train.num_examples))
      return data['image'], data['attributes']

    self.classifier = attribute_classifier.get_classifier(
        load_train, test_data['image'], test_data['attributes'],
        faces.ATTRIBUTES, train.name, config.eval_classifier_steps,
        cache_dir)

  def checks(self, images, boxes, content) -> dict[str, float]:
    each = faces.score(self.classifier.predict, images, boxes, content)
    results = {'attribute_accuracy': float(np.mean(each['attributes']))}
    for j, name in enumerate(faces.ATTRIBUTES):
      results[f'attribute_accuracy_{name.lower()}'] = float(
          np.mean(each['attributes'][:, j]))
    results['where_iou'] = float(np.mean(each['where_iou']))
    return results

  def agreement(self, content, other) -> dict[str, float]:
    """The shuffled control's level for a G that draws what it is told:
    how often another caption's attributes agree with the own."""
    return {'attribute_accuracy_shuffled_chance': float(np.mean(
        faces.attributes_of(content) == faces.attributes_of(other)))}


@dataclasses.dataclass(frozen=True)
class Task:
  """What a data source brings to the family: its examples, what its
  captions say (``content_names``), its grids and its checks."""
  make_source: Callable[[str], sources.Source]  # split -> source
  content_names: tuple[str, ...]
  caption_length: int
  min_height: float  # box heights of the box grid
  max_height: float
  grid_aspect: float  # box width / height there
  grid_captions: Callable[[np.ndarray], tuple[np.ndarray, int]]
  make_evaluator: Callable[[str], _Evaluator]  # cache_dir -> evaluator


def _digit_grid_captions(box: np.ndarray) -> tuple[np.ndarray, int]:
  """Digits 0-9 down the rows, the six colours across."""
  rng = np.random.default_rng(0)
  captions = []
  for digit in range(10):
    for colour in range(len(whatwhere.COLOURS)):
      content = np.array([digit, colour, whatwhere.size_class(box[3]),
                          whatwhere.place_class(box)])
      captions.append(whatwhere.encode(whatwhere.caption_for(
          content, whatwhere.NUM_TRAIN_TEMPLATES, rng)))
  return np.stack(captions), len(whatwhere.COLOURS)


def _face_grid_captions(box: np.ndarray) -> tuple[np.ndarray, int]:
  """Rows: woman / man x young / older x serious / smiling; columns: no
  hair colour, black, blond, brown hair."""
  rng = np.random.default_rng(0)
  captions = []
  for male in (0, 1):
    for young in (1, 0):
      for smiling in (0, 1):
        for hair in range(len(faces.HAIR)):
          content = np.array([male, young, smiling, hair, 0, 0,
                              whatwhere.size_class(box[3]),
                              whatwhere.place_class(box)])
          captions.append(whatwhere.encode(faces.caption_for(
              content, faces.NUM_TRAIN_TEMPLATES, rng),
                                           faces.CAPTION_LENGTH))
  return np.stack(captions), len(faces.HAIR)


def make_task(config) -> Task:
  """The task of ``config.data.source`` (``validate`` checked it)."""
  data = config.data
  if data.source == 'whatwhere_digits':
    return Task(
        make_source=lambda split: whatwhere.make_source(
            split, config.image_size, data.seed, data.canvases_per_image),
        content_names=whatwhere.CONTENT_NAMES,
        caption_length=whatwhere.CAPTION_LENGTH,
        min_height=whatwhere.MIN_HEIGHT, max_height=whatwhere.MAX_HEIGHT,
        grid_aspect=0.7, grid_captions=_digit_grid_captions,
        make_evaluator=lambda cache_dir: Evaluator(config, cache_dir))
  return Task(
      make_source=lambda split: faces.make_source(
          data.source, split, config.image_size, data.seed,
          data.canvases_per_image, data.test_count,
          num_threads=data.num_workers),
      content_names=faces.CONTENT_NAMES,
      caption_length=faces.CAPTION_LENGTH,
      min_height=faces.MIN_HEIGHT, max_height=faces.MAX_HEIGHT,
      grid_aspect=0.9, grid_captions=_face_grid_captions,
      make_evaluator=lambda cache_dir: FaceEvaluator(config, cache_dir))


def _generate(generator, with_batch_stats, params, stats, z, embeddings,
              boxes):
  images, _ = generator.apply({'params': params, 'batch_stats': stats}, z,
                              embeddings, boxes, train=with_batch_stats,
                              mutable=['batch_stats'])
  return images


FAMILY = GAWWN
