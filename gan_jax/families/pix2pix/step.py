"""Pix2Pix's update: Isola et al. 2017, Eq. 4, as the released code steps it.

    G* = arg min_G max_D  L_cGAN(G, D) + lambda L_L1(G)

``pix2pix_model.optimize_parameters`` of the reference, in order:

    fake_B = G(A)                                   (one forward pass, dropout on)
    D step: 0.5 [l(D(A, fake_B), fake) + l(D(A, B), real)]   (fake_B held fixed)
    G step: l(D(A, fake_B), real) + lambda_L1 |fake_B - B|_1  (D as just updated)

with l the binary cross-entropy on every patch logit ('non_saturating') or
the squared error ('least_squares', the reference's 'lsgan'). G's step moves
the same fake_B that D's step saw, so G's forward pass is run once and its
pullback kept for G's gradient. ``gan_weight`` = 0 is the paper's L1-only
ablation (no D is trained or consulted); ``l1_weight`` = 0 its cGAN-only one.

Before the update, each (A, B) pair gets the reference's augmentation
(``aligned_dataset`` + ``get_params``/``get_transform``): both images were
resized to ``load_size`` on the host; here they share one random
``crop_size`` crop (top-left corner uniform in [0, load_size - crop_size],
both ends included) and one horizontal flip with probability 1/2. The draws
come from the state's key, so they are a pure function of (seed, step) and a
resumed run sees the same crops. With ``axis_name`` set, crops and flips are
drawn for the global batch and each device takes its rows (so N devices
augment as one device would); dropout masks are drawn per device.
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

LOSSES = ('non_saturating', 'least_squares')
# The reference's D loss is 0.5 (l_real + l_fake). losses.discriminator_loss
# is l_real + l_fake for the cross-entropy and already halved (Mao et al.'s
# 1/2) for least squares.
D_LOSS_SCALE = {'non_saturating': 0.5, 'least_squares': 1.0}


def random_crop_flip(images: tuple[jax.Array, ...], key: jax.Array,
                     crop_size: int, flip: bool,
                     axis_name: str | None = None) -> tuple[jax.Array, ...]:
  """The same random crop (and flip) of every array of ``images``, per
  example; arrays are (n, L, L, C) with a shared n and L."""
  n, load = images[0].shape[:2]
  if axis_name is not None:
    n_global = n * jax.lax.axis_size(axis_name)
  else:
    n_global = n
  top_key, left_key, flip_key = jax.random.split(key, 3)
  tops = jax.random.randint(top_key, (n_global,), 0, load - crop_size + 1)
  lefts = jax.random.randint(left_key, (n_global,), 0, load - crop_size + 1)
  flips = (jax.random.bernoulli(flip_key, 0.5, (n_global,)) if flip
           else jnp.zeros((n_global,), bool))
  if axis_name is not None:
    start = jax.lax.axis_index(axis_name) * n
    tops, lefts, flips = (jax.lax.dynamic_slice_in_dim(v, start, n)
                          for v in (tops, lefts, flips))

  def one(x, top, left, flipped):
    x = jax.lax.dynamic_slice(x, (top, left, 0),
                              (crop_size, crop_size, x.shape[-1]))
    return jnp.where(flipped, x[:, ::-1], x)

  return tuple(jax.vmap(one)(x, tops, lefts, flips) for x in images)


def make_train_step(generator: nn.Module, discriminator: nn.Module,
                    g_tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation, *, loss: str,
                    gan_weight: float, l1_weight: float, crop_size: int,
                    flip: bool, axis_name: str | None = None) -> Callable:
  """train_step(state, batch): batch['input'] (A) and batch['image'] (B),
  uint8 (1, n, load_size, load_size, C) (one minibatch per step)."""
  if loss not in LOSSES:
    raise ValueError(f'loss must be one of {LOSSES}, got {loss!r}')

  def mean_over_devices(tree):
    return parallel.mean_over_devices(tree, axis_name)

  def judge(d_params, real_a, b):
    return discriminator.apply({'params': d_params}, real_a, b)

  def train_step(state: state_lib.TrainState, batch):
    rng, augment_key, dropout_key = jax.random.split(state.rng, 3)
    dropout_key = parallel.device_key(dropout_key, axis_name)
    real_a, real_b = random_crop_flip((batch['input'][0], batch['image'][0]),
                                      augment_key, crop_size, flip, axis_name)
    real_a, real_b = to_model_range(real_a), to_model_range(real_b)
    g, d = state.players['g'], state.players['d']
    fake_b, g_pullback = jax.vjp(
        lambda params: generator.apply({'params': params}, real_a,
                                       rngs={'dropout': dropout_key}),
        g.params)
    metrics = {}

    if gan_weight:
      def d_loss_fn(params):
        # fake_B is a constant here: only D learns (the reference's detach).
        fake_logits = judge(params, real_a, fake_b)
        real_logits = judge(params, real_a, real_b)
        d_loss = D_LOSS_SCALE[loss] * losses.discriminator_loss(
            real_logits, fake_logits, loss)
        return d_loss, (real_logits, fake_logits)

      (d_loss, (real_logits, fake_logits)), grads = jax.value_and_grad(
          d_loss_fn, has_aux=True)(d.params)
      d = state_lib.apply_gradients(d, mean_over_devices(grads), d_tx)
      as_shown = jax.nn.sigmoid if loss == 'non_saturating' else (
          lambda x: x)
      metrics.update(d_loss=d_loss, d_real=jnp.mean(as_shown(real_logits)),
                     d_fake=jnp.mean(as_shown(fake_logits)))

    def g_loss_fn(fake):
      terms = {'g_l1': losses.l1(fake, real_b)}
      total = l1_weight * terms['g_l1']
      if gan_weight:  # G answers the D that has just moved
        terms['g_gan'] = losses.generator_loss(judge(d.params, real_a, fake),
                                               loss)
        total += gan_weight * terms['g_gan']
      return total, terms

    (_, terms), fake_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
        fake_b)
    (grads,) = g_pullback(fake_grads)
    g = state_lib.apply_gradients(g, mean_over_devices(grads), g_tx)
    metrics.update(terms)
    new_state = state.replace(step=state.step + 1, rng=rng,
                              players={**state.players, 'g': g, 'd': d})
    return new_state, mean_over_devices(metrics)

  return train_step
