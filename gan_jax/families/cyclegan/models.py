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


# Both channel counts at least this: a 3x3 kernel goes by Winograd (below).
_WINOGRAD_MIN_CHANNELS = 64


def _form(size: int, in_channels: int, out_channels: int) -> str:
  """Which product conv_valid computes. 'winograd' for the wide 3x3 layers
  (the residual blocks; ``winograd_conv3``). With few channels (RGB) the
  products are too thin for that to pay, and im2col forms win: 'gathers'
  (im2col, size^2 C_in columns) when C_in <= C_out, else 'scatters' (a
  product to every tap's outputs, size^2 C_out, then an overlap-add): the
  smaller intermediate."""
  if size == 3 and min(in_channels, out_channels) >= _WINOGRAD_MIN_CHANNELS:
    return 'winograd'
  return 'gathers' if in_channels <= out_channels else 'scatters'


def _matmul_t(a, b):
  """a^T b for 2-D a, b (contracting their rows)."""
  return jax.lax.dot_general(a, b, (((0,), (0,)), ((), ())))


# Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016, Eq. 8): each
# 2x2 output tile of a 3x3 convolution is Y = A^T [(G g G^T) . (B^T d B)] A,
# d the 4x4 input tile: 16 products (u, v) per tile and channel pair where
# the direct form needs 36, so the residual blocks' convolutions are 16
# matrix products of (tiles, C_in) x (C_in, C_out), 2.25x fewer
# multiply-adds. Rounding differs from a direct sum by ~1e-6 relative.
_WINO_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
_WINO_G = ((1, 0, 0), (.5, .5, .5), (.5, -.5, .5), (0, 0, 1))
_WINO_AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def _combine(coefficients, arrays):
  """sum(c * a) with the zero terms left out and +-1 as adds."""
  total = None
  for c, a in zip(coefficients, arrays):
    if c:
      term = a if c == 1 else -a if c == -1 else c * a
      total = term if total is None else total + term
  return total


def _wino_tiles(x):
  """(n, 2T+2, 2S+2, C) -> the 16 (n T S, C) arrays B^T d B, (u, v)
  row-major: d's rows combined first (on the whole width), then columns."""
  n, height, width, channels = x.shape
  tiles_h, tiles_w = (height - 2) // 2, (width - 2) // 2
  rows = [x[:, a:a + 2 * tiles_h:2] for a in range(4)]
  tiles = []
  for coefficients in _WINO_BT:
    combined = _combine(coefficients, rows)
    cols = [combined[:, :, b:b + 2 * tiles_w:2] for b in range(4)]
    tiles += [_combine(c, cols).reshape(-1, channels) for c in _WINO_BT]
  return tiles


def _wino_kernel(kernel):
  """(3, 3, A, B) -> (16, A, B): G g G^T for every channel pair."""
  g = jnp.asarray(_WINO_G, kernel.dtype)
  return jnp.einsum('ui,vj,ijab->uvab', g, g, kernel).reshape(
      16, *kernel.shape[2:])


@jax.custom_vjp
def winograd_conv3(x, kernel):
  """conv_valid for a 3x3 kernel and even output sides, by F(2x2, 3x3); its
  gradients are products in the same transformed domain."""
  n, height, width, _ = x.shape
  tiles_h, tiles_w = (height - 2) // 2, (width - 2) // 2
  u = _wino_kernel(kernel)
  m = [(t @ u[i]).reshape(n, tiles_h, tiles_w, -1)
       for i, t in enumerate(_wino_tiles(x))]
  # Y = A^T M A: over u (the tile rows) first, then v.
  half = [[_combine(a, m[v::4]) for v in range(4)] for a in _WINO_AT]
  out = jnp.stack([jnp.stack([_combine(a, row) for a in _WINO_AT], 3)
                   for row in half], 2)  # (n, T, p, S, q, B)
  return out.reshape(n, 2 * tiles_h, 2 * tiles_w, -1)


def _winograd_fwd(x, kernel):
  return winograd_conv3(x, kernel), (x, kernel)


def _winograd_bwd(residuals, g):
  x, kernel = residuals
  n, height, width, in_channels = x.shape
  tiles_h, tiles_w = (height - 2) // 2, (width - 2) // 2
  # dM = A g A^T: the output tiles' gradients g[2T + p, 2S + q] -> (u, v).
  g_tiles = [[g[:, p::2, q::2] for q in range(2)] for p in range(2)]
  at = list(zip(*_WINO_AT))  # A: row u holds A^T[:, u]
  half = [[_combine(at[u], [g_tiles[p][q] for p in range(2)])
           for q in range(2)] for u in range(4)]
  dm = [_combine(at[v], half[u]).reshape(-1, g.shape[-1])
        for u in range(4) for v in range(4)]
  u_kernel = _wino_kernel(kernel)
  tiles = _wino_tiles(x)  # recomputed: cheaper than keeping 4x x
  du = jnp.stack([_matmul_t(t, d) for t, d in zip(tiles, dm)])
  dkernel = jnp.einsum('ui,vj,uvab->ijab', jnp.asarray(_WINO_G, g.dtype),
                       jnp.asarray(_WINO_G, g.dtype),
                       du.reshape(4, 4, *du.shape[1:]))
  dtiles = [jax.lax.dot_general(d, u_kernel[i], (((1,), (1,)), ((), ())))
            .reshape(n, tiles_h, tiles_w, in_channels)
            for i, d in enumerate(dm)]
  # dd = B dV B^T, then each 4x4 tile's (a, b) entry adds into x[2T + a,
  # 2S + b]: a strided scatter, an interior-padded pad per (a, b).
  bt = list(zip(*_WINO_BT))
  cols = [[_combine(bt[b], dtiles[u * 4:u * 4 + 4]) for b in range(4)]
          for u in range(4)]
  dx = None
  for a in range(4):
    for b in range(4):
      d = _combine(bt[a], [cols[u][b] for u in range(4)])
      d = jax.lax.pad(d, jnp.zeros((), d.dtype),
                      ((0, 0, 0), (a, height - a - 2 * tiles_h + 1, 1),
                       (b, width - b - 2 * tiles_w + 1, 1), (0, 0, 0)))
      dx = d if dx is None else dx + d
  return dx, dkernel


winograd_conv3.defvjp(_winograd_fwd, _winograd_bwd)


def conv_valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """A stride-1 'valid' convolution, (n, H, W, A) * (k, k, A, B), as matrix
  products (XLA:CPU's convolutions and their gradients run 2-8x slower at
  these shapes), in the form ``_form`` chooses."""
  size, _, in_channels, out_channels = kernel.shape
  if _form(size, in_channels, out_channels) != 'winograd':
    return _conv_im2col(x, kernel)
  # F(2x2, 3x3) covers even output sides: an odd one gets a zero row or
  # column past the end, and its output is cut off.
  height, width = x.shape[1:3]
  odd_h, odd_w = height % 2, width % 2
  y = winograd_conv3(
      jnp.pad(x, ((0, 0), (0, odd_h), (0, odd_w), (0, 0))), kernel)
  return y[:, :height - 2, :width - 2]


@jax.custom_vjp
def _conv_im2col(x, kernel):
  """conv_valid's 'gathers' and 'scatters' forms; the backward pass of
  'gathers' is the 'scatters' form and vice versa."""
  size, _, in_channels, out_channels = kernel.shape
  n, height, width, _ = x.shape
  out_h, out_w = height - size + 1, width - size + 1
  form = _form(size, in_channels, out_channels)
  if form == 'gathers':
    y = _windows(x, size, out_h, out_w) @ kernel.reshape(-1, out_channels)
    return y.reshape(n, out_h, out_w, out_channels)
  taps = x.reshape(-1, in_channels) @ kernel.transpose(2, 0, 1, 3).reshape(
      in_channels, -1)  # (n H W, size^2 B)
  taps = taps.reshape(n, height, width, size * size, out_channels)
  return sum(taps[:, i:i + out_h, j:j + out_w, i * size + j]
             for i in range(size) for j in range(size))


def _conv_im2col_fwd(x, kernel):
  return _conv_im2col(x, kernel), (x, kernel)


def _conv_im2col_bwd(residuals, g):
  x, kernel = residuals
  size, _, in_channels, out_channels = kernel.shape
  n, height, width, _ = x.shape
  _, out_h, out_w, _ = g.shape
  form = _form(size, in_channels, out_channels)
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


_conv_im2col.defvjp(_conv_im2col_fwd, _conv_im2col_bwd)


# ConvTranspose2d(3, stride 2, padding 1, output_padding 1) by output phase:
# output row 2P + r takes kernel row i from input row P + t, with (t, r) ->
# i = _TAP[t][r] (-1: no tap), and the same for columns. Each kernel row i
# has one (t, r): _SOURCE[i], in the order i = 0, 1, 2.
_TAP = ((1, 2), (-1, 0))
_SOURCE = dict(sorted((_TAP[t][r], (t, r)) for t in (0, 1) for r in (0, 1)
                      if _TAP[t][r] >= 0))


def _upconv_taps(kernel):
  """(3, 3, B, A) kernel -> (A, 9B): every tap's (i, j) block side by side."""
  in_channels = kernel.shape[3]
  return kernel.transpose(3, 0, 1, 2).reshape(in_channels, -1)


def _shifted(a, t, u):
  """a[:, P + t, Q + u] (t, u >= 0: zero past the end; < 0: before the
  start) on a's own grid."""
  height, width = a.shape[1:3]
  a = a[:, max(t, 0):height + min(t, 0), max(u, 0):width + min(u, 0)]
  return jnp.pad(a, ((0, 0), (max(-t, 0), max(t, 0)),
                     (max(-u, 0), max(u, 0)), (0, 0)))


@jax.custom_vjp
def _upconv(x, kernel):
  """One product of the input with all 9 taps (each kernel entry once: no
  zero blocks), then every output phase sums its taps' products, shifted
  to the input pixel each reads (the 'scatters' form, as conv_valid's)."""
  n, height, width, in_channels = x.shape
  out_channels = kernel.shape[2]
  taps = (x.reshape(-1, in_channels) @ _upconv_taps(kernel)).reshape(
      n, height, width, 9, out_channels)
  phases = {}
  for i, (t, r) in _SOURCE.items():
    for j, (u, s) in _SOURCE.items():
      term = _shifted(taps[..., 3 * i + j, :], t, u)
      phases[r, s] = phases[r, s] + term if (r, s) in phases else term
  out = jnp.stack([jnp.stack([phases[r, 0], phases[r, 1]], 3)
                   for r in (0, 1)], 2)  # (n, P, r, Q, s, B)
  return out.reshape(n, 2 * height, 2 * width, out_channels)


def _upconv_fwd(x, kernel):
  return _upconv(x, kernel), (x, kernel)


def _upconv_bwd(residuals, g):
  x, kernel = residuals
  n, height, width, in_channels = x.shape
  out_channels = kernel.shape[2]
  g = g.reshape(n, height, 2, width, 2, out_channels)
  # Tap (i, j)'s product at input pixel (P, Q) fed output phase (r, s) at
  # (P - t, Q - u): its gradient is that phase's, shifted the other way.
  dtaps = jnp.stack([_shifted(g[:, :, r, :, s], -t, -u)
                     for t, r in _SOURCE.values()
                     for u, s in _SOURCE.values()], 3)
  dtaps = dtaps.reshape(-1, 9 * out_channels)
  taps = _upconv_taps(kernel)
  dx = jax.lax.dot_general(dtaps, taps, (((1,), (1,)), ((), ())))
  dtaps_kernel = _matmul_t(x.reshape(-1, in_channels), dtaps)
  dkernel = dtaps_kernel.reshape(in_channels, 3, 3, out_channels)
  return dx.reshape(x.shape), dkernel.transpose(1, 2, 3, 0)


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
