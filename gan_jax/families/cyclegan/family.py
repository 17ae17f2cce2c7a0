"""CycleGAN as a family: unpaired translation A <-> B with cycle consistency.

Zhu, Park, Isola and Efros 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", as the authors' released code trains
it (junyanz/pytorch-CycleGAN-and-pix2pix, ``--model cycle_gan``). Players:
'g' holds both generators ({'ab', 'ba'}: ``models.ResnetGenerator``) and 'd'
both discriminators ({'a', 'b'}: Pix2Pix's PatchGAN), so each pair shares
one Adam, as the reference's ``optimizer_G`` and ``optimizer_D``; the image
pools live in the state's ``extra``. The update is ``step.make_train_step``;
this file wires it to the config, the unpaired data
(``gan_jax.data.unpaired``), the grids, the evaluation and the
``translate`` mode.

Followed from the reference (``cycle_gan_model.py``, ``networks.py``,
``image_pool.py``, ``unaligned_dataset.py``, ``base_dataset.py``,
``base_options.py``/``train_options.py``): the ResNet generator layer for
layer (parameter counts equal), the 70x70 PatchGAN, instance norm without
affine or running statistics, biases with it, no dropout, N(0, 0.02) init,
the least-squares GAN loss, lambda_A = lambda_B = 10, identity 0.5, D's loss
halved, the 50-image pools, the update order (G step with D fixed, then D
on pooled fakes of the same forward pass), Adam 2e-4 with beta (0.5, 0.999),
batch 1, 100 + 100 epochs with a linear decay, an epoch of max(|A|, |B|)
images, A and B drawn independently, each resized to load_size (bicubic,
squashed) then randomly cropped and flipped on its own.

Knowingly different:
  * the rate decays per update, not per epoch (``optim.learning_rate``); the
    reference's per-epoch schedule also starts one epoch early on
    PyTorch >= 1.1 (see Pix2Pix);
  * the reference draws B uniformly at random for each A (with replacement)
    and A in a shuffled order; here both are streams of permutations
    (``order.train_batches``), so each image of the smaller domain is seen
    once per pass over it;
  * crops, flips and pool draws come from the run's key (exact resume), not
    Python's ``random``;
  * ``data.center_crop`` (off by default, on for the faces) crops a square
    before resizing, where the reference would squash.

Evaluation (``evaluate``) translates every evaluation image of A and of B
and scores G_ab(A) against B and G_ba(B) against A with
``gan_jax.eval.translation`` (suffixes ``_ab`` and ``_ba``): paired metrics
where the evaluation images are pairs, FID alone where they are two
unrelated sets; plus the cycle reconstructions' L1 (``cycle_l1_a``: G_ba(G_ab
(A)) against A; ``cycle_l1_b``).
"""

from __future__ import annotations

import functools
import logging

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax.core import errors, optim, visualize
from gan_jax.core import state as state_lib
from gan_jax.data import sources, unpaired
from gan_jax.eval import evaluation, translation
from gan_jax.families import base
from gan_jax.families.dcgan.step import to_model_range
from gan_jax.families.cyclegan import models, step
from gan_jax.families.pix2pix import models as pix2pix_models
from gan_jax.families.pix2pix import family as pix2pix_family

DIRECTIONS = ('AtoB', 'BtoA')
NORMS = ('instance', 'none')
# Images of each domain in the test grid written at every evaluation.
_TEST_GRID_IMAGES = 12


class CycleEvaluator:
  """The two directions' ``translation.TranslationEvaluator``s."""

  def __init__(self, config, domains: dict, paired: bool, cache_dir: str,
               name: str):
    wanted = tuple(config.eval_metrics)
    self.skipped: dict[str, str] = {}
    if not paired:
      for metric in wanted:
        if metric != 'fid':
          self.skipped[metric] = ('the evaluation images of A and B are not '
                                  'pairs: only fid applies')
      wanted = tuple(m for m in wanted if m == 'fid')
    sub = ml_collections.ConfigDict(config.to_dict())
    sub.eval_metrics = wanted
    self.paired = paired
    self.by_direction = {
        'ab': translation.TranslationEvaluator(
            sub, domains['image'], cache_dir, name=f'{name} B'),
        'ba': translation.TranslationEvaluator(
            sub, domains['input'], cache_dir, name=f'{name} A')}
    for direction, evaluator in self.by_direction.items():
      for metric, why in evaluator.skipped.items():
        self.skipped[metric] = why
    self.grid_dir = cache_dir

  @property
  def active(self) -> tuple[str, ...]:
    # The cycle reconstructions' L1 is always computed.
    return self.by_direction['ab'].active + ('cycle_l1',)

  def score(self, direction: str, translated: np.ndarray) -> dict:
    evaluator = self.by_direction[direction]
    if self.paired:
      results = evaluator.score(translated)
    elif 'fid' in evaluator.active:
      results = {'fid': evaluator.fid(translated),
                 'eval_num_images': len(translated)}
    else:
      results = {}
    return {f'{k}_{direction}': v for k, v in results.items()}


class CycleGAN(base.Family):
  """Unpaired translation A <-> B: two ResNet G's, two PatchGAN D's."""
  name = 'cyclegan'
  progress = (('d_loss_a', 'D_A', '%.3f'), ('d_loss_b', 'D_B', '%.3f'),
              ('g_gan_ab', 'G_AB', '%.3f'), ('g_gan_ba', 'G_BA', '%.3f'),
              ('cycle_a', 'cyc_A', '%.3f'), ('cycle_b', 'cyc_B', '%.3f'),
              ('identity_ab', 'idt_B', '%.3f'))

  @classmethod
  def validate(cls, config) -> None:
    pix2pix_family.validate_translation(config)
    errors.require(models.num_blocks(config.model.generator) is not None,
                   'model.generator', "must be 'resnet_<n>blocks', n >= 1 "
                   f'(the reference has {tuple(models.GENERATORS)})',
                   config.model.generator)
    errors.one_of(config, 'model.norm', NORMS)
    errors.one_of(config, 'data.direction', DIRECTIONS)
    errors.one_of(config, 'translate_direction', DIRECTIONS)
    errors.boolean(config, 'data.flip', 'data.center_crop')
    for field in ('gan_weight', 'cycle_weight_a', 'cycle_weight_b',
                  'identity_weight'):
      errors.require(config[field] >= 0, field, 'must be non-negative',
                     config[field])
    errors.require(config.model.init_stddev > 0, 'model.init_stddev',
                   'must be positive', config.model.init_stddev)
    errors.require(isinstance(config.pool_size, int) and config.pool_size >= 0,
                   'pool_size', 'must be a non-negative integer',
                   config.pool_size)
    errors.require(isinstance(config.data.eval_holdout, int)
                   and config.data.eval_holdout >= 0, 'data.eval_holdout',
                   'must be a non-negative integer', config.data.eval_holdout)
    errors.require(
        config.identity_weight == 0
        or config.input_channels == config.channels, 'identity_weight',
        f'needs input_channels == channels (G_ab(B) is compared with B), got '
        f'{config.input_channels} and {config.channels}; set it to 0',
        config.identity_weight)
    errors.require(config.image_size % 4 == 0, 'image_size',
                   'must be a multiple of 4 (two stride-2 levels)',
                   config.image_size)
    for field in ('data.source', 'data.eval_source'):
      spec = config.data.source if field == 'data.source' else (
          config.data.eval_source)
      if spec or field == 'data.source':
        errors.require(unpaired.is_spec(spec), field,
                       f'must be {unpaired.SOURCES}', spec)

  @classmethod
  def validate_evaluation(cls, config) -> None:
    translation.validate(config)

  def __init__(self, config, num_train_steps: int = 1,
               axis_name: str | None = None):
    super().__init__(config, num_train_steps, axis_name)
    model = config.model

    def generator(out_channels):
      return models.ResnetGenerator(
          out_channels=out_channels,
          num_blocks=models.num_blocks(model.generator),
          base_width=model.base_width, norm=model.norm,
          init_stddev=model.init_stddev, conv_impl=model.conv_impl)

    self.generators = {'ab': generator(config.channels),
                       'ba': generator(config.input_channels)}
    self.discriminator = pix2pix_models.PatchDiscriminator(
        base_width=model.base_width, n_layers=model.d_layers,
        norm=model.norm, conditional=False, init_stddev=model.init_stddev,
        conv_impl=model.conv_impl)
    opt = config.optimizer
    self.g_tx = optim.make_optimizer(opt, num_train_steps)
    self.d_tx = optim.make_optimizer(opt, num_train_steps,
                                     opt.d_lr_multiplier)
    self.train_step = step.make_train_step(
        self.generators['ab'], self.generators['ba'], self.discriminator,
        self.g_tx, self.d_tx, loss=config.loss, gan_weight=config.gan_weight,
        cycle_weight_a=config.cycle_weight_a,
        cycle_weight_b=config.cycle_weight_b,
        identity_weight=config.identity_weight, crop_size=config.image_size,
        flip=config.data.flip, axis_name=axis_name)
    self._translate = {
        direction: jax.jit(functools.partial(_apply_generator, g))
        for direction, g in self.generators.items()}

  def _channels(self) -> tuple[int, int]:
    return self.config.input_channels, self.config.channels

  def make_source(self) -> sources.Source:
    data = self.config.data
    return unpaired.make_unpaired_source(
        data.source, data.load_size, self._channels(),
        center_crop=data.center_crop, holdout=data.eval_holdout,
        direction=data.direction, num_threads=max(data.num_workers, 1))

  def init(self, key):
    config = self.config
    keys = jax.random.split(key, 5)
    size = config.image_size
    a = jnp.zeros((1, size, size, config.input_channels))
    b = jnp.zeros((1, size, size, config.channels))
    g_params = {'ab': self.generators['ab'].init(keys[0], a)['params'],
                'ba': self.generators['ba'].init(keys[1], b)['params']}
    d_params = {'a': self.discriminator.init(keys[2], None, a)['params'],
                'b': self.discriminator.init(keys[3], None, b)['params']}
    pools = {'a': step.empty_pool(config.pool_size, a.shape[1:]),
             'b': step.empty_pool(config.pool_size, b.shape[1:])}
    return state_lib.new_state(keys[4], {
        'g': state_lib.make_player({'params': g_params}, self.g_tx),
        'd': state_lib.make_player({'params': d_params}, self.d_tx)}, pools)

  # --- Evaluation images, translation, grids --------------------------------

  @functools.cached_property
  def eval_domains(self) -> dict:
    """{'input': A, 'image': B (uint8, image_size), 'paired', 'name'}: the
    evaluation images; the training images if none are implied."""
    data = self.config.data
    spec, split = data.eval_source or data.source, 'test'
    if not data.eval_source and not unpaired.has_eval_split(
        data.source, data.eval_holdout):
      split = 'train'
      logging.warning('data.source %s implies no evaluation images and '
                      'data.eval_source is empty: grids and evaluation use '
                      'training images', data.source)
    domains, paired = unpaired.load_domains(
        spec, split, self.config.image_size, self._channels(),
        center_crop=data.center_crop,
        holdout=data.eval_holdout if not data.eval_source else 0,
        direction=data.direction)
    return {**domains, 'paired': paired, 'name': f'{spec}[{split}]'}

  def translate(self, state, direction: str, inputs: np.ndarray,
                chunk: int = 0) -> np.ndarray:
    """uint8 inputs (n, S, S, C) -> G_ab's ('ab') or G_ba's ('ba')
    translations in [-1, 1], in padded chunks of ``chunk`` (default
    eval_batch_size) images: one compile for grids and evaluation."""
    chunk = chunk or self.config.eval_batch_size
    params = state.players['g'].params[direction]
    return np.concatenate([
        np.asarray(self._translate[direction](params, padded))[:count]
        for _, padded, count in evaluation.padded_chunks(inputs, chunk)])

  def _cycles(self, state, num: int | None = None) -> dict[str, np.ndarray]:
    """uint8 A, G_ab(A), G_ba(G_ab(A)), B, G_ba(B), G_ab(G_ba(B)) of the
    first ``num`` evaluation images (all if None)."""
    a = self.eval_domains['input'][:num]
    b = self.eval_domains['image'][:num]
    ab = visualize.to_uint8(self.translate(state, 'ab', a))
    ba = visualize.to_uint8(self.translate(state, 'ba', b))
    return {'a': a, 'ab': ab,
            'aba': visualize.to_uint8(self.translate(state, 'ba', ab)),
            'b': b, 'ba': ba,
            'bab': visualize.to_uint8(self.translate(state, 'ab', ba))}

  def _grid(self, cycles: dict[str, np.ndarray], num: int):
    """Rows of A | G_ab(A) | G_ba(G_ab(A)) || B | G_ba(B) | G_ab(G_ba(B))."""
    num = min(num, len(cycles['a']), len(cycles['b']))
    channels = max(x.shape[-1] for x in cycles.values())
    columns = [np.repeat(cycles[k][:num], channels // cycles[k].shape[-1], -1)
               for k in ('a', 'ab', 'aba', 'b', 'ba', 'bab')]
    images = visualize.from_uint8(np.stack(columns, 1))
    return images.reshape(-1, *images.shape[2:]), 6

  def sample_grid(self, state):
    num = self.config.num_sample_images
    return self._grid(self._cycles(state, num), num)

  def make_evaluator(self, training_source, cache_dir):
    del training_source  # scored on the evaluation images
    domains = self.eval_domains
    return CycleEvaluator(self.config, domains, domains['paired'], cache_dir,
                          domains['name'])

  def evaluate(self, evaluator, state) -> dict:
    """Scores of both directions on every evaluation image, the cycle L1s;
    writes the first images' grid to ``eval/test_grid_step_N.png``."""
    cycles = self._cycles(state)
    results = {**evaluator.score('ab', cycles['ab']),
               **evaluator.score('ba', cycles['ba']),
               'cycle_l1_a': translation.l1(cycles['aba'], cycles['a']),
               'cycle_l1_b': translation.l1(cycles['bab'], cycles['b'])}
    if jax.process_index() == 0:
      translation.save_test_grid(evaluator.grid_dir, state.step,
                                 *self._grid(cycles, _TEST_GRID_IMAGES))
    return results

  # --- --mode=translate -------------------------------------------------------

  @property
  def modes(self):
    return {'translate': self.translate_folder}

  def translate_folder(self, state, step_: int, output: str,
                       input_dir: str) -> str:
    """--mode=translate --input=DIR [--config.translate_direction=BtoA]:
    every image below DIR through G_ab (or G_ba), written as
    OUTPUT/<same relative path>.png (``translation.write_translations``)."""
    direction = 'ab' if self.config.translate_direction == 'AtoB' else 'ba'
    channels = self._channels()[0 if direction == 'ab' else 1]
    return translation.write_translations(
        input_dir, output, self.config.image_size, channels,
        lambda pixels, index: self.translate(state, direction, pixels,
                                             chunk=1)[0],
        f'the step-{step_} G_{direction}')


def _apply_generator(generator, params, inputs):
  return generator.apply({'params': params}, to_model_range(inputs))


FAMILY = CycleGAN
