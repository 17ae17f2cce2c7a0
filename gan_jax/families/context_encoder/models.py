"""The Context Encoder's generator (Pathak et al. 2016, Sec. 3.1 and Fig. 2).

An encoder-decoder from the image with its hole filled by a constant colour
to the image itself. The encoder and decoder are those of the authors'
release (pathak22/context-encoder, ``train.lua`` / ``train_random.lua``):
kernel-4 stride-2 convolutions down to a 4x4 map (the first without batch
norm, then batch norm, all LeakyReLU 0.2), and stride-2 transposed
convolutions up (batch norm, ReLU; tanh on the output); N(0, 0.02) weights;
no biases (the release zeroes every convolution's bias before each update).

The bottleneck joins them (``bottleneck``):
  'channelwise'  the paper's channel-wise fully connected layer (Sec. 3.1):
                 each of the m feature maps of n x n is fully connected
                 within itself (m n^4 weights, not m^2 n^4), then a 1x1
                 convolution propagates information across channels;
  'dense'        the release's: a 4x4 valid convolution to a vector of
                 ``bottleneck_dim`` (its nBottleneck, 4000 in its commands),
                 batch norm and LeakyReLU, then a 4x4 transposed convolution
                 back to a 4x4 map.

The decoder predicts the whole image, as the release's ``train_random.lua``
does; its ``train.lua`` for the centre region predicts only the central
half-size square. Losses pick the pixels that count (``step.py``).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.families.dcgan import models as dcgan_models
from gan_jax.nn import layers

BOTTLENECKS = ('channelwise', 'dense')
SUPPORTED_IMAGE_SIZES = dcgan_models.SUPPORTED_IMAGE_SIZES
_LEAKY_SLOPE = 0.2


class ChannelwiseDense(nn.Module):
  """(N, n, n, m) -> (N, n, n, m): a dense n^2 -> n^2 map per channel."""
  init_stddev: float = 0.02

  @nn.compact
  def __call__(self, x):
    n, height, width, channels = x.shape
    kernel = self.param('kernel', dcgan_models.conv_init(self.init_stddev),
                        (channels, height * width, height * width))
    flat = x.reshape(n, height * width, channels)
    return jnp.einsum('npc,cpq->nqc', flat, kernel).reshape(x.shape)


class ContextEncoder(nn.Module):
  """Images with holes (N, S, S, C) in [-1, 1] -> completed (N, S, S, C)."""
  image_size: int = 64
  channels: int = 3
  base_width: int = 64  # the release's nef = ngf
  bottleneck: str = 'channelwise'
  bottleneck_dim: int = 4000
  init_stddev: float = 0.02
  axis_name: str | None = None
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x, train: bool = True):
    levels = int(math.log2(self.image_size // 4))
    norm = lambda: nn.BatchNorm(  # noqa: E731
        use_running_average=not train, momentum=dcgan_models.BN_MOMENTUM,
        epsilon=dcgan_models.BN_EPSILON, axis_name=self.axis_name,
        scale_init=dcgan_models.bn_scale_init(self.init_stddev))
    init = dcgan_models.conv_init(self.init_stddev)
    conv = lambda features, stride, pad: layers.Conv(  # noqa: E731
        features, stride, pad, kernel_init=init, impl=self.conv_impl)
    deconv = lambda features, stride, pad: layers.ConvTranspose(  # noqa: E731
        features, stride, pad, kernel_init=init, impl=self.conv_impl)
    leaky = lambda h: nn.leaky_relu(h, _LEAKY_SLOPE)  # noqa: E731

    x = leaky(conv(self.base_width, 2, 1)(x))
    for i in range(1, levels):
      x = leaky(norm()(conv(self.base_width * 2 ** i, 2, 1)(x)))
    top = self.base_width * 2 ** (levels - 1)  # (N, 4, 4, top)
    if self.bottleneck == 'channelwise':
      x = ChannelwiseDense(self.init_stddev)(x)
      x = nn.Conv(top, (1, 1), use_bias=False, kernel_init=init)(x)
    else:
      x = leaky(norm()(conv(self.bottleneck_dim, 1, 0)(x)))  # 4x4 -> 1x1
      x = deconv(top, 1, 0)(x)  # 1x1 -> 4x4
    x = nn.relu(norm()(x))
    for i in reversed(range(levels - 1)):
      x = nn.relu(norm()(deconv(self.base_width * 2 ** i, 2, 1)(x)))
    return jnp.tanh(deconv(self.channels, 2, 1)(x))
