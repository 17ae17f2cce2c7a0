"""DCGAN's kernel-4 convolutions as matrix products, fast forward and backward on XLA:CPU.

On XLA:CPU the gradients of ``lax.conv_transpose`` and of even-sized
convolutions are an order of magnitude slower than the same arithmetic as a
matrix product, and data movement (pads, slices, concatenations) runs at a few
GB/s, so the layout of every intermediate matters. DCGAN uses three layers:

* the projection of z (transposed conv, kernel 4, stride 1, padding 0, on a
  1x1 map): out[h, w] = W[h, w] . z, one matrix product;
* G's upsampling (transposed conv, kernel 4, stride 2, PyTorch padding 1):
  y[2p - 1 + i, 2q - 1 + j] += W[i, j] x[p, q];
* D's downsampling (conv, kernel 4, stride 2, padding 1):
  y[p, q] = sum_ij W[i, j] xpad[2p + i, 2q + j].

The last two are each other's adjoints with the same kernel array K of shape
(4, 4, A, B): ``conv`` maps A -> B channels, ``conv_transpose`` reads K as
(i, j, out, in) and maps B -> A (PyTorch's ConvTranspose2d with
transpose_kernel=True). So with ``kernel_grad(x, g)[i, j, a, b] =
sum_pq xpad[2p + i, 2q + j, a] g[p, q, b]``:

    d conv(x, K)           : dx = conv_transpose(g, K),  dK = kernel_grad(x, g)
    d conv_transpose(x, K) : dx = conv(g, K),            dK = kernel_grad(g, x)

Writing i = 2t + r (t, r in {0, 1}) turns every one of them into a 2x2
stride-1 problem on the space-to-depth view of the padded map, computed as
one matrix product. Two ways exist for each, with different intermediates:

* ``conv``: the (t, u) windows of the space-to-depth input as 16A-channel
  patches @ (16A, B) (im2col);
* ``conv_transpose``: 'gather' (2x2 windows of the padded input, 4B channels,
  @ (4B, 4A) gives all four output phases, then depth-to-space; Shi et al. 2016)
  or 'scatter' (x @ (B, 16A): every input pixel's 4x4 output footprint, then
  the overlapping footprints summed). ``_transpose_form`` picks the cheaper by
  a roofline of its bytes moved and flops (scatter for G's RGB output layer:
  gather's patches there would be 20x the output);
* ``kernel_grad``: the same im2col patches (saved from the forward pass of
  ``conv``, not recomputed) contracted with g over the pixels, straight
  into the kernel's layout in float32; in bfloat16 (below) the narrower of
  the two written out transposed first (``_transposed``).

In bfloat16 (``dtype``) every product takes bf16 operands and sums in
float32 (``_dot``): XLA:CPU runs exactly that form on YNNPACK's bf16 kernels
(AMX here), about 4x its float32 products, and computes everything else on
bf16 in float32. So the kernel gradients contract a last axis (``_transposed``),
the patches are moved as uint16 bit patterns (``_to_bits``), and the kernels
stay float32 parameters whose gradients are float32 sums, cast to bf16 only
as operands.

``ConvTranspose`` and ``Conv`` keep ``nn.ConvTranspose``'s / ``nn.Conv``'s
parameter (name, shape, initialiser), so checkpoints and the reference's
layer-for-layer layout do not depend on the choice; 'lax' uses XLA's own ops
(the default off CPU, where those are fast).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

IMPLS = ('auto', 'matmul', 'lax')
_DIMENSIONS = ('NHWC', 'HWIO', 'NHWC')
# Roofline of this project's 2-core AVX-512 machine: copies, matrix products.
_BYTES_PER_S, _FLOPS_PER_S = 8e9, 2.6e11


def resolve_impl(impl: str) -> str:
  """'auto' picks the matrix-product forms on CPU, XLA's native ops elsewhere."""
  if impl not in IMPLS:
    raise ValueError(f'model.conv_impl must be one of {IMPLS}, got {impl!r}')
  if impl == 'auto':
    return 'matmul' if jax.default_backend() == 'cpu' else 'lax'
  return impl


def _pad1(x):
  return jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))


def _space_to_depth(x):
  """(n, 2P, 2Q, c) -> (n, P, Q, r, s, c): pixel (2P + r, 2Q + s)."""
  n, height, width, c = x.shape
  return x.reshape(n, height // 2, 2, width // 2, 2, c).transpose(
      0, 1, 3, 2, 4, 5)


def _depth_to_space(x):
  n, p, q, _, _, c = x.shape
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * p, 2 * q, c)


def _windows(x):
  """(n, P + 1, Q + 1, ...) -> (n, P, Q, t, u, ...): the 2x2 windows.

  Stacked, not concatenated: XLA:CPU's concatenation is ~1.6x slower here.
  """
  p, q = x.shape[1] - 1, x.shape[2] - 1
  return jnp.stack([jnp.stack([x[:, t:t + p, u:u + q] for u in (0, 1)], 3)
                    for t in (0, 1)], 3)


def _taps(kernel):
  """(4, 4, ...) -> (t, r, u, s, ...) with kernel row i = 2t + r."""
  return kernel.reshape(2, 2, 2, 2, *kernel.shape[2:])


def _to_bits(x):
  """A bfloat16 array as its uint16 bit patterns; float32 as it is.

  XLA:CPU computes every op on bfloat16 in float32, copies, pads and slices
  included (convert in, float32 intermediates, convert out). On the bit
  patterns the patches below move half the bytes and are built 1.6-3.7x
  faster; a bit pattern of zeros is +0.0, so the zero padding is unchanged.
  """
  return (jax.lax.bitcast_convert_type(x, jnp.uint16)
          if x.dtype == jnp.bfloat16 else x)


def _from_bits(bits, dtype):
  return (jax.lax.bitcast_convert_type(bits, dtype)
          if dtype == jnp.bfloat16 else bits)


def _conv_patches(x):
  """im2col of the stride-2 conv: (n, 2h, 2w, A) -> (n * h * w, 16A), taps
  in the kernel's own (i, j, a) order."""
  return _from_bits(_conv_patches_of(_to_bits(x)), x.dtype)


def _conv_patches_of(x):
  n, height, width, a = x.shape
  patches = _windows(_space_to_depth(_pad1(x)))  # n, h, w, t, u, r, s, a
  # (t, r, u, s) = (i, j): built in the same copy as the windows, and the
  # kernel is then the (16A, B) matrix it is in memory. The kernels of the
  # 512-channel layers are larger than their patches, so a kernel-order
  # transpose (copy) per use was the costliest copy of pix2pix's U-Net.
  patches = patches.transpose(0, 1, 2, 3, 5, 4, 6, 7)
  return patches.reshape(n * (height // 2) * (width // 2), 16 * a)


def _dot(lhs, rhs, rhs_contracting: int = 0):
  """lhs (..., k) times rhs (k, n), or (n, k) with rhs_contracting=1.

  The result is float32 whatever the operands: bfloat16 operands are
  multiplied as such and summed in float32 (``preferred_element_type``), the
  one form XLA:CPU hands to YNNPACK's bf16 kernels (AMX / AVX512-BF16, about
  4x its float32 products on this project's machine). It declines a product
  whose lhs contracts a leading axis (``_transposed`` exists for that) and,
  for a bf16 result, computes in f32 at f32 speed; Eigen, its fallback, has
  no bf16 x bf16 -> f32 kernel at all, so the small or vector products
  YNNPACK also declines (``xla/backends/cpu/ynn_support.cc``) run in f32.
  """
  m = math.prod(lhs.shape[:-1])
  k, n = lhs.shape[-1], rhs.shape[1 - rhs_contracting]
  if lhs.dtype != jnp.float32 and (min(m, n) == 1 or max(m, k, n) < 8):
    lhs, rhs = lhs.astype(jnp.float32), rhs.astype(jnp.float32)
  return jax.lax.dot_general(
      lhs, rhs, (((lhs.ndim - 1,), (rhs_contracting,)), ((), ())),
      preferred_element_type=jnp.float32)


def _transposed(x):
  """(m, c) -> (c, m), written out row-major, as the exact product I . x^T.

  A plain transpose feeding a product is folded into it by XLA (the product
  then contracts its lhs's leading axis, which YNNPACK declines: XLA:CPU's
  kernel gradients ran at 40-100 GFLOP/s that way, in f32 or bf16). The
  identity's product is in the accepted form and costs c / (the other
  operand's width) of the product it feeds.
  """
  eye = jnp.eye(x.shape[-1], dtype=x.dtype)
  return _dot(eye, x, rhs_contracting=1).astype(x.dtype)


def _conv_from_patches(patches, kernel, out_shape):
  a, b = kernel.shape[2:]
  return _dot(patches, kernel.reshape(16 * a, b)).reshape(*out_shape, b)


def _kernel_grad_from_patches(patches, g):
  """sum over pixels of patches (x) g, as a (4, 4, A, B) float32 kernel.

  The pixel axis leads both operands. In float32, and in bfloat16 with
  fewer pixels than the narrower of 16A and B (a wide layer on a 2x2 map,
  where the (16A, B) result dwarfs both operands), XLA contracts them as
  they are, in float32, straight into the kernel's layout: Eigen packs the
  transposed operand at its float32 speed. Otherwise (bfloat16) the
  narrower operand is transposed first (``_transposed``) so that the
  product contracts its last axis and runs on YNNPACK's bf16 kernels.
  """
  b = g.shape[-1]
  a = patches.shape[-1] // 16
  g = g.reshape(-1, b).astype(patches.dtype)
  if patches.dtype == jnp.float32 or g.shape[0] < min(16 * a, b):
    return jax.lax.dot_general(
        patches.astype(jnp.float32), g.astype(jnp.float32),
        (((0,), (0,)), ((), ()))).reshape(4, 4, a, b)
  if 16 * a <= b:
    return _dot(_transposed(patches), g).reshape(4, 4, a, b)
  grad_t = _dot(_transposed(g), patches)  # (B, 16A)
  return grad_t.reshape(b, 4, 4, a).transpose(1, 2, 3, 0)


def _transpose_form(h: int, w: int, a: int, b: int) -> str:
  """'gather' or 'scatter' for an (h, w, B) -> (2h, 2w, A) transposed conv."""
  gather = (8 * (h + 1) * (w + 1) * 4 * (a + b) / _BYTES_PER_S
            + 2 * (h + 1) * (w + 1) * 16 * a * b / _FLOPS_PER_S)
  scatter = (8 * h * w * 16 * a / _BYTES_PER_S
             + 2 * h * w * 16 * a * b / _FLOPS_PER_S)
  return 'gather' if gather < scatter else 'scatter'


def _conv_transpose(x, kernel, form: str | None = None):
  """y[2p - 1 + i, 2q - 1 + j] += K[i, j] x[p, q]; K (4, 4, A, B), x (.., B)."""
  n, h, w, b = x.shape
  a = kernel.shape[2]
  form = form or _transpose_form(h, w, a, b)
  taps = _taps(kernel)
  if form == 'gather':
    # Output block (P, Q), phase (r, s) of the padded output sees input window
    # (P + t', Q + u') of the padded input through tap (2(1 - t') + r, ...).
    weights = taps[::-1, :, ::-1].transpose(0, 2, 5, 1, 3, 4).reshape(
        4 * b, 4 * a)
    windows = _from_bits(_windows(_pad1(_to_bits(x))), x.dtype).reshape(
        n, h + 1, w + 1, 4 * b)
    blocks = _dot(windows, weights).astype(x.dtype).reshape(
        n, h + 1, w + 1, 2, 2, a)
  elif form == 'scatter':
    # x @ K^T with K the (16A, B) matrix in memory: contracting K's last
    # axis, not a transposed copy of K.
    footprints = _dot(x, kernel.reshape(16 * a, b), rhs_contracting=1)
    footprints = footprints.reshape(n, h, w, 2, 2, 2, 2, a)  # t r u s a
    blocks = sum(jnp.pad(footprints[:, :, :, t, :, u],
                         ((0, 0), (t, 1 - t), (u, 1 - u), (0, 0), (0, 0),
                          (0, 0)))
                 for t in (0, 1) for u in (0, 1)).astype(x.dtype)
  else:
    raise ValueError(f'unknown form {form!r}')
  return _from_bits(_depth_to_space(_to_bits(blocks))[:, 1:-1, 1:-1], x.dtype)


def _lax_conv(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=_DIMENSIONS)


@jax.custom_vjp
def conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Conv2d(kernel 4, stride 2, padding 1), x (n, 2h, 2w, A), K (4, 4, A, B).

  Computes in x's dtype (the kernel is cast to it) and returns x's dtype;
  the kernel's gradient is summed in float32 and returned in the kernel's
  own dtype (float32 parameters stay float32 end to end under bfloat16).
  XLA's float32 forward convolution is fast on CPU for all but tiny maps
  and RGB inputs (only its gradients are slow), so it runs there wherever
  the kernel gradient is not needed (e.g. D in G's update); in bfloat16 XLA
  computes it in float32, and the patches' product is faster.
  """
  return _conv_forward(x, kernel.astype(x.dtype))


def _conv_forward(x, kernel):
  # XLA:CPU's float32 convolution beats the patches' product on maps of 8+
  # pixels a side with 8+ channels; on a 2x2 map (StarGAN's widest D layer)
  # it is 30x slower, on 4x4 and on RGB inputs 1.5-4x.
  if x.dtype == jnp.float32 and min(x.shape[1:3]) >= 8 and x.shape[-1] >= 8:
    return _lax_conv(x, kernel)
  return _conv_of_patches(_conv_patches(x), kernel, x)


def _conv_of_patches(patches, kernel, x):
  """The stride-2 conv of x from its patches, in x's dtype."""
  n, height, width, _ = x.shape
  return _conv_from_patches(patches, kernel,
                            (n, height // 2, width // 2)).astype(x.dtype)


def _conv_fwd(x, kernel):
  # symbolic_zeros: x and kernel say whether they are being differentiated.
  x, kernel, need_kernel_grad = x.value, kernel.value, kernel.perturbed
  if not need_kernel_grad:
    # conv itself, not XLA's conv: a gradient penalty differentiates this
    # (x-only) pass again with respect to the kernel, and conv's rules do
    # that as products where XLA:CPU's convolution gradient is 10x slower.
    return conv(x, kernel), (None, kernel)
  patches = _conv_patches(x)  # kept for the kernel gradient
  return (_conv_of_patches(patches, kernel.astype(x.dtype), x),
          (patches, kernel))


def _conv_bwd(residuals, g):
  patches, kernel = residuals
  dkernel = None if patches is None else (
      _kernel_grad_from_patches(patches, g).astype(kernel.dtype))
  return _conv_transpose(g, kernel.astype(g.dtype)), dkernel


conv.defvjp(_conv_fwd, _conv_bwd, symbolic_zeros=True)


@jax.custom_vjp
def conv_transpose(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """ConvTranspose2d(kernel 4, stride 2, padding 1), x (n, h, w, B) -> A.

  Dtypes as ``conv``: x's for the computation and the result, the kernel's
  (summed in float32) for its gradient.
  """
  return _conv_transpose(x, kernel.astype(x.dtype))


def _conv_transpose_fwd(x, kernel):
  return _conv_transpose(x, kernel.astype(x.dtype)), (x, kernel)


def _conv_transpose_bwd(residuals, g):
  x, kernel = residuals
  patches = _conv_patches(g)
  dx = _conv_from_patches(patches, kernel.astype(x.dtype), x.shape[:3])
  return (dx.astype(x.dtype),
          _kernel_grad_from_patches(patches, x).astype(kernel.dtype))


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def _torch_padding(kernel: int, pad: int) -> tuple[int, int]:
  # lax.conv_transpose pads the stride-dilated input: PyTorch's padding p with
  # kernel k is k - 1 - p on each side there.
  return (kernel - 1 - pad, kernel - 1 - pad)


class _Kernel4Layer(nn.Module):
  """Fields shared by the PyTorch-style kernel-4, bias-free NHWC layers."""
  features: int
  stride: int
  padding: int
  kernel_init: Callable = nn.initializers.normal(0.02)
  dtype: Any = jnp.float32
  impl: str = 'auto'


class ConvTranspose(_Kernel4Layer):
  """PyTorch-style ConvTranspose2d(kernel 4, stride, padding)."""

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init,
                        (4, 4, self.features, x.shape[-1]), jnp.float32)
    x = x.astype(self.dtype)
    if resolve_impl(self.impl) == 'matmul':
      if (self.stride, self.padding) == (1, 0) and x.shape[1:3] == (1, 1):
        # out[n, h, w] = K[h, w] . z[n]: K as the (16 out, in) matrix.
        out = _dot(x[:, 0, 0, :], kernel.astype(self.dtype).reshape(
            16 * self.features, -1), rhs_contracting=1)
        return out.reshape(-1, 4, 4, self.features).astype(self.dtype)
      if (self.stride, self.padding) == (2, 1):
        return conv_transpose(x, kernel)  # float32 kernel: see conv
    return jax.lax.conv_transpose(
        x, kernel.astype(self.dtype), strides=(self.stride, self.stride),
        padding=(_torch_padding(4, self.padding),) * 2,
        dimension_numbers=_DIMENSIONS, transpose_kernel=True)


class Conv(_Kernel4Layer):
  """PyTorch-style Conv2d(kernel 4, stride, padding)."""

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init,
                        (4, 4, x.shape[-1], self.features), jnp.float32)
    x = x.astype(self.dtype)
    even = x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0
    if (resolve_impl(self.impl) == 'matmul' and even
        and (self.stride, self.padding) == (2, 1)):
      return conv(x, kernel)  # float32 kernel: its gradient stays float32
    return jax.lax.conv_general_dilated(
        x, kernel.astype(self.dtype), (self.stride, self.stride),
        ((self.padding, self.padding),) * 2, dimension_numbers=_DIMENSIONS)
