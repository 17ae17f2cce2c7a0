"""Goodfellow et al. 2014, Sec. 4, checked numerically on a grid."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.toy import mlp, theory

X = jnp.linspace(-4.0, 6.0, 4001)
Z_UNIFORM = jnp.linspace(-1.0, 1.0, 2001)
Z_NORMAL = jnp.linspace(-7.0, 7.0, 2001)
P_UNIFORM = lambda z: jnp.full_like(z, 0.5)
P_DATA = jax.scipy.stats.norm.pdf(X, 1.0, 0.7)


def _monotone_g():
  """A random, smooth, increasing G (the toy's generator at initialisation)."""
  module = mlp.MonotoneMLP((16,))
  params = module.init(jax.random.PRNGKey(3), jnp.zeros((2, 1)))['params']
  return lambda z: module.apply({'params': params}, z.reshape(1, 1))[0, 0] + 1.0


GENERATORS = {
    'affine': (lambda z: 1.2 + 0.9 * z, Z_UNIFORM, P_UNIFORM),
    'monotone_mlp': (_monotone_g(), Z_UNIFORM, P_UNIFORM),
    'shifted_gaussian': (lambda z: 1.5 + 0.5 * z, Z_NORMAL,
                         jax.scipy.stats.norm.pdf),
}


@pytest.fixture(params=sorted(GENERATORS), scope='module')
def p_g(request):
  g, z, p_z = GENERATORS[request.param]
  density, monotone = theory.pushforward_density(g, z, p_z, X)
  assert bool(monotone)
  return density


def test_pushforward_matches_closed_forms():
  # x = 1.2 + 0.9 z, z ~ U[-1, 1]: uniform on [0.3, 2.1], density 1/1.8.
  density, _ = theory.pushforward_density(*GENERATORS['affine'][:2],
                                          P_UNIFORM, X)
  inside = (X > 0.31) & (X < 2.09)
  np.testing.assert_allclose(density[inside], 1 / 1.8, rtol=1e-5)
  assert float(jnp.max(density[(X < 0.29) | (X > 2.11)])) == 0.0
  # x = 1.5 + 0.5 z, z ~ N(0, 1): N(1.5, 0.5^2).
  density, _ = theory.pushforward_density(
      *GENERATORS['shifted_gaussian'][:2], jax.scipy.stats.norm.pdf, X)
  np.testing.assert_allclose(density, jax.scipy.stats.norm.pdf(X, 1.5, 0.5),
                             atol=1e-5)


def test_pushforward_of_a_fold_is_detected_and_keeps_mass():
  # x = z^2, z ~ U[-1, 1]: two preimages, p_g(x) = 1 / (2 sqrt(x)) on (0, 1].
  x = jnp.linspace(0.0, 1.0, 2001)
  density, monotone = theory.pushforward_density(lambda z: z**2, Z_UNIFORM,
                                                 P_UNIFORM, x)
  assert not bool(monotone)
  middle = (x > 0.2) & (x < 0.95)
  np.testing.assert_allclose(density[middle], 0.5 / jnp.sqrt(x[middle]),
                             rtol=2e-3)


def test_value_at_optimal_d_is_minus_log4_plus_twice_jsd(p_g):
  # Theorem 1: C(G) = V(D*_G, G) = -log 4 + 2 JSD(p_data || p_g).
  c_of_g = theory.value_of_optimal(P_DATA, p_g, X)
  jsd = theory.jsd(P_DATA, p_g, X)
  assert float(jsd) > 0.01  # a G that is not yet p_data
  assert float(c_of_g) == pytest.approx(-np.log(4.0) + 2 * float(jsd),
                                        abs=1e-3)


def test_optimal_d_maximises_v(p_g):
  # Proposition 1: any other D does worse, whatever the perturbation.
  d_star = theory.optimal_discriminator(P_DATA, p_g)
  best = theory.value_of_optimal(P_DATA, p_g, X)
  logit_star = jnp.log(jnp.clip(d_star, 1e-7, 1 - 1e-7)) - jnp.log(
      jnp.clip(1 - d_star, 1e-7, 1 - 1e-7))
  keys = jax.random.split(jax.random.PRNGKey(0), 8)
  for key, size in zip(keys, [0.01, 0.03, 0.1, 0.3] * 2):
    k1, k2 = jax.random.split(key)
    bump = jnp.sin(X * jax.random.uniform(k1, (), minval=0.5, maxval=4.0)
                   + jax.random.uniform(k2, (), maxval=6.0))
    perturbed = theory.value_of_logits(logit_star + size * bump, P_DATA, p_g,
                                       X)
    assert float(perturbed) < float(best)


def test_equilibrium_when_p_g_equals_p_data():
  # G(z) = 1 + 0.7 z with z ~ N(0, 1) generates exactly p_data = N(1, 0.7^2).
  p_g, _ = theory.pushforward_density(lambda z: 1.0 + 0.7 * z, Z_NORMAL,
                                      jax.scipy.stats.norm.pdf, X)
  d_star = theory.optimal_discriminator(P_DATA, p_g)
  central = P_DATA > 1e-3
  np.testing.assert_allclose(d_star[central], 0.5, atol=1e-4)
  assert float(theory.jsd(P_DATA, p_g, X)) < 1e-6
  assert float(theory.value_of_optimal(P_DATA, p_g, X)) == pytest.approx(
      -np.log(4.0), abs=1e-4)


def test_jsd_bounds():
  left = jax.scipy.stats.norm.pdf(X, -2.0, 0.3)
  right = jax.scipy.stats.norm.pdf(X, 4.0, 0.3)
  assert float(theory.jsd(left, right, X)) == pytest.approx(np.log(2.0),
                                                            abs=1e-4)
  assert float(theory.jsd(left, left, X)) == pytest.approx(0.0, abs=1e-7)
