"""StarGAN's update: Choi et al. 2018, Eqs. 1-7, as the released code steps it.

    L_D = -L_adv + lambda_cls L_cls^r                              (Eq. 6)
    L_G =  L_adv + lambda_cls L_cls^f + lambda_rec L_rec           (Eq. 7)

with L_adv the Wasserstein loss plus WGAN-GP's penalty (Eq. 8, lambda_gp =
10), L_cls^r the attribute loss of D_cls on real images with their own
labels c (Eq. 2), L_cls^f that of D_cls on G(x, c') with the target labels
c' (Eq. 3) and L_rec = |x - G(G(x, c'), c)|_1 (Eq. 4). ``Solver.train`` of
yunjey/stargan, one reference iteration per minibatch:

    c' = the batch's labels in a random order (``randperm``)
    D step on every iteration:
        -mean D_src(x) + mean D_src(G(x, c')) + lambda_cls BCE(D_cls(x), c)
        + lambda_gp mean_i (||grad_x^ sum D_src(x^)||_2 - 1)^2,
        x^ = a x + (1 - a) G(x, c'), a ~ U[0, 1) per image
    G step after every n_critic-th D step (``(i + 1) % n_critic == 0``), on
    that iteration's minibatch and c', judged by the D just updated:
        -mean D_src(G(x, c')) + lambda_rec |x - G(G(x, c'), c)|_1
        + lambda_cls BCE(D_cls(G(x, c')), c')

With ``identity_weight`` > 0, G's loss also has CycleGAN's identity term
(Zhu et al. 2017, Sec. 5.2), as a fraction of lambda_rec like CycleGAN's:
identity_weight lambda_rec |G(x, c) - x|_1, G asked for the labels x already
has. The reference has no such term (identity_weight = 0, the default).

BCE is the sigmoid cross-entropy summed over the attributes and averaged
over the images (the reference's ``size_average=False`` sum / batch size).

One call of ``train_step`` is n_critic (``d_steps``) reference iterations:
``batch['image']`` holds one minibatch per D step, (d_steps, n, S, S, C)
uint8, with ``batch['attributes']`` (d_steps, n, A) in {0, 1}; G's step uses
the last. D judges real and generated images in one call (it has no norm, so
that is exact). Augmentation: the reference's random horizontal flip, per
image, drawn from the state's key.
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


def attribute_loss(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Sigmoid cross-entropy summed over attributes, averaged over images
  (the reference's ``classification_loss`` for CelebA)."""
  return jnp.sum(optax.sigmoid_binary_cross_entropy(logits, targets)) / (
      logits.shape[0])


def random_flip(images: jax.Array, key: jax.Array) -> jax.Array:
  """Each image mirrored left-right with probability 1/2."""
  flips = jax.random.bernoulli(key, 0.5, (images.shape[0],))
  return jnp.where(flips[:, None, None, None], images[:, :, ::-1], images)


def make_train_step(generator: nn.Module, discriminator: nn.Module,
                    g_tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation, *,
                    gp_weight: float, classification_weight: float,
                    reconstruction_weight: float, identity_weight: float,
                    flip: bool, axis_name: str | None = None) -> Callable:
  """train_step(state, batch): players 'g' and 'd'; see the module doc."""

  def mean_over_devices(tree):
    return parallel.mean_over_devices(tree, axis_name)

  def translate(params, x, labels):
    return generator.apply({'params': params}, x, labels)

  def judge(params, x):
    return discriminator.apply({'params': params}, x)

  def prepare(images, attributes, key):
    flip_key, order_key = jax.random.split(key)
    x = to_model_range(images)
    if flip:
      x = random_flip(x, flip_key)
    # c': another image's labels; per device, as the reference permutes
    # its own minibatch.
    targets = attributes[jax.random.permutation(order_key, x.shape[0])]
    return x, attributes, targets

  def d_update(d, g_params, x, labels, targets, key):
    n = x.shape[0]
    fake = jax.lax.stop_gradient(translate(g_params, x, targets))

    def loss_fn(params):
      src, cls = judge(params, jnp.concatenate([x, fake]))
      real_src, fake_src = src[:n], src[n:]
      adversarial = losses.discriminator_loss(real_src, fake_src,
                                              'wasserstein')
      classification = attribute_loss(cls[:n], labels)
      penalty = losses.gradient_penalty(
          lambda h: jnp.sum(judge(params, h)[0].reshape(n, -1), 1),
          x, fake, key)
      total = (adversarial + classification_weight * classification
               + gp_weight * penalty)
      return total, {'d_loss': adversarial, 'd_cls': classification,
                     'gradient_penalty': penalty,
                     'd_real': jnp.mean(real_src),
                     'd_fake': jnp.mean(fake_src)}

    (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(d.params)
    return state_lib.apply_gradients(d, mean_over_devices(grads), d_tx), (
        metrics)

  def train_step(state: state_lib.TrainState, batch):
    d_steps = batch['image'].shape[0]
    rng, *keys = jax.random.split(state.rng, 2 * d_steps + 1)
    # Flips, targets and penalty weights differ between devices.
    keys = [parallel.device_key(k, axis_name) for k in keys]
    g, d = state.players['g'], state.players['d']
    # A Python loop, not lax.scan (see dcgan.step): d_steps is small.
    for i in range(d_steps):
      x, labels, targets = prepare(batch['image'][i], batch['attributes'][i],
                                   keys[2 * i])
      d, metrics = d_update(d, g.params, x, labels, targets, keys[2 * i + 1])

    def g_loss_fn(params):
      fake = translate(params, x, targets)
      src, cls = judge(d.params, fake)
      adversarial = losses.generator_loss(src, 'wasserstein')
      classification = attribute_loss(cls, targets)
      reconstruction = losses.l1(translate(params, fake, labels), x)
      total = (adversarial + classification_weight * classification
               + reconstruction_weight * reconstruction)
      terms = {'g_loss': adversarial, 'g_cls': classification,
               'g_rec': reconstruction}
      if identity_weight > 0:
        # Not the reference's: CycleGAN's identity term (see the module doc).
        terms['g_identity'] = losses.l1(translate(params, x, labels), x)
        total += identity_weight * reconstruction_weight * terms['g_identity']
      return total, terms

    (_, g_metrics), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
        g.params)
    g = state_lib.apply_gradients(g, mean_over_devices(grads), g_tx)
    new_state = state.replace(step=state.step + 1, rng=rng,
                              players={**state.players, 'g': g, 'd': d})
    return new_state, mean_over_devices({**metrics, **g_metrics})

  return train_step
