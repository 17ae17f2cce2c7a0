"""The weight average G is evaluated with (train_state.average_params)."""

import jax.numpy as jnp
import numpy as np

from gan_jax.core import state as train_state


def test_average_ramps_in_then_decays_at_the_configured_rate():
  average = {'w': jnp.zeros(3), 'b': jnp.ones(())}
  params = {'w': jnp.full(3, 10.0), 'b': jnp.zeros(())}
  # Update 1: rate (1 + 1) / (10 + 1), so the new weights dominate.
  early = train_state.average_params(average, params, 1, decay=0.99)
  np.testing.assert_allclose(early['w'], 10.0 * 9 / 11, rtol=1e-6)
  np.testing.assert_allclose(early['b'], 2 / 11, rtol=1e-6)
  # Late in training the ramp exceeds the decay, which takes over.
  late = train_state.average_params(average, params, 10_000, decay=0.99)
  np.testing.assert_allclose(late['w'], 10.0 * 0.01, rtol=1e-5)
  np.testing.assert_allclose(late['b'], 0.99, rtol=1e-6)


def test_average_of_a_constant_trajectory_is_that_point():
  params = {'w': jnp.arange(4.0)}
  average = params
  for step in range(1, 50):
    average = train_state.average_params(average, params, step, decay=0.999)
  np.testing.assert_allclose(average['w'], params['w'], rtol=1e-6)
