"""Optimizers, schedules and weight averages (gan_jax/core/optim.py, state.py)."""

import jax.numpy as jnp
import numpy as np

from gan_jax.core import optim


def test_average_ramps_in_then_decays_at_the_configured_rate():
  average = {'w': jnp.zeros(3), 'b': jnp.ones(())}
  params = {'w': jnp.full(3, 10.0), 'b': jnp.zeros(())}
  # Update 1: rate (1 + 1) / (10 + 1), so the new weights dominate.
  early = optim.ema_update(average, params, 1, decay=0.99)
  np.testing.assert_allclose(early['w'], 10.0 * 9 / 11, rtol=1e-6)
  np.testing.assert_allclose(early['b'], 2 / 11, rtol=1e-6)
  # Late in training the ramp exceeds the decay, which takes over.
  late = optim.ema_update(average, params, 10_000, decay=0.99)
  np.testing.assert_allclose(late['w'], 10.0 * 0.01, rtol=1e-5)
  np.testing.assert_allclose(late['b'], 0.99, rtol=1e-6)


def test_average_of_a_constant_trajectory_is_that_point():
  params = {'w': jnp.arange(4.0)}
  average = params
  for step in range(1, 50):
    average = optim.ema_update(average, params, step, decay=0.999)
  np.testing.assert_allclose(average['w'], params['w'], rtol=1e-6)


def test_players_average_like_a_hand_loop():
  """state.update_averages moves each named player's ema, at the state's
  step, as a hand-written loop of the EMA formula does; others are left."""
  from gan_jax.core import state as state_lib  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  tx = optax.sgd(1.0)
  players = {'g': state_lib.make_player({'params': {'w': jnp.zeros(2)}}, tx,
                                        average=True),
             'd': state_lib.make_player({'params': {'w': jnp.zeros(2)}}, tx)}
  state = state_lib.new_state(jnp.zeros(2, jnp.uint32), players)
  hand = np.zeros(2)
  for t in range(1, 6):
    params = {'w': jnp.full(2, float(t))}
    state = state.replace(step=jnp.int32(t), players={
        **state.players, 'g': state.players['g'].replace(params=params)})
    state = state_lib.update_averages(state, {'g': 0.5})
    rate = min(0.5, (1 + t) / (10 + t))
    hand = rate * hand + (1 - rate) * t
  np.testing.assert_allclose(state.players['g'].ema['w'], hand, rtol=1e-6)
  assert state.players['d'].ema == {}


def test_linear_decay_is_constant_then_linear_to_zero():
  """pix2pix/CycleGAN/StarGAN's schedule: the rate holds for the first
  decay_start_fraction of the updates, then falls linearly to 0."""
  opt = optim.optimizer_config(lr=2e-4, schedule='linear_decay',
                               decay_start_fraction=0.5)
  lr = optim.learning_rate(opt, 100)
  assert float(lr(0)) == float(lr(49)) == float(np.float32(2e-4))
  np.testing.assert_allclose(float(lr(75)), 1e-4, rtol=1e-5)
  np.testing.assert_allclose(float(lr(100)), 0.0, atol=1e-12)
  cosine = optim.learning_rate(optim.optimizer_config(
      lr=1.0, schedule='cosine'), 10)
  np.testing.assert_allclose(float(cosine(5)), 0.5, rtol=1e-6)
  assert optim.learning_rate(optim.optimizer_config(lr=1e-3), None) == 1e-3
