"""The min-max update: Algorithm 1 of Goodfellow et al. 2014.

    for each training step:
      for k steps:                                   (config.d_steps)
        sample m noise samples z and m examples x
        ascend  grad_theta_d V(D, G)                  (here: descend -V)
      sample m noise samples z
      descend grad_theta_g of the G loss              (minimax or non-saturating)

The function is pure: (state, real batches) -> (state, metrics). It is written
for one device; with ``axis_name`` set (see ``parallel.py``) it averages
gradients and metrics over that mapped axis, the networks' batch norm must be
built with the same axis_name, and each device takes its slice of the global
noise draw, so N devices compute what one device computes on the global batch.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gan_jax import losses
from gan_jax.core.state import GANState, sample_latent


def to_model_range(images: jax.Array) -> jax.Array:
  """uint8 pixels travel to the device; [-1, 1] (tanh's range) is made here."""
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32) / 127.5 - 1.0
  return images


def make_train_step(generator: nn.Module, discriminator: nn.Module,
                    g_tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation, *, loss: str,
                    z_dim: int, z_distribution: str,
                    reuse_fake: bool = False, simultaneous: bool = False,
                    r1_gamma: float = 0.0,
                    axis_name: str | None = None) -> Callable:
  """Builds train_step(state, real) for real of shape (k, m, ...).

  The leading axis holds one minibatch of real examples per D step, so k is
  read from the data: Algorithm 1 draws a fresh minibatch for every D update.

  ``reuse_fake=False`` draws fresh noise for G's update, as Algorithm 1 does.
  ``reuse_fake=True`` is the reference DCGAN's update (pytorch/examples dcgan,
  dcgan.torch): the fakes of the last D update are the ones G's update moves,
  so one G forward pass serves both (its pullback is kept for G's gradient),
  about 1/12 of the DCGAN update's arithmetic saved.

  ``simultaneous=True`` is the update of PacGAN's released code (ALI's
  ``ali_algorithm``: one gradient step on both losses from the same point):
  G's loss is judged by D as it was before this step's update, on the fakes
  D's update saw (so it implies ``reuse_fake``; k must be 1). The default,
  alternating, lets G answer the D that has just moved, as Algorithm 1 does;
  alternating steps are the more stable of the two (Mescheder et al. 2017,
  Gidel et al. 2019).

  ``r1_gamma`` > 0 adds gamma / 2 times the R1 penalty (``losses.r1_penalty``)
  to the loss D descends, its input gradient taken through the same forward
  pass on real data; ``d_loss`` still reports -V, and ``r1_penalty`` the
  penalty.
  """
  if loss not in losses.G_LOSSES:
    raise ValueError(f'loss must be one of {losses.G_LOSSES}, got {loss!r}')
  reuse_fake = reuse_fake or simultaneous

  def mean_over_devices(tree):
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

  def sample_noise(key, num):
    if axis_name is None:
      return sample_latent(key, num, z_dim, z_distribution)
    # The key is replicated: draw the global batch, keep this device's rows.
    z = sample_latent(key, num * jax.lax.axis_size(axis_name), z_dim,
                      z_distribution)
    return jax.lax.dynamic_slice_in_dim(
        z, jax.lax.axis_index(axis_name) * num, num)

  def generate(g_params, g_stats, key, num):
    z = sample_noise(key, num)
    fake, g_vars = generator.apply(
        {'params': g_params, 'batch_stats': g_stats}, z, train=True,
        mutable=['batch_stats'])
    return fake, g_vars['batch_stats']

  def discriminate(d_params, d_stats, images):
    logits, d_vars = discriminator.apply(
        {'params': d_params, 'batch_stats': d_stats}, images, train=True,
        mutable=['batch_stats'])
    return logits, d_vars['batch_stats']

  def d_update(carry, real, fake):
    # Only D learns here: the gradient is D's, fake is a constant to it.
    d_params, d_stats, d_opt_state = carry
    real = to_model_range(real)

    def d_loss_fn(params):
      # Real and fake go through D separately, as in the reference DCGAN, so
      # each batch is normalised by its own statistics.
      if r1_gamma:
        real_logits, pullback, stats = jax.vjp(
            lambda x: discriminate(params, d_stats, x), real, has_aux=True)
        (real_grads,) = pullback(jnp.ones_like(real_logits))
        penalty = losses.r1_penalty(real_grads, real_logits.shape[0])
      else:
        real_logits, stats = discriminate(params, d_stats, real)
        penalty = jnp.zeros(())
      fake_logits, stats = discriminate(params, stats, fake)
      d_loss = losses.discriminator_loss(real_logits, fake_logits)
      loss = d_loss + r1_gamma / 2 * penalty if r1_gamma else d_loss
      return loss, (stats, d_loss, penalty, real_logits, fake_logits)

    (_, (d_stats, d_loss, penalty, real_logits, fake_logits)), grads = (
        jax.value_and_grad(d_loss_fn, has_aux=True)(d_params))
    grads = mean_over_devices(grads)
    updates, d_opt_state = d_tx.update(grads, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    metrics = {'d_loss': d_loss,
               'd_real': jnp.mean(jax.nn.sigmoid(real_logits)),
               'd_fake': jnp.mean(jax.nn.sigmoid(fake_logits))}
    if r1_gamma:
      metrics['r1_penalty'] = penalty
    return (d_params, d_stats, d_opt_state), metrics

  def train_step(state: GANState, real: jax.Array):
    d_steps, batch = real.shape[0], real.shape[1]
    if simultaneous and d_steps != 1:
      raise ValueError(f'simultaneous updates take k = 1 D step, got {d_steps}')
    rng, g_key, *d_keys = jax.random.split(state.rng, d_steps + 2)
    g_params = state.g_params

    carry = (state.d_params, state.d_batch_stats, state.d_opt_state)
    # A Python loop, not lax.scan: k is small and static, and XLA:CPU runs
    # convolutions inside a while loop about 10x slower than outside one.
    d_metrics = []
    for i, (real_i, key_i) in enumerate(zip(real, d_keys)):
      if reuse_fake and i == d_steps - 1:
        fake, g_pullback, g_stats = jax.vjp(
            lambda params: generate(params, state.g_batch_stats, g_key, batch),
            g_params, has_aux=True)
      else:
        # G plays with batch statistics; their update is discarded.
        fake, _ = generate(g_params, state.g_batch_stats, key_i, batch)
      carry, metrics_i = d_update(carry, real_i, fake)
      d_metrics.append(metrics_i)
    d_params, d_stats, d_opt_state = carry
    judge = state.d_params if simultaneous else d_params

    def g_loss_of_fake(fake):
      # D is held fixed for G's move; its statistics update is discarded.
      fake_logits, _ = discriminate(judge, d_stats, fake)
      return losses.generator_loss(fake_logits, loss)

    if reuse_fake:
      g_loss, fake_grads = jax.value_and_grad(g_loss_of_fake)(fake)
      (grads,) = g_pullback(fake_grads)
    else:
      def g_loss_fn(params):
        fake, new_stats = generate(params, state.g_batch_stats, g_key, batch)
        return g_loss_of_fake(fake), new_stats

      (g_loss, g_stats), grads = jax.value_and_grad(
          g_loss_fn, has_aux=True)(g_params)
    grads = mean_over_devices(grads)
    updates, g_opt_state = g_tx.update(grads, state.g_opt_state, g_params)
    g_params = optax.apply_updates(g_params, updates)

    new_state = state.replace(
        step=state.step + 1, g_params=g_params, g_batch_stats=g_stats,
        g_opt_state=g_opt_state, d_params=d_params, d_batch_stats=d_stats,
        d_opt_state=d_opt_state, rng=rng)
    # The last D update's view of the game, then G's loss after it.
    metrics = dict(d_metrics[-1])
    metrics['g_loss'] = g_loss
    return new_state, mean_over_devices(metrics)

  return train_step
