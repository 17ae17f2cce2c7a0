import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import layers

# (stride, PyTorch padding, input size): the projection of z and the upsampling
# layer, the two transposed convolutions DCGAN uses.
CASES = [(1, 0, 1), (2, 1, 4), (2, 1, 5)]


def _reference(stride, pad):
  return nn.ConvTranspose(5, (4, 4), strides=(stride, stride),
                          padding=((3 - pad, 3 - pad),) * 2,
                          transpose_kernel=True, use_bias=False)


def _assert_same_function(layer, ref, x):
  """Same parameter shapes, forward, and gradients (parameters and input)."""
  variables = ref.init(jax.random.PRNGKey(1), x)
  assert jax.tree.map(jnp.shape, layer.init(jax.random.PRNGKey(1), x)) == (
      jax.tree.map(jnp.shape, variables))
  np.testing.assert_allclose(layer.apply(variables, x), ref.apply(variables, x),
                             atol=1e-5)
  cotangent = jax.random.normal(jax.random.PRNGKey(2),
                                ref.apply(variables, x).shape)

  def grads(module):
    _, vjp = jax.vjp(lambda v, x: module.apply(v, x), variables, x)
    return vjp(cotangent)

  for got, want in zip(jax.tree.leaves(grads(layer)),
                       jax.tree.leaves(grads(ref))):
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize('stride,pad,size', CASES)
@pytest.mark.parametrize('impl', ['subpixel', 'lax'])
def test_matches_flax_conv_transpose(stride, pad, size, impl):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, 3))
  _assert_same_function(layers.ConvTranspose(5, stride, pad, impl=impl),
                        _reference(stride, pad), x)


def test_auto_resolves_per_backend():
  assert layers.resolve_impl('auto') == (
      'subpixel' if jax.default_backend() == 'cpu' else 'lax')
  with pytest.raises(ValueError, match='deconv_impl'):
    layers.resolve_impl('fft')


# (stride, padding, input size): D's downsampling layers and its 4x4 head.
CONV_CASES = [(2, 1, 8), (2, 1, 4), (1, 0, 4)]


@pytest.mark.parametrize('stride,pad,size', CONV_CASES)
@pytest.mark.parametrize('impl', ['subpixel', 'lax'])
def test_conv_matches_flax_conv(stride, pad, size, impl):
  x = jax.random.normal(jax.random.PRNGKey(0), (3, size, size, 4))
  ref = nn.Conv(6, (4, 4), strides=(stride, stride),
                padding=((pad, pad),) * 2, use_bias=False)
  _assert_same_function(layers.Conv(6, stride, pad, impl=impl), ref, x)
