import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.nn import layers

# (stride, PyTorch padding, input size): the projection of z and the upsampling
# layer, the two transposed convolutions DCGAN uses.
CASES = [(1, 0, 1), (2, 1, 4), (2, 1, 5)]


def _reference(stride, pad):
  return nn.ConvTranspose(5, (4, 4), strides=(stride, stride),
                          padding=((3 - pad, 3 - pad),) * 2,
                          transpose_kernel=True, use_bias=False)


def _assert_same_function(layer, ref, x):
  """Same parameter shapes, forward, and gradients (parameters and input)."""
  # Each function compiled whole: op by op, every case would compile each
  # of its operations on its own.
  variables = jax.jit(ref.init)(jax.random.PRNGKey(1), x)
  assert jax.tree.map(jnp.shape, jax.eval_shape(
      layer.init, jax.random.PRNGKey(1), x)) == (
          jax.tree.map(jnp.shape, variables))
  want = jax.jit(ref.apply)(variables, x)
  np.testing.assert_allclose(jax.jit(layer.apply)(variables, x), want,
                             atol=1e-5)
  cotangent = jax.random.normal(jax.random.PRNGKey(2), want.shape)

  def grads(module):
    return jax.jit(lambda v, x: jax.vjp(module.apply, v, x)[1](cotangent))(
        variables, x)

  for got, want in zip(jax.tree.leaves(grads(layer)),
                       jax.tree.leaves(grads(ref))):
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize('stride,pad,size', CASES)
@pytest.mark.parametrize('impl', ['matmul', 'lax'])
def test_matches_flax_conv_transpose(stride, pad, size, impl):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, 3))
  _assert_same_function(layers.ConvTranspose(5, stride, pad, impl=impl),
                        _reference(stride, pad), x)


def test_auto_resolves_per_backend():
  assert layers.resolve_impl('auto') == (
      'matmul' if jax.default_backend() == 'cpu' else 'lax')
  with pytest.raises(ValueError, match='conv_impl'):
    layers.resolve_impl('fft')


# (stride, padding, input size): D's downsampling layers and its 4x4 head.
CONV_CASES = [(2, 1, 8), (2, 1, 4), (1, 0, 4)]


@pytest.mark.parametrize('stride,pad,size', CONV_CASES)
@pytest.mark.parametrize('impl', ['matmul', 'lax'])
def test_conv_matches_flax_conv(stride, pad, size, impl):
  x = jax.random.normal(jax.random.PRNGKey(0), (3, size, size, 4))
  ref = nn.Conv(6, (4, 4), strides=(stride, stride),
                padding=((pad, pad),) * 2, use_bias=False)
  _assert_same_function(layers.Conv(6, stride, pad, impl=impl), ref, x)


def _lax_conv(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _lax_conv_transpose(x, kernel):
  return jax.lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)),
                                dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                transpose_kernel=True)


@pytest.mark.parametrize('form', ['gather', 'scatter'])
def test_both_transposed_conv_forms_match_lax(form):
  """The roofline picks one form per shape; each must be the same function."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 4, 5))
  kernel = jax.random.normal(jax.random.PRNGKey(1), (4, 4, 6, 5))
  np.testing.assert_allclose(layers._conv_transpose(x, kernel, form),
                             _lax_conv_transpose(x, kernel), atol=1e-4)


def test_roofline_picks_scatter_for_the_rgb_layer_only():
  assert layers._transpose_form(32, 32, 3, 64) == 'scatter'  # G's RGB output
  assert layers._transpose_form(16, 16, 64, 128) == 'gather'


@pytest.mark.parametrize('fn,ref,in_channels', [
    (layers.conv, _lax_conv, 5), (layers.conv_transpose, _lax_conv_transpose, 6)])
def test_custom_gradients_match_lax(fn, ref, in_channels):
  """conv and conv_transpose are each other's input gradient (same kernel)."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 4, in_channels))
  kernel = jax.random.normal(jax.random.PRNGKey(1), (4, 4, 5, 6))
  out, vjp = jax.vjp(fn, x, kernel)
  ref_out, ref_vjp = jax.vjp(ref, x, kernel)
  np.testing.assert_allclose(out, ref_out, atol=1e-4)
  cotangent = jax.random.normal(jax.random.PRNGKey(2), out.shape)
  for got, want in zip(vjp(cotangent), ref_vjp(cotangent)):
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize('shape', [
    (2, 6, 4, 5),  # a small map: the patches' product
    (2, 8, 8, 8)])  # XLA's forward convolution
def test_conv_input_gradient_alone_matches_lax(shape):
  """With the kernel held fixed (D in G's update) conv's forward pass is
  XLA's convolution or the patches' product, by the map's size."""
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  kernel = jax.random.normal(jax.random.PRNGKey(1), (4, 4, shape[-1], 6))
  loss = lambda fn: lambda x: jnp.sum(jnp.sin(fn(x, kernel)))
  np.testing.assert_allclose(jax.grad(loss(layers.conv))(x),
                             jax.grad(loss(_lax_conv))(x), atol=1e-4)


@pytest.mark.parametrize('shape', [
    (2, 8, 8, 8),  # a plain forward pass here is XLA's convolution
    (2, 2, 2, 5)])  # one output pixel per image
def test_gradient_penalty_matches_lax_without_xla_convolutions(shape):
  """The kernel gradient of a gradient penalty (WGAN-GP: the input gradient
  differentiated again) is lax's, computed without XLA convolutions."""
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  kernel = jax.random.normal(jax.random.PRNGKey(1), (4, 4, shape[-1], 6))

  def penalty(fn):
    input_grad = jax.grad(lambda x, k: jnp.sum(jnp.sin(fn(x, k))))
    return lambda k: jnp.sum(jnp.square(input_grad(x, k)))

  want = jax.grad(penalty(_lax_conv))(kernel)
  # Float32 rounding relative to the largest entry (hundreds here): both
  # differ from a float64 evaluation by ~1e-6 of it.
  np.testing.assert_allclose(jax.grad(penalty(layers.conv))(kernel), want,
                             atol=1e-5 * np.abs(want).max())
  program = jax.jit(jax.grad(penalty(layers.conv))).lower(kernel).as_text()
  assert 'convolution' not in program


def test_transposed_is_exact():
  x = jax.random.normal(jax.random.PRNGKey(0), (40, 9)).astype(jnp.bfloat16)
  np.testing.assert_array_equal(layers._transposed(x), x.T)


@pytest.mark.parametrize('fn,ref,in_channels,out_channels,size', [
    (layers.conv, _lax_conv, 5, 6, 8),
    # 16 * in <= out: the patches, not the gradient, are transposed.
    (layers.conv, _lax_conv, 1, 16, 8),
    # Fewer pixels than 16 * in and out: contracted as they are.
    (layers.conv, _lax_conv, 5, 6, 2),
    (layers.conv_transpose, _lax_conv_transpose, 6, 5, 4),
    # One output channel: products YNNPACK declines, computed in float32.
    (layers.conv_transpose, _lax_conv_transpose, 6, 1, 4)])
def test_bfloat16_matches_float32(fn, ref, in_channels, out_channels, size):
  """bf16 activations, float32 kernel: bf16-rounded results, and the
  kernel's gradient comes back float32 (summed in float32)."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, in_channels))
  shape = ((4, 4, in_channels, out_channels) if fn is layers.conv
           else (4, 4, out_channels, in_channels))
  kernel = jax.random.normal(jax.random.PRNGKey(1), shape)
  out, vjp = jax.vjp(fn, x.astype(jnp.bfloat16), kernel)
  ref_out, ref_vjp = jax.vjp(ref, x, kernel)
  assert out.dtype == jnp.bfloat16
  scale = np.abs(ref_out).max()
  np.testing.assert_allclose(out.astype(np.float32), ref_out,
                             atol=2e-2 * scale)
  cotangent = jax.random.normal(jax.random.PRNGKey(2), out.shape)
  dx, dkernel = vjp(cotangent.astype(jnp.bfloat16))
  ref_dx, ref_dkernel = ref_vjp(cotangent)
  assert (dx.dtype, dkernel.dtype) == (jnp.bfloat16, jnp.float32)
  for got, want in ((dx, ref_dx), (dkernel, ref_dkernel)):
    np.testing.assert_allclose(got.astype(np.float32), want,
                               atol=2e-2 * np.abs(want).max())
