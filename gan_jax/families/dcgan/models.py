"""DCGAN generator and discriminator (Radford et al. 2015, Sec. 3 and Fig. 1).

Architecture guidelines of the paper, all followed here:
  * no pooling: strided convolutions in D, fractional-strided (transposed)
    convolutions in G;
  * no fully connected hidden layers: z enters G through a 4x4 transposed
    convolution on a 1x1 map (the paper's "projection and reshape"), and D ends
    in a 4x4 valid convolution to one logit;
  * batch norm in both networks, except on G's output and D's input layer;
  * ReLU in G with tanh on the output, LeakyReLU(0.2) in D;
  * weights drawn from N(0, 0.02).

The 64x64x3 model with ``base_width=64`` is the pytorch/examples DCGAN layer for
layer (kernel 4, stride 2, padding 1, no biases, BatchNorm momentum 0.1 /
eps 1e-5). D returns logits; the sigmoid lives in the losses, where it can be
folded into a numerically stable log-sigmoid.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.nn import layers

SUPPORTED_IMAGE_SIZES = (32, 64, 128)

# PyTorch BatchNorm2d's defaults; Flax's momentum is the keep-rate (1 - 0.1).
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5
_LEAKY_SLOPE = 0.2


def conv_init(stddev: float):
  return nn.initializers.normal(stddev)


def bn_scale_init(stddev: float):
  """Scale ~ N(1, stddev), as the reference DCGAN's weights_init does."""
  normal = nn.initializers.normal(stddev)
  return lambda key, shape, dtype=jnp.float32: 1.0 + normal(key, shape, dtype)


def num_upsampling_blocks(image_size: int) -> int:
  """Stride-2 blocks between the 4x4 seed map and the image (3 for 32, 4 for 64)."""
  if image_size not in SUPPORTED_IMAGE_SIZES:
    raise ValueError(
        f'image_size must be one of {SUPPORTED_IMAGE_SIZES}, got {image_size}')
  return int(math.log2(image_size // 4))


class Generator(nn.Module):
  """z (N, z_dim) -> images (N, S, S, C) in [-1, 1]."""
  image_size: int = 64
  channels: int = 3
  base_width: int = 64
  init_stddev: float = 0.02
  dtype: Any = jnp.float32
  axis_name: str | None = None  # batch-norm statistics across devices
  conv_impl: str = 'auto'  # see gan_jax/layers.py

  @nn.compact
  def __call__(self, z, train: bool = True):
    n_up = num_upsampling_blocks(self.image_size)
    norm = lambda: nn.BatchNorm(
        use_running_average=not train, momentum=_BN_MOMENTUM,
        epsilon=_BN_EPSILON, dtype=self.dtype, axis_name=self.axis_name,
        scale_init=bn_scale_init(self.init_stddev))
    deconv = lambda features, stride, pad: layers.ConvTranspose(
        features, stride, pad, kernel_init=conv_init(self.init_stddev),
        dtype=self.dtype, impl=self.conv_impl)

    x = z.reshape(z.shape[0], 1, 1, z.shape[-1]).astype(self.dtype)
    # Projection of z to the 4x4 seed map: ConvTranspose(k=4, s=1, p=0).
    x = deconv(self.base_width * 2 ** (n_up - 1), 1, 0)(x)
    x = nn.relu(norm()(x))
    for i in reversed(range(n_up - 1)):  # ConvTranspose(k=4, s=2, p=1)
      x = deconv(self.base_width * 2 ** i, 2, 1)(x)
      x = nn.relu(norm()(x))
    x = deconv(self.channels, 2, 1)(x)
    return jnp.tanh(x.astype(jnp.float32))


class Discriminator(nn.Module):
  """images (N, S, S, C) -> logits (N,); D(x) = sigmoid(logit)."""
  image_size: int = 64
  base_width: int = 64
  init_stddev: float = 0.02
  dtype: Any = jnp.float32
  axis_name: str | None = None
  # The gradient of a strided convolution is a transposed one: see layers.
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x, train: bool = True):
    n_down = num_upsampling_blocks(self.image_size)
    conv = lambda features, stride, pad: layers.Conv(
        features, stride, pad, kernel_init=conv_init(self.init_stddev),
        dtype=self.dtype, impl=self.conv_impl)

    x = x.astype(self.dtype)
    x = nn.leaky_relu(conv(self.base_width, 2, 1)(x), _LEAKY_SLOPE)
    for i in range(1, n_down):
      x = conv(self.base_width * 2 ** i, 2, 1)(x)
      x = nn.BatchNorm(
          use_running_average=not train, momentum=_BN_MOMENTUM,
          epsilon=_BN_EPSILON, dtype=self.dtype, axis_name=self.axis_name,
          scale_init=bn_scale_init(self.init_stddev))(x)
      x = nn.leaky_relu(x, _LEAKY_SLOPE)
    x = conv(1, 1, 0)(x)  # 4x4 map -> 1x1 logit
    return x.reshape(x.shape[0]).astype(jnp.float32)
