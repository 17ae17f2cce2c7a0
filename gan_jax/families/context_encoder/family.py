"""The Context Encoder as a family: a network trained to fill holes.

Pathak, Krahenbuhl, Donahue, Darrell & Efros 2016, "Context Encoders: Feature
Learning by Inpainting", as the authors' release trains it
(pathak22/context-encoder, ``train.lua``, ``train_random.lua``): the
generator ``models.ContextEncoder``, DCGAN's discriminator
(``dcgan.models.Discriminator``; the release is a fork of dcgan.torch), the
update ``step.make_train_step``; this file wires them to the config, the
data, the grids, the evaluation (``inpainting/completion.py``: hole scores of
the held-out images under ``inpaint_mask``) and ``--mode=inpaint``.

Followed from the release: the encoder, decoder and D layer for layer (for
image sizes 32/64/128: one encoder level per halving down to 4x4), batch norm,
LeakyReLU 0.2 / ReLU, N(0, 0.02) weights and N(1, 0.02) norm scales, no
biases, the constant hole colour, lambda_rec = 0.999 (wtl2) and 0.001 for the
adversarial term, the overlap band weighted 10x, Adam with beta1 0.5 at
2e-4 for D and 10x that for G (the release's rule when 0 < wtl2 < 1), batch
64, binary cross-entropy.

Knowingly different:
  * the bottleneck is the paper's channel-wise fully connected layer
    (``model.bottleneck='channelwise'``); the release's train.lua has a dense
    4000-d one instead ('dense');
  * one network predicts the whole image and is trained on both centre and
    random-block holes (``train_mask='both'``); the release trains one
    network per kind (train.lua predicts only the centre square, and its
    train_random.lua's holes are thresholded smooth noise, not squares);
    'center' reproduces the first;
  * the overlap band is ``overlap`` pixels (S/32: the release's 4 at 128)
    around the mask's hole, which is the same hole every scored method gets;
  * G's adversarial gradient goes through D after D's update (the release
    reuses D's outputs from before it);
  * D judges the completed image (the prediction inside the predicted
    region, the real pixels outside): for 'center' holes what the release's
    D sees plus context that is the same for real and fake.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.core import errors, optim, visualize
from gan_jax.core import state as state_lib
from gan_jax.data import sources
from gan_jax.families import base
from gan_jax.families.context_encoder import models, step
from gan_jax.families.dcgan import models as dcgan_models
from gan_jax.families.dcgan import step as dcgan_step
from gan_jax.inpainting import completion, masks
from gan_jax.nn import layers

EVAL_METRICS = ('hole', 'digits', 'fid')


class ContextEncoder(base.Family):
  """Inpainting by a trained encoder-decoder with an adversarial loss."""
  name = 'context_encoder'
  progress = (('d_loss', 'D', '%.3f'), ('g_adv', 'G_adv', '%.3f'),
              ('g_rec', 'G_rec', '%.4f'), ('d_real', 'D(x)', '%.2f'),
              ('d_fake', 'D(F(x))', '%.2f'))

  @classmethod
  def validate(cls, config) -> None:
    errors.positive_ints(config, 'model.base_width', 'model.bottleneck_dim',
                         'num_sample_images', 'data.num_workers',
                         'data.prefetch')
    errors.one_of(config, 'image_size', models.SUPPORTED_IMAGE_SIZES)
    errors.one_of(config, 'channels', (1, 3))
    errors.one_of(config, 'model.bottleneck', models.BOTTLENECKS)
    errors.one_of(config, 'model.conv_impl', layers.IMPLS)
    errors.one_of(config, 'train_mask', step.TRAIN_MASKS)
    errors.require(0 <= config.reconstruction_weight <= 1,
                   'reconstruction_weight', 'must be in [0, 1]',
                   config.reconstruction_weight)
    errors.require(isinstance(config.overlap, int) and config.overlap >= 0,
                   'overlap', 'must be an integer >= 0', config.overlap)
    errors.require(config.overlap_weight >= 0, 'overlap_weight',
                   'must be non-negative', config.overlap_weight)
    errors.require(config.model.init_stddev > 0, 'model.init_stddev',
                   'must be positive', config.model.init_stddev)
    optim.validate(config)
    for field in ('data.source', 'data.eval_source'):
      spec = errors.get_field(config, field)
      errors.require(sources.kind_of(spec) is not None, field,
                     f'must be {sources.SOURCES}', spec)
    completion.validate(config)

  @classmethod
  def validate_evaluation(cls, config) -> None:
    unknown = [m for m in config.eval_metrics if m not in EVAL_METRICS]
    if unknown:
      raise errors.ConfigError(f'config.eval_metrics: unknown {unknown}, '
                               f'choose from {EVAL_METRICS}')

  def __init__(self, config, num_train_steps: int = 1,
               axis_name: str | None = None):
    super().__init__(config, num_train_steps, axis_name)
    model = config.model
    self.generator = models.ContextEncoder(
        image_size=config.image_size, channels=config.channels,
        base_width=model.base_width, bottleneck=model.bottleneck,
        bottleneck_dim=model.bottleneck_dim, init_stddev=model.init_stddev,
        axis_name=axis_name, conv_impl=model.conv_impl)
    self.discriminator = dcgan_models.Discriminator(
        image_size=config.image_size, base_width=model.base_width,
        init_stddev=model.init_stddev, axis_name=axis_name,
        conv_impl=model.conv_impl)
    self.g_tx, self.d_tx = dcgan_step.make_optimizers(config.optimizer,
                                                      num_train_steps, 1)
    self.train_step = step.make_train_step(
        self.generator, self.discriminator, self.g_tx, self.d_tx,
        train_mask=config.train_mask,
        reconstruction_weight=config.reconstruction_weight,
        overlap=config.overlap, overlap_weight=config.overlap_weight,
        axis_name=axis_name)
    generator = self.generator.clone(axis_name=None)

    def predict(params, batch_stats, images, known):
      # Batch statistics, as in training (the release never switches G to
      # evaluation mode either).
      out, _ = generator.apply({'params': params, 'batch_stats': batch_stats},
                               step.context_of(images, known), train=True,
                               mutable=['batch_stats'])
      return images * known + out * (1.0 - known), out

    self._predict = jax.jit(predict)

  def init(self, key):
    config = self.config
    g_key, d_key, rng = jax.random.split(key, 3)
    images = jnp.zeros((2, config.image_size, config.image_size,
                        config.channels))
    g_vars = self.generator.init(g_key, images, train=False)
    d_vars = self.discriminator.init(d_key, images, train=False)
    return state_lib.new_state(rng, {
        'g': state_lib.make_player(g_vars, self.g_tx),
        'd': state_lib.make_player(d_vars, self.d_tx)})

  # --- Filling holes -----------------------------------------------------------

  def fill(self, state, images: np.ndarray, known: np.ndarray, key=None
           ) -> dict[str, np.ndarray]:
    """'context_encoder': the prediction pasted into the holes of
    ``images`` (and 'prediction', the whole output), batch by batch at the
    training batch size (batch norm sees batches like those it trained on;
    a short last batch is topped up with the first images, not zeros, which
    would skew its statistics)."""
    del key  # deterministic
    g = state.players['g']
    size = self.config.batch_size
    pasted, raw = [], []
    for start in range(0, len(images), size):
      index = np.arange(start, start + size) % len(images)
      count = min(size, len(images) - start)
      out = self._predict(g.params, g.batch_stats, images[index],
                          known[index])
      pasted.append(np.asarray(out[0])[:count])
      raw.append(np.asarray(out[1])[:count])
    return {'prediction': np.concatenate(raw),
            'context_encoder': np.concatenate(pasted)}

  @functools.cached_property
  def _held_out(self) -> tuple:
    """data.eval_source's images, read once for the grids and evaluation."""
    return completion.load(self.config)

  def sample_grid(self, state):
    """masked | filled | original for the first ``num_sample_images`` (at
    most ``inpaint_num_images``) held-out images: the evaluation's first
    images and holes."""
    config = self.config
    images = visualize.from_uint8(
        self._held_out[0][:config.num_sample_images])
    known = masks.make_masks(config.inpaint_mask, len(images),
                             config.image_size, config.seed)
    filled = self.fill(state, images, known)['context_encoder']
    rows = np.stack([completion.masked(images, known), filled, images], 1)
    return rows.reshape(-1, *rows.shape[2:]), 6

  def make_evaluator(self, training_source, cache_dir):
    del training_source  # scored on the held-out images, not the training data
    return completion.InpaintEvaluator(self.config, cache_dir,
                                       loaded=self._held_out)

  def evaluate(self, evaluator, state) -> dict:
    filled = self.fill(state, evaluator.images, evaluator.known)
    return evaluator.score(filled['context_encoder'])

  @property
  def modes(self):
    return {'inpaint': self.inpaint}

  def inpaint(self, state, step_: int, output: str,
              input_dir: str | None = None, workdir: str = '') -> str:
    """--mode=inpaint: the network's fills of --input (or data.eval_source)."""
    return completion.run(
        self.config, functools.partial(self.fill, state), step_, output,
        input_dir, f'{workdir}/eval' if workdir else output)


FAMILY = ContextEncoder
