"""CycleGAN's generator: the ResNet translator of Johnson et al. 2016.

Zhu et al. 2017, Sec. 4 and Appendix 7.2, as the authors' released code
builds it (``models/networks.py`` of junyanz/pytorch-CycleGAN-and-pix2pix:
``ResnetGenerator``, ``ResnetBlock``, ``init_weights``), layer for layer:

    reflection pad 3, conv 7x7 -> ngf, norm, ReLU            (c7s1-64)
    conv 3x3 stride 2 pad 1 -> 2 ngf, norm, ReLU             (d128)
    conv 3x3 stride 2 pad 1 -> 4 ngf, norm, ReLU             (d256)
    n_blocks x residual block (4 ngf):                       (R256)
        x + [reflection pad 1, conv 3x3, norm, ReLU,
             reflection pad 1, conv 3x3, norm](x)
    transposed conv 3x3 stride 2 pad 1 output_padding 1 -> 2 ngf, norm, ReLU
    transposed conv 3x3 stride 2 pad 1 output_padding 1 -> ngf, norm, ReLU
    reflection pad 3, conv 7x7 -> output channels, tanh      (c7s1-3)

``resnet_9blocks`` (the paper's for 256 px: 11,378,179 parameters at ngf 64,
3 channels, equal to the reference's count) and ``resnet_6blocks`` (128 px:
7,837,699). Norm is ``InstanceNorm2d(affine=False)`` (per image, no running
statistics; the reference's default for CycleGAN), so every convolution has
a bias (``use_bias = norm is InstanceNorm2d``). No dropout (the reference's
``--no_dropout`` default for CycleGAN). Init ``normal`` with gain 0.02:
weights N(0, 0.02), biases 0. PyTorch's transposed convolution with padding
1 and output_padding 1 is XLA's with padding (1, 2) on the dilated input,
kernel flipped (``transpose_kernel``).

The discriminator is Pix2Pix's 70x70 PatchGAN
(``families.pix2pix.models.PatchDiscriminator``, unconditional, instance
norm), as the reference's ``NLayerDiscriminator`` for both models.
"""

from __future__ import annotations

import re

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.families.pix2pix.models import NORMS, Norm
from gan_jax.nn import layers

# The reference's two (define_G); any 'resnet_<n>blocks', n >= 1, is
# accepted (num_blocks), e.g. fewer blocks for small images.
GENERATORS = {'resnet_9blocks': 9, 'resnet_6blocks': 6}


def num_blocks(generator: str) -> int | None:
  """Residual blocks of 'resnet_<n>blocks' (n >= 1); None if not one."""
  match = re.fullmatch(r'resnet_([1-9][0-9]*)blocks', generator)
  return int(match.group(1)) if match else None


_DIMENSIONS = ('NHWC', 'HWIO', 'NHWC')


def reflect_pad(x: jax.Array, pad: int) -> jax.Array:
  """``nn.ReflectionPad2d(pad)`` on NHWC (the edge row is not repeated)."""
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')


class Conv(nn.Module):
  """Conv2d(kernel, stride, padding) with a bias, PyTorch's geometry."""
  features: int
  kernel: int
  stride: int = 1
  padding: int = 0
  init_stddev: float = 0.02
  impl: str = 'auto'  # 'matmul' (conv_valid, stride 1), 'lax' or 'auto'

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', nn.initializers.normal(self.init_stddev),
                        (self.kernel, self.kernel, x.shape[-1],
                         self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    if (self.stride, self.padding) == (1, 0) and (
        layers.resolve_impl(self.impl) == 'matmul'):
      return conv_valid(x, kernel) + bias
    y = jax.lax.conv_general_dilated(
        x, kernel, (self.stride, self.stride),
        ((self.padding, self.padding),) * 2, dimension_numbers=_DIMENSIONS)
    return y + bias


def _windows(x, size, out_h, out_w):
  """(n, H, W, C) -> (n * out_h * out_w, size^2 C): x[p + i, q + j] for the
  taps (i, j) in row-major order (im2col, the kernel's own order)."""
  n, _, _, channels = x.shape
  taps = jnp.stack([x[:, i:i + out_h, j:j + out_w]
                    for i in range(size) for j in range(size)], 3)
  return taps.reshape(n * out_h * out_w, size * size * channels)


def _overlap_add(taps, size, height, width):
  """(n, h, w, size^2, C) -> (n, H, W, C), H = h + size - 1: tap (i, j) of
  pixel (p, q) added into (p + i, q + j): the adjoint of ``_windows``."""
  n, h, w, _, channels = taps.shape
  out = jnp.zeros((n, height, width, channels), taps.dtype)
  for i in range(size):
    for j in range(size):
      out = out.at[:, i:i + h, j:j + w].add(taps[:, :, :, i * size + j])
  return out


# Both channel counts at least this: conv_valid's 'rows' form (below).
_ROWS_MIN_CHANNELS = 64


def _form(in_channels: int, out_channels: int) -> str:
  """Which product conv_valid computes. 'rows' (wide layers, the residual
  blocks): im2col along the width only (size C_in columns) times the kernel
  for all its rows at once (size C_out outputs), then a sum of row-shifted
  slices: both intermediates are size x the layer's tensors, not size^2 x,
  and XLA:CPU builds the size^2 x copies slower than it multiplies them. With
  few channels (RGB) those products are too thin, and the full forms win:
  'gathers' (im2col, size^2 C_in columns) when C_in <= C_out, else
  'scatters' (a product to every tap's outputs, size^2 C_out, then an
  overlap-add): the smaller intermediate."""
  if min(in_channels, out_channels) >= _ROWS_MIN_CHANNELS:
    return 'rows'
  return 'gathers' if in_channels <= out_channels else 'scatters'


def _row_windows(x, size, out_w):
  """(n, H, W, C) -> (n H out_w, size C): x[:, :, q + j] for the taps j of
  a kernel row (im2col along the width only)."""
  n, height, _, channels = x.shape
  cols = jnp.concatenate([x[:, :, j:j + out_w] for j in range(size)], -1)
  return cols.reshape(n * height * out_w, size * channels)


def _rows_kernel(kernel):
  """(k, k, A, B) -> (k A, k B): rows (j, a), columns (i, b) = K[i, j, a, b]."""
  size, _, in_channels, out_channels = kernel.shape
  return kernel.transpose(1, 2, 0, 3).reshape(size * in_channels,
                                              size * out_channels)


def _matmul_t(a, b):
  """a^T b for 2-D a, b (contracting their rows)."""
  return jax.lax.dot_general(a, b, (((0,), (0,)), ((), ())))


@jax.custom_vjp
def conv_valid(x, kernel):
  """A stride-1 'valid' convolution, (n, H, W, A) * (k, k, A, B), as matrix
  products (XLA:CPU's convolutions and their gradients run 2-8x slower at
  these shapes), in one of three forms chosen by ``_form``; the backward
  pass of 'gathers' is the 'scatters' form and vice versa."""
  size, _, in_channels, out_channels = kernel.shape
  n, height, width, _ = x.shape
  out_h, out_w = height - size + 1, width - size + 1
  form = _form(in_channels, out_channels)
  if form == 'rows':
    # y[.., (i, b)]: kernel row i's response at every input row; output row
    # p sums row p + i of block i.
    y = (_row_windows(x, size, out_w) @ _rows_kernel(kernel)).reshape(
        n, height, out_w, size * out_channels)
    return sum(y[:, i:i + out_h, :, i * out_channels:(i + 1) * out_channels]
               for i in range(size))
  if form == 'gathers':
    y = _windows(x, size, out_h, out_w) @ kernel.reshape(-1, out_channels)
    return y.reshape(n, out_h, out_w, out_channels)
  taps = x.reshape(-1, in_channels) @ kernel.transpose(2, 0, 1, 3).reshape(
      in_channels, -1)  # (n H W, size^2 B)
  taps = taps.reshape(n, height, width, size * size, out_channels)
  return sum(taps[:, i:i + out_h, j:j + out_w, i * size + j]
             for i in range(size) for j in range(size))


def _conv_valid_fwd(x, kernel):
  return conv_valid(x, kernel), (x, kernel)


def _conv_valid_bwd(residuals, g):
  x, kernel = residuals
  size, _, in_channels, out_channels = kernel.shape
  n, height, width, _ = x.shape
  _, out_h, out_w, _ = g.shape
  form = _form(in_channels, out_channels)
  if form == 'rows':
    # The forward's y has gradient g in block i shifted down by i rows;
    # then dK = windows^T dy, d windows = dy K^T, and each width tap j of
    # d windows goes back to x shifted right by j.
    dy = jnp.concatenate(
        [jnp.pad(g, ((0, 0), (i, height - out_h - i), (0, 0), (0, 0)))
         for i in range(size)], -1).reshape(-1, size * out_channels)
    dkernel = _matmul_t(_row_windows(x, size, out_w), dy)
    dwindows = jax.lax.dot_general(dy, _rows_kernel(kernel),
                                   (((1,), (1,)), ((), ())))
    dwindows = dwindows.reshape(n, height, out_w, size * in_channels)
    dx = sum(jnp.pad(dwindows[..., j * in_channels:(j + 1) * in_channels],
                     ((0, 0), (0, 0), (j, size - 1 - j), (0, 0)))
             for j in range(size))
    dkernel = dkernel.reshape(size, in_channels, size, out_channels)
    return dx, dkernel.transpose(2, 0, 1, 3)
  g_rows = g.reshape(-1, out_channels)
  if form == 'gathers':
    # dK = im2col(x)^T g (recomputed, not kept: cheaper than the memory);
    # dx = the overlap-add of g K^T (size^2 A channels).
    dkernel = _matmul_t(_windows(x, size, out_h, out_w), g_rows)
    taps = jax.lax.dot_general(g_rows, kernel.reshape(-1, out_channels),
                               (((1,), (1,)), ((), ())))
    dx = _overlap_add(taps.reshape(n, out_h, out_w, size * size,
                                   in_channels), size, height, width)
    return dx, dkernel.reshape(kernel.shape)
  # With W[u, v, i', j'] = g_pad[u + i', v + j'] (g padded by k - 1, size^2
  # B channels): dx = W . flip(K) and dK = flip(x^T W), one copy for both.
  pad = size - 1
  windows = _windows(jnp.pad(g, ((0, 0), (pad, pad), (pad, pad), (0, 0))),
                     size, height, width)
  flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2).reshape(-1, in_channels)
  dx = (windows @ flipped).reshape(x.shape)
  dkernel = _matmul_t(x.reshape(-1, in_channels), windows)
  dkernel = dkernel.reshape(in_channels, size, size, out_channels)
  return dx, dkernel[:, ::-1, ::-1].transpose(1, 2, 0, 3)


conv_valid.defvjp(_conv_valid_fwd, _conv_valid_bwd)


# ConvTranspose2d(3, stride 2, padding 1, output_padding 1) by output phase:
# output row 2P + r takes kernel row i from input row P + t, with (t, r) ->
# i = _TAP[t][r] (-1: no tap), and the same for columns.
_TAP = ((1, 2), (-1, 0))


def _upconv_matrix(kernel):
  """(3, 3, A, B) kernel -> (4B, 4A) matrix from input windows (t, u, b) to
  output phases (r, s, a); each kernel entry appears once, the rest is 0."""
  _, _, out_channels, in_channels = kernel.shape
  zero = jnp.zeros((out_channels, in_channels), kernel.dtype)
  blocks = [[[[kernel[_TAP[t][r], _TAP[u][s]]
               if _TAP[t][r] >= 0 and _TAP[u][s] >= 0 else zero
               for s in (0, 1)] for r in (0, 1)] for u in (0, 1)]
            for t in (0, 1)]
  # blocks[t][u][r][s] is (A, B): -> (t, u, b, r, s, a)
  matrix = jnp.stack([jnp.stack([jnp.stack([jnp.stack(blocks[t][u][r])
                                            for r in (0, 1)])
                                 for u in (0, 1)]) for t in (0, 1)])
  return matrix.transpose(0, 1, 5, 2, 3, 4).reshape(4 * in_channels,
                                                    4 * out_channels)


def _upconv_windows(x):
  """(n, H, W, B) -> (n, H, W, 4B): x[P + t, Q + u] for t, u in {0, 1},
  zero past the end."""
  padded = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
  height, width = x.shape[1:3]
  return jnp.concatenate([padded[:, t:t + height, u:u + width]
                          for t in (0, 1) for u in (0, 1)], -1)


@jax.custom_vjp
def _upconv(x, kernel):
  n, height, width, _ = x.shape
  out_channels = kernel.shape[2]
  phases = _upconv_windows(x) @ _upconv_matrix(kernel)
  return phases.reshape(n, height, width, 2, 2, out_channels).transpose(
      0, 1, 3, 2, 4, 5).reshape(n, 2 * height, 2 * width, out_channels)


def _upconv_fwd(x, kernel):
  return _upconv(x, kernel), (x, kernel)


def _upconv_bwd(residuals, g):
  x, kernel = residuals
  n, height, width, in_channels = x.shape
  out_channels = kernel.shape[2]
  phases = g.reshape(n, height, 2, width, 2, out_channels).transpose(
      0, 1, 3, 2, 4, 5).reshape(n * height * width, 4 * out_channels)
  windows = _upconv_windows(x).reshape(n * height * width, 4 * in_channels)
  dwindows = (phases @ _upconv_matrix(kernel).T).reshape(
      n, height, width, 2, 2, in_channels)
  # Window (t, u) of pixel (P, Q) read x[P + t, Q + u]: shift back and sum.
  dx = dwindows[:, :, :, 0, 0]
  dx = dx + jnp.pad(dwindows[:, :-1, :, 1, 0], ((0, 0), (1, 0), (0, 0),
                                                 (0, 0)))
  dx = dx + jnp.pad(dwindows[:, :, :-1, 0, 1], ((0, 0), (0, 0), (1, 0),
                                                 (0, 0)))
  dx = dx + jnp.pad(dwindows[:, :-1, :-1, 1, 1], ((0, 0), (1, 0), (1, 0),
                                                   (0, 0)))
  dmatrix = jax.lax.dot_general(windows, phases, (((0,), (0,)), ((), ())))
  dmatrix = dmatrix.reshape(2, 2, in_channels, 2, 2, out_channels)
  rows = []
  for i in range(3):
    cols = []
    for j in range(3):
      t, r = next((t, r) for t in (0, 1) for r in (0, 1) if _TAP[t][r] == i)
      u, s = next((u, s) for u in (0, 1) for s in (0, 1) if _TAP[u][s] == j)
      cols.append(dmatrix[t, u, :, r, s, :].T)  # (A, B)
    rows.append(jnp.stack(cols))
  return dx, jnp.stack(rows)


_upconv.defvjp(_upconv_fwd, _upconv_bwd)


class UpConv(nn.Module):
  """ConvTranspose2d(3, stride 2, padding 1, output_padding 1) with a bias:
  (n, h, w, c) -> (n, 2h, 2w, features). The kernel is stored (3, 3,
  features, in) like PyTorch's (in, features, 3, 3) read as (i, j, out, in)
  after the layout change, as ``layers.ConvTranspose`` stores its kernels."""
  features: int
  init_stddev: float = 0.02
  impl: str = 'auto'  # 'matmul' (by output phase), 'lax' or 'auto'

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', nn.initializers.normal(self.init_stddev),
                        (3, 3, self.features, x.shape[-1]))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    if layers.resolve_impl(self.impl) == 'matmul':
      return _upconv(x, kernel) + bias
    return jax.lax.conv_transpose(x, kernel, (2, 2), ((1, 2), (1, 2)),
                                  dimension_numbers=_DIMENSIONS,
                                  transpose_kernel=True) + bias


class ResnetGenerator(nn.Module):
  """x (N, S, S, C_in) in [-1, 1] -> (N, S, S, C_out) in [-1, 1]; S a
  multiple of 4."""
  out_channels: int = 3
  num_blocks: int = 9
  base_width: int = 64  # ngf
  norm: str = 'instance'
  init_stddev: float = 0.02
  conv_impl: str = 'auto'  # 'matmul' (fast on CPU), 'lax' or 'auto'

  @nn.compact
  def __call__(self, x):
    if x.shape[1] % 4 or x.shape[2] % 4:
      raise ValueError(f'the ResNet generator needs sides that are '
                       f'multiples of 4, got {x.shape[1]}x{x.shape[2]}')
    if self.norm not in NORMS:
      raise ValueError(f'norm must be one of {NORMS}, got {self.norm!r}')

    def norm(h):
      return Norm(self.norm, self.init_stddev)(h)

    def conv(features, kernel, stride=1, padding=0):
      return Conv(features, kernel, stride, padding, self.init_stddev,
                  self.conv_impl)

    width = self.base_width
    h = nn.relu(norm(conv(width, 7)(reflect_pad(x, 3))))
    for mult in (2, 4):
      h = nn.relu(norm(conv(width * mult, 3, 2, 1)(h)))
    for _ in range(self.num_blocks):
      r = nn.relu(norm(conv(4 * width, 3)(reflect_pad(h, 1))))
      h = h + norm(conv(4 * width, 3)(reflect_pad(r, 1)))
    for mult in (2, 1):
      h = nn.relu(norm(UpConv(width * mult, self.init_stddev,
                              self.conv_impl)(h)))
    return jnp.tanh(conv(self.out_channels, 7)(reflect_pad(h, 3)))
