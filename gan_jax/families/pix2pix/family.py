"""Pix2Pix as a family: paired image-to-image translation, G(A) ~ B.

Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks", as the authors' released code trains it (junyanz/pytorch-CycleGAN-
and-pix2pix, ``--model pix2pix``). The players are ``models.UNetGenerator`` and
``models.PatchDiscriminator``, the update ``step.make_train_step``; this file
wires them to the config, the paired data (``gan_jax.data.paired``), the
grids, the evaluation on test pairs (``gan_jax.eval.translation``) and the
``translate`` mode.

Followed from the reference (``pix2pix_model.py``, ``networks.py``,
``base_options.py``/``train_options.py``, ``aligned_dataset.py``): the
networks layer for layer (parameter counts equal: 54,413,955 for unet_256,
2,768,705 for the PatchGAN), batch norm, dropout 0.5 kept on at test time,
N(0, 0.02) init, the BCE cGAN loss + 100 L1, D's loss halved, the update
order, Adam 2e-4 with beta (0.5, 0.999), batch 1, 100 + 100 epochs with a
linear decay, resize to load_size then a shared random crop and flip,
bicubic resizing, test images resized to the crop size only.

Knowingly different:
  * the rate decays per update, not per epoch (``optim.learning_rate``); the
    reference, on PyTorch >= 1.1, also shifts its per-epoch schedule one
    epoch early (it steps the scheduler before the optimizer), so its last
    epoch trains at rate 0;
  * batch norm never keeps running averages (the reference keeps them but,
    testing without ``--eval``, never uses them);
  * crops and flips are drawn on the device from the run's key (a pure
    function of seed and step: exact resume), not by Python's ``random``.

Evaluation (``evaluate``) translates every evaluation pair, one image at a
time so batch norm sees one image as in training at batch 1, with dropout
on and fixed keys, and scores the uint8 translations against the targets.
"""

from __future__ import annotations

import functools
import logging
import math

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.core import errors, optim, visualize
from gan_jax.core import state as state_lib
from gan_jax.data import paired, sources
from gan_jax.eval import evaluation, translation
from gan_jax.families import base
from gan_jax.families.dcgan.step import to_model_range
from gan_jax.families.pix2pix import models, step
from gan_jax.nn import layers

# Evaluation pairs drawn in the test grid written at every evaluation.
_TEST_GRID_PAIRS = 24


def validate_translation(config) -> None:
  """The checks every image-to-image family with a PatchGAN shares.

  Sizes, channel counts, the loss, the conv implementation, a PatchGAN that
  leaves at least one patch logit, a crop no larger than the resized image,
  and the optimiser; each family adds its generator, norm and data checks.
  """
  errors.positive_ints(config, 'image_size', 'model.base_width',
                       'model.d_layers', 'data.load_size',
                       'num_sample_images', 'data.num_workers',
                       'data.prefetch')
  errors.one_of(config, 'input_channels', (1, 3))
  errors.one_of(config, 'channels', (1, 3))
  errors.one_of(config, 'loss', step.LOSSES)
  errors.one_of(config, 'model.conv_impl', layers.IMPLS)
  patches = config.image_size // 2 ** config.model.d_layers - 2
  errors.require(patches >= 1, 'model.d_layers', f'leaves no patch logit '
                 f'at image_size {config.image_size}', config.model.d_layers)
  errors.require(config.data.load_size >= config.image_size,
                 'data.load_size', 'must be at least image_size (the crop)',
                 config.data.load_size)
  optim.validate(config)


class Pix2Pix(base.Family):
  """Paired translation A -> B with a U-Net G and a PatchGAN D."""
  name = 'pix2pix'
  progress = (('d_loss', 'D', '%.3f'), ('g_gan', 'G_GAN', '%.3f'),
              ('g_l1', 'G_L1', '%.3f'), ('d_real', 'D(A,B)', '%.2f'),
              ('d_fake', 'D(A,G(A))', '%.2f'))

  @classmethod
  def validate(cls, config) -> None:
    validate_translation(config)
    errors.one_of(config, 'model.generator', tuple(models.GENERATORS))
    errors.one_of(config, 'model.norm', models.NORMS)
    errors.one_of(config, 'data.direction', paired.DIRECTIONS)
    errors.boolean(config, 'model.dropout', 'model.conditional_d',
                   'data.flip')
    for field in ('gan_weight', 'l1_weight'):
      errors.require(config[field] >= 0, field, 'must be non-negative',
                     config[field])
    errors.require(config.gan_weight > 0 or config.l1_weight > 0,
                   'gan_weight', 'and l1_weight cannot both be 0 (nothing '
                   'to learn)', config.gan_weight)
    errors.require(config.model.init_stddev > 0, 'model.init_stddev',
                   'must be positive', config.model.init_stddev)
    levels = models.GENERATORS[config.model.generator]
    errors.require(config.image_size % 2 ** levels == 0, 'image_size',
                   f'must be a multiple of {2 ** levels} for '
                   f'model.generator {config.model.generator!r}',
                   config.image_size)
    for field, spec in (('data.source', config.data.source),
                        ('data.eval_source', config.data.eval_source)):
      if spec or field == 'data.source':
        errors.require(spec == 'digits_edges' or (
            spec.startswith('paired:') and len(spec) > len('paired:')),
                       field, f'must be {paired.SOURCES}', spec)

  @classmethod
  def validate_evaluation(cls, config) -> None:
    translation.validate(config)

  def __init__(self, config, num_train_steps: int = 1,
               axis_name: str | None = None):
    super().__init__(config, num_train_steps, axis_name)
    model = config.model
    self.generator = models.UNetGenerator(
        out_channels=config.channels,
        num_downs=models.GENERATORS[model.generator],
        base_width=model.base_width, norm=model.norm,
        use_dropout=model.dropout, init_stddev=model.init_stddev,
        axis_name=axis_name, conv_impl=model.conv_impl)
    self.discriminator = models.PatchDiscriminator(
        base_width=model.base_width, n_layers=model.d_layers,
        norm=model.norm, conditional=model.conditional_d,
        init_stddev=model.init_stddev, axis_name=axis_name,
        conv_impl=model.conv_impl)
    opt = config.optimizer
    self.g_tx = optim.make_optimizer(opt, num_train_steps)
    self.d_tx = optim.make_optimizer(opt, num_train_steps,
                                     opt.d_lr_multiplier)
    self.train_step = step.make_train_step(
        self.generator, self.discriminator, self.g_tx, self.d_tx,
        loss=config.loss, gan_weight=config.gan_weight,
        l1_weight=config.l1_weight, crop_size=config.image_size,
        flip=config.data.flip, axis_name=axis_name)
    self._translate = jax.jit(functools.partial(
        _translate_each, self.generator.clone(axis_name=None)))

  def make_source(self) -> sources.Source:
    config = self.config
    return paired.make_paired_source(
        config.data.source, 'train', config.data.load_size,
        config.input_channels, config.channels, config.data.direction,
        num_threads=max(config.data.num_workers, 1))

  def init(self, key):
    config = self.config
    g_key, dropout_key, d_key, rng = jax.random.split(key, 4)
    size = config.image_size
    a = jnp.zeros((1, size, size, config.input_channels))
    b = jnp.zeros((1, size, size, config.channels))
    g_vars = self.generator.init({'params': g_key, 'dropout': dropout_key}, a)
    d_vars = self.discriminator.init(d_key, a, b)
    return state_lib.new_state(rng, {
        'g': state_lib.make_player(g_vars, self.g_tx),
        'd': state_lib.make_player(d_vars, self.d_tx)})

  # --- Evaluation pairs, translation, grids ---------------------------------

  @functools.cached_property
  def eval_pairs(self) -> dict[str, np.ndarray]:
    """Every evaluation pair, resized to image_size: 'input', 'image' (and
    'label' for the digits); the training pairs if no test set is implied."""
    config = self.config
    spec = config.data.eval_source or paired.eval_spec(config.data.source)
    split = 'test'
    if spec is None:
      spec, split = config.data.source, 'train'
      logging.warning('data.source %s implies no test pairs and '
                      'data.eval_source is empty: grids and evaluation use '
                      'training pairs', spec)
    source = paired.make_paired_source(
        spec, split, config.image_size, config.input_channels,
        config.channels, config.data.direction)
    pairs = source.load(np.arange(source.num_examples))
    return {'name': source.name, **pairs}

  def translate(self, state, inputs: np.ndarray, key: jax.Array,
                chunk: int = 0) -> np.ndarray:
    """uint8 inputs (n, S, S, C_in) -> G's translations in [-1, 1], one
    image at a time (batch norm per image, dropout on, as the reference's
    test at batch 1), in chunks of ``chunk`` images (default
    eval_batch_size; the last one padded, so grids and evaluation share one
    compile). Image i's dropout key is fold_in(key, i), whatever the
    chunking."""
    chunk = chunk or self.config.eval_batch_size
    params = state.players['g'].params
    return np.concatenate([
        np.asarray(self._translate(params, padded, key,
                                   np.arange(start, start + chunk)))[:count]
        for start, padded, count in evaluation.padded_chunks(inputs, chunk)])

  def _eval_key(self) -> jax.Array:
    return jax.random.fold_in(jax.random.PRNGKey(self.config.seed),
                              evaluation.EVAL_STREAM)

  def _triplets(self, outputs: np.ndarray) -> tuple[np.ndarray, int]:
    """[A, G(A), B] of the first len(outputs) evaluation pairs (outputs
    in [-1, 1]), as one image array and the grid's columns."""
    num = len(outputs)
    inputs = visualize.from_uint8(self.eval_pairs['input'][:num])
    targets = visualize.from_uint8(self.eval_pairs['image'][:num])
    channels = max(inputs.shape[-1], outputs.shape[-1])
    widen = lambda x: np.repeat(x, channels // x.shape[-1], -1)  # noqa: E731
    images = np.stack([widen(inputs), widen(outputs), widen(targets)], 1)
    per_row = max(1, round(math.sqrt(num / 3)))  # triplets per row
    return images.reshape(-1, *images.shape[2:]), 3 * per_row

  def sample_grid(self, state):
    inputs = self.eval_pairs['input'][:self.config.num_sample_images]
    return self._triplets(self.translate(state, inputs, self._eval_key()))

  def make_evaluator(self, training_source, cache_dir):
    del training_source  # scored on the evaluation pairs, not the training data
    pairs = self.eval_pairs
    evaluator = translation.TranslationEvaluator(
        self.config, pairs['image'], cache_dir, labels=pairs.get('label'),
        name=pairs['name'])
    evaluator.grid_dir = cache_dir
    return evaluator

  def evaluate(self, evaluator, state) -> dict:
    """Scores of G on every evaluation pair; writes the first pairs' grid to
    ``eval/test_grid_step_N.png`` (input | output | target)."""
    outputs = self.translate(state, self.eval_pairs['input'],
                             self._eval_key())
    results = evaluator.score(visualize.to_uint8(outputs))
    if jax.process_index() == 0:
      translation.save_test_grid(evaluator.grid_dir, state.step,
                                 *self._triplets(outputs[:_TEST_GRID_PAIRS]))
    return results

  # --- --mode=translate -------------------------------------------------------

  @property
  def modes(self):
    return {'translate': self.translate_folder}

  def translate_folder(self, state, step_: int, output: str,
                       input_dir: str) -> str:
    """--mode=translate --input=DIR: every image below DIR through G
    (``translation.write_translations``)."""
    key = self._eval_key()
    return translation.write_translations(
        input_dir, output, self.config.image_size,
        self.config.input_channels,
        lambda pixels, index: self.translate(
            state, pixels, jax.random.fold_in(key, index), chunk=1)[0],
        f'the step-{step_} G')


def _translate_each(generator, params, inputs, key, indices):
  """G on each uint8 image of ``inputs`` alone (a batch of one), image i
  with dropout key fold_in(key, indices[i])."""
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(indices)

  def one(image, image_key):
    return generator.apply({'params': params}, to_model_range(image)[None],
                           rngs={'dropout': image_key})[0]

  return jax.vmap(one)(inputs, keys)


FAMILY = Pix2Pix
