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

Options beyond the paper, each off by default:
  * D's normalisation (``d_norm``): 'batch' (the paper), 'layer' (over each
    example's C, H, W: WGAN-GP's critic, Gulrajani et al. 2017 Sec. 4, whose
    penalty is per example and so ill-posed under batch norm) or 'none';
    ``spectral_norm`` divides each of D's kernels by its largest singular
    value (Miyato et al. 2018; ``gan_jax.nn.norms``).
  * Class conditioning (``num_classes`` > 0; Mirza & Osindero 2014): G reads
    [z, one_hot(y)]; D reads y by ``conditioning`` = 'concat' (one-hot maps
    stacked onto the image's channels, as in Mirza & Osindero's and most
    cDCGAN code) or 'projection' (Miyato & Koyama 2018, Eq. 3: the logit gains
    <embed(y), sum-pooled features>); ``auxiliary_classifier`` makes D also
    return class logits from its last features (AC-GAN, Odena et al. 2017).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.nn import layers, norms

SUPPORTED_IMAGE_SIZES = (32, 64, 128)
D_NORMS = ('batch', 'layer', 'none')
CONDITIONINGS = ('concat', 'projection')

# PyTorch BatchNorm2d's defaults; Flax's momentum is the keep-rate (1 - 0.1).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
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
  conv_impl: str = 'auto'  # see gan_jax/nn/layers.py
  num_classes: int = 0  # > 0: G(z, y) reads [z, one_hot(y)]

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    n_up = num_upsampling_blocks(self.image_size)
    norm = lambda: nn.BatchNorm(
        use_running_average=not train, momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON, dtype=self.dtype, axis_name=self.axis_name,
        scale_init=bn_scale_init(self.init_stddev))
    deconv = lambda features, stride, pad: layers.ConvTranspose(
        features, stride, pad, kernel_init=conv_init(self.init_stddev),
        dtype=self.dtype, impl=self.conv_impl)

    if self.num_classes:
      z = jnp.concatenate([z, jax.nn.one_hot(labels, self.num_classes)], -1)
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
  """images (N, S, S, C) -> logits (N,); D(x) = sigmoid(logit).

  With ``auxiliary_classifier``, (logits, class logits (N, num_classes)).
  """
  image_size: int = 64
  base_width: int = 64
  init_stddev: float = 0.02
  dtype: Any = jnp.float32
  axis_name: str | None = None
  # The gradient of a strided convolution is a transposed one: see layers.
  conv_impl: str = 'auto'
  norm: str = 'batch'  # D_NORMS
  spectral_norm: bool = False
  num_classes: int = 0  # > 0: D(x, y)
  conditioning: str = 'projection'  # CONDITIONINGS, with num_classes
  auxiliary_classifier: bool = False

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    n_down = num_upsampling_blocks(self.image_size)

    def conv(features, stride, pad):
      layer = layers.Conv(features, stride, pad,
                          kernel_init=conv_init(self.init_stddev),
                          dtype=self.dtype, impl=self.conv_impl)
      return norms.spectral_norm(layer, train) if self.spectral_norm else layer

    def normalise(x):
      if self.norm == 'batch':
        return nn.BatchNorm(
            use_running_average=not train, momentum=BN_MOMENTUM,
            epsilon=BN_EPSILON, dtype=self.dtype, axis_name=self.axis_name,
            scale_init=bn_scale_init(self.init_stddev))(x)
      if self.norm == 'layer':
        return nn.LayerNorm(epsilon=BN_EPSILON, dtype=self.dtype,
                            reduction_axes=(-3, -2, -1))(x)
      return x

    x = x.astype(self.dtype)
    if self.num_classes and self.conditioning == 'concat':
      one_hot = jax.nn.one_hot(labels, self.num_classes, dtype=self.dtype)
      x = jnp.concatenate([x, jnp.broadcast_to(
          one_hot[:, None, None, :], (*x.shape[:3], self.num_classes))], -1)
    x = nn.leaky_relu(conv(self.base_width, 2, 1)(x), _LEAKY_SLOPE)
    for i in range(1, n_down):
      x = conv(self.base_width * 2 ** i, 2, 1)(x)
      x = nn.leaky_relu(normalise(x), _LEAKY_SLOPE)
    features = x  # (N, 4, 4, C)
    x = conv(1, 1, 0)(x)  # 4x4 map -> 1x1 logit
    logits = x.reshape(x.shape[0]).astype(jnp.float32)
    if self.num_classes and self.conditioning == 'projection':
      embedding = nn.Embed(self.num_classes, features.shape[-1],
                           embedding_init=conv_init(self.init_stddev))(labels)
      logits += jnp.sum(embedding * jnp.sum(features, (1, 2)),
                        -1).astype(jnp.float32)
    if not self.auxiliary_classifier:
      return logits
    class_logits = nn.Dense(self.num_classes,
                            kernel_init=conv_init(self.init_stddev))(
                                features.reshape(features.shape[0], -1))
    return logits, class_logits.astype(jnp.float32)
