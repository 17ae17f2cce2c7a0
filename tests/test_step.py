import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import config_lib, losses, models, step, train_state

Z_DIM, SIZE, BATCH = 8, 32, 16


@pytest.fixture(scope='module')
def parts():
  opt = config_lib.optimizer_config(lr=2e-4)
  g = models.Generator(SIZE, 1, base_width=4)
  d = models.Discriminator(SIZE, base_width=4)
  tx = train_state.make_optimizer(opt)
  state = train_state.create_train_state(jax.random.PRNGKey(0), g, d, tx, tx,
                                         Z_DIM, (SIZE, SIZE, 1))
  train_step = jax.jit(step.make_train_step(
      g, d, tx, tx, loss='non_saturating', z_dim=Z_DIM,
      z_distribution='uniform'))
  real = jax.random.randint(jax.random.PRNGKey(3), (BATCH, SIZE, SIZE, 1), 0,
                            256).astype(jnp.uint8)
  return g, d, state, train_step, real


def _adam_count(opt_state):
  return int(opt_state[0].count)


def test_k_d_steps_per_g_step(parts):
  _, _, state, train_step, real = parts
  k = 3
  for _ in range(2):
    state, metrics = train_step(state, jnp.stack([real] * k))
  assert int(state.step) == 2
  assert _adam_count(state.d_opt_state) == 2 * k
  assert _adam_count(state.g_opt_state) == 2
  assert set(metrics) == {'d_loss', 'g_loss', 'd_real', 'd_fake'}
  assert all(np.isfinite(float(v)) for v in metrics.values())


def test_d_steps_raise_discriminator_accuracy(parts):
  g, d, state, train_step, real = parts
  z = train_state.sample_latent(jax.random.PRNGKey(7), BATCH, Z_DIM, 'uniform')
  fake = g.apply({'params': state.g_params, 'batch_stats': state.g_batch_stats},
                 z, train=True, mutable=['batch_stats'])[0]

  @jax.jit
  def accuracy_and_loss(d_params, d_stats):
    apply = lambda x: d.apply({'params': d_params, 'batch_stats': d_stats}, x,
                              train=True, mutable=['batch_stats'])[0]
    real_logits = apply(step.to_model_range(real))
    fake_logits = apply(fake)
    accuracy = (jnp.mean(real_logits > 0) + jnp.mean(fake_logits < 0)) / 2
    return accuracy, losses.discriminator_loss(real_logits, fake_logits)

  acc_before, loss_before = accuracy_and_loss(state.d_params,
                                              state.d_batch_stats)
  new_state, _ = train_step(state, real[None])
  _, loss_after_one = accuracy_and_loss(new_state.d_params,
                                        new_state.d_batch_stats)
  assert float(loss_after_one) < float(loss_before)
  for _ in range(4):
    new_state, _ = train_step(new_state, real[None])
  acc_after, _ = accuracy_and_loss(new_state.d_params, new_state.d_batch_stats)
  assert float(acc_after) > float(acc_before)


def test_step_is_deterministic_and_consumes_the_key(parts):
  _, _, state, train_step, real = parts
  a, _ = train_step(state, real[None])
  b, _ = train_step(state, real[None])
  assert all(jax.tree.leaves(jax.tree.map(np.array_equal, a, b)))
  assert not np.array_equal(a.rng, state.rng)


def test_uint8_scaled_to_tanh_range():
  pixels = jnp.array([0, 255], jnp.uint8)
  np.testing.assert_allclose(step.to_model_range(pixels), [-1.0, 1.0])


def test_unknown_loss_rejected(parts):
  g, d, _, _, _ = parts
  with pytest.raises(ValueError, match='loss'):
    step.make_train_step(g, d, None, None, loss='hinge', z_dim=Z_DIM,
                         z_distribution='uniform')
