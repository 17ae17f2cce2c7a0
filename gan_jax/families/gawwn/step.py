"""GAWWN's update: GAN-CLS with boxes.

Players: 'text' (``text.CharEncoder`` and its ``ImageEncoder`` partner,
trained before the game by ``text.pretrain`` and fixed here, as the
release's precomputed embeddings), 'g' and 'd' (``models``), each with its
own Adam. Every step, on one real minibatch of (image x, caption, box b),
one GAN-CLS update (Reed et al. 2016, "Generative Adversarial Text to Image
Synthesis", Algorithm 1; ``main_cub_bbox.lua`` of the GAWWN release) with
t = the fixed encoder's caption embedding:

  t_wrong = the batch's t in a random order (``randperm``, as the release),
    except that for a random ``contrast_fraction`` of the examples it is
    the embedding of their 'contrast_caption': the same sentence with one
    attribute changed (the digit; a face attribute)
  D: BCE(D(x, b, t), 1) + cls_weight BCE(D(x, b, t_wrong), 0)
       + (1 - cls_weight) BCE(D(G(z, t, b), b, t), 0)
  G: BCE(D(G(z, t, b), b, t), 1)       (non-saturating), on the D just
     updated, with the same z
     + interpolation_weight BCE(D(G(z, t_int, b), b, t_int), 1),
       t_int = (t + t_perm) / 2        (GAN-INT, Reed et al. Eq. 5, with
                                        the permuted t; off by default: the
                                        release has none)

cls_weight = 0.5 is the release's: real/right 1, real/wrong and fake/right
1/2 each.

Why contrast captions: a permuted caption differs from the right one in
colour five times in six, so D's (real, wrong) term is met by matching
colours alone, and D never learns to read the digit; nor then does G
(docs/gawwn.md: at contrast_fraction 0, G drew one shape for every digit).
A wrong caption that only the digit makes wrong is a hard negative for
that word. The release has none (``contrast_fraction`` 0).

D's batch: by default the three kinds of pair go through D in one pass
(3n images), in D's step and in G's (G's loss reads the fake third). The
release makes three passes, one per kind (``separate_passes``). Its D ends
in Linear -> BatchNorm1d -> LeakyReLU -> Linear, and a batch norm that sees
one kind alone subtracts that batch's mean from every feature: the batch's
mean logit then barely depends on what the batch holds, so D can separate
real from fake (or right text from wrong) only by the spread within a
batch (docs/gawwn.md has the run that showed it).
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gan_jax.core import parallel
from gan_jax.core import state as state_lib
from gan_jax.families.dcgan.step import to_model_range


def bce(logits: jax.Array, target: float) -> jax.Array:
  """Mean binary cross-entropy of sigmoid(logits) against a constant label."""
  return jnp.mean(optax.sigmoid_binary_cross_entropy(
      logits, jnp.full_like(logits, target)))


def matching_aware_d_loss(real_right: jax.Array, real_wrong: jax.Array,
                          fake_right: jax.Array, cls_weight: float
                          ) -> jax.Array:
  """GAN-CLS's D loss from D's logits on the three kinds of pair."""
  return (bce(real_right, 1.0) + cls_weight * bce(real_wrong, 0.0)
          + (1.0 - cls_weight) * bce(fake_right, 0.0))


def make_train_step(generator: nn.Module, discriminator: nn.Module,
                    text_encoder: nn.Module,
                    g_tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation, *,
                    z_dim: int, cls_weight: float,
                    interpolation_weight: float, separate_passes: bool,
                    contrast_fraction: float = 0.0,
                    axis_name: str | None = None) -> Callable:
  """train_step(state, batch): see the module doc. ``batch`` holds one
  minibatch: 'image' (1, n, S, S, 3) uint8, 'caption', 'box' and (used when
  ``contrast_fraction`` > 0) 'contrast_caption'."""

  def mean_over_devices(tree):
    return parallel.mean_over_devices(tree, axis_name)

  def embed(text_params, captions):
    return text_encoder.apply({'params': text_params['text']}, captions)

  def gan_update(state, batch, key):
    g, d = state.players['g'], state.players['d']
    x = to_model_range(batch['image'])
    boxes = batch['box']
    t = embed(state.players['text'].params, batch['caption'])
    z_key, order_key = jax.random.split(key)
    n = x.shape[0]
    z = jax.random.normal(z_key, (n, z_dim))
    t_perm = t[jax.random.permutation(order_key, n)]
    t_wrong = t_perm
    if contrast_fraction:
      use_contrast = jax.random.bernoulli(jax.random.fold_in(order_key, 1),
                                          contrast_fraction, (n, 1))
      t_wrong = jnp.where(use_contrast, embed(state.players['text'].params,
                                              batch['contrast_caption']),
                          t_perm)

    def generate(params, stats, text):
      fake, new = generator.apply({'params': params, 'batch_stats': stats},
                                  z, text, boxes, train=True,
                                  mutable=['batch_stats'])
      return fake, new['batch_stats']

    def judge(params, stats, images, text):
      logits, new = discriminator.apply(
          {'params': params, 'batch_stats': stats}, images,
          jnp.tile(boxes, (len(images) // n, 1)), text, train=True,
          mutable=['batch_stats'])
      return logits, new['batch_stats']

    def judge_pairs(params, stats, fake_images, fake_text):
      """D's logits on (x, t), (x, t_wrong), (fake, fake_text)."""
      if separate_passes:
        real_right, stats = judge(params, stats, x, t)
        real_wrong, stats = judge(params, stats, x, t_wrong)
        fake_right, stats = judge(params, stats, fake_images, fake_text)
        return (real_right, real_wrong, fake_right), stats
      logits, stats = judge(params, stats,
                            jnp.concatenate([x, x, fake_images]),
                            jnp.concatenate([t, t_wrong, fake_text]))
      return (logits[:n], logits[n:2 * n], logits[2 * n:]), stats

    fake, _ = generate(g.params, g.batch_stats, t)
    fake = jax.lax.stop_gradient(fake)

    def d_loss_fn(params):
      (real_right, real_wrong, fake_right), stats = judge_pairs(
          params, d.batch_stats, fake, t)
      loss = matching_aware_d_loss(real_right, real_wrong, fake_right,
                                   cls_weight)
      return loss, (stats, {
          'd_loss': loss, 'd_real': jnp.mean(jax.nn.sigmoid(real_right)),
          'd_wrong': jnp.mean(jax.nn.sigmoid(real_wrong)),
          'd_fake': jnp.mean(jax.nn.sigmoid(fake_right))})

    (_, (d_stats, d_metrics)), grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(d.params)
    d = state_lib.apply_gradients(d, mean_over_devices(grads), d_tx, d_stats)

    def g_loss_fn(params):
      fake_, stats = generate(params, g.batch_stats, t)
      (_, _, logits), _ = judge_pairs(d.params, d.batch_stats, fake_, t)
      loss = bce(logits, 1.0)
      total = loss
      if interpolation_weight:
        t_int = (t + t_perm) / 2
        fake_int, stats = generate(params, stats, t_int)
        (_, _, logits_int), _ = judge_pairs(d.params, d.batch_stats,
                                            fake_int, t_int)
        total += interpolation_weight * bce(logits_int, 1.0)
      return total, (stats, {'g_loss': loss})

    (_, (g_stats, g_metrics)), grads = jax.value_and_grad(
        g_loss_fn, has_aux=True)(g.params)
    g = state_lib.apply_gradients(g, mean_over_devices(grads), g_tx, g_stats)
    players = {**state.players, 'g': g, 'd': d}
    return players, {**d_metrics, **g_metrics}

  def train_step(state: state_lib.TrainState, batch):
    batch = jax.tree.map(lambda a: a[0], batch)  # one minibatch per step
    rng, key = jax.random.split(state.rng)
    players, metrics = gan_update(state, batch,
                                  parallel.device_key(key, axis_name))
    new_state = state.replace(step=state.step + 1, rng=rng, players=players)
    return new_state, mean_over_devices(metrics)

  return train_step
