"""The judge of StarGAN's translations: an attribute classifier trained here.

StarGAN's paper checks its RaFD translations with a facial-expression
classifier trained on real images (Sec. 5.5, Table 3); on CelebA it relies on
a user study. This project trains its own multi-label classifier on the real
*training* images of the run's data, deterministically, and reports its
accuracy per attribute on the real *test* images, the ceiling of what the
translations can score. Four stride-2 convolutions (D's kernel-4 layers,
fast on XLA:CPU), global average pooling and a linear layer to one logit
per attribute; Adam on the sigmoid cross-entropy with random flips, for
``config.eval_classifier_steps`` minibatches of 64.

The parameters are cached in the run's cache folder (keyed by the data,
size and attributes), so later evaluations and ``--mode=translate`` reuse
them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.core import checkpoints
from gan_jax.families.dcgan.step import to_model_range
from gan_jax.nn import layers

_SEED = 0
_BATCH = 64
_LR = 1e-3
_WIDTHS = (32, 64, 128, 256)


class AttributeCNN(nn.Module):
  """uint8 or [-1, 1] images -> one logit per attribute."""
  num_attributes: int

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    x = to_model_range(images)
    for width in _WIDTHS:
      if x.shape[1] < 2:
        break
      x = nn.relu(layers.Conv(width, stride=2, padding=1,
                              kernel_init=nn.initializers.lecun_normal())(x))
    return nn.Dense(self.num_attributes)(jnp.mean(x, (1, 2)))


@dataclasses.dataclass(frozen=True)
class AttributeClassifier:
  """``predict(uint8 images)`` -> bool (n, A); ``test_accuracy`` per name."""
  predict: Callable[[np.ndarray], np.ndarray]
  names: tuple[str, ...]
  test_accuracy: dict[str, float]


def _train(images: np.ndarray, labels: np.ndarray, model: AttributeCNN,
           num_steps: int):
  """Adam on the sigmoid cross-entropy, one compiled scan."""
  tx = optax.adam(_LR)
  key = jax.random.PRNGKey(_SEED)
  params = model.init(key, images[:1])['params']
  images, labels = jnp.asarray(images), jnp.asarray(labels)

  def loss_fn(params_, x, y):
    logits = model.apply({'params': params_}, x)
    return optax.sigmoid_binary_cross_entropy(logits, y).mean()

  def step(carry, key_):
    params_, opt_state = carry
    pick_key, flip_key = jax.random.split(key_)
    # With replacement only if the data has fewer images than a minibatch.
    idx = jax.random.choice(pick_key, len(images), (_BATCH,),
                            replace=len(images) < _BATCH)
    x = to_model_range(images[idx])
    flips = jax.random.bernoulli(flip_key, 0.5, (_BATCH,))
    x = jnp.where(flips[:, None, None, None], x[:, :, ::-1], x)
    grads = jax.grad(loss_fn)(params_, x, labels[idx])
    updates, opt_state = tx.update(grads, opt_state, params_)
    return (optax.apply_updates(params_, updates), opt_state), None

  keys = jax.random.split(jax.random.fold_in(key, 1), num_steps)
  (params, _), _ = jax.jit(lambda p: jax.lax.scan(step, (p, tx.init(p)),
                                                  keys))(params)
  return params


def _cache_path(cache_dir: str, data_name: str, image_shape, names,
                num_steps: int) -> str:
  key = repr((data_name, tuple(image_shape), tuple(names), num_steps,
              _BATCH, _LR, _WIDTHS, _SEED)).encode()
  return os.path.join(cache_dir, 'attribute_classifier_'
                      f'{hashlib.sha256(key).hexdigest()[:16]}.msgpack')


def get_classifier(load_train: Callable[[], tuple[np.ndarray, np.ndarray]],
                   test_images: np.ndarray, test_labels: np.ndarray,
                   names: tuple[str, ...], data_name: str,
                   num_steps: int, cache_dir: str | None = None,
                   chunk: int = 256) -> AttributeClassifier:
  """Loads the cached classifier of this data, or trains and caches it on
  ``load_train()``'s (images, labels), read only then."""
  model = AttributeCNN(len(names))
  # Shapes only: a cached classifier is read, not initialised.
  template = jax.eval_shape(model.init, jax.random.PRNGKey(0),
                            test_images[:1])['params']
  path = (_cache_path(cache_dir, data_name, test_images.shape[1:], names,
                      num_steps) if cache_dir else None)

  def train():
    images, labels = load_train()
    logging.info('Training the attribute classifier on %d images (%s)',
                 len(images), data_name)
    return _train(images, labels, model, num_steps)

  params = checkpoints.cached_params(path, template, train)
  logits_of = jax.jit(lambda x: model.apply({'params': params}, x))

  def predict(images: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(logits_of(images[i:i + chunk])) > 0
                           for i in range(0, len(images), chunk)]
                          ) if len(images) else np.zeros((0, len(names)),
                                                         bool)

  correct = predict(test_images) == (np.asarray(test_labels) > 0.5)
  accuracy = {name: float(np.mean(correct[:, j]))
              for j, name in enumerate(names)}
  logging.info('Attribute classifier: test accuracy %s on %d images',
               ', '.join(f'{n} {a:.3f}' for n, a in accuracy.items()),
               len(test_images))
  return AttributeClassifier(predict, tuple(names), accuracy)
