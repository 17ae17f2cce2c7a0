"""The Context Encoder's update (Pathak et al. 2016, Eq. 1-3), as the authors'
release (pathak22/context-encoder, ``train.lua``) steps it.

    L = lambda_rec L_rec + lambda_adv L_adv               (Eq. 3; 0.999, 0.001)
    L_rec = || w * (x - F((1 - M) * x)) ||^2               (Eq. 1)
    L_adv = max_D  log D(x) + log(1 - D(F((1 - M) * x)))   (Eq. 2)

Per update, in the release's order (``fDx``, then ``fGx``):

  1. masks for the batch (``train_mask``), the hole of every image filled
     with the release's constant colour (its mean pixel, 117/104/123);
  2. the prediction F(context), one forward pass kept for G's gradient;
  3. D's step on real images and on the completions (the prediction inside
     the predicted region, the real image outside), binary cross-entropy;
  4. G's step: (1 - lambda_rec) times G's cross-entropy against 'real' from
     the D just updated, plus lambda_rec times the mean squared error over
     the predicted region, each pixel weighted 1 in the hole and
     ``overlap_weight`` (10) in the band of ``overlap`` pixels around it
     (known in the input, predicted all the same: the release's
     ``overlapPred``).

The predicted region is the hole dilated by ``overlap``: with 'center' masks
it is the release's central square (the hole itself is ``overlap`` pixels
narrower on each side in the release; here the hole is the mask's, the same
for every method scored, and the band lies outside it). Masks and fills are
drawn from the state's key: a pure function of (seed, step), the same for
any number of devices.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gan_jax import losses
from gan_jax.core import parallel
from gan_jax.core import state as state_lib
from gan_jax.families.dcgan.step import to_model_range
from gan_jax.inpainting import masks

TRAIN_MASKS = ('center', 'random_blocks', 'both')
# The release's hole colour: its mean pixel (117, 104, 123) / 255 in RGB;
# for grey images the same colour's luminance (ITU-R 601).
HOLE_RGB = (117.0, 104.0, 123.0)


def hole_colour(channels: int) -> jax.Array:
  rgb = jnp.array(HOLE_RGB)
  grey = jnp.dot(jnp.array([0.299, 0.587, 0.114]), rgb)[None]
  return (rgb if channels == 3 else grey) / 127.5 - 1.0


def context_of(images: jax.Array, known: jax.Array) -> jax.Array:
  """The encoder's input: the image with its hole in the constant colour."""
  return images * known + hole_colour(images.shape[-1]) * (1.0 - known)


def region_weights(known: jax.Array, overlap: int,
                   overlap_weight: float) -> tuple[jax.Array, jax.Array]:
  """(predicted region, reconstruction weights), each (N, H, W, 1): the hole
  dilated by ``overlap`` pixels; 1 in the hole, ``overlap_weight`` on the
  band, 0 elsewhere."""
  hole = 1.0 - known
  window = 2 * overlap + 1
  region = jax.lax.reduce_window(hole, 0.0, jax.lax.max,
                                 (1, window, window, 1), (1, 1, 1, 1), 'SAME')
  return region, hole + overlap_weight * (region - hole)


def draw_masks(key: jax.Array, num: int, size: int, kind: str,
               axis_name: str | None = None) -> jax.Array:
  """(num, size, size, 1) training masks of ``kind`` (TRAIN_MASKS). With
  ``axis_name``, the masks of the global batch are drawn and each device
  takes its rows, so N devices train as one device would."""
  center = jnp.broadcast_to(jnp.asarray(masks.center(size)),
                            (num, size, size, 1))
  if kind == 'center':
    return center
  total = num * (jax.lax.axis_size(axis_name) if axis_name else 1)
  block_key, pick_key = jax.random.split(key)
  blocks = jax.vmap(lambda k: masks.random_blocks(k, size))(
      jax.random.split(block_key, total))
  use_center = jax.random.bernoulli(pick_key, 0.5, (total, 1, 1, 1))
  if axis_name:
    start = jax.lax.axis_index(axis_name) * num
    blocks, use_center = (jax.lax.dynamic_slice_in_dim(x, start, num)
                          for x in (blocks, use_center))
  if kind == 'random_blocks':
    return blocks
  return jnp.where(use_center, center, blocks)


def make_train_step(generator: nn.Module, discriminator: nn.Module,
                    g_tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation, *, train_mask: str,
                    reconstruction_weight: float, overlap: int,
                    overlap_weight: float,
                    axis_name: str | None = None) -> Callable:
  """train_step(state, batch): batch['image'] uint8 (1, n, S, S, C)."""
  if train_mask not in TRAIN_MASKS:
    raise ValueError(f'train_mask must be one of {TRAIN_MASKS}, got '
                     f'{train_mask!r}')

  def mean_over_devices(tree):
    return parallel.mean_over_devices(tree, axis_name)

  def judge(d, params, images):
    logits, new_vars = discriminator.apply(
        {'params': params, 'batch_stats': d.batch_stats}, images, train=True,
        mutable=['batch_stats'])
    return logits, new_vars['batch_stats']

  def train_step(state: state_lib.TrainState, batch):
    rng, mask_key = jax.random.split(state.rng)
    images = to_model_range(batch['image'][0])
    num, size = images.shape[0], images.shape[1]
    known = draw_masks(mask_key, num, size, train_mask, axis_name)
    region, weights = region_weights(known, overlap, overlap_weight)
    g, d = state.players['g'], state.players['d']

    def predict(params):
      out, new_vars = generator.apply(
          {'params': params, 'batch_stats': g.batch_stats},
          context_of(images, known), train=True, mutable=['batch_stats'])
      return out, new_vars['batch_stats']

    prediction, g_pullback, g_stats = jax.vjp(predict, g.params, has_aux=True)

    def complete(pred):
      return images * (1.0 - region) + pred * region

    def d_loss_fn(params):
      real_logits, stats = judge(d, params, images)
      fake_logits, stats = judge(d.replace(batch_stats=stats), params,
                                 complete(prediction))
      loss = losses.discriminator_loss(real_logits, fake_logits,
                                       'non_saturating')
      return loss, (stats, real_logits, fake_logits)

    (d_loss, (d_stats, real_logits, fake_logits)), grads = (
        jax.value_and_grad(d_loss_fn, has_aux=True)(d.params))
    d = state_lib.apply_gradients(d, mean_over_devices(grads), d_tx,
                                  batch_stats=d_stats)

    def g_loss_fn(pred):
      logits, _ = judge(d, d.params, complete(pred))
      adversarial = losses.generator_loss(logits, 'non_saturating')
      squared = weights * (pred - images) ** 2
      # The mean over the predicted region's pixels of the *global* batch:
      # each device divides by the average count, so the mean over devices
      # of their losses (and gradients) is the global one.
      count = region.sum() * images.shape[-1]
      if axis_name:
        count = jax.lax.pmean(count, axis_name)
      reconstruction = squared.sum() / count
      total = ((1.0 - reconstruction_weight) * adversarial
               + reconstruction_weight * reconstruction)
      return total, {'g_adv': adversarial, 'g_rec': reconstruction}

    (_, terms), pred_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
        prediction)
    (grads,) = g_pullback(pred_grads)
    g = state_lib.apply_gradients(g, mean_over_devices(grads), g_tx,
                                  batch_stats=g_stats)
    metrics = {'d_loss': d_loss, 'd_real': jnp.mean(jax.nn.sigmoid(real_logits)),
               'd_fake': jnp.mean(jax.nn.sigmoid(fake_logits)), **terms}
    new_state = state.replace(step=state.step + 1, rng=rng,
                              players={**state.players, 'g': g, 'd': d})
    return new_state, mean_over_devices(metrics)

  return train_step
