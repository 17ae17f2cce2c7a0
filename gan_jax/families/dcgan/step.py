"""The min-max update: Algorithm 1 of Goodfellow et al. 2014.

    for each training step:
      for k steps:                                   (config.d_steps)
        sample m noise samples z and m examples x
        ascend  grad_theta_d V(D, G)                  (here: descend D's loss)
      sample m noise samples z
      descend grad_theta_g of G's loss

The function is pure: (state, batch) -> (state, metrics), on the players 'g'
and 'd' of a ``core.state.TrainState``. It is written for one device; with
``axis_name`` set (see ``core/parallel.py``) it averages gradients and
metrics over that mapped axis, the networks' batch norm must be built with the
same axis_name, and each device takes its slice of the global noise draw, so
N devices compute what one device computes on the global batch.

The adversarial pair is ``config.loss`` (``gan_jax.losses``); D may add R1
(Mescheder et al. 2018) or WGAN-GP's gradient penalty (Gulrajani et al.
2017). With ``conditional`` the players see class labels: real examples come
with theirs, G's come with labels drawn uniformly, and D may also classify
(AC-GAN, Odena et al. 2017: ``ac_weight`` times the cross-entropy of both
real and fake labels is added to D's loss and to G's).
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gan_jax import losses
from gan_jax.core import optim
from gan_jax.core import parallel
from gan_jax.core import state as state_lib
from gan_jax.nn.latent import sample_latent


def to_model_range(images: jax.Array) -> jax.Array:
  """uint8 pixels travel to the device; [-1, 1] (tanh's range) is made here."""
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32) / 127.5 - 1.0
  return images


def make_optimizers(opt_config, num_train_steps: int, d_steps: int
                    ) -> tuple[optax.GradientTransformation,
                               optax.GradientTransformation]:
  """(G's, D's) Adam: D updates d_steps times per G update (Algorithm 1), so
  its schedule spans d_steps * num_train_steps updates, at
  ``d_lr_multiplier`` times the rate."""
  return (optim.make_optimizer(opt_config, num_train_steps),
          optim.make_optimizer(opt_config, d_steps * num_train_steps,
                               opt_config.d_lr_multiplier))


def create_train_state(key: jax.Array, generator: nn.Module,
                       discriminator: nn.Module,
                       g_tx: optax.GradientTransformation,
                       d_tx: optax.GradientTransformation, z_dim: int,
                       data_shape: tuple[int, ...], init_batch: int = 2,
                       num_classes: int = 0,
                       g_average: bool = False) -> state_lib.TrainState:
  """Players 'g' and 'd' from one key; pure, so it can be jitted.

  ``init_batch``: at least 2 (batch norm needs a variance); a multiple of a
  packing discriminator's pack size. ``g_average`` keeps G's weight average.
  """
  g_key, d_key, rng = jax.random.split(key, 3)
  labels = (jnp.zeros((init_batch,), jnp.int32),) if num_classes else ()
  g_vars = generator.init(g_key, jnp.zeros((init_batch, z_dim)), *labels,
                          train=False)
  d_vars = discriminator.init(d_key, jnp.zeros((init_batch, *data_shape)),
                              *labels, train=False)
  return state_lib.new_state(rng, {
      'g': state_lib.make_player(g_vars, g_tx, average=g_average),
      'd': state_lib.make_player(d_vars, d_tx)})


def make_train_step(generator: nn.Module, discriminator: nn.Module,
                    g_tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation, *, loss: str,
                    z_dim: int, z_distribution: str,
                    reuse_fake: bool = False, simultaneous: bool = False,
                    r1_gamma: float = 0.0, gp_weight: float = 0.0,
                    num_classes: int = 0, ac_weight: float = 0.0,
                    axis_name: str | None = None) -> Callable:
  """Builds train_step(state, batch), batch['image'] of shape (k, m, ...).

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
  pass on real data; ``gp_weight`` > 0 adds that times WGAN-GP's penalty on
  interpolates of real and fake. ``d_loss`` reports the adversarial term
  alone, ``r1_penalty`` / ``gradient_penalty`` the penalties.

  ``num_classes`` > 0 makes the game conditional: G is called as G(z, y) and
  D as D(x, y), each returning what its module returns; with ``ac_weight``
  > 0, D returns (logits, class logits) and both players add AC-GAN's
  classification loss.
  """
  if loss not in losses.LOSSES:
    raise ValueError(f'loss must be one of {losses.LOSSES}, got {loss!r}')
  reuse_fake = reuse_fake or simultaneous
  conditional = num_classes > 0

  def mean_over_devices(tree):
    return parallel.mean_over_devices(tree, axis_name)

  def this_devices_rows(draw, key, num):
    """``draw(key, n)`` of the global batch, this device's ``num`` rows (the
    key is replicated, so every device cuts the same global draw)."""
    if axis_name is None:
      return draw(key, num)
    rows = draw(key, num * jax.lax.axis_size(axis_name))
    return jax.lax.dynamic_slice_in_dim(
        rows, jax.lax.axis_index(axis_name) * num, num)

  def sample_inputs(key, num):
    """G's inputs: (z,), or (z, y) with labels y drawn uniformly."""
    z = this_devices_rows(
        lambda k, n: sample_latent(k, n, z_dim, z_distribution), key, num)
    if not conditional:
      return (z,)
    labels = this_devices_rows(lambda k, n: jax.random.randint(
        k, (n,), 0, num_classes), jax.random.fold_in(key, 1), num)
    return z, labels

  def generate(g_params, g_stats, inputs):
    fake, g_vars = generator.apply(
        {'params': g_params, 'batch_stats': g_stats}, *inputs, train=True,
        mutable=['batch_stats'])
    return fake, g_vars['batch_stats']

  def discriminate(d_params, d_stats, images, labels):
    """(D's logits, its class logits or None, new statistics)."""
    outputs, d_vars = discriminator.apply(
        {'params': d_params, 'batch_stats': d_stats}, images,
        *(() if labels is None else (labels,)), train=True,
        mutable=['batch_stats'])
    logits, class_logits = outputs if ac_weight else (outputs, None)
    return logits, class_logits, d_vars['batch_stats']

  def classification(class_logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(
        class_logits, labels).mean()

  def d_update(d, real, real_labels, fake, fake_labels, key):
    # Only D learns here: the gradient is D's, fake is a constant to it.
    real = to_model_range(real)

    def d_loss_fn(params):
      # Real and fake go through D separately, as in the reference DCGAN, so
      # each batch is normalised by its own statistics.
      if r1_gamma:
        def judge_real(x):
          logits, classes, stats = discriminate(params, d.batch_stats, x,
                                                real_labels)
          return (logits, classes), stats

        (real_logits, real_classes), pullback, stats = jax.vjp(
            judge_real, real, has_aux=True)
        # R1 penalises the slope of the adversarial logit alone.
        (real_grads,) = pullback((jnp.ones_like(real_logits), jax.tree.map(
            jnp.zeros_like, real_classes)))
        r1 = losses.r1_penalty(real_grads, real_logits.shape[0])
      else:
        real_logits, real_classes, stats = discriminate(
            params, d.batch_stats, real, real_labels)
      fake_logits, fake_classes, stats = discriminate(params, stats, fake,
                                                      fake_labels)
      d_loss = losses.discriminator_loss(real_logits, fake_logits, loss)
      total, extra = d_loss, {}
      if r1_gamma:
        total += r1_gamma / 2 * r1
        extra['r1_penalty'] = r1
      if gp_weight:
        # Interpolates of real and fake, as D sees them here (labels: the
        # real ones, Gulrajani et al.'s conditional CIFAR-10 critic).
        gp, _ = losses.gradient_penalty(
            lambda x: discriminate(params, stats, x, real_labels)[::2],
            real, fake, key, has_aux=True)
        total += gp_weight * gp
        extra['gradient_penalty'] = gp
      if ac_weight:
        ac = (classification(real_classes, real_labels)
              + classification(fake_classes, fake_labels))
        total += ac_weight * ac
        extra['d_class_loss'] = ac
      return total, (stats, d_loss, extra, real_logits, fake_logits)

    (_, (d_stats, d_loss, extra, real_logits, fake_logits)), grads = (
        jax.value_and_grad(d_loss_fn, has_aux=True)(d.params))
    d = state_lib.apply_gradients(d, mean_over_devices(grads), d_tx, d_stats)
    as_shown = (jax.nn.sigmoid if loss in losses.PROBABILITY_LOSSES
                else lambda x: x)
    metrics = {'d_loss': d_loss,
               'd_real': jnp.mean(as_shown(real_logits)),
               'd_fake': jnp.mean(as_shown(fake_logits)), **extra}
    return d, metrics

  def train_step(state: state_lib.TrainState, batch):
    real = batch['image']
    real_labels = batch['label'] if conditional else [None] * real.shape[0]
    d_steps, num = real.shape[0], real.shape[1]
    if simultaneous and d_steps != 1:
      raise ValueError(f'simultaneous updates take k = 1 D step, got {d_steps}')
    rng, g_key, *d_keys = jax.random.split(state.rng, d_steps + 2)
    g, d = state.players['g'], state.players['d']

    # A Python loop, not lax.scan: k is small and static, and XLA:CPU runs
    # convolutions inside a while loop about 10x slower than outside one.
    d_metrics = []
    for i, key_i in enumerate(d_keys):
      if reuse_fake and i == d_steps - 1:
        g_inputs = sample_inputs(g_key, num)
        fake, g_pullback, g_stats = jax.vjp(
            lambda params: generate(params, g.batch_stats, g_inputs),
            g.params, has_aux=True)
      else:
        # G plays with batch statistics; their update is discarded.
        g_inputs = sample_inputs(key_i, num)
        fake, _ = generate(g.params, g.batch_stats, g_inputs)
      fake_labels = g_inputs[1] if conditional else None
      d, metrics_i = d_update(d, real[i], real_labels[i], fake, fake_labels,
                              jax.random.fold_in(key_i, 1))
      d_metrics.append(metrics_i)
    judge = state.players['d'] if simultaneous else d

    def g_loss_of_fake(fake, labels):
      # D is held fixed for G's move; its statistics update is discarded.
      fake_logits, fake_classes, _ = discriminate(judge.params, d.batch_stats,
                                                  fake, labels)
      g_loss = losses.generator_loss(fake_logits, loss)
      if ac_weight:
        g_loss += ac_weight * classification(fake_classes, labels)
      return g_loss

    if reuse_fake:
      g_loss, fake_grads = jax.value_and_grad(g_loss_of_fake)(fake,
                                                              fake_labels)
      (grads,) = g_pullback(fake_grads)
    else:
      g_inputs = sample_inputs(g_key, num)

      def g_loss_fn(params):
        fake, new_stats = generate(params, g.batch_stats, g_inputs)
        return g_loss_of_fake(fake, g_inputs[1] if conditional else None), (
            new_stats)

      (g_loss, g_stats), grads = jax.value_and_grad(
          g_loss_fn, has_aux=True)(g.params)
    g = state_lib.apply_gradients(g, mean_over_devices(grads), g_tx, g_stats)

    new_state = state.replace(step=state.step + 1, rng=rng,
                              players={**state.players, 'g': g, 'd': d})
    # The last D update's view of the game, then G's loss after it.
    metrics = dict(d_metrics[-1])
    metrics['g_loss'] = g_loss
    return new_state, mean_over_devices(metrics)

  return train_step
