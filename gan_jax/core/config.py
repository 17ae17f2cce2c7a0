"""Checks a config before any work starts; each error names its field."""

from __future__ import annotations

import ml_collections

from gan_jax.core import checkpoints

from gan_jax.data import sources as input_pipeline

from gan_jax.nn import layers

from gan_jax import losses

from gan_jax.families.dcgan import models
from gan_jax.core import parallel
from gan_jax.core import state as train_state


class ConfigError(ValueError):
  """A config value that cannot work; the message names the field."""


def optimizer_config(lr: float, b1: float = 0.5, b2: float = 0.999,
                     eps: float = 1e-8, schedule: str = 'constant',
                     d_lr_multiplier: float = 1.0) -> ml_collections.ConfigDict:
  """The Adam settings both players share (train_state.make_optimizer).

  Defaults are DCGAN's beta1 = 0.5; ``d_lr_multiplier`` scales D's rate only
  (two time-scale updates); ``schedule`` is 'constant' or 'cosine' (to 0).
  """
  return ml_collections.ConfigDict(dict(
      name='adam', lr=lr, b1=b1, b2=b2, eps=eps, schedule=schedule,
      d_lr_multiplier=d_lr_multiplier))


# Errors in what the user asked for: reported as one line, no traceback.
USER_ERRORS = (ConfigError, input_pipeline.DataError, parallel.ParallelError,
               checkpoints.CheckpointError)


def _require(ok: bool, field: str, message: str, value) -> None:
  if not ok:
    raise ConfigError(f'config.{field} {message}, got {value!r}')


def _positive_int(config, field: str) -> None:
  value = config
  for part in field.split('.'):
    value = value[part]
  _require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
           field, 'must be a positive integer', value)


def validate_dcgan(config) -> None:
  for field in ('batch_size', 'd_steps', 'num_epochs', 'model.z_dim',
                'model.base_width', 'log_every_steps', 'checkpoint_every_steps',
                'checkpoint_max_to_keep', 'num_sample_images',
                'data.num_workers', 'data.prefetch', 'generate_num_images',
                'interpolate_num_walks', 'interpolate_num_steps'):
    _positive_int(config, field)
  _require(config.image_size in models.SUPPORTED_IMAGE_SIZES, 'image_size',
           f'must be one of {models.SUPPORTED_IMAGE_SIZES}', config.image_size)
  _require(config.channels in (1, 3), 'channels', 'must be 1 or 3',
           config.channels)
  _require(isinstance(config.num_train_steps, int)
           and (config.num_train_steps == -1 or config.num_train_steps > 0),
           'num_train_steps', 'must be -1 (from num_epochs) or positive',
           config.num_train_steps)
  _require(config.loss in losses.G_LOSSES, 'loss',
           f'must be one of {losses.G_LOSSES}', config.loss)
  _require(isinstance(config.reuse_fake, bool), 'reuse_fake',
           'must be True or False', config.reuse_fake)
  _require(config.r1_gamma >= 0, 'r1_gamma', 'must be non-negative',
           config.r1_gamma)
  _require(config.model.z_distribution in ('uniform', 'normal'),
           'model.z_distribution', "must be 'uniform' or 'normal'",
           config.model.z_distribution)
  _require(config.model.dtype in ('float32', 'bfloat16'), 'model.dtype',
           "must be 'float32' or 'bfloat16'", config.model.dtype)
  _require(config.parallel in parallel.MODES, 'parallel',
           f'must be one of {parallel.MODES}', config.parallel)
  _require(config.model.conv_impl in layers.IMPLS,
           'model.conv_impl', f'must be one of {layers.IMPLS}',
           config.model.conv_impl)
  _require(config.model.init_stddev > 0, 'model.init_stddev',
           'must be positive', config.model.init_stddev)
  _require(config.optimizer.name == 'adam', 'optimizer.name',
           "must be 'adam'", config.optimizer.name)
  _require(config.optimizer.lr > 0, 'optimizer.lr', 'must be positive',
           config.optimizer.lr)
  _require(config.optimizer.d_lr_multiplier > 0, 'optimizer.d_lr_multiplier',
           'must be positive', config.optimizer.d_lr_multiplier)
  _require(config.optimizer.schedule in train_state.SCHEDULES,
           'optimizer.schedule', f'must be one of {train_state.SCHEDULES}',
           config.optimizer.schedule)
  for beta in ('b1', 'b2'):
    value = config.optimizer[beta]
    _require(0 <= value < 1, f'optimizer.{beta}', 'must be in [0, 1)', value)
  source = config.data.source
  _require(source == 'digits' or any(
      source.startswith(kind) and len(source) > len(kind)
      for kind in ('folder:', 'tfds:')), 'data.source',
           f'must be {input_pipeline.SOURCES}', source)
  _require(all(isinstance(e, int) and e > 0 for e in config.sample_epochs),
           'sample_epochs', 'must hold positive integers', config.sample_epochs)
