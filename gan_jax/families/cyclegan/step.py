"""CycleGAN's update: Zhu et al. 2017, Eq. 3, as the released code steps it.

    L(G, F, D_X, D_Y) = L_GAN(G, D_Y, X, Y) + L_GAN(F, D_X, Y, X)
                        + lambda L_cyc(G, F)                        (Eq. 3)

here with G = G_ab (A -> B), F = G_ba (B -> A), D_b judging domain B and D_a
domain A. ``cycle_gan_model.optimize_parameters`` of the reference, in
order (its G_A, G_B, D_A, D_B are our G_ab, G_ba, D_b, D_a):

    fake_b = G_ab(a), rec_a = G_ba(fake_b), fake_a = G_ba(b), rec_b = G_ab(fake_a)
    G step (D fixed), both generators with one optimizer:
        l(D_b(fake_b), real) + l(D_a(fake_a), real)
        + lambda_A |rec_a - a|_1 + lambda_B |rec_b - b|_1              (Eq. 2)
        + lambda_idt (lambda_B |G_ab(b) - b|_1 + lambda_A |G_ba(a) - a|_1)
    D step, both discriminators with another optimizer, on the fakes of the
    forward pass above drawn through each D's image pool:
        0.5 [l(D_b(b), real) + l(D_b(pool_b(fake_b)), fake)] + the same for D_a

with l the least-squares loss ('least_squares', the paper's Sec. 4 choice
and the reference's 'lsgan') or the cross-entropy ('non_saturating'). The
identity term is Sec. 5.2's (Taigman et al. 2017), weighted 0.5 lambda in the
reference. Each generator is applied to A and B together where the pass is
the same (G_ab to [a, b], G_ba to [b, a]): instance norm is per image, so one
call on two images computes the two calls' outputs.

Image pool (Shrivastava et al. 2017; the reference's ``util/image_pool.py``):
D learns from a history of 50 generated images. For each new fake in turn:
while the pool is not full, store it and return it; then, with probability
1/2 return a uniformly chosen stored image and store the new one in its
place, otherwise return the new one. The pool (images and count) lives in
the state's ``extra``, so it is checkpointed and a resumed run is exact.
With ``axis_name`` set, every device queries with the all-gathered global
batch and the same key, so the pools stay identical, and each device keeps
its rows.

Augmentation: A and B each get their own random crop and flip
(``pix2pix.step.random_crop_flip``), drawn from the state's key.
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
from gan_jax.families.pix2pix.step import D_LOSS_SCALE, LOSSES, random_crop_flip


def empty_pool(pool_size: int, image_shape: tuple[int, ...]) -> dict:
  """{'images': zeros (pool_size, *image_shape), 'count': 0}."""
  return {'images': jnp.zeros((pool_size, *image_shape), jnp.float32),
          'count': jnp.zeros((), jnp.int32)}


def query_pool(pool: dict, images: jax.Array, key: jax.Array
               ) -> tuple[jax.Array, dict]:
  """The reference's ``ImagePool.query``: (images D learns from, new pool),
  one image at a time in order. A pool of size 0 returns ``images``."""
  size = pool['images'].shape[0]
  if size == 0:
    return images, pool

  def one(carry, inputs):
    stored, count = carry
    image, image_key = inputs
    use_key, slot_key = jax.random.split(image_key)
    filling = count < size
    swap = jnp.logical_and(~filling, jax.random.uniform(use_key) > 0.5)
    slot = jnp.where(filling, count, jax.random.randint(slot_key, (), 0, size))
    old = jax.lax.dynamic_index_in_dim(stored, slot, keepdims=False)
    stored = jax.lax.dynamic_update_index_in_dim(
        stored, jnp.where(filling | swap, image, old), slot, 0)
    return (stored, jnp.minimum(count + 1, size)), jnp.where(swap, old, image)

  keys = jax.random.split(key, images.shape[0])
  (stored, count), returned = jax.lax.scan(
      one, (pool['images'], pool['count']), (images, keys))
  return returned, {'images': stored, 'count': count}


def _query_global(pool, images, key, axis_name):
  """``query_pool`` over the global batch; this device's rows back."""
  if axis_name is None or jax.lax.axis_size(axis_name) == 1:
    return query_pool(pool, images, key)
  n = images.shape[0]
  everyone = jax.lax.all_gather(images, axis_name, tiled=True)
  returned, pool = query_pool(pool, everyone, key)
  start = jax.lax.axis_index(axis_name) * n
  return jax.lax.dynamic_slice_in_dim(returned, start, n), pool


def make_train_step(generator_ab: nn.Module, generator_ba: nn.Module,
                    discriminator: nn.Module,
                    g_tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation, *, loss: str,
                    gan_weight: float, cycle_weight_a: float,
                    cycle_weight_b: float, identity_weight: float,
                    crop_size: int, flip: bool, batch_d_calls: bool = True,
                    axis_name: str | None = None) -> Callable:
  """train_step(state, batch): batch['input'] (A) and batch['image'] (B),
  uint8 (1, n, load_size, load_size, C), unrelated images of the two
  domains. Players 'g' ({'ab', 'ba'}) and 'd' ({'a', 'b'}); pools in
  ``state.extra`` ({'a', 'b'}). ``batch_d_calls``: judge real and fake
  images in one call of D (exact for instance norm or none, not for batch
  norm)."""
  if loss not in LOSSES:
    raise ValueError(f'loss must be one of {LOSSES}, got {loss!r}')
  d_scale = D_LOSS_SCALE[loss]

  generators = {'ab': generator_ab, 'ba': generator_ba}

  def translate(params, direction, x):
    return generators[direction].apply({'params': params[direction]}, x)

  def judge(params, x):
    return discriminator.apply({'params': params}, None, x)

  def train_step(state: state_lib.TrainState, batch):
    rng, key_a, key_b, pool_key_a, pool_key_b = jax.random.split(state.rng, 5)
    (real_a,) = random_crop_flip((batch['input'][0],), key_a, crop_size,
                                 flip, axis_name)
    (real_b,) = random_crop_flip((batch['image'][0],), key_b, crop_size,
                                 flip, axis_name)
    real_a, real_b = to_model_range(real_a), to_model_range(real_b)
    n = real_a.shape[0]
    g, d = state.players['g'], state.players['d']
    with_identity = identity_weight > 0

    def g_loss_fn(params):
      # G_ab on [a, b] (b: the identity input) in one call, G_ba on [b, a].
      if with_identity:
        out_ab = translate(params, 'ab', jnp.concatenate([real_a, real_b]))
        out_ba = translate(params, 'ba', jnp.concatenate([real_b, real_a]))
        fake_b, same_b = out_ab[:n], out_ab[n:]
        fake_a, same_a = out_ba[:n], out_ba[n:]
      else:
        fake_b = translate(params, 'ab', real_a)
        fake_a = translate(params, 'ba', real_b)
      rec_a = translate(params, 'ba', fake_b)
      rec_b = translate(params, 'ab', fake_a)
      terms = {'cycle_a': losses.l1(rec_a, real_a),
               'cycle_b': losses.l1(rec_b, real_b)}
      total = (cycle_weight_a * terms['cycle_a']
               + cycle_weight_b * terms['cycle_b'])
      if gan_weight:
        terms['g_gan_ab'] = losses.generator_loss(judge(d.params['b'], fake_b),
                                                  loss)
        terms['g_gan_ba'] = losses.generator_loss(judge(d.params['a'], fake_a),
                                                  loss)
        total += gan_weight * (terms['g_gan_ab'] + terms['g_gan_ba'])
      if with_identity:
        terms['identity_ab'] = losses.l1(same_b, real_b)
        terms['identity_ba'] = losses.l1(same_a, real_a)
        total += identity_weight * (cycle_weight_b * terms['identity_ab']
                                    + cycle_weight_a * terms['identity_ba'])
      return total, (terms, fake_a, fake_b)

    (g_loss, (terms, fake_a, fake_b)), g_grads = jax.value_and_grad(
        g_loss_fn, has_aux=True)(g.params)
    metrics = {'g_loss': g_loss, **terms}
    g = state_lib.apply_gradients(g, parallel.mean_over_devices(
        g_grads, axis_name), g_tx)

    extra = state.extra
    if gan_weight:
      # D learns from the fakes of the forward pass above (before G's step),
      # through the pools; G's graph is not differentiated here.
      pooled_b, pool_b = _query_global(
          extra['b'], jax.lax.stop_gradient(fake_b), pool_key_b, axis_name)
      pooled_a, pool_a = _query_global(
          extra['a'], jax.lax.stop_gradient(fake_a), pool_key_a, axis_name)
      extra = {'a': pool_a, 'b': pool_b}

      def d_loss_one(params, real, fake):
        if batch_d_calls:
          logits = judge(params, jnp.concatenate([real, fake]))
          real_logits, fake_logits = logits[:n], logits[n:]
        else:
          real_logits, fake_logits = judge(params, real), judge(params, fake)
        return d_scale * losses.discriminator_loss(real_logits, fake_logits,
                                                   loss), (real_logits,
                                                           fake_logits)

      def d_loss_fn(params):
        loss_a, logits_a = d_loss_one(params['a'], real_a, pooled_a)
        loss_b, logits_b = d_loss_one(params['b'], real_b, pooled_b)
        return loss_a + loss_b, (loss_a, loss_b, logits_a, logits_b)

      (_, (loss_a, loss_b, logits_a, logits_b)), d_grads = (
          jax.value_and_grad(d_loss_fn, has_aux=True)(d.params))
      d = state_lib.apply_gradients(d, parallel.mean_over_devices(
          d_grads, axis_name), d_tx)
      metrics.update(d_loss_a=loss_a, d_loss_b=loss_b,
                     d_real_a=jnp.mean(logits_a[0]),
                     d_fake_a=jnp.mean(logits_a[1]),
                     d_real_b=jnp.mean(logits_b[0]),
                     d_fake_b=jnp.mean(logits_b[1]))
    new_state = state.replace(step=state.step + 1, rng=rng,
                              players={**state.players, 'g': g, 'd': d},
                              extra=extra)
    return new_state, parallel.mean_over_devices(metrics, axis_name)

  return train_step
