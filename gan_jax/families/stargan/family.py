"""StarGAN as a family: one generator translating among many domains.

Choi, Choi, Kim, Ha, Kim and Choo 2018, "StarGAN: Unified Generative
Adversarial Networks for Multi-Domain Image-to-Image Translation", as the
authors' released code trains it (yunjey/stargan, ``solver.py``,
``model.py``, ``data_loader.py``, ``main.py``). Players 'g'
(``models.Generator``: G(x, c)) and 'd' (``models.Discriminator``: D_src and
D_cls), each with its own Adam; the update is ``step.make_train_step``; this
file wires them to the config, the attribute data (``domains``), the grids,
the evaluation and the ``translate`` mode.

Followed from the reference: both networks layer for layer (G 8,430,528
parameters at 5 attributes, as the reference's), instance norm with a
learned affine and per-image statistics, no biases in G, LeakyReLU 0.01 and
no norm in D, PyTorch's default init, WGAN-GP (lambda_gp 10), lambda_cls 1
with the attribute BCE summed over attributes, lambda_rec 10, n_critic 5 (G
steps after every fifth D step, on that step's minibatch, judged by the D
just updated), targets by permuting the minibatch's labels, Adam 1e-4 with
beta (0.5, 0.999), batch 16, the CelebA split (the attribute file's rows
shuffled by random.seed(1234), the first 1,999 the test set), random flips,
centre crop then bilinear resize, and the test targets of ``create_labels``
(a hair colour set one-hot, any other attribute flipped).

Knowingly different:
  * the rate decays linearly to 0 over the second half of the updates, as
    the paper says (Sec. 4); the reference subtracts lr / num_iters_decay
    only every lr_update_step (1,000) iterations, so its rate ends at
    99.9% of the start;
  * the schedules count each player's own updates (G's spans the G steps,
    D's the D steps), the reference counts iterations for both: the same
    shape in time;
  * flips, target permutations and the penalty's interpolation weights come
    from the run's key (exact resume); the reference does not seed them;
  * D judges real and generated images in one call where the reference
    makes two (D has no norm: the same outputs);
  * WGAN-GP's gradient norm is sqrt(|g|^2 + 1e-12) (``losses.penalties``),
    finite-gradient where the reference's sqrt(|g|^2) is not;
  * the last partial minibatch of an epoch is not trained on
    (``order.train_batches``); the reference's ``drop_last=False`` trains
    it (one image at 6,001 training faces);
  * ``identity_weight`` (default 0, the reference) adds CycleGAN's identity
    term to G's loss (``step``); only the digits preset sets it.

Evaluation (``evaluate``): every test image translated to each of its
targets; the attribute classifier's (``classifier.py``) rate of naming the
target (``target_accuracy``, per attribute ``target_accuracy_<name>``,
next to ``source_rate_<name>``, its rate on the untranslated inputs), FID
per target domain, the reconstruction L1 |G(G(x, c'), c) - x| and, on the
digits, L1 and PSNR against the known translation.
"""

from __future__ import annotations

import functools
import os
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax.core import errors, optim, visualize
from gan_jax.core import state as state_lib
from gan_jax.data import sources
from gan_jax.eval import evaluation, metrics, translation
from gan_jax.families import base
from gan_jax.families.dcgan.step import make_optimizers, to_model_range
from gan_jax.families.stargan import classifier, domains, models, step
from gan_jax.nn import layers

METRICS = ('target_accuracy', 'fid', 'l1', 'psnr')
# Test images in the test grid written at every evaluation.
_TEST_GRID_IMAGES = 12


def parse_wanted(spec: str, names: tuple[str, ...]) -> dict[str, float]:
  """'Blond_Hair,Male=0' -> {'Blond_Hair': 1.0, 'Male': 0.0}; an unknown
  name is one error listing the valid ones."""
  wanted = {}
  for item in (s.strip() for s in spec.split(',')):
    if not item:
      continue
    name, _, value = item.partition('=')
    if name not in names:
      raise errors.ConfigError(
          f'config.translate_attributes: unknown attribute {name!r}; valid: '
          f'{", ".join(names)}')
    if value not in ('', '0', '1'):
      raise errors.ConfigError(
          f'config.translate_attributes: {item!r}: the value must be 0 or 1')
    wanted[name] = 0.0 if value == '0' else 1.0
  if not wanted:
    raise errors.ConfigError('config.translate_attributes is empty; name the '
                             f'attributes to set, from {", ".join(names)}')
  return wanted


def attribute_classifier(config,
                         training_source: Callable[[], sources.Source],
                         test: dict,
                         cache_dir: str) -> classifier.AttributeClassifier:
  """The run's attribute classifier: cached in ``cache_dir`` (keyed by the
  configured source, so a cached one needs no training data), else trained
  on every image of ``training_source()``, built and decoded only then."""

  def load_train():
    train_source = training_source()
    examples = train_source.load(np.arange(train_source.num_examples))
    return examples['image'], examples['attributes']

  data_name = (f'{config.data.source}[train, test_count='
               f'{config.data.test_count}]')
  return classifier.get_classifier(
      load_train, test['image'], test['attributes'],
      tuple(config.data.attributes), data_name,
      config.eval_classifier_steps, cache_dir)


class StarEvaluator:
  """What ``evaluate`` needs: the classifier, FID targets, known answers."""

  def __init__(self, config, test: dict,
               training_source: Callable[[], sources.Source], cache_dir: str):
    self.config = config
    self.test = test
    self.cache_dir = cache_dir
    self.grid_dir = cache_dir
    wanted = tuple(config.eval_metrics)
    self.skipped: dict[str, str] = {}
    for metric in ('l1', 'psnr'):
      if metric in wanted and 'grey' not in test:
        self.skipped[metric] = ('needs the known translation: only '
                                "data.source 'digits_domains' has it")
    # Built on the classifier's first use: it trains on the training data.
    self._training_source = training_source
    # One Inception pass over every test image; each target domain's real
    # set is a subset of its rows.
    self._fid_all: translation.TranslationEvaluator | None = None
    self._fid_rows: dict[tuple[int, float], np.ndarray] = {}
    if 'fid' in wanted:
      sub = ml_collections.ConfigDict(config.to_dict())
      sub.eval_metrics = ('fid',)
      evaluator = translation.TranslationEvaluator(sub, test['image'],
                                                   cache_dir,
                                                   name=test['name'])
      self.skipped.update(evaluator.skipped)
      if not evaluator.skipped:
        self._fid_all = evaluator
        for j, name in enumerate(config.data.attributes):
          for value in (0.0, 1.0):
            if name in config.data.exclusive_attributes and not value:
              continue  # a hair colour is only ever a target when set
            rows = test['attributes'][:, j] == value
            if rows.sum() >= 2:
              self._fid_rows[(j, value)] = rows
    self.active = tuple(m for m in wanted if m not in self.skipped) + (
        'reconstruction_l1',)

  @functools.cached_property
  def classifier(self) -> classifier.AttributeClassifier:
    return attribute_classifier(self.config, self._training_source,
                                self.test, self.cache_dir)

  def fid(self, j: int, translated: np.ndarray, targets: np.ndarray
          ) -> float | None:
    """FID of the translations to attribute j against the real test images
    with the value each was asked for: per value, weighted by count."""
    if self._fid_all is None:
      return None
    features = self._fid_all.features(translated)
    real = self._fid_all.target_features()
    total, count = 0.0, 0
    for value in (0.0, 1.0):
      asked = targets[:, j] == value
      rows = self._fid_rows.get((j, value))
      n = int(asked.sum())
      if rows is not None and n >= 2:
        total += n * metrics.frechet_distance_of_features(features[asked],
                                                          real[rows])
        count += n
    return float(total / count) if count else None


def score(evaluator: StarEvaluator, images: np.ndarray, labels: np.ndarray,
          translated: list[np.ndarray], reconstructed: list[np.ndarray]
          ) -> dict:
  """The scores of translations of ``images`` (uint8, with their 0/1
  ``labels``): ``translated[j]`` to the ``create_labels`` target j of each
  (``domains.target_labels``), ``reconstructed[j]`` that translated back to
  ``labels``. Shared by ``StarGAN.evaluate`` and scripts/score_stargan.py
  (the reference's outputs), so both are scored alike."""
  config = evaluator.config
  names = tuple(config.data.attributes)
  targets = domains.target_labels(labels, names,
                                  tuple(config.data.exclusive_attributes))
  active = evaluator.active
  results: dict[str, float] = {
      'eval_num_images': len(images),
      'reconstruction_l1': float(np.mean([translation.l1(back, images)
                                          for back in reconstructed]))}
  if 'target_accuracy' in active:
    judge = evaluator.classifier
    on_inputs = judge.predict(images)
    hits = []
    for j, name in enumerate(names):
      asked = targets[j][:, j] > 0.5
      hit = judge.predict(translated[j])[:, j] == asked
      hits.append(hit)
      results[f'target_accuracy_{name}'] = float(np.mean(hit))
      results[f'source_rate_{name}'] = float(np.mean(on_inputs[:, j]
                                                     == asked))
      results[f'classifier_accuracy_{name}'] = judge.test_accuracy[name]
    results['target_accuracy'] = float(np.mean(hits))
  if 'fid' in active:
    fids = []
    for j, name in enumerate(names):
      value = evaluator.fid(j, translated[j], targets[j])
      if value is not None:
        results[f'fid_{name}'] = value
        fids.append(value)
    if fids:
      results['fid'] = float(np.mean(fids))
  return results


class StarGAN(base.Family):
  """Multi-domain translation: one G(x, c), one D with D_src and D_cls."""
  name = 'stargan'
  progress = (('d_loss', 'D_adv', '%.3f'), ('d_cls', 'D_cls', '%.3f'),
              ('gradient_penalty', 'GP', '%.3f'), ('g_loss', 'G_adv', '%.3f'),
              ('g_cls', 'G_cls', '%.3f'), ('g_rec', 'G_rec', '%.3f'),
              ('g_identity', 'G_idt', '%.3f'))

  @classmethod
  def validate(cls, config) -> None:
    errors.positive_ints(config, 'image_size', 'model.base_width',
                         'model.d_base_width', 'model.num_blocks',
                         'model.d_layers', 'd_steps', 'num_sample_images',
                         'data.num_workers', 'data.prefetch')
    errors.one_of(config, 'channels', (1, 3))
    errors.one_of(config, 'model.conv_impl', layers.IMPLS)
    errors.boolean(config, 'data.flip')
    for field in ('gp_weight', 'classification_weight',
                  'reconstruction_weight', 'identity_weight'):
      errors.require(config[field] >= 0, field, 'must be non-negative',
                     config[field])
    errors.require(config.image_size % 2 ** config.model.d_layers == 0,
                   'image_size', f'must be a multiple of '
                   f'2^model.d_layers = {2 ** config.model.d_layers} (D '
                   'halves it d_layers times, D_cls covers what is left)',
                   config.image_size)
    names = tuple(config.data.attributes)
    errors.require(len(names) >= 1 and len(set(names)) == len(names)
                   and all(isinstance(n, str) and n for n in names),
                   'data.attributes', 'must name distinct attributes',
                   config.data.attributes)
    errors.require(isinstance(config.data.test_count, int)
                   and config.data.test_count >= 1, 'data.test_count',
                   'must be a positive integer', config.data.test_count)
    spec = config.data.source
    errors.require(spec != 'digits_domains'
                   or domains.valid_digits_attributes(names),
                   'data.attributes', domains.DIGITS_ATTRIBUTES_RULE, names)
    errors.require(spec == 'digits_domains' or (
        isinstance(spec, str) and spec.startswith('attributes:')
        and len(spec) > len('attributes:')), 'data.source',
                   f'must be {domains.SOURCES}', spec)
    optim.validate(config)
    if config.translate_attributes:
      parse_wanted(config.translate_attributes, names)

  @classmethod
  def validate_evaluation(cls, config) -> None:
    unknown = [m for m in config.eval_metrics if m not in METRICS]
    errors.require(not unknown, 'eval_metrics',
                   f'has unknown {unknown}, choose from {METRICS}',
                   config.eval_metrics)
    errors.require(isinstance(config.eval_num_images, int)
                   and config.eval_num_images >= 0, 'eval_num_images',
                   'must be a non-negative integer', config.eval_num_images)
    errors.positive_ints(config, 'eval_classifier_steps')
    if 'fid' in config.eval_metrics:
      translation.validate(ml_collections.ConfigDict(
          {**config.to_dict(), 'eval_metrics': ('fid',)}))

  def __init__(self, config, num_train_steps: int = 1,
               axis_name: str | None = None):
    super().__init__(config, num_train_steps, axis_name)
    model = config.model
    self.names = tuple(config.data.attributes)
    self.generator = models.Generator(
        out_channels=config.channels, base_width=model.base_width,
        num_blocks=model.num_blocks, conv_impl=model.conv_impl)
    self.discriminator = models.Discriminator(
        num_attributes=len(self.names), base_width=model.d_base_width,
        num_layers=model.d_layers, conv_impl=model.conv_impl)
    self.g_tx, self.d_tx = make_optimizers(config.optimizer, num_train_steps,
                                           config.d_steps)
    self.train_step = step.make_train_step(
        self.generator, self.discriminator, self.g_tx, self.d_tx,
        gp_weight=config.gp_weight,
        classification_weight=config.classification_weight,
        reconstruction_weight=config.reconstruction_weight,
        identity_weight=config.identity_weight, flip=config.data.flip,
        axis_name=axis_name)
    self._translate = jax.jit(functools.partial(_apply_generator,
                                                self.generator))

  def _source(self, split: str) -> sources.Source:
    config = self.config
    return domains.make_source(
        config.data.source, split, config.image_size, config.channels,
        self.names, config.data.test_count,
        num_threads=max(config.data.num_workers, 1))

  def make_source(self) -> sources.Source:
    return self._source('train')

  def init(self, key):
    config = self.config
    g_key, d_key, rng = jax.random.split(key, 3)
    x = jnp.zeros((1, config.image_size, config.image_size, config.channels))
    c = jnp.zeros((1, len(self.names)))
    return state_lib.new_state(rng, {
        'g': state_lib.make_player(self.generator.init(g_key, x, c),
                                   self.g_tx),
        'd': state_lib.make_player(self.discriminator.init(d_key, x),
                                   self.d_tx)})

  # --- Test images, translation, grids --------------------------------------

  @functools.cached_property
  def test_data(self) -> dict:
    """The test split: 'image' uint8, 'attributes' (n, A), 'name', and for
    the digits 'grey' (the digit behind each image, for the known answer)."""
    source = self._source('test')
    data = {'name': source.name,
            **source.load(np.arange(source.num_examples))}
    if self.config.data.source == 'digits_domains':
      data['grey'] = domains.digits_domains('test', self.config.image_size,
                                            self.names)[0]
    return data

  def translate(self, state, images: np.ndarray, labels: np.ndarray,
                chunk: int = 0) -> np.ndarray:
    """uint8 images (n, S, S, C) to target labels (n, A) -> uint8
    translations, in padded chunks (one compile for grids and evaluation)."""
    chunk = chunk or self.config.eval_batch_size
    params = state.players['g'].params
    labels = np.asarray(labels, np.float32)
    return np.concatenate([
        visualize.to_uint8(np.asarray(self._translate(
            params, padded, padded_labels)))[:count]
        for (_, padded, count), (_, padded_labels, _) in zip(
            evaluation.padded_chunks(images, chunk),
            evaluation.padded_chunks(labels, chunk))])

  def _targets(self, labels: np.ndarray) -> np.ndarray:
    return domains.target_labels(labels, self.names,
                                 tuple(self.config.data.exclusive_attributes))

  def _grid(self, images: np.ndarray, translated: list[np.ndarray]):
    """Rows: the input, then its translation to each target (Fig. 4)."""
    columns = np.stack([images, *translated], 1)
    flat = visualize.from_uint8(columns)
    return flat.reshape(-1, *flat.shape[2:]), columns.shape[1]

  def sample_grid(self, state):
    num = self.config.num_sample_images
    images = self.test_data['image'][:num]
    targets = self._targets(self.test_data['attributes'][:num])
    return self._grid(images, [self.translate(state, images, t)
                               for t in targets])

  def make_evaluator(self, training_source, cache_dir):
    return StarEvaluator(self.config, self.test_data, training_source,
                         cache_dir)

  def evaluate(self, evaluator: StarEvaluator, state) -> dict:
    """The scores of every (or ``eval_num_images``) test image translated
    to each target; writes the first images' grid to
    ``eval/test_grid_step_N.png``."""
    num = self.config.eval_num_images or None
    images = self.test_data['image'][:num]
    labels = self.test_data['attributes'][:num]
    targets = self._targets(labels)
    translated = [self.translate(state, images, target) for target in targets]
    reconstructed = [self.translate(state, out, labels) for out in translated]
    results = score(evaluator, images, labels, translated, reconstructed)
    if 'grey' in self.test_data:
      grey = self.test_data['grey'][:num]
      known = [domains.render(grey, target, self.names)
               for target in targets]
      for metric, fn in (('l1', translation.l1), ('psnr', translation.psnr)):
        if metric in evaluator.active:
          each = [fn(out, answer) for out, answer in zip(translated, known)]
          results[metric] = float(np.mean(each))
          results.update({f'{metric}_{name}': float(value)
                          for name, value in zip(self.names, each)})
          # The untranslated inputs scored the same way: what G must beat
          # (a small change such as Bold scores well left undone).
          results.update({f'source_{metric}_{name}': fn(images, answer)
                          for name, answer in zip(self.names, known)})
    if jax.process_index() == 0:
      count = min(_TEST_GRID_IMAGES, len(images))
      translation.save_test_grid(
          evaluator.grid_dir, state.step,
          *self._grid(images[:count], [t[:count] for t in translated]))
    return results

  # --- --mode=translate -------------------------------------------------------

  @property
  def modes(self):
    return {'translate': self.translate_folder}

  def translate_folder(self, state, step_: int, output: str,
                       input_dir: str, workdir: str) -> str:
    """--mode=translate --input=DIR --config.translate_attributes=A,B=0:
    every image below DIR with those attributes set, the others as the
    run's attribute classifier reads them from the image; written as
    OUTPUT/<same relative path>.png."""
    wanted = parse_wanted(self.config.translate_attributes, self.names)
    judge = attribute_classifier(self.config, self.make_source,
                                 self.test_data, os.path.join(workdir, 'eval'))
    exclusive = tuple(self.config.data.exclusive_attributes)

    def translate_one(pixels, index):
      del index
      labels = domains.set_attributes(
          judge.predict(pixels).astype(np.float32), self.names, exclusive,
          wanted)
      return visualize.from_uint8(self.translate(state, pixels, labels,
                                                 chunk=1))[0]

    return translation.write_translations(
        input_dir, output, self.config.image_size, self.config.channels,
        translate_one, f'the step-{step_} G', center_crop=True,
        resample='bilinear' if self.config.data.source != 'digits_domains'
        else 'bicubic')


def _apply_generator(generator, params, images, labels):
  return generator.apply({'params': params}, to_model_range(images), labels)


FAMILY = StarGAN
