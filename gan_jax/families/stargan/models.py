"""StarGAN's generator and discriminator (Choi et al. 2018, Appendix, Table 4).

Layer for layer as the authors' released code builds them
(``model.py`` of yunjey/stargan):

Generator(x, c): the target label vector c (n, A) tiled over the image and
concatenated after the image's channels, then

    conv 7x7 pad 3 -> 64, IN, ReLU
    conv 4x4 stride 2 pad 1 -> 128, IN, ReLU
    conv 4x4 stride 2 pad 1 -> 256, IN, ReLU
    6 x residual block: x + [conv 3x3 pad 1, IN, ReLU, conv 3x3 pad 1, IN](x)
    transposed conv 4x4 stride 2 pad 1 -> 128, IN, ReLU
    transposed conv 4x4 stride 2 pad 1 -> 64, IN, ReLU
    conv 7x7 pad 3 -> 3, tanh

with zero padding (the reference notes that reflection padding breaks the
label conditioning), no biases anywhere, and
``InstanceNorm2d(affine=True, track_running_stats=True)``: the code never
calls ``.eval()``, so every call normalises each image by its own statistics
(eps 1e-5) and the running averages are never read; here there are none.
8,430,528 parameters at 5 attributes, as the reference's.

Discriminator(x) -> (src, cls): six conv 4x4 stride 2 pad 1 (64, 128, ...,
2048 channels, with biases), each followed by LeakyReLU(0.01), no norm;
then D_src, a bias-free 3x3 conv pad 1 to one channel (the real/fake patch
map: 1x1 at 64 px, 2x2 at 128), and D_cls, a bias-free conv with the whole
remaining map as its kernel (image_size / 64) to A logits.

Init: none in the reference, so PyTorch's defaults: every weight
U(+-1/sqrt(fan_in)) (a transposed convolution's fan_in counts its *output*
channels, as torch computes it from ``weight.size(1)``; so does flax's
``variance_scaling`` on our (4, 4, out, in) kernels), biases likewise, norm
scales 1 and offsets 0 (the authors' PyTorch 0.3/0.4 drew the scales from
U(0, 1); current PyTorch, which runs the reference here, starts them at 1).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.families.cyclegan.models import conv_valid
from gan_jax.nn import layers

_EPSILON = 1e-5  # InstanceNorm2d's eps
_LEAK = 0.01  # the reference's LeakyReLU slope in D


def torch_uniform(key, shape, dtype=jnp.float32):
  """PyTorch's default weight init (kaiming_uniform_ with a = sqrt(5)):
  U(-b, b), b = 1/sqrt(fan_in), fan_in = the product of all but the last
  axis of a flax kernel."""
  return nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')(
      key, shape, dtype)


def _bias_init(fan_in: int):
  bound = 1 / fan_in ** 0.5
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
      key, shape, dtype, -bound, bound)


class InstanceNorm(nn.Module):
  """Per-image, per-channel normalisation with a learned scale and offset."""

  @nn.compact
  def __call__(self, x):
    mean = jnp.mean(x, (1, 2), keepdims=True)
    variance = jnp.mean(jnp.square(x - mean), (1, 2), keepdims=True)
    y = (x - mean) * jax.lax.rsqrt(variance + _EPSILON)
    channels = x.shape[-1]
    scale = self.param('scale', nn.initializers.ones, (channels,))
    offset = self.param('bias', nn.initializers.zeros, (channels,))
    return y * scale + offset


class ZeroPadConv(nn.Module):
  """Conv2d(kernel, stride 1, padding (kernel - 1) / 2, bias=False)."""
  features: int
  kernel: int

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', torch_uniform,
                        (self.kernel, self.kernel, x.shape[-1],
                         self.features))
    pad = (self.kernel - 1) // 2
    return conv_valid(
        jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))), kernel)


class ResidualBlock(nn.Module):
  features: int

  @nn.compact
  def __call__(self, x):
    h = nn.relu(InstanceNorm()(ZeroPadConv(self.features, 3)(x)))
    return x + InstanceNorm()(ZeroPadConv(self.features, 3)(h))


def tile_labels(x: jax.Array, labels: jax.Array) -> jax.Array:
  """[x, c tiled over x's pixels] on the channel axis (the reference's
  ``torch.cat([x, c.repeat(1, 1, H, W)], dim=1)``)."""
  n, height, width, _ = x.shape
  tiled = jnp.broadcast_to(labels[:, None, None, :].astype(x.dtype),
                           (n, height, width, labels.shape[-1]))
  return jnp.concatenate([x, tiled], -1)


class Generator(nn.Module):
  """G(x in [-1, 1], c in {0, 1}^A) -> the translation in [-1, 1]."""
  out_channels: int = 3
  base_width: int = 64  # the reference's g_conv_dim
  num_blocks: int = 6  # g_repeat_num
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x, labels):
    h = nn.relu(InstanceNorm()(
        ZeroPadConv(self.base_width, 7)(tile_labels(x, labels))))
    width = self.base_width
    for _ in range(2):
      width *= 2
      h = layers.Conv(width, stride=2, padding=1, kernel_init=torch_uniform,
                      impl=self.conv_impl)(h)
      h = nn.relu(InstanceNorm()(h))
    for _ in range(self.num_blocks):
      h = ResidualBlock(width)(h)
    for _ in range(2):
      width //= 2
      h = layers.ConvTranspose(width, stride=2, padding=1,
                               kernel_init=torch_uniform,
                               impl=self.conv_impl)(h)
      h = nn.relu(InstanceNorm()(h))
    return jnp.tanh(ZeroPadConv(self.out_channels, 7)(h))


class Discriminator(nn.Module):
  """D(x in [-1, 1]) -> (src (n, s, s) real/fake scores, cls (n, A) logits)."""
  num_attributes: int
  base_width: int = 64  # d_conv_dim
  num_layers: int = 6  # d_repeat_num: stride-2 convolutions
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x):
    h = x
    width = self.base_width
    for i in range(self.num_layers):
      fan_in = 16 * h.shape[-1]
      h = layers.Conv(width, stride=2, padding=1, kernel_init=torch_uniform,
                      impl=self.conv_impl, name=f'Conv_{i}')(h)
      h = h + self.param(f'bias_{i}', _bias_init(fan_in), (width,))
      h = nn.leaky_relu(h, _LEAK)
      width *= 2
    src = ZeroPadConv(1, 3, name='src')(h)[..., 0]
    size = h.shape[1]  # image_size / 2^num_layers: D_cls's kernel
    kernel = self.param('cls', torch_uniform,
                        (size, size, h.shape[-1], self.num_attributes))
    cls = jnp.einsum('nhwc,hwca->na', h, kernel)
    return src, cls
