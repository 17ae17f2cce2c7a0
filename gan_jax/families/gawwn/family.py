"""GAWWN as a family: text and a box in, an image with that content there out.

Reed, Akata, Mohan, Tenka, Schiele and Lee 2016, "Learning What and Where to
Draw" (NIPS), bounding-box conditioning, as the authors' Lua release trains
it (reedscot/nips2016, ``main_cub_bbox.lua`` with ``train_cub_bbox.sh``),
on data where "what" and "where" can be checked (``whatwhere``). Players
'text' (the caption encoder, ``text``), 'g' and 'd' (``models``); the update
is ``step.make_train_step``; this file wires them to the config, the grids,
the evaluation and the ``generate`` mode.

Followed from the release: G's global and local paths and D's region and
global branches with the spatial transformer on a 16 x 16 grid (``models``),
batch norm, N(0, 0.02) init, GAN-CLS with cls_weight 0.5 and wrong captions
by permuting the batch, non-saturating G loss, one D then one G step per
minibatch, Adam 2e-4 with beta1 0.5, noise N(0, 1) of 100 dimensions, batch
16 (``train_cub_bbox.sh``), a fixed caption encoder trained before the GAN.

Knowingly different:
  * the caption encoder is a small char-CNN-GRU trained here by DS-SJE on
    the task's own captions (the release loads CUB's precomputed 1,024-d
    char-CNN-RNN embeddings), in the run's first ``text_steps`` steps,
    while the GAN already trains on its embeddings (``step``);
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
its 64 is one with the same content).
"""

from __future__ import annotations

import functools
import os

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
from gan_jax.families.gawwn import models, scoring, step, text, whatwhere
from gan_jax.nn import layers

METRICS = ('what', 'where')
_RETRIEVAL_SET = 64


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
  progress = (('text_loss', 'DS-SJE', '%.3f'), ('d_loss', 'D', '%.3f'),
              ('g_loss', 'G', '%.3f'), ('d_real', 'D(x,t)', '%.2f'),
              ('d_wrong', 'D(x,t~)', '%.2f'), ('d_fake', 'D(G,t)', '%.2f'))

  @classmethod
  def validate(cls, config) -> None:
    errors.positive_ints(config, 'model.ngf', 'model.ndf', 'model.z_dim',
                         'model.text_dim', 'model.text_width',
                         'data.canvases_per_digit', 'num_sample_images')
    errors.require(isinstance(config.text_steps, int)
                   and config.text_steps >= 0, 'text_steps',
                   'must be a non-negative integer', config.text_steps)
    errors.one_of(config, 'model.conv_impl', layers.IMPLS)
    errors.one_of(config, 'data.source', ('whatwhere_digits',))
    errors.one_of(config, 'channels', (3,))
    try:
      models.num_upsamplings(config.image_size)
    except ValueError as e:
      raise errors.ConfigError(f'config.image_size: {e}') from e
    errors.require(0 <= config.cls_weight <= 1, 'cls_weight',
                   'must be in [0, 1]', config.cls_weight)
    errors.require(config.interpolation_weight >= 0, 'interpolation_weight',
                   'must be non-negative', config.interpolation_weight)
    errors.boolean(config, 'd_separate_passes')
    errors.require(config.text_lr > 0, 'text_lr', 'must be positive',
                   config.text_lr)
    optim.validate(config)
    if config.caption:
      try:
        whatwhere.encode(config.caption)
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
    self.text_encoder = text.CharEncoder(model.text_dim)
    self.image_encoder = text.ImageEncoder(model.text_dim)
    self.g_tx = optim.make_optimizer(config.optimizer, num_train_steps)
    self.d_tx = optim.make_optimizer(config.optimizer, num_train_steps,
                                     config.optimizer.d_lr_multiplier)
    # The encoder learns for text_steps steps, then its rate is 0.
    self.text_tx = optax.adam(optax.piecewise_constant_schedule(
        config.text_lr, {config.text_steps: 0.0}))
    self.train_step = step.make_train_step(
        self.generator, self.discriminator, self.text_encoder,
        self.image_encoder, self.g_tx, self.d_tx, self.text_tx,
        z_dim=model.z_dim,
        cls_weight=config.cls_weight,
        interpolation_weight=config.interpolation_weight,
        separate_passes=config.d_separate_passes, axis_name=axis_name)
    sampler = self.generator.clone(axis_name=None)
    self._generate = jax.jit(functools.partial(
        _generate, sampler, model.sample_with_batch_stats))
    self._embed = jax.jit(lambda params, captions: self.text_encoder.apply(
        {'params': params['text']}, captions))
    self._embed_images = jax.jit(
        lambda params, images: self.image_encoder.apply(
            {'params': params['image']}, to_model_range(images)))

  @property
  def batches_per_step(self) -> int:
    return 1

  def _source(self, split: str) -> sources.Source:
    config = self.config
    return whatwhere.make_source(split, config.image_size, config.data.seed,
                                 config.data.canvases_per_digit)

  def make_source(self) -> sources.Source:
    return self._source('train')

  def init(self, key):
    config = self.config
    keys = jax.random.split(key, 5)
    n, size = 2, config.image_size
    images = jnp.zeros((n, size, size, 3))
    captions = jnp.ones((n, whatwhere.CAPTION_LENGTH), jnp.int32)
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

  def make_evaluator(self, source, cache_dir):
    del source
    return Evaluator(self.config, cache_dir)

  def evaluate(self, evaluator: 'Evaluator', state) -> dict:
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
    results['what_accuracy_shuffled'] = checks['what_accuracy']
    results['colour_accuracy_shuffled'] = checks['colour_accuracy']
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
    if jax.process_index() == 0:
      evaluator.save_figures(self, state)
    return results

  # --- --mode=generate ----------------------------------------------------

  @property
  def modes(self):
    return {'generate': self.generate_mode}

  def figures(self, state, caption: str, box: np.ndarray):
    """(box grid, caption grid): uint8 (rows * S, columns * S, 3). The
    first: ``caption`` in a box that moves along rows and grows along
    columns (the paper's Fig. 4); the second: ``box`` with a caption per
    row (digits 0-9 in six colours across; Fig. 5). Each row has one z."""
    size = self.config.image_size
    codes = whatwhere.encode(caption)
    positions = np.linspace(0.0, 1.0, 6)
    heights = np.linspace(whatwhere.MIN_HEIGHT, whatwhere.MAX_HEIGHT, 6)
    boxes = []
    for row in range(6):
      for column in range(6):
        h = heights[column]
        w = 0.7 * h
        boxes.append([positions[row] * (1 - w), positions[row] * (1 - h),
                      w, h])
    boxes = np.array(boxes, np.float32)
    moving = self.generate(state, np.repeat(codes[None], len(boxes), 0),
                           boxes, jax.random.PRNGKey(3))
    rng = np.random.default_rng(0)
    captions = []
    for digit in range(10):
      for colour in range(len(whatwhere.COLOURS)):
        content = np.array([digit, colour, whatwhere.size_class(box[3]),
                            whatwhere.place_class(box)])
        captions.append(whatwhere.encode(whatwhere.caption_for(
            content, whatwhere.NUM_TRAIN_TEMPLATES, rng)))
    captioned = self.generate(state, np.stack(captions),
                              np.repeat(box[None], len(captions), 0),
                              jax.random.PRNGKey(4))

    def tile(images, columns):
      rows = len(images) // columns
      return images.reshape(rows, columns, size, size, 3).transpose(
          0, 2, 1, 3, 4).reshape(rows * size, columns * size, 3)

    return tile(moving, 6), tile(captioned, len(whatwhere.COLOURS))

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
        whatwhere.encode(config.caption)[None], num, 0),
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


class Evaluator:
  """The digits classifier and the checks of ``scoring``."""

  def __init__(self, config, cache_dir: str):
    self.config = config
    self.active = tuple(config.eval_metrics)
    self.skipped = {}
    self.grid_dir = cache_dir
    self.classifier = digits_classifier.get_classifier(
        scoring.CLASSIFIER_SIZE, 1, cache_dir)

  def checks(self, images, boxes, content) -> dict[str, float]:
    each = scoring.score(lambda x: self.classifier.apply(x)[0], images,
                         boxes, content)
    return {'what_accuracy': float(np.mean(each['what'])),
            'colour_accuracy': float(np.mean(each['colour'])),
            'where_iou': float(np.mean(each['where_iou']))}

  def save_figures(self, family: GAWWN, state) -> None:
    from PIL import Image  # pylint: disable=g-import-not-at-top
    os.makedirs(self.grid_dir, exist_ok=True)
    step_ = int(jax.device_get(state.step))
    moving, captioned = family.figures(state, 'a large red 3 in the middle',
                                       np.array([0.3, 0.2, 0.4, 0.6],
                                                np.float32))
    Image.fromarray(moving).save(os.path.join(
        self.grid_dir, f'boxes_step_{step_:07d}.png'))
    Image.fromarray(captioned).save(os.path.join(
        self.grid_dir, f'captions_step_{step_:07d}.png'))


def _generate(generator, with_batch_stats, params, stats, z, embeddings,
              boxes):
  images, _ = generator.apply({'params': params, 'batch_stats': stats}, z,
                              embeddings, boxes, train=with_batch_stats,
                              mutable=['batch_stats'])
  return images


FAMILY = GAWWN
