"""Semantic inpainting by latent search (Yeh et al. 2017, "Semantic Image
Inpainting with Deep Generative Models"): ``--mode=inpaint`` of a DCGAN run.

For an image y with known pixels M (1 known, 0 hole), search G's latent space
for the z whose image agrees with y where y is known and which D finds real:

  z* = argmin_z  L_c(z) + lambda L_p(z)                              (Eq. 5)
  L_c(z) = || W * (G(z) - y) ||_1,    W_i = M_i * (sum over the 7x7
           neighbourhood of i of (1 - M_j)) / 49                       (Eq. 3)
  L_p(z) = -log D(G(z))

W weights each known pixel by the fraction of missing pixels around it, so
the pixels that border the hole count and the far ones do not (Sec. 3.2).
Then y's hole is filled from G(z*), pasted ('latent_search') and
Poisson-blended ('latent_search_blended', ``inpainting/poisson.py``; Eq. 6).

Many candidates z per image run in parallel, one compiled program: a vmap
over images of the loss of their ``inpaint_candidates`` z's, Adam steps in a
``lax.fori_loop``; each image keeps its candidate of least final loss.

Where we follow the paper, where its release (moodoki/semantic_image_
inpainting, ``model_base.py``, ``model_inpaint.py``, ``inpaint.py``, ``tools.py``)
differs, and what we chose:
  * W's window: the paper's 7x7 (``inpaint_window``); the release calls
    ``createWeightedMask`` with nsize=15. The window is mirrored at the image
    border (the release's ``convolve2d(..., boundary='symm')``).
  * L_c: a sum over pixels and channels, as both.
  * L_p: the release's G loss, -log D(G(z)) (sigmoid cross-entropy against
    'real'); the paper writes log(1 - D(G(z))), the saturating form whose
    gradient vanishes exactly where D rejects G(z).
  * lambda = 0.003 per candidate (the paper's; ``inpaint_perceptual_weight``).
    The release's 0.2 multiplies the *batch mean* of L_p over its 64
    candidates, 0.2 / 64 = 0.0031 per candidate: the same weight.
  * The optimiser: Adam (the paper; lr ``inpaint_lr`` 0.01, as bamos/dcgan-
    completion.tensorflow), 1,500 iterations (the paper); the release runs
    Nesterov momentum (lr 3e-4, 0.9) for 3,000.
  * z starts from the run's prior and is clipped to [-1, 1] after every step
    when the prior is U[-1, 1] (the paper: "restrict z to [-1, 1]"); a N(0, I)
    prior is left unclipped.
  * G and D run as the run samples them (``model.sample_with_batch_stats``):
    with batch statistics, over one image's candidates, as the release's
    frozen training-mode graph does over its batch of 64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.core import errors
from gan_jax.eval import evaluation
from gan_jax.inpainting import completion, poisson
from gan_jax.nn import latent


def validate(config) -> None:
  completion.validate(config)
  errors.positive_ints(config, 'inpaint_iterations', 'inpaint_candidates',
                       'inpaint_batch_size',
                       'inpaint_window', 'inpaint_blend_iterations')
  errors.positive_numbers(config, 'inpaint_lr')
  errors.require(config.inpaint_perceptual_weight >= 0,
                 'inpaint_perceptual_weight', 'must be non-negative',
                 config.inpaint_perceptual_weight)
  errors.require(config.inpaint_window % 2 == 1, 'inpaint_window',
                 'must be odd (a window centred on its pixel)',
                 config.inpaint_window)


def context_weights(known: jax.Array, window: int) -> jax.Array:
  """W of Eq. 3: known pixels weighted by the missing share of their
  ``window`` x ``window`` neighbourhood (mirrored at the border); (N, H, W, 1)."""
  pad = window // 2
  missing = jnp.pad(1.0 - known, ((0, 0), (pad, pad), (pad, pad), (0, 0)),
                    mode='symmetric')
  counts = jax.lax.reduce_window(missing, 0.0, jax.lax.add,
                                 (1, window, window, 1), (1, 1, 1, 1), 'VALID')
  return known * counts / (window * window)


def make_search(family) -> callable:
  """Jitted (g_variables, d_variables, images, known, key) -> dict of
  'completion' G(z*) (N, H, W, C), 'loss', 'context', 'perceptual' (N,)."""
  config = family.config
  model = config.model
  generator = family.generator.clone(axis_name=None)
  discriminator = family.discriminator.clone(axis_name=None)
  train = model.sample_with_batch_stats
  candidates = config.inpaint_candidates
  weight = config.inpaint_perceptual_weight
  clip = model.z_distribution == 'uniform'
  tx = optax.adam(config.inpaint_lr)

  def losses(g_vars, d_vars, z, image, weights):
    """Per candidate of one image: (total, context, perceptual, G(z))."""
    fake, _ = generator.apply(
        {'params': g_vars[0], 'batch_stats': g_vars[1]}, z, train=train,
        mutable=['batch_stats'])
    logits, _ = discriminator.apply(
        {'params': d_vars[0], 'batch_stats': d_vars[1]}, fake, train=train,
        mutable=['batch_stats'])
    context = jnp.sum(jnp.abs(weights * (fake - image)), axis=(1, 2, 3))
    perceptual = jax.nn.softplus(-logits)  # -log sigmoid(logit)
    return context + weight * perceptual, context, perceptual, fake

  all_losses = jax.vmap(losses, in_axes=(None, None, 0, 0, 0))

  @jax.jit
  def search(g_vars, d_vars, images, known, key):
    num = images.shape[0]
    weights = context_weights(known, config.inpaint_window)
    z = latent.sample_latent(key, num * candidates, model.z_dim,
                             model.z_distribution)
    z = z.reshape(num, candidates, model.z_dim)

    def objective(z_):
      total = all_losses(g_vars, d_vars, z_, images[:, None],
                         weights[:, None])[0]
      return total.sum()  # each z's gradient is its own loss's

    def step(_, carry):
      z_, opt_state = carry
      grads = jax.grad(objective)(z_)
      updates, opt_state = tx.update(grads, opt_state, z_)
      z_ = optax.apply_updates(z_, updates)
      return (jnp.clip(z_, -1.0, 1.0) if clip else z_), opt_state

    z, _ = jax.lax.fori_loop(0, config.inpaint_iterations, step,
                             (z, tx.init(z)))
    total, context, perceptual, fake = all_losses(
        g_vars, d_vars, z, images[:, None], weights[:, None])
    best = jnp.argmin(total, axis=1)
    pick = lambda x: jnp.take_along_axis(  # pylint: disable=g-long-lambda
        x, best.reshape((num, 1) + (1,) * (x.ndim - 2)), axis=1)[:, 0]
    return {'completion': pick(fake), 'loss': pick(total),
            'context': pick(context), 'perceptual': pick(perceptual)}

  return search


def make_fill(family, state) -> completion.Fill:
  """The DCGAN's ``completion.Fill``: G(z*), pasted and Poisson-blended."""
  config = family.config
  search = make_search(family)
  g_vars = family.g_variables(state)
  d = state.players['d']
  d_vars = (d.params, d.batch_stats)

  def fill(images, known, key):
    size = config.inpaint_batch_size
    completions = []
    # Every chunk padded to one shape: one compile. Each image is searched
    # alone (a vmap), so padding rows never touch the real ones.
    for index, ((_, chunk, count), (_, chunk_known, _)) in enumerate(zip(
        evaluation.padded_chunks(images, size),
        evaluation.padded_chunks(known, size))):
      out = search(g_vars, d_vars, chunk, chunk_known,
                   jax.random.fold_in(key, index))
      completions.append(np.asarray(out['completion'])[:count])
    raw = np.concatenate(completions)
    pasted = images * known + raw * (1.0 - known)
    blended = np.asarray(poisson.blend(
        images, raw, known, max_iterations=config.inpaint_blend_iterations))
    return {'g_of_z': raw, 'latent_search': pasted,
            'latent_search_blended': blended}

  return fill


def inpaint(family, state, step: int, output: str, input_dir: str | None = None,
            workdir: str = '') -> str:
  """--mode=inpaint: fills ``--input`` (or data.eval_source) by latent search."""
  if family.num_classes:
    raise errors.ConfigError(
        '--mode=inpaint: latent search needs an unconditional DCGAN '
        f'(config.family {family.name!r} also needs a class for G)')
  validate(family.config)
  return completion.run(family.config, make_fill(family, state), step, output,
                        input_dir, f'{workdir}/eval' if workdir else output)
