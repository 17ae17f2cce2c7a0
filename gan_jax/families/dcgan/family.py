"""DCGAN as a family: G(z) and D(x) (Radford et al. 2015) in Algorithm 1's game.

The players are ``models.Generator`` / ``models.Discriminator``, the update
``step.make_train_step``; this file wires them to the config and to the loop:
config checks, the data, the fixed-noise grid, evaluation samples, and the
``generate`` / ``interpolate`` modes (``sampling``) and ``inpaint`` (latent
search, ``inpainting``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import losses
from gan_jax.core import errors, optim
from gan_jax.data import sources
from gan_jax.families import base
from gan_jax.families.dcgan import inpainting, models, sampling, step
from gan_jax.nn import latent, layers


class DCGAN(base.Family):
  """Unconditional DCGAN; ``conditional_dcgan`` extends it with labels."""
  name = 'dcgan'
  progress = (('d_loss', 'd_loss', '%.3f'), ('g_loss', 'g_loss', '%.3f'),
              ('d_real', 'D(x)', '%.2f'), ('d_fake', 'D(G(z))', '%.2f'))
  num_classes = 0  # class-conditional players when > 0

  @classmethod
  def validate(cls, config) -> None:
    errors.positive_ints(
        config, 'd_steps', 'model.z_dim', 'model.base_width',
        'num_sample_images', 'data.num_workers', 'data.prefetch',
        'generate_num_images', 'interpolate_num_walks',
        'interpolate_num_steps')
    errors.one_of(config, 'image_size', models.SUPPORTED_IMAGE_SIZES)
    errors.one_of(config, 'channels', (1, 3))
    errors.one_of(config, 'loss', losses.LOSSES)
    errors.boolean(config, 'reuse_fake', 'model.spectral_norm',
                   'model.sample_with_ema')
    for field in ('r1_gamma', 'gp_weight'):
      errors.require(config[field] >= 0, field, 'must be non-negative',
                     config[field])
    errors.require(0 <= config.g_ema_decay < 1, 'g_ema_decay',
                   'must be in [0, 1) (0: no average)', config.g_ema_decay)
    errors.one_of(config, 'model.z_distribution', latent.DISTRIBUTIONS)
    errors.one_of(config, 'model.dtype', ('float32', 'bfloat16'))
    errors.one_of(config, 'model.conv_impl', layers.IMPLS)
    errors.one_of(config, 'model.d_norm', models.D_NORMS)
    errors.require(config.model.init_stddev > 0, 'model.init_stddev',
                   'must be positive', config.model.init_stddev)
    optim.validate(config)
    if config.loss == 'wasserstein':
      # Without a Lipschitz constraint the critic's outputs grow without
      # bound (Arjovsky et al. 2017 clip weights; Gulrajani et al. penalise).
      errors.require(config.gp_weight > 0 or config.model.spectral_norm,
                     'loss', "'wasserstein' needs a Lipschitz constraint: "
                     'config.gp_weight > 0 (WGAN-GP: 10) or '
                     'config.model.spectral_norm=True', config.loss)
    source = config.data.source
    kind = sources.kind_of(source)
    errors.require(kind == 'digits' or (kind and len(source) > len(kind)),
                   'data.source', f'must be {sources.SOURCES}', source)

  def __init__(self, config, num_train_steps: int = 1,
               axis_name: str | None = None):
    super().__init__(config, num_train_steps, axis_name)
    model = config.model
    dtype = jnp.dtype(model.dtype)
    self.generator = models.Generator(
        image_size=config.image_size, channels=config.channels,
        base_width=model.base_width, init_stddev=model.init_stddev,
        dtype=dtype, axis_name=axis_name, conv_impl=model.conv_impl,
        num_classes=self.num_classes)
    self.discriminator = models.Discriminator(
        image_size=config.image_size, base_width=model.base_width,
        init_stddev=model.init_stddev, dtype=dtype, axis_name=axis_name,
        conv_impl=model.conv_impl, norm=model.d_norm,
        spectral_norm=model.spectral_norm, **self._d_conditioning())
    self.g_tx, self.d_tx = step.make_optimizers(
        config.optimizer, num_train_steps, config.d_steps)
    self.train_step = step.make_train_step(
        self.generator, self.discriminator, self.g_tx, self.d_tx,
        loss=config.loss, z_dim=model.z_dim,
        z_distribution=model.z_distribution, reuse_fake=config.reuse_fake,
        r1_gamma=config.r1_gamma, gp_weight=config.gp_weight,
        num_classes=self.num_classes, ac_weight=self._ac_weight(),
        axis_name=axis_name)
    self.sampler = sampling.make_sampler(
        self.generator.clone(axis_name=None), model.sample_with_batch_stats)

  def _d_conditioning(self) -> dict:
    return {}

  def _ac_weight(self) -> float:
    return 0.0

  @property
  def ema_decays(self) -> dict[str, float]:
    decay = self.config.g_ema_decay
    return {'g': decay} if decay else {}

  def init(self, key):
    config = self.config
    return step.create_train_state(
        key, self.generator, self.discriminator, self.g_tx, self.d_tx,
        config.model.z_dim,
        (config.image_size, config.image_size, config.channels),
        num_classes=self.num_classes, g_average=bool(config.g_ema_decay))

  def g_variables(self, state):
    """(params, batch_stats) G samples with: the weight average when kept
    (and ``model.sample_with_ema``), else the last weights."""
    g = state.players['g']
    use_average = (self.config.g_ema_decay
                   and self.config.model.sample_with_ema)
    return (g.ema if use_average else g.params), g.batch_stats

  def sample_inputs(self, key, num: int, label: int = -1) -> tuple:
    """G's sampling inputs: (z,) (a conditional family adds labels: drawn
    uniformly, or all ``label`` if >= 0)."""
    del label
    model = self.config.model
    return (latent.sample_latent(key, num, model.z_dim,
                                 model.z_distribution),)

  def walk_inputs(self, z, num_walks: int, num_steps: int) -> tuple:
    """G's inputs along latent walks ``z`` (one walk per row)."""
    del num_walks, num_steps
    return (z,)

  def sample_grid(self, state):
    inputs = self.sample_inputs(jax.random.PRNGKey(self.config.seed + 1),
                                self.config.num_sample_images)
    return self.sampler(*self.g_variables(state), *inputs), None

  def eval_batches(self, state, key, num, batch_size, label: int = -1):
    """Every batch is drawn at the full ``batch_size``, so images normalised
    with batch statistics see the batch size they were trained with."""
    variables = self.g_variables(state)
    for index, start in enumerate(range(0, num, batch_size)):
      inputs = self.sample_inputs(jax.random.fold_in(key, index), batch_size,
                                  label)
      images = np.asarray(self.sampler(*variables, *inputs))[:num - start]
      batch = {'image': images}
      if len(inputs) > 1:
        batch['label'] = np.asarray(inputs[1])[:num - start]
      yield batch

  @property
  def modes(self):
    return {'generate': functools.partial(sampling.generate, self),
            'interpolate': functools.partial(sampling.interpolate, self),
            'inpaint': functools.partial(inpainting.inpaint, self)}


FAMILY = DCGAN
