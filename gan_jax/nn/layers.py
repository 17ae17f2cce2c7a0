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
* ``kernel_grad``: the same im2col patches, transposed, @ g (saved from the
  forward pass of ``conv``, not recomputed).

``ConvTranspose`` and ``Conv`` keep ``nn.ConvTranspose``'s / ``nn.Conv``'s
parameter (name, shape, initialiser), so checkpoints and the reference's
layer-for-layer layout do not depend on the choice; 'lax' uses XLA's own ops
(the default off CPU, where those are fast).
"""

from __future__ import annotations

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


def _conv_patches(x):
  """im2col of the stride-2 conv: (n, 2h, 2w, A) -> (n * h * w, 16A), taps
  in the kernel's own (i, j, a) order."""
  n, height, width, a = x.shape
  patches = _windows(_space_to_depth(_pad1(x)))  # n, h, w, t, u, r, s, a
  # (t, r, u, s) = (i, j): built in the same copy as the windows, and the
  # kernel is then the (16A, B) matrix it is in memory. The kernels of the
  # 512-channel layers are larger than their patches, so a kernel-order
  # transpose (copy) per use was the costliest copy of pix2pix's U-Net.
  patches = patches.transpose(0, 1, 2, 3, 5, 4, 6, 7)
  return patches.reshape(n * (height // 2) * (width // 2), 16 * a)


def _conv_from_patches(patches, kernel, out_shape):
  a, b = kernel.shape[2:]
  return (patches @ kernel.reshape(16 * a, b)).reshape(*out_shape, b)


def _kernel_grad_from_patches(patches, g):
  """sum over pixels of patches (x) g, as a (4, 4, A, B) kernel."""
  b = g.shape[-1]
  a = patches.shape[-1] // 16
  grad = jax.lax.dot_general(patches, g.reshape(-1, b),
                             (((0,), (0,)), ((), ())))
  return grad.reshape(4, 4, a, b)


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
    windows = _windows(_pad1(x)).reshape(n, h + 1, w + 1, 4 * b)
    blocks = (windows @ weights).reshape(n, h + 1, w + 1, 2, 2, a)
  elif form == 'scatter':
    # x @ K^T with K the (16A, B) matrix in memory: contracting K's last
    # axis, not a transposed copy of K.
    footprints = jax.lax.dot_general(
        x, kernel.reshape(16 * a, b), (((3,), (1,)), ((), ())))
    footprints = footprints.reshape(n, h, w, 2, 2, 2, 2, a)  # t r u s a
    blocks = sum(jnp.pad(footprints[:, :, :, t, :, u],
                         ((0, 0), (t, 1 - t), (u, 1 - u), (0, 0), (0, 0),
                          (0, 0)))
                 for t in (0, 1) for u in (0, 1))
  else:
    raise ValueError(f'unknown form {form!r}')
  return _depth_to_space(blocks)[:, 1:-1, 1:-1]


def _lax_conv(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=_DIMENSIONS)


@jax.custom_vjp
def conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Conv2d(kernel 4, stride 2, padding 1), x (n, 2h, 2w, A), K (4, 4, A, B).

  XLA's forward convolution is fast on CPU (only its gradients are slow), so
  it runs wherever the kernel gradient is not needed (e.g. D in G's update).
  """
  return _lax_conv(x, kernel)


def _conv_fwd(x, kernel):
  # symbolic_zeros: x and kernel say whether they are being differentiated.
  x, kernel, need_kernel_grad = x.value, kernel.value, kernel.perturbed
  if not need_kernel_grad:
    return _lax_conv(x, kernel), (None, kernel)
  n, height, width, _ = x.shape
  patches = _conv_patches(x)  # kept for the kernel gradient
  return (_conv_from_patches(patches, kernel, (n, height // 2, width // 2)),
          (patches, kernel))


def _conv_bwd(residuals, g):
  patches, kernel = residuals
  dkernel = None if patches is None else _kernel_grad_from_patches(patches, g)
  return _conv_transpose(g, kernel), dkernel


conv.defvjp(_conv_fwd, _conv_bwd, symbolic_zeros=True)


@jax.custom_vjp
def conv_transpose(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """ConvTranspose2d(kernel 4, stride 2, padding 1), x (n, h, w, B) -> A."""
  return _conv_transpose(x, kernel)


def _conv_transpose_fwd(x, kernel):
  return _conv_transpose(x, kernel), (x, kernel)


def _conv_transpose_bwd(residuals, g):
  x, kernel = residuals
  patches = _conv_patches(g)
  dx = _conv_from_patches(patches, kernel, x.shape[:3])
  return dx, _kernel_grad_from_patches(patches, x)


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
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    if resolve_impl(self.impl) == 'matmul':
      if (self.stride, self.padding) == (1, 0) and x.shape[1:3] == (1, 1):
        return jnp.einsum('nc,hwoc->nhwo', x[:, 0, 0, :], kernel)
      if (self.stride, self.padding) == (2, 1):
        return conv_transpose(x, kernel)
    return jax.lax.conv_transpose(
        x, kernel, strides=(self.stride, self.stride),
        padding=(_torch_padding(4, self.padding),) * 2,
        dimension_numbers=_DIMENSIONS, transpose_kernel=True)


class Conv(_Kernel4Layer):
  """PyTorch-style Conv2d(kernel 4, stride, padding)."""

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init,
                        (4, 4, x.shape[-1], self.features), jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    even = x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0
    if (resolve_impl(self.impl) == 'matmul' and even
        and (self.stride, self.padding) == (2, 1)):
      return conv(x, kernel)
    return jax.lax.conv_general_dilated(
        x, kernel, (self.stride, self.stride),
        ((self.padding, self.padding),) * 2, dimension_numbers=_DIMENSIONS)
