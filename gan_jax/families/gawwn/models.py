"""GAWWN's bounding-box generator and discriminator (Reed et al. 2016, Sec. 3.1,
Fig. 3), layer for layer as ``main_cub_bbox.lua`` of the release
(reedscot/nips2016) builds them, with every width a multiple of ``ngf`` /
``ndf`` as there (the release trains ngf = ndf = 128 at 128 px; the digits
preset uses 32 at 64 px).

Where is a box b = (x, y, w, h) (fractions of the canvas) on a 16 x 16 grid.
The release turns it into a spatial-transformer affine (``stnbhwd``: a
bilinear sampler with zeros outside the input, corners aligned):
``crop_grid`` takes the box's region of a map to a whole 16 x 16 map (D),
``place_grid`` (its inverse, ``CropInvert.lua``) puts a whole 16 x 16 map
inside the box and zeros elsewhere (G). ``sample_bilinear`` is that sampler.

G(z, t, b), t the caption embedding:
  text_g = Linear(t -> 4 ngf) (no activation; shared by both paths)
  global: text_g tiled 16 x 16, placed in b; conv 4/2 -> BN ReLU (8), conv
    4/2 (4), conv 4 valid (1), each 4 ngf BN ReLU; joined with
    ReLU(Linear(z -> 4 ngf)), ReLU; transposed conv 4 valid -> 8 ngf (4),
    4/2 -> 4 ngf (8), 4/2 -> 2 ngf (16), each BN ReLU
  local: ReLU([Linear(z -> 4 ngf), text_g]) -> transposed conv 4 valid ->
    8 ngf (4) BN, bottleneck residual block, transposed conv 4/2 -> 4 ngf
    (8) BN, bottleneck residual block, transposed conv 4/2 -> 2 ngf (16) BN,
    placed in b, ReLU
  join: [global, local] -> transposed conv 3/1 -> 2 ngf BN ReLU, then
    transposed convs 4/2 doubling the size to the image: ngf BN ReLU, ...,
    the last to RGB with tanh (the release: 256 -> 128 -> 32 -> 3 channels
    over 32, 64, 128 px; here ngf, ngf / 4 ... by the same halving).
A bottleneck residual block: x + BN(conv 3 (BN ReLU conv 3 (BN ReLU conv 1
-> C / 4 (x)))) -> C, then ReLU.

D(x, b, t) -> logit:
  image: conv 4/2 -> ndf LReLU (no BN), stride-2 convs to 16 x 16 (2 ndf,
    BN LReLU), conv 3 -> 2 ndf BN LReLU: the shared 16 x 16 features f
  text_d = LReLU(Linear(t -> nt))
  region: [f, text_d tiled] -> conv 3 -> 2 ndf BN LReLU -> b's region
    cropped to 16 x 16 -> conv 1 -> 2 ndf BN LReLU -> conv 1 -> ndf -> mean
    over the grid, LReLU
  global: f -> conv 4/2 -> 4 ndf BN LReLU (8) -> 8 ndf (4); text_d tiled,
    cropped by b (constant: the release's ``txtGlobalD`` samples a constant
    map) -> conv 4/2 -> 4 ndf BN ReLU -> ndf BN ReLU (4); joined -> conv 1 ->
    4 ndf BN LReLU -> conv 4 valid -> ndf BN LReLU
  head: [region, global] -> Linear -> ndf, BN, LReLU -> Linear -> 1 (the
    logit; the release's Sigmoid is in the loss)

Init as the release's ``weights_init``: convolutions N(0, 0.02), batch-norm
scales N(1, 0.02), offsets and biases 0; Linear layers keep Torch's default
U(+-1/sqrt(fan_in)). LeakyReLU 0.2; batch norm momentum 0.1, eps 1e-5.

Knowingly different: convolutions followed by batch norm have no bias (the
norm's offset makes it redundant); the release's region text path
replicates text num_elt^2 times (a shape bug, harmless at its num_elt = 1,
the only value it trains): here one box per image.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.families.stargan.models import torch_uniform
from gan_jax.nn import layers

GRID = 16  # the release's spatial-transformer resolution
_LEAK = 0.2
_BN_MOMENTUM = 0.9  # flax's keep rate: Torch's momentum 0.1
_BN_EPSILON = 1e-5


def _normal(key, shape, dtype=jnp.float32):
  return 0.02 * jax.random.normal(key, shape, dtype)


def _bn_scale(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def crop_grid(boxes: jax.Array, size: int = GRID) -> tuple[jax.Array, jax.Array]:
  """(ys, xs), each (n, size, size) in [-1, 1]: where each output pixel of
  the box's crop reads the input (the release's affine [[h, 0, t_y],
  [0, w, t_x]] with t the box centre in [-1, 1])."""
  x, y, w, h = (boxes[:, i, None, None] for i in range(4))
  u = jnp.linspace(-1.0, 1.0, size)
  ys = h * u[None, :, None] + (2 * (y + h / 2) - 1)
  xs = w * u[None, None, :] + (2 * (x + w / 2) - 1)
  return jnp.broadcast_to(ys, (len(boxes), size, size)), jnp.broadcast_to(
      xs, (len(boxes), size, size))


def place_grid(boxes: jax.Array, size: int = GRID
               ) -> tuple[jax.Array, jax.Array]:
  """The inverse of ``crop_grid`` (``CropInvert.lua``): sampled with it, a
  whole map lands inside the box; outside, the sampler reads past the
  input's edge and gets zeros."""
  x, y, w, h = (boxes[:, i, None, None] for i in range(4))
  u = jnp.linspace(-1.0, 1.0, size)
  ys = (u[None, :, None] - (2 * (y + h / 2) - 1)) / jnp.maximum(h, 1e-6)
  xs = (u[None, None, :] - (2 * (x + w / 2) - 1)) / jnp.maximum(w, 1e-6)
  return jnp.broadcast_to(ys, (len(boxes), size, size)), jnp.broadcast_to(
      xs, (len(boxes), size, size))


def sample_bilinear(features: jax.Array, grid: tuple[jax.Array, jax.Array]
                    ) -> jax.Array:
  """``stnbhwd``'s BilinearSamplerBHWD: features (n, H, W, C) read at
  (ys, xs) in [-1, 1] (-1 and 1 the centres of the first and last pixels),
  bilinear, zero outside the input -> (n, h, w, C)."""
  ys, xs = grid
  n, height, width, channels = features.shape
  py = (ys + 1) * (height - 1) / 2
  px = (xs + 1) * (width - 1) / 2
  y0, x0 = jnp.floor(py), jnp.floor(px)
  flat = features.reshape(n, height * width, channels)
  out = 0.0
  for dy in (0, 1):
    for dx in (0, 1):
      yi, xi = y0 + dy, x0 + dx
      weight = (1 - jnp.abs(py - yi)) * (1 - jnp.abs(px - xi))
      inside = (yi >= 0) & (yi <= height - 1) & (xi >= 0) & (xi <= width - 1)
      index = (jnp.clip(yi, 0, height - 1) * width
               + jnp.clip(xi, 0, width - 1)).astype(jnp.int32)
      values = jnp.take_along_axis(
          flat, index.reshape(n, -1, 1), axis=1).reshape(*index.shape,
                                                          channels)
      out = out + values * jnp.where(inside, weight, 0.0)[..., None]
  return out


def _tile(vectors: jax.Array, size: int = GRID) -> jax.Array:
  return jnp.broadcast_to(vectors[:, None, None, :],
                          (vectors.shape[0], size, size, vectors.shape[-1]))


class _Norm(nn.Module):
  train: bool = True
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x):
    return nn.BatchNorm(use_running_average=not self.train,
                        momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON,
                        axis_name=self.axis_name, scale_init=_bn_scale)(x)


def _conv(features, kernel, stride=1, padding='SAME', bias=False):
  return nn.Conv(features, (kernel, kernel), (stride, stride),
                 padding=padding, use_bias=bias, kernel_init=_normal)


def _linear(features):
  return nn.Dense(features, kernel_init=torch_uniform)


class _WholeMapConv(nn.Module):
  """Conv(kernel = the map's size, valid) -> 1 x 1: a dense layer over the
  map, computed as one contraction (XLA:CPU's even-sized convolutions are
  slow to differentiate; see ``gan_jax.nn.layers``)."""
  features: int

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', _normal, (*x.shape[1:], self.features))
    return jnp.einsum('nhwc,hwco->no', x, kernel)[:, None, None, :]


def num_upsamplings(image_size: int) -> int:
  """Stride-2 layers between the 16 x 16 grid and the image."""
  steps = math.log2(image_size / GRID)
  if image_size < 2 * GRID or steps != int(steps):
    raise ValueError(f'image_size must be {2 * GRID} times a power of 2, '
                     f'got {image_size}')
  return int(steps)


class _Bottleneck(nn.Module):
  train: bool = True
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x):
    norm = lambda h: _Norm(self.train, self.axis_name)(h)
    width = x.shape[-1]
    h = nn.relu(norm(_conv(width // 4, 1)(x)))
    h = nn.relu(norm(_conv(width // 4, 3)(h)))
    h = norm(_conv(width, 3)(h))
    return nn.relu(x + h)


class Generator(nn.Module):
  """G(z, text embeddings, boxes) -> images (n, S, S, 3) in [-1, 1]."""
  image_size: int = 64
  channels: int = 3
  ngf: int = 64
  axis_name: str | None = None
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, z, text, boxes, train: bool = True):
    ngf = self.ngf
    norm = lambda h: _Norm(train, self.axis_name)(h)
    up = lambda features: layers.ConvTranspose(
        features, 2, 1, kernel_init=_normal, impl=self.conv_impl)
    down = lambda features: layers.Conv(
        features, 2, 1, kernel_init=_normal, impl=self.conv_impl)
    seed = lambda features: layers.ConvTranspose(  # 1x1 -> 4x4
        features, 1, 0, kernel_init=_normal, impl=self.conv_impl)
    place = place_grid(boxes)
    text_g = _linear(4 * ngf)(text)

    # Global path: where the text is, then a global code with the noise.
    h = sample_bilinear(_tile(text_g), place)
    h = nn.relu(norm(down(4 * ngf)(h)))
    h = nn.relu(norm(down(4 * ngf)(h)))
    h = nn.relu(norm(_WholeMapConv(4 * ngf)(h)))
    noise_g = nn.relu(_linear(4 * ngf)(z))
    h = nn.relu(jnp.concatenate([noise_g, h[:, 0, 0, :]], -1))
    h = nn.relu(norm(seed(8 * ngf)(h[:, None, None, :])))
    h = nn.relu(norm(up(4 * ngf)(h)))
    global_features = nn.relu(norm(up(2 * ngf)(h)))

    # Local path: features drawn for the box, then put into it.
    noise_l = _linear(4 * ngf)(z)
    h = nn.relu(jnp.concatenate([noise_l, text_g], -1))
    h = norm(seed(8 * ngf)(h[:, None, None, :]))
    h = _Bottleneck(train, self.axis_name)(h)
    h = norm(up(4 * ngf)(h))
    h = _Bottleneck(train, self.axis_name)(h)
    h = norm(up(2 * ngf)(h))
    local_features = nn.relu(sample_bilinear(h, place))

    h = jnp.concatenate([global_features, local_features], -1)
    h = nn.relu(norm(_conv(2 * ngf, 3)(h)))
    width = 2 * ngf
    steps = num_upsamplings(self.image_size)
    for i in range(steps):
      if i == steps - 1:
        h = up(self.channels)(h)
        h = h + self.param('output_bias', nn.initializers.zeros,
                           (self.channels,))
      else:
        width = max(width // 2 if i == 0 else width // 4, 8)
        h = nn.relu(norm(up(width)(h)))
    return jnp.tanh(h)


class Discriminator(nn.Module):
  """D(images in [-1, 1], boxes, text embeddings) -> logits (n,)."""
  image_size: int = 64
  ndf: int = 64
  text_width: int = 128  # the release's nt
  axis_name: str | None = None
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x, boxes, text, train: bool = True):
    ndf = self.ndf
    norm = lambda h: _Norm(train, self.axis_name)(h)
    lrelu = lambda h: nn.leaky_relu(h, _LEAK)
    down = lambda features: layers.Conv(
        features, 2, 1, kernel_init=_normal, impl=self.conv_impl)
    crop = crop_grid(boxes)

    # The shared image features on the 16 x 16 grid.
    h = x
    for i in range(num_upsamplings(self.image_size)):
      if i == 0:
        h = down(ndf)(h)
        h = lrelu(h + self.param('input_bias', nn.initializers.zeros, (ndf,)))
      else:
        h = lrelu(norm(down(2 * ndf)(h)))
    image = lrelu(norm(_conv(2 * ndf, 3)(h)))
    text_d = lrelu(_linear(self.text_width)(text))

    # Region: image and text in the box.
    h = jnp.concatenate([image, _tile(text_d)], -1)
    h = lrelu(norm(_conv(2 * ndf, 3)(h)))
    h = sample_bilinear(h, crop)
    h = lrelu(norm(_conv(2 * ndf, 1)(h)))
    h = _conv(ndf, 1, bias=True)(h)
    region = lrelu(jnp.mean(h, (1, 2)))

    # Global: the whole image with the text.
    g = lrelu(norm(down(4 * ndf)(image)))
    g = lrelu(norm(down(8 * ndf)(g)))
    t = sample_bilinear(_tile(text_d), crop)
    t = nn.relu(norm(down(4 * ndf)(t)))
    t = nn.relu(norm(down(ndf)(t)))
    g = jnp.concatenate([g, t], -1)
    g = lrelu(norm(_conv(4 * ndf, 1)(g)))
    g = lrelu(norm(_WholeMapConv(ndf)(g)))[:, 0, 0, :]

    h = jnp.concatenate([region, g], -1)
    h = lrelu(norm(_linear(ndf)(h)))
    return _linear(1)(h)[:, 0]
