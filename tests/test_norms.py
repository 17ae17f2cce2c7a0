"""Spectral normalisation (gan_jax.nn.norms) around our custom Conv and Dense."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.nn import layers, norms

_STEPS = 60  # power-iteration steps (calls with train=True) before comparing


class Wrapped(nn.Module):
  """One spectrally normalised layer: 'conv' (4x4, stride 2, pad 1) or 'dense'."""
  kind: str
  impl: str = 'matmul'

  @nn.compact
  def __call__(self, x, train: bool):
    if self.kind == 'conv':
      layer = layers.Conv(8, 2, 1, impl=self.impl)
    else:
      layer = nn.Dense(5, use_bias=False)
    return norms.spectral_norm(layer, train)(x)


def _input(kind, key=jax.random.PRNGKey(1)):
  shape = (2, 8, 8, 3) if kind == 'conv' else (2, 7)
  return jax.random.normal(key, shape)


def _init(model, x):
  """Variables with a fresh N(0, 1) kernel in place of the initialised one.

  flax's init stores an already normalised kernel (top SV ~1), on which the
  sigma checks below would pass vacuously.
  """
  variables = model.init(jax.random.PRNGKey(0), x, train=False)
  params = jax.tree.map(
      lambda w: jax.random.normal(jax.random.PRNGKey(2), w.shape),
      variables['params'])
  return {'params': params, 'batch_stats': variables['batch_stats']}


def _power_iterate(model, variables, x, steps):
  @jax.jit
  def update(stats):
    _, new = model.apply({'params': variables['params'], 'batch_stats': stats},
                         x, train=True, mutable=['batch_stats'])
    return new['batch_stats']
  stats = variables['batch_stats']
  for _ in range(steps):
    stats = update(stats)
  return stats


def _sigma_max(matrix):
  return np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)[0]


def _normalised_conv_kernel(model, variables):
  """The kernel the wrapped Conv applies, read off its outputs.

  Output pixel (1, 1) of the stride-2, pad-1 conv sees input rows/cols 1..4:
  a one-hot input at (1 + i, 1 + j, a) gives K[i, j, a, :] there.
  """
  x = np.zeros((4, 4, 3, 8, 8, 3), np.float32)
  for i in range(4):
    for j in range(4):
      for a in range(3):
        x[i, j, a, 1 + i, 1 + j, a] = 1
  y = model.apply(variables, jnp.asarray(x.reshape(48, 8, 8, 3)), train=False)
  return np.asarray(y[:, 1, 1, :]).reshape(4, 4, 3, 8)


@pytest.mark.parametrize('kind', ['conv', 'dense'])
def test_power_iteration_sigma_matches_svd(kind):
  model = Wrapped(kind)
  x = _input(kind)
  variables = _init(model, x)
  stats = _power_iterate(model, variables, x, _STEPS)
  (name, kernel), = variables['params'].items()
  kernel = np.asarray(kernel['kernel'])
  sigma = float(stats['SpectralNorm_0'][f'{name}/kernel/sigma'])

  # flax's (kh * kw * in, out) reshape and Miyato et al.'s (out, in * kh * kw)
  # have the same singular values.
  expected = _sigma_max(kernel.reshape(-1, kernel.shape[-1]))
  miyato = np.moveaxis(kernel, -1, 0).reshape(kernel.shape[-1], -1)
  np.testing.assert_allclose(_sigma_max(miyato), expected, rtol=1e-6)
  assert abs(expected - 1) > 0.5  # the check below is not vacuous
  np.testing.assert_allclose(sigma, expected, rtol=1e-3)

  # The kernel the layer actually applies is W / sigma(W): top SV ~ 1.
  variables = {'params': variables['params'], 'batch_stats': stats}
  if kind == 'conv':
    applied = _normalised_conv_kernel(model, variables)
  else:  # y = x @ W_SN: the identity reads W_SN off
    applied = np.asarray(model.apply(variables, jnp.eye(7), train=False))
  np.testing.assert_allclose(applied, kernel / expected, rtol=2e-3, atol=1e-5)
  np.testing.assert_allclose(
      _sigma_max(applied.reshape(-1, applied.shape[-1])), 1.0, rtol=1e-3)


def test_state_in_batch_stats_updated_only_when_training():
  model = Wrapped('conv')
  x = _input('conv')
  variables = _init(model, x)
  assert set(variables) == {'params', 'batch_stats'}
  # The wrapped layer's params are where they would be without the wrapper.
  assert jax.tree.map(jnp.shape, variables['params']) == {
      'Conv_0': {'kernel': (4, 4, 3, 8)}}
  stats = variables['batch_stats']
  assert jax.tree.map(jnp.shape, stats) == {'SpectralNorm_0': {
      'Conv_0/kernel/u': (1, 8), 'Conv_0/kernel/sigma': ()}}

  _, trained = model.apply(variables, x, train=True, mutable=['batch_stats'])
  _, evaluated = model.apply(variables, x, train=False,
                             mutable=['batch_stats'])
  for key in ('Conv_0/kernel/u', 'Conv_0/kernel/sigma'):
    old = np.asarray(stats['SpectralNorm_0'][key])
    assert not np.allclose(trained['batch_stats']['SpectralNorm_0'][key], old)
    np.testing.assert_array_equal(
        evaluated['batch_stats']['SpectralNorm_0'][key], old)
  # Training writes the statistics: apply must be allowed to.
  with pytest.raises(Exception, match='batch_stats'):
    model.apply(variables, x, train=True)


def test_gradients_flow_through_wrapped_custom_conv():
  x = _input('conv')
  variables = _init(Wrapped('conv'), x)

  def loss_and_grad(impl):
    model = Wrapped('conv', impl)

    @jax.jit
    def step(params, stats):
      def loss_fn(params, x):
        y, new = model.apply({'params': params, 'batch_stats': stats}, x,
                             train=True, mutable=['batch_stats'])
        return jnp.sum(jnp.sin(y)), new['batch_stats']
      return jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
          params, x)
    return step(variables['params'], variables['batch_stats'])

  (loss, stats), (grads, x_grad) = loss_and_grad('matmul')
  kernel = variables['params']['Conv_0']['kernel']
  g = grads['Conv_0']['kernel']
  assert np.isfinite(loss)
  for grad in (g, x_grad):
    assert np.all(np.isfinite(grad)) and float(jnp.max(jnp.abs(grad))) > 0
  # The custom VJP agrees with XLA's own convolution under the wrapper.
  (loss_ref, _), (grads_ref, x_grad_ref) = loss_and_grad('lax')
  np.testing.assert_allclose(loss, loss_ref, rtol=1e-5)
  np.testing.assert_allclose(g, grads_ref['Conv_0']['kernel'], rtol=1e-4,
                             atol=1e-6)
  np.testing.assert_allclose(x_grad, x_grad_ref, rtol=1e-4, atol=1e-6)
  # W / sigma(W) is scale-invariant in W (u, v fixed), so a gradient that
  # flows through sigma, as Miyato et al.'s does, is orthogonal to W.
  cosine = jnp.vdot(g, kernel) / (jnp.linalg.norm(g) * jnp.linalg.norm(kernel))
  assert abs(float(cosine)) < 1e-4
  assert jax.tree.structure(stats) == jax.tree.structure(
      variables['batch_stats'])


def test_init_stores_the_normalised_kernel():
  """flax quirk, documented in norms: params start as W0 / sigma_1(W0)."""
  x = _input('conv')
  kernel_init = nn.initializers.normal(0.02)

  class Plain(nn.Module):
    @nn.compact
    def __call__(self, x, train):
      return layers.Conv(8, 2, 1, kernel_init=kernel_init)(x)

  class Normalised(nn.Module):
    @nn.compact
    def __call__(self, x, train):
      return norms.spectral_norm(
          layers.Conv(8, 2, 1, kernel_init=kernel_init), train)(x)

  key = jax.random.PRNGKey(0)
  raw = np.asarray(Plain().init(key, x, train=False)['params']['Conv_0'][
      'kernel'])
  variables = Normalised().init(key, x, train=False)
  stored = np.asarray(variables['params']['Conv_0']['kernel'])
  # Same draw, same direction, rescaled to a top singular value of ~1.
  cosine = np.vdot(raw, stored) / (np.linalg.norm(raw) * np.linalg.norm(stored))
  np.testing.assert_allclose(cosine, 1.0, rtol=1e-5)
  assert _sigma_max(raw.reshape(-1, 8)) < 0.5
  assert 0.99 < _sigma_max(stored.reshape(-1, 8)) < 2
  # Applying with only 'batch_stats' mutable returns no params to store.
  _, updates = Normalised().apply(variables, x, train=True,
                                  mutable=['batch_stats'])
  assert set(updates) == {'batch_stats'}
