import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses


def test_value_at_indifferent_discriminator_is_minus_log4():
  zeros = jnp.zeros(7)
  assert float(losses.value_function(zeros, zeros)) == pytest.approx(
      -np.log(4.0), abs=1e-6)


def test_hand_computed_values():
  real, fake = jnp.array([2.0, -1.0]), jnp.array([0.5, -3.0])
  sigmoid = lambda l: 1 / (1 + np.exp(-np.asarray(l, np.float64)))
  d_real, d_fake = sigmoid(real), sigmoid(fake)
  value = np.mean(np.log(d_real)) + np.mean(np.log(1 - d_fake))
  assert float(losses.value_function(real, fake)) == pytest.approx(value,
                                                                    rel=1e-6)
  assert float(losses.discriminator_loss(real, fake)) == pytest.approx(
      -value, rel=1e-6)
  assert float(losses.generator_loss(fake, 'minimax')) == pytest.approx(
      np.mean(np.log(1 - d_fake)), rel=1e-6)
  assert float(losses.generator_loss(fake, 'non_saturating')) == pytest.approx(
      -np.mean(np.log(d_fake)), rel=1e-6)


def test_stable_for_saturated_discriminator():
  big = jnp.array([-200.0, 200.0])
  for value in (losses.value_function(big, big),
                losses.generator_loss(big, 'minimax'),
                losses.generator_loss(big, 'non_saturating')):
    assert np.isfinite(float(value))
  # log(1 - sigmoid(200)) = -200 exactly in the limit, not -inf.
  assert float(losses.generator_loss(jnp.array([200.0]), 'minimax')) == (
      pytest.approx(-200.0))


def test_saturating_gradient_vanishes_non_saturating_does_not():
  # D confidently rejects the fakes: D(G(z)) = sigmoid(-12) ~ 6e-6.
  logit = jnp.array([-12.0])
  minimax = jax.grad(lambda l: losses.generator_loss(l, 'minimax'))(logit)
  non_sat = jax.grad(lambda l: losses.generator_loss(l, 'non_saturating'))(
      logit)
  assert abs(float(minimax[0])) < 1e-5
  assert float(non_sat[0]) == pytest.approx(-1.0, abs=1e-4)
  # Both push D(G(z)) up (the logit's gradient of the loss is negative).
  assert float(minimax[0]) < 0


def test_unknown_loss():
  with pytest.raises(ValueError, match='loss'):
    losses.generator_loss(jnp.zeros(2), 'wasserstein')


def test_r1_penalty_is_the_mean_squared_input_gradient_per_logit():
  # D(x) = w . x on packs of 2 samples: every pack's gradient is w, so the
  # penalty is ||w||^2 whatever the data.
  w = jnp.array([1.0, -2.0, 0.5, 3.0])
  packs = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
  grads = jax.grad(lambda x: jnp.sum(x @ w))(packs).reshape(10, 2)
  assert float(losses.r1_penalty(grads, num_logits=5)) == pytest.approx(
      float(w @ w))
  # Zero-centred: a flat D is not penalised.
  assert float(losses.r1_penalty(jnp.zeros((3, 2)), 3)) == 0.0
