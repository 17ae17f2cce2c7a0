"""Convolutions whose gradients are fast on XLA:CPU, drop-ins for G's and D's layers.

On XLA:CPU the gradient of ``lax.conv_transpose`` with respect to its kernel
is an order of magnitude slower than that of an ordinary convolution. The two
transposed convolutions DCGAN uses have exact ordinary-convolution forms:

* the projection of z (kernel 4, stride 1, PyTorch padding 0 on a 1x1 map) is
  a matrix product: out[h, w] = W[h, w] . z;
* the upsampling layer (kernel 4, stride 2, PyTorch padding 1) is a sub-pixel
  convolution (Shi et al. 2016): output pixel (2a + r, 2b + s) only sees the
  2x2 input window starting at (a - 1 + r, b - 1 + s), through the kernel taps
  W[3 - r - 2t, 3 - s - 2u] (t, u in {0, 1}). One 2x2 convolution over the
  input padded by one pixel computes all four phases r, s as 4x the output
  channels (written as a matrix product over 2x2 patches); depth-to-space
  interleaves them.

``ConvTranspose`` keeps ``nn.ConvTranspose``'s parameter (name, shape
(kh, kw, out, in) with transpose_kernel=True, initialiser), and ``Conv``
``nn.Conv``'s, so checkpoints and the reference's layer-for-layer layout do
not depend on the choice. ``Conv`` (D's stride-2 layers) keeps XLA's forward
and replaces the backward, whose input gradient is the same transposed
convolution as G's upsampling layer.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

DECONV_IMPLS = ('auto', 'subpixel', 'lax')
_DIMENSIONS = ('NHWC', 'HWIO', 'NHWC')


def resolve_impl(impl: str) -> str:
  """'auto' picks the sub-pixel form on CPU, XLA's native op elsewhere."""
  if impl not in DECONV_IMPLS:
    raise ValueError(f'model.deconv_impl must be one of {DECONV_IMPLS}, '
                     f'got {impl!r}')
  if impl == 'auto':
    return 'subpixel' if jax.default_backend() == 'cpu' else 'lax'
  return impl


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
    in_features = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init,
                        (4, 4, self.features, in_features), jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    impl = resolve_impl(self.impl)
    is_projection = (self.stride, self.padding) == (1, 0) and x.shape[1:3] == (1, 1)
    is_upsample = (self.stride, self.padding) == (2, 1)
    if impl == 'subpixel' and is_projection:
      return jnp.einsum('nc,hwoc->nhwo', x[:, 0, 0, :], kernel)
    if impl == 'subpixel' and is_upsample:
      return _subpixel_upsample(x, kernel)
    return jax.lax.conv_transpose(
        x, kernel, strides=(self.stride, self.stride),
        padding=(_torch_padding(4, self.padding),) * 2,
        dimension_numbers=_DIMENSIONS, transpose_kernel=True)


def _subpixel_upsample(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Kernel-4, stride-2, padding-1 transposed convolution as conv + depth-to-space."""
  n, h, w, _ = x.shape
  out = kernel.shape[2]
  # taps[t, r] = 3 - r - 2t: the kernel row seen by phase r at window offset t.
  taps = jnp.array([[3, 2], [1, 0]])
  # (kh, kw, out, in) -> (t, u, in, r, s, out): one 2x2 kernel for all phases.
  sub = kernel[taps[:, None, :, None], taps[None, :, None, :]]  # t,u,r,s,out,in
  sub = sub.transpose(0, 1, 5, 2, 3, 4).reshape(2, 2, -1, 4 * out)
  # The 2x2 convolution as patches @ kernel: XLA:CPU's kernel gradient of an
  # even-sized convolution is ~70x slower than the same matrix product.
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  patches = jnp.concatenate([padded[:, t:t + h + 1, u:u + w + 1]
                             for t in (0, 1) for u in (0, 1)], axis=-1)
  full = patches @ sub.reshape(-1, 4 * out)  # (n, h+1, w+1, 4*out)
  full = full.reshape(n, h + 1, w + 1, 2, 2, out)
  phases = jnp.stack([jnp.stack([full[:, r:r + h, s:s + w, r, s]
                                 for s in (0, 1)], axis=3) for r in (0, 1)],
                     axis=2)  # (n, h, r, w, s, out)
  return phases.reshape(n, 2 * h, 2 * w, out)



def _downsample_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Kernel-4, stride-2, padding-1 convolution (D's layers), XLA's op."""
  return jax.lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=_DIMENSIONS)


@jax.custom_vjp
def downsample_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``_downsample_conv`` with a backward pass that is fast on XLA:CPU.

  Forward is XLA's convolution. Its input gradient is the transposed
  convolution of the cotangent with the same kernel, exactly the layer
  ``_subpixel_upsample`` computes; its kernel gradient is, for each of the 16
  taps, one matrix product of the strided input slice with the cotangent.
  """
  return _downsample_conv(x, kernel)


def _downsample_conv_fwd(x, kernel):
  return _downsample_conv(x, kernel), (x, kernel)


def _downsample_conv_bwd(residuals, cotangent):
  x, kernel = residuals
  # (kh, kw, in, out) read as a transposed-conv kernel (kh, kw, out', in').
  dx = _subpixel_upsample(cotangent, kernel).astype(x.dtype)
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  h, w = cotangent.shape[1:3]
  flat_cotangent = cotangent.reshape(-1, cotangent.shape[-1])
  taps = [jax.lax.dot_general(
      padded[:, i:i + 2 * h:2, j:j + 2 * w:2, :].reshape(-1, x.shape[-1]),
      flat_cotangent, (((0,), (0,)), ((), ())))
          for i in range(4) for j in range(4)]
  dkernel = jnp.stack(taps).reshape(kernel.shape).astype(kernel.dtype)
  return dx, dkernel


downsample_conv.defvjp(_downsample_conv_fwd, _downsample_conv_bwd)


class Conv(_Kernel4Layer):
  """PyTorch-style Conv2d(kernel 4, stride, padding); the stride-2 layers
  take ``downsample_conv``'s fast backward under 'subpixel'."""

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init,
                        (4, 4, x.shape[-1], self.features), jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    even = x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0
    if (resolve_impl(self.impl) == 'subpixel' and even
        and (self.stride, self.padding) == (2, 1)):
      return downsample_conv(x, kernel)
    return jax.lax.conv_general_dilated(
        x, kernel, (self.stride, self.stride),
        ((self.padding, self.padding),) * 2, dimension_numbers=_DIMENSIONS)
