"""An offline quality score for the embedded digits: a small CNN trained here.

FID needs an ImageNet network and its weights; the default run (scikit-learn's
digits) has neither a download nor a domain match. So the project trains its
own judge, deterministically, in seconds on a CPU: a 4-layer CNN on 80 % of
the 1,797 digits at the run's image size (held-out accuracy is logged). From
its outputs on generated images:

  * classes covered: digits predicted for at least ``min_share`` of their
    uniform share of the samples (a class hit once by one odd sample is not a
    mode the generator has; 0.1 of the share = 1 % of the samples);
  * KL(predicted-class histogram || uniform), 0 when every digit is equally
    frequent (the real data are within 0.001 of it), log 10 at full collapse;
  * Frechet distance in its 128-d penultimate-layer space (FD as in FID,
    ``metrics.frechet_distance``, with this classifier as the embedding).

The parameters are cached in the workdir (``eval/digits_classifier_*.msgpack``)
so later evaluations of the run, and --mode=eval, reuse them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.core import checkpoints, visualize
from gan_jax.data import sources
from gan_jax.nn import layers

NUM_CLASSES = 10
FEATURE_DIM = 128
_SEED = 0
_TRAIN_STEPS = 600
_BATCH = 128
_LR = 1e-3


class DigitsCNN(nn.Module):
  """Three stride-2 convolutions, then a 128-d feature layer and logits.

  The convolutions are D's kernel-4 layers (``layers.Conv``), whose gradients
  are fast on XLA:CPU; ``nn.Conv``'s strided backward made training 50x slower.
  """

  @nn.compact
  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = images
    for width in (32, 64, 128):
      x = nn.relu(layers.Conv(width, stride=2, padding=1,
                              kernel_init=nn.initializers.lecun_normal())(x))
    x = x.reshape(x.shape[0], -1)
    features = nn.relu(nn.Dense(FEATURE_DIM)(x))
    return nn.Dense(NUM_CLASSES)(features), features


@dataclasses.dataclass(frozen=True)
class DigitsClassifier:
  """A trained classifier: ``apply(images in [-1, 1])`` -> (logits, features)."""
  apply: Callable[[jax.Array], tuple[jax.Array, jax.Array]]
  held_out_accuracy: float


def load_digits(image_size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
  """(images in [-1, 1], labels), as the training pipeline renders them."""
  source = sources.digits_source(image_size, channels, labels=True)
  examples = source.load(np.arange(source.num_examples))
  return visualize.from_uint8(examples['image']), examples['label']


def _train(images: np.ndarray, labels: np.ndarray, model: DigitsCNN):
  """Adam on cross-entropy, one compiled scan; a pure function of the data."""
  tx = optax.adam(_LR)
  key = jax.random.PRNGKey(_SEED)
  params = model.init(key, images[:1])['params']

  def loss_fn(params_, x, y):
    logits, _ = model.apply({'params': params_}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  def step(carry, key_):
    params_, opt_state = carry
    idx = jax.random.choice(key_, len(images), (_BATCH,), replace=False)
    grads = jax.grad(loss_fn)(params_, jnp.asarray(images)[idx],
                              jnp.asarray(labels)[idx])
    updates, opt_state = tx.update(grads, opt_state, params_)
    return (optax.apply_updates(params_, updates), opt_state), None

  keys = jax.random.split(jax.random.fold_in(key, 1), _TRAIN_STEPS)
  (params, _), _ = jax.jit(lambda p: jax.lax.scan(step, (p, tx.init(p)),
                                                  keys))(params)
  return params


def cache_path(cache_dir: str, image_size: int, channels: int) -> str:
  return os.path.join(cache_dir,
                      f'digits_classifier_{image_size}x{channels}.msgpack')


def get_classifier(image_size: int, channels: int,
                   cache_dir: str | None = None) -> DigitsClassifier:
  """Loads the cached classifier from ``cache_dir``, or trains and caches it."""
  images, labels = load_digits(image_size, channels)
  train_idx, held_out_idx = sources.digits_split(len(images))
  model = DigitsCNN()
  # Shapes only: a cached classifier is read, not initialised.
  template = jax.eval_shape(model.init, jax.random.PRNGKey(0),
                            images[:1])['params']
  path = cache_path(cache_dir, image_size, channels) if cache_dir else None
  params = checkpoints.cached_params(
      path, template,
      lambda: _train(images[train_idx], labels[train_idx], model))
  apply = jax.jit(lambda x: model.apply({'params': params}, x))
  logits, _ = apply(images[held_out_idx])
  accuracy = float(np.mean(np.argmax(logits, -1) == labels[held_out_idx]))
  logging.info('Digits classifier: held-out accuracy %.4f on %d images',
               accuracy, len(held_out_idx))
  return DigitsClassifier(apply=apply, held_out_accuracy=accuracy)


def class_scores(logits: np.ndarray, min_share: float = 0.1
                 ) -> dict[str, float]:
  """Classes covered and KL(predicted-class histogram || uniform)."""
  counts = np.bincount(np.argmax(logits, axis=-1), minlength=NUM_CLASSES)
  freq = counts / counts.sum()
  covered = int((freq >= min_share / NUM_CLASSES).sum())
  nonzero = freq > 0
  kl = float(np.sum(freq[nonzero] * np.log(freq[nonzero] * NUM_CLASSES)))
  return {'digits_classes_covered': covered, 'digits_class_kl': kl}


def class_accuracy(logits: np.ndarray, asked: np.ndarray) -> dict[str, float]:
  """How often the classifier names the class a conditional G was asked for:
  overall (``digits_class_accuracy``) and per class (``..._C``)."""
  predicted = np.argmax(logits, axis=-1)
  asked = np.asarray(asked)
  scores = {'digits_class_accuracy': float(np.mean(predicted == asked))}
  for c in range(NUM_CLASSES):
    if np.any(asked == c):
      scores[f'digits_class_accuracy_{c}'] = float(
          np.mean(predicted[asked == c] == c))
  return scores
