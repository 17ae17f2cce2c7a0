"""The caption encoder: a char-CNN-RNN trained with the DS-SJE objective.

GAWWN conditions on the 1,024-d char-CNN-RNN embeddings of Reed, Akata, Lee
and Schiele 2016 ("Learning Deep Representations of Fine-Grained Visual
Descriptions"), trained before the GAN and then fixed (the release loads
them precomputed, ``info.txt``). We do the same, smaller:

  * ``CharEncoder``: one-hot characters, two (conv 4, ReLU, max-pool 2)
    layers (the paper's char-CNN, three layers with pool 3 over 201
    characters), a GRU over the pooled sequence (the paper's RNN), the mean
    of its states over the caption's length (the paper's average of the
    hidden units), a linear map to ``embedding_dim``. Beside the GRU's
    mean, and not in the paper: the maximum over the caption of each of the
    first conv layer's features (``read_words``), which sees four
    characters at a time before any pooling. Without it a one-character
    word ("a 6 in red") was read right 0.73 of the time in unseen phrasings
    and capped what G could be told (docs/gawwn.md);
  * ``ImageEncoder``: a small CNN from the canvas to the same space (the
    paper uses a fixed GoogLeNet; there is none offline, so it is learned
    together with the text side);
  * ``ds_sje_loss``: the deep symmetric structured joint embedding, Eq. 3-5:
    compatibility F(v, t) = phi(v) . psi(t), for each image the hinges
    [Delta + F(v, t') - F(v, t)]_+ over the batch's captions t' of other
    content (Delta = 1), and the same for each caption over the images:
    both retrievals are trained, as "symmetric" says. Two examples are of
    one class when their captions say the same (digit, colour, size,
    place); the paper's classes are bird species, and it averages the
    scores over a class's captions, here each caption stands alone. The
    paper's structured loss takes the most violating class (a max); from
    a random start that collapsed every embedding to 0 here (loss fixed at
    2), so the hinges are summed over the negatives, as in the surrogate
    of Akata et al. and VSE; the optimum is the same.

``pretrain`` trains both encoders before the game (the GAWWN family's
``pretrain``); the GAN then reads the caption encoder, fixed. Why
pretrained and not learned with the GAN: it is the paper's recipe, it lets
the GAN's D and G read a fixed meaning (a jointly trained encoder can drift
to whatever D finds easy), and its retrieval accuracy on captions in unseen
phrasings is a check of its own (``retrieval_accuracy``). How long: a
batch's negatives nearly always differ in colour, size or place as well as
in digit, so the hinges are met by those first; the digit (the one thing
the image side must learn to recognise) enters the embedding last.
docs/gawwn.md has the linear probes that measured it.
"""

from __future__ import annotations

import logging
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.core import state as state_lib
from gan_jax.data import sources
from gan_jax.families.dcgan.step import to_model_range
from gan_jax.families.gawwn import whatwhere
from gan_jax.nn import layers

_NUM_CODES = len(whatwhere.ALPHABET) + 1  # 0 pads


class CharEncoder(nn.Module):
  """int32 (n, L) character codes -> (n, embedding_dim) caption embeddings.

  ``read_words``: also the maximum over the caption of the first conv
  layer's features (a word detector, before any pooling), joined to the
  GRU's mean; False is the paper's char-CNN-RNN alone (module doc)."""
  embedding_dim: int = 128
  width: int = 128  # conv channels and GRU units
  read_words: bool = True

  @nn.compact
  def __call__(self, codes: jax.Array) -> jax.Array:
    lengths = jnp.sum(codes > 0, axis=1)
    valid = (codes > 0)[..., None]
    h = jax.nn.one_hot(codes, _NUM_CODES)
    words = None
    for _ in range(2):
      h = nn.relu(nn.Conv(self.width, (4,), padding='SAME')(h))
      if words is None:  # ReLU features are >= 0: 0 masks the padding
        words = jnp.max(jnp.where(valid, h, 0.0), axis=1)
      h = nn.max_pool(h, (2,), strides=(2,))
      lengths = (lengths + 1) // 2
    states = nn.RNN(nn.GRUCell(self.width))(h, seq_lengths=lengths)
    mask = (jnp.arange(h.shape[1])[None, :] < lengths[:, None])[..., None]
    mean = jnp.sum(states * mask, 1) / jnp.maximum(lengths, 1)[:, None]
    summary = (jnp.concatenate([mean, words], axis=-1) if self.read_words
               else mean)
    return nn.Dense(self.embedding_dim)(summary)


class ImageEncoder(nn.Module):
  """uint8-range images in [-1, 1] (n, S, S, 3) -> (n, embedding_dim)."""
  embedding_dim: int = 128

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    h = images
    for width in (32, 64, 128, 128):
      h = nn.relu(layers.Conv(width, stride=2, padding=1,
                              kernel_init=nn.initializers.lecun_normal())(h))
    h = nn.relu(nn.Dense(256)(h.reshape(h.shape[0], -1)))
    return nn.Dense(self.embedding_dim)(h)


def same_content(content: jax.Array) -> jax.Array:
  """(n, n) bool: examples i and j say the same thing."""
  return jnp.all(content[:, None, :] == content[None, :, :], -1)


def ds_sje_loss(image_embeddings: jax.Array, text_embeddings: jax.Array,
                content: jax.Array) -> jax.Array:
  """The symmetric structured hinge (module doc), summed over each example's
  negatives and averaged over the batch."""
  scores = image_embeddings @ text_embeddings.T  # F(v_i, t_j)
  matched = jnp.diagonal(scores)
  other = ~same_content(content)
  # Pairs of the same content are not negatives: their margin term is 0.
  image_violation = jnp.where(
      other, jnp.maximum(1.0 + scores - matched[:, None], 0.0), 0.0)
  text_violation = jnp.where(
      other, jnp.maximum(1.0 + scores - matched[None, :], 0.0), 0.0)
  return (jnp.sum(image_violation) + jnp.sum(text_violation)) / (
      scores.shape[0])


def retrieval_accuracy(image_embeddings: np.ndarray,
                       text_embeddings: np.ndarray,
                       content: np.ndarray) -> float:
  """How often a caption's best-scoring image in the set says the same."""
  scores = np.asarray(text_embeddings) @ np.asarray(image_embeddings).T
  best = np.argmax(scores, 1)
  return float(np.mean(np.all(content[best] == content, -1)))


def attribute_probes(names: tuple[str, ...], train_embeddings: np.ndarray,
                     train_content: np.ndarray, test_embeddings: np.ndarray,
                     test_content: np.ndarray) -> dict[str, float]:
  """What the caption embedding carries: for each attribute, a linear
  (multinomial logistic) probe fitted on training captions' embeddings and
  its accuracy on the test captions (other phrasings): 'probe_NAME' for
  ``names``, the columns of 'content'."""
  from sklearn import linear_model  # pylint: disable=g-import-not-at-top
  results = {}
  for column, name in enumerate(names):
    labels = train_content[:, column]
    if len(np.unique(labels)) < 2:
      continue
    probe = linear_model.LogisticRegression(max_iter=2000).fit(
        np.asarray(train_embeddings), labels)
    results[f'probe_{name}'] = float(probe.score(
        np.asarray(test_embeddings), test_content[:, column]))
  return results


def make_pretrain_step(text_encoder: nn.Module, image_encoder: nn.Module,
                       tx: optax.GradientTransformation) -> Callable:
  """step(player, batch) -> (player, loss): one DS-SJE update of the player
  whose params are {'text': ..., 'image': ...}; batch: 'image' (uint8),
  'caption', 'content'."""

  def loss_fn(params, batch):
    v = image_encoder.apply({'params': params['image']},
                            to_model_range(batch['image']))
    t = text_encoder.apply({'params': params['text']}, batch['caption'])
    return ds_sje_loss(v, t, batch['content'])

  @jax.jit
  def step(player: state_lib.Player, batch):
    loss, grads = jax.value_and_grad(loss_fn)(player.params, batch)
    return state_lib.apply_gradients(player, grads, tx), loss

  return step


def pretrain(step: Callable, player: state_lib.Player,
             source: sources.Source, *, num_steps: int, batch_size: int,
             seed: int, log_every: int = 500) -> state_lib.Player:
  """``num_steps`` DS-SJE updates on minibatches of ``source`` drawn with
  replacement, minibatch i a pure function of (seed, i)."""
  fields = ('image', 'caption', 'content')
  for i in range(num_steps):
    rows = np.random.default_rng((seed, i)).integers(
        source.num_examples, size=batch_size)
    batch = source.load(rows)
    player, loss = step(player, {k: batch[k] for k in fields})
    if (i + 1) % log_every == 0 or i + 1 == num_steps:
      logging.info('Caption encoder (DS-SJE) step %d of %d: loss %.3f',
                   i + 1, num_steps, float(loss))
  return player
