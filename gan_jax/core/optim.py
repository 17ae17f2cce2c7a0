"""Optimizers, schedules and weight averages, one of each for every family.

Every player (or group of players a family updates together) gets its own
optax transformation from ``make_optimizer``; the transformations are rebuilt
from the config, only their states live in the checkpointed ``TrainState``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax.core import errors

SCHEDULES = ('constant', 'cosine', 'linear_decay')


def optimizer_config(lr: float, b1: float = 0.5, b2: float = 0.999,
                     eps: float = 1e-8, schedule: str = 'constant',
                     d_lr_multiplier: float = 1.0,
                     decay_start_fraction: float = 0.5
                     ) -> ml_collections.ConfigDict:
  """The Adam settings of ``config.optimizer``, shared by a family's players.

  Defaults are DCGAN's beta1 = 0.5 (Sec. 4). ``d_lr_multiplier`` scales the
  discriminators' rate only (two time-scale updates, Heusel et al. 2017).
  ``schedule``: 'constant'; 'cosine' to 0 (Loshchilov & Hutter 2017);
  'linear_decay', constant for the first ``decay_start_fraction`` of the
  updates, then linear to 0: the schedule of the pix2pix/CycleGAN and StarGAN
  released code (``n_epochs`` constant + ``n_epochs_decay`` linear, there per
  epoch, here per update).
  """
  opt = ml_collections.ConfigDict()
  opt.name = 'adam'  # the only optimizer (Kingma & Ba 2015)
  opt.lr = lr  # the learning rate of every player (see d_lr_multiplier)
  opt.b1 = b1  # Adam's beta1
  opt.b2 = b2  # Adam's beta2
  opt.eps = eps  # Adam's epsilon
  # 'constant', 'cosine' (to 0) or 'linear_decay' (constant, then to 0).
  opt.schedule = schedule
  # Scales the discriminators' rate only (TTUR, Heusel et al. 2017).
  opt.d_lr_multiplier = d_lr_multiplier
  # 'linear_decay': the fraction of the updates before the decay starts.
  opt.decay_start_fraction = decay_start_fraction
  return opt


def validate(config) -> None:
  """Checks ``config.optimizer``; errors name the field."""
  opt = config.optimizer
  errors.require(opt.name == 'adam', 'optimizer.name', "must be 'adam'",
                 opt.name)
  errors.require(opt.lr > 0, 'optimizer.lr', 'must be positive', opt.lr)
  errors.require(opt.d_lr_multiplier > 0, 'optimizer.d_lr_multiplier',
                 'must be positive', opt.d_lr_multiplier)
  errors.one_of(config, 'optimizer.schedule', SCHEDULES)
  for beta in ('b1', 'b2'):
    errors.require(0 <= opt[beta] < 1, f'optimizer.{beta}', 'must be in [0, 1)',
                   opt[beta])
  fraction = opt.get('decay_start_fraction', 0.5)
  errors.require(0 <= fraction < 1, 'optimizer.decay_start_fraction',
                 'must be in [0, 1)', fraction)


def learning_rate(opt_config, num_updates: int | None,
                  lr_multiplier: float = 1.0):
  """The rate (a float or an optax schedule) over ``num_updates`` updates."""
  peak = opt_config.lr * lr_multiplier
  schedule = opt_config.schedule
  if schedule == 'constant':
    return peak
  if schedule not in SCHEDULES:
    raise errors.ConfigError(f'config.optimizer.schedule must be one of '
                             f'{SCHEDULES}, got {schedule!r}')
  if not num_updates:
    raise ValueError(f'optimizer.schedule {schedule!r} needs the number of '
                     'updates')
  if schedule == 'cosine':
    return optax.cosine_decay_schedule(peak, num_updates)
  constant = int(num_updates * opt_config.get('decay_start_fraction', 0.5))
  return optax.join_schedules(
      [optax.constant_schedule(peak),
       optax.linear_schedule(peak, 0.0, max(num_updates - constant, 1))],
      [constant])


def make_optimizer(opt_config, num_updates: int | None = None,
                   lr_multiplier: float = 1.0) -> optax.GradientTransformation:
  """Adam (DCGAN Sec. 4: lr 2e-4, beta1 0.5; beta1 0.9 oscillated) at the
  configured schedule over ``num_updates`` updates of this player."""
  if opt_config.name != 'adam':
    raise errors.ConfigError(
        f"config.optimizer.name must be 'adam', got {opt_config.name!r}")
  return optax.adam(learning_rate(opt_config, num_updates, lr_multiplier),
                    b1=opt_config.b1, b2=opt_config.b2, eps=opt_config.eps)


def ema_update(average, params, step: jax.Array, decay: float):
  """One step of an exponential moving average of a player's weights.

  Averaging G's iterates (Yazici et al. 2019, "The Unusual Effectiveness of
  Averaging in GAN Training") removes the step-to-step jitter that the game
  leaves in G; evaluating the average instead of the last iterate sharpens
  what G draws. The decay ramps as min(decay, (1 + t) / (10 + t)) at update
  t = ``step`` (tf.train.ExponentialMovingAverage's num_updates), so the
  average covers about the last ninth of training until that window exceeds
  1 / (1 - decay) updates, and the weights of the first steps fade out.
  """
  step = jnp.asarray(step, jnp.float32)
  rate = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
  return optax.incremental_update(params, average, step_size=1.0 - rate)


def global_norm(tree) -> jax.Array:
  """L2 norm of all leaves together (summary.json's parameter norms)."""
  return jnp.sqrt(sum(jnp.vdot(x, x) for x in jax.tree.leaves(tree)))
