"""The training state: one pytree holding everything a GAN run evolves.

Both networks, their batch-norm statistics, one optax state each (G and D are
separate players with separate Adam moments), the step counter and the PRNG
key. Only arrays live here, so the state can be donated to the compiled step,
replicated or sharded over devices, and saved by orbax as it is; the optimizer
*transformations* are rebuilt from the config.
"""

from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class GANState:
  step: jax.Array
  g_params: Any
  g_batch_stats: Any
  g_opt_state: Any
  d_params: Any
  d_batch_stats: Any
  d_opt_state: Any
  rng: jax.Array


SCHEDULES = ('constant', 'cosine')


def make_optimizer(opt_config,
                   num_train_steps: int | None = None,
                   lr_multiplier: float = 1.0
                   ) -> optax.GradientTransformation:
  """Adam as in DCGAN Sec. 4: lr 2e-4 and beta1 0.5 (beta1 0.9 oscillated).

  ``opt_config.schedule`` 'cosine' decays the rate to 0 over
  ``num_train_steps`` updates of that player (the toys use it to let the
  game settle at its equilibrium instead of orbiting it). ``lr_multiplier``
  scales the rate of one player (``optimizer.d_lr_multiplier`` for D).
  """
  if opt_config.name != 'adam':
    raise ValueError(f"optimizer.name must be 'adam', got {opt_config.name!r}")
  schedule = opt_config.schedule
  peak = opt_config.lr * lr_multiplier
  if schedule == 'constant':
    lr = peak
  elif schedule == 'cosine':
    if not num_train_steps:
      raise ValueError("optimizer.schedule 'cosine' needs the number of steps")
    lr = optax.cosine_decay_schedule(peak, num_train_steps)
  else:
    raise ValueError(f'optimizer.schedule must be one of {SCHEDULES}, '
                     f'got {schedule!r}')
  return optax.adam(lr, b1=opt_config.b1, b2=opt_config.b2,
                    eps=opt_config.eps)


def make_optimizers(opt_config, num_train_steps: int, d_steps: int
                    ) -> tuple[optax.GradientTransformation,
                               optax.GradientTransformation]:
  """(G's, D's) Adam: D updates d_steps times per G update (Algorithm 1), so
  its schedule spans d_steps * num_train_steps updates."""
  return (make_optimizer(opt_config, num_train_steps),
          make_optimizer(opt_config, d_steps * num_train_steps,
                         opt_config.d_lr_multiplier))


def sample_latent(key: jax.Array, num: int, z_dim: int,
                  distribution: str) -> jax.Array:
  """z ~ U[-1, 1]^z_dim (DCGAN Sec. 4) or N(0, I)."""
  if distribution == 'uniform':
    return jax.random.uniform(key, (num, z_dim), minval=-1.0, maxval=1.0)
  if distribution == 'normal':
    return jax.random.normal(key, (num, z_dim))
  raise ValueError(
      f"model.z_distribution must be 'uniform' or 'normal', got {distribution!r}")


def create_train_state(key: jax.Array, generator: nn.Module,
                       discriminator: nn.Module, g_tx: optax.GradientTransformation,
                       d_tx: optax.GradientTransformation, z_dim: int,
                       data_shape: tuple[int, ...],
                       init_batch: int = 2) -> GANState:
  """Initialises both players from one key; pure, so it can be jitted.

  ``init_batch``: at least 2 (batch norm needs a variance); a multiple of a
  packing discriminator's pack size.
  """
  g_key, d_key, rng = jax.random.split(key, 3)
  g_vars = generator.init(g_key, jnp.zeros((init_batch, z_dim)), train=False)
  d_vars = discriminator.init(d_key, jnp.zeros((init_batch, *data_shape)),
                              train=False)
  return GANState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_vars['params'],
      g_batch_stats=g_vars.get('batch_stats', {}),
      g_opt_state=g_tx.init(g_vars['params']),
      d_params=d_vars['params'],
      d_batch_stats=d_vars.get('batch_stats', {}),
      d_opt_state=d_tx.init(d_vars['params']),
      rng=rng,
  )


def global_norm(tree) -> jax.Array:
  """L2 norm of all leaves together (summary.json's parameter norms)."""
  return jnp.sqrt(sum(jnp.vdot(x, x) for x in jax.tree.leaves(tree)))


def average_params(average, params, step: jax.Array, decay: float):
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
