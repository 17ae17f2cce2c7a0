"""Pix2Pix's players: the U-Net generator and the PatchGAN discriminator.

Isola et al. 2017, Sec. 3.2 and Appendix 6.1, as the authors' released code
builds them (``models/networks.py`` of junyanz/pytorch-CycleGAN-and-pix2pix:
``UnetGenerator``, ``UnetSkipConnectionBlock``, ``NLayerDiscriminator``,
``init_weights``), layer for layer:

* U-Net (``num_downs`` levels: 8 for ``unet_256``, 7 for ``unet_128``; a
  ``num_downs``-level net maps 2^num_downs pixels to 1x1 at the bottleneck).
  Encoder C64-C128-C256-C512-C512-...: every convolution 4x4 stride 2
  padding 1, LeakyReLU(0.2) before each but the first, norm after each but
  the first and the innermost. Decoder mirrors it with ReLU + 4x4 stride-2
  transposed convolutions, norm after each but the last, dropout(0.5) after
  the norm in the ``num_downs - 5`` innermost blocks under the bottleneck
  (the 512-channel ones: 3 for unet_256, 2 for unet_128, none for the 32x32
  digits net of 5 levels), tanh out. Each level concatenates its encoder
  features before the decoder features it passes up (``torch.cat([x, y])``).
  The reference's in-place LeakyReLU also rewrites the skipped encoder
  features, but every concatenation feeds a ReLU, and ReLU(LeakyReLU(h)) =
  ReLU(h), so the plain skip here computes the same function.
* PatchGAN (``n_layers`` = 3, the 70x70 one): C64 (no norm) - C128 - C256,
  stride 2, then C512 stride 1, then a 1-channel stride-1 convolution: a
  logit per 70x70 patch (30x30 of them at 256, 14x14 at 128). Kernel 4,
  padding 1, LeakyReLU(0.2). It reads [A, B] concatenated on channels (the
  conditional D of Eq. 1), or B alone (``conditional=False``, the paper's
  unconditional-D ablation, Sec. 4.2).
* Norm: 'batch' as the reference's default for pix2pix, but always with the
  statistics of the batch at hand, never running averages: the reference
  tests without ``--eval`` (model.train() at test time), so at its batch size
  of 1 batch norm is per-image, train and test alike. Evaluation here applies
  G to one image at a time for the same reason. 'instance' is
  ``InstanceNorm2d(affine=False)`` (the CycleGAN default), 'none' is none.
  Biases exist where the reference has them: not before a batch norm
  (``use_bias = norm is instance``), always on the outermost decoder
  convolution and on D's first and last.
* Init (``init_type='normal'``, gain 0.02): convolution weights N(0, 0.02),
  biases 0, batch-norm scale N(1, 0.02) and offset 0. Batch norm's epsilon is
  PyTorch's 1e-5 over the biased variance.

The stride-2 convolutions are ``layers.Conv`` / ``layers.ConvTranspose``
(matrix-product forms, fast on XLA:CPU); D's two stride-1 convolutions are
``StrideOneConv`` (XLA's forward, matrix-product gradients where faster).
"""

from __future__ import annotations


import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.nn import layers

NORMS = ('batch', 'instance', 'none')
GENERATORS = {'unet_32': 5, 'unet_64': 6, 'unet_128': 7, 'unet_256': 8}
_EPSILON = 1e-5
_LEAKY_SLOPE = 0.2
_DROPOUT = 0.5


def _init(stddev: float):
  return nn.initializers.normal(stddev)


class Norm(nn.Module):
  """'batch' (statistics of this batch, over the devices of ``axis_name``),
  'instance' (per image, no affine) or 'none'."""
  kind: str
  init_stddev: float = 0.02
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x):
    if self.kind == 'none':
      return x
    if self.kind not in NORMS:
      raise ValueError(f'norm must be one of {NORMS}, got {self.kind!r}')
    axes = (1, 2) if self.kind == 'instance' else (0, 1, 2)
    mean = jnp.mean(x, axes, keepdims=True)
    mean_square = jnp.mean(jnp.square(x), axes, keepdims=True)
    if (self.kind == 'batch' and self.axis_name is not None
        and not self.is_initializing()):
      # The global batch's statistics (each device holds equal shares).
      mean, mean_square = jax.lax.pmean((mean, mean_square), self.axis_name)
    variance = jnp.maximum(mean_square - jnp.square(mean), 0.0)
    y = (x - mean) * jax.lax.rsqrt(variance + _EPSILON)
    if self.kind == 'instance':
      return y
    channels = x.shape[-1]
    scale = self.param('scale', lambda k, s: 1.0 + _init(self.init_stddev)(
        k, s), (channels,))
    offset = self.param('bias', nn.initializers.zeros, (channels,))
    return y * scale + offset


class Bias(nn.Module):
  """A per-channel bias, initialised to 0 (the reference's init_weights)."""

  @nn.compact
  def __call__(self, x):
    return x + self.param('bias', nn.initializers.zeros, (x.shape[-1],))


# Above this size of dx's im2col matrix, XLA's own convolution computes dx
# faster (at 256 pixels); below it, the matrix product (XLA:CPU's convolution
# is 8x slower on the digits' 4x4 maps of 16 images).
_IM2COL_MAX_BYTES = 16 * 2**20


def _stride_one_xla(x, kernel, padding=1):
  return jax.lax.conv_general_dilated(
      x, kernel, (1, 1), ((padding, padding),) * 2,
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _shifted_windows(x, pad, height, width):
  """The 16 (i, j) windows x_pad[:, i:i + height, j:j + width]."""
  xpad = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  return [[xpad[:, i:i + height, j:j + width] for j in range(4)]
          for i in range(4)]


@jax.custom_vjp
def _stride_one_conv(x, kernel):
  return _stride_one_xla(x, kernel)


def _stride_one_fwd(x, kernel):
  return _stride_one_xla(x, kernel), (x, kernel)


def _stride_one_bwd(residuals, g):
  x, kernel = residuals
  n, h, w, a = x.shape
  b = kernel.shape[-1]
  # dx: g fully correlated with the flipped kernel (padding 2).
  flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2)
  if n * h * w * 16 * b * 4 > _IM2COL_MAX_BYTES:
    dx = _stride_one_xla(g, flipped, 2)
  else:
    windows = _shifted_windows(g, 2, h, w)
    dx = jnp.concatenate([v for row in windows for v in row], -1) @ (
        flipped.reshape(16 * b, a))
  # dK[i, j] = sum over pixels of x_pad[p + i, q + j] (x) g[p, q]: one
  # product per tap, no im2col copy (XLA's own is 10x slower for the
  # 1-channel logit layer).
  g = g.reshape(-1, b)
  dkernel = jnp.stack([jnp.stack([
      jax.lax.dot_general(v.reshape(-1, a), g, (((0,), (0,)), ((), ())))
      for v in row]) for row in _shifted_windows(x, 1, h - 1, w - 1)])
  return dx, dkernel


_stride_one_conv.defvjp(_stride_one_fwd, _stride_one_bwd)


class StrideOneConv(nn.Module):
  """Conv2d(kernel 4, stride 1, padding 1): PatchGAN's last two layers.

  XLA's forward convolution; its gradients, slow on XLA:CPU for some of
  these shapes, as matrix products where those are faster (see
  ``_stride_one_bwd``). 'lax' keeps XLA's gradients (the default off CPU).
  """
  features: int
  init_stddev: float = 0.02
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', _init(self.init_stddev),
                        (4, 4, x.shape[-1], self.features))
    if layers.resolve_impl(self.impl) == 'matmul':
      return _stride_one_conv(x, kernel)
    return _stride_one_xla(x, kernel)


class UNetGenerator(nn.Module):
  """A (N, S, S, C_in) in [-1, 1] -> G(A) (N, S, S, C_out) in [-1, 1].

  Dropout draws from the 'dropout' RNG stream and is on in every call (the
  paper's only noise, Sec. 3.2; the reference keeps it on at test time); pass
  ``deterministic=True`` to switch it off.
  """
  out_channels: int = 3
  num_downs: int = 8
  base_width: int = 64  # ngf
  norm: str = 'batch'
  use_dropout: bool = True
  init_stddev: float = 0.02
  axis_name: str | None = None
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x, deterministic: bool = False):
    size = x.shape[1]
    if size % 2 ** self.num_downs or x.shape[2] != size:
      raise ValueError(f'a {self.num_downs}-level U-Net needs square images '
                       f'whose side is a multiple of {2 ** self.num_downs}, '
                       f'got {x.shape[1]}x{x.shape[2]}')
    widths = [min(2 ** level, 8) * self.base_width
              for level in range(self.num_downs)]
    use_bias = self.norm == 'instance'
    conv = dict(kernel_init=_init(self.init_stddev), impl=self.conv_impl)

    def norm():
      return Norm(self.norm, self.init_stddev, self.axis_name)

    def maybe_bias(h, wanted):
      return Bias()(h) if wanted else h

    # Encoder. Level l (l >= 1) is the reference's block l: LeakyReLU, conv,
    # norm (none at the innermost); its input is what that block skips.
    skips = []
    h = maybe_bias(layers.Conv(widths[0], 2, 1, **conv)(x), use_bias)
    for level in range(1, self.num_downs):
      skips.append(h)
      h = layers.Conv(widths[level], 2, 1, **conv)(
          nn.leaky_relu(h, _LEAKY_SLOPE))
      h = maybe_bias(h, use_bias)
      if level < self.num_downs - 1:
        h = norm()(h)
    # Decoder, innermost first: block l's ReLU, transposed conv back to
    # level l - 1's width, norm, dropout in the 512-channel blocks between
    # C256's level (3) and the innermost, then [skip, decoded].
    for level in range(self.num_downs - 1, 0, -1):
      h = layers.ConvTranspose(widths[level - 1], 2, 1, **conv)(nn.relu(h))
      h = norm()(maybe_bias(h, use_bias))
      if self.use_dropout and 4 <= level < self.num_downs - 1:
        h = nn.Dropout(_DROPOUT)(h, deterministic=deterministic)
      h = jnp.concatenate([skips[level - 1], h], -1)
    h = layers.ConvTranspose(self.out_channels, 2, 1, **conv)(nn.relu(h))
    return jnp.tanh(Bias()(h))


class PatchDiscriminator(nn.Module):
  """D(A, B) or D(B) -> logits (N, P, P, 1), one per receptive-field patch."""
  base_width: int = 64  # ndf
  n_layers: int = 3
  norm: str = 'batch'
  conditional: bool = True
  init_stddev: float = 0.02
  axis_name: str | None = None
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, a, b):
    x = jnp.concatenate([a, b], -1) if self.conditional else b
    use_bias = self.norm == 'instance'
    conv = dict(kernel_init=_init(self.init_stddev), impl=self.conv_impl)
    h = nn.leaky_relu(Bias()(layers.Conv(self.base_width, 2, 1, **conv)(x)),
                      _LEAKY_SLOPE)
    for n in range(1, self.n_layers + 1):
      width = min(2 ** n, 8) * self.base_width
      if n < self.n_layers:
        h = layers.Conv(width, 2, 1, **conv)(h)
      else:
        h = StrideOneConv(width, self.init_stddev, self.conv_impl)(h)
      h = Norm(self.norm, self.init_stddev, self.axis_name)(
          Bias()(h) if use_bias else h)
      h = nn.leaky_relu(h, _LEAKY_SLOPE)
    h = StrideOneConv(1, self.init_stddev, self.conv_impl)(h)
    return Bias()(h)


def receptive_field(n_layers: int) -> int:
  """Side of the input patch one PatchGAN logit sees (70 for 3 layers)."""
  field = 1
  for stride in reversed([2] * n_layers + [1, 1]):
    field = (field - 1) * stride + 4
  return field
