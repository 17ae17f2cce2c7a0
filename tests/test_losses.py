import jax
import jax.flatten_util
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
    losses.generator_loss(jnp.zeros(2), 'bogus')
  with pytest.raises(ValueError, match='loss'):
    losses.discriminator_loss(jnp.zeros(2), jnp.zeros(2), 'bogus')


def test_loss_lists():
  assert losses.LOSSES == ('minimax', 'non_saturating', 'hinge', 'wasserstein',
                           'least_squares')
  assert losses.PROBABILITY_LOSSES == ('minimax', 'non_saturating')
  for kind in losses.LOSSES:  # every listed kind is implemented on both sides
    losses.discriminator_loss(jnp.zeros(2), jnp.zeros(2), kind)
    losses.generator_loss(jnp.zeros(2), kind)


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


# Small explicit D outputs, and their losses computed by hand in float64.
_REAL = np.array([2.0, -1.0, 0.5])
_FAKE = np.array([0.5, -3.0, 1.5, 0.0])


def _sigmoid(l):
  return 1 / (1 + np.exp(-l))


_D_LOSSES = {
    'minimax': -(np.mean(np.log(_sigmoid(_REAL)))
                 + np.mean(np.log(1 - _sigmoid(_FAKE)))),
    'non_saturating': -(np.mean(np.log(_sigmoid(_REAL)))
                        + np.mean(np.log(1 - _sigmoid(_FAKE)))),
    # mean(relu(1 - [2, -1, .5])) = (0 + 2 + .5) / 3;
    # mean(relu(1 + [.5, -3, 1.5, 0])) = (1.5 + 0 + 2.5 + 1) / 4.
    'hinge': 2.5 / 3 + 5.0 / 4,
    'wasserstein': np.mean(_FAKE) - np.mean(_REAL),
    # ((1 + 4 + .25) / 3 + (.25 + 9 + 2.25 + 0) / 4) / 2.
    'least_squares': 0.5 * (5.25 / 3 + 11.5 / 4),
}
_G_LOSSES = {
    'minimax': np.mean(np.log(1 - _sigmoid(_FAKE))),
    'non_saturating': -np.mean(np.log(_sigmoid(_FAKE))),
    'hinge': -np.mean(_FAKE),
    'wasserstein': -np.mean(_FAKE),
    # (.25 + 16 + .25 + 1) / 4, not halved (the pix2pix/CycleGAN code's MSE).
    'least_squares': 17.5 / 4,
}


@pytest.mark.parametrize('kind', sorted(_D_LOSSES))
def test_discriminator_loss_by_hand(kind):
  got = losses.discriminator_loss(jnp.asarray(_REAL, jnp.float32),
                                  jnp.asarray(_FAKE, jnp.float32), kind)
  assert float(got) == pytest.approx(_D_LOSSES[kind], rel=1e-6, abs=1e-7)


@pytest.mark.parametrize('kind', sorted(_G_LOSSES))
def test_generator_loss_by_hand(kind):
  got = losses.generator_loss(jnp.asarray(_FAKE, jnp.float32), kind)
  assert float(got) == pytest.approx(_G_LOSSES[kind], rel=1e-6, abs=1e-7)


def test_probability_losses_d_side_is_exactly_minus_v():
  # Bit for bit: existing runs' results depend on it.
  real, fake = jnp.array([2.0, -1.0, 0.5]), jnp.array([0.5, -3.0, 1.5, 0.0])
  minus_v = -losses.value_function(real, fake)
  for d_loss in (losses.discriminator_loss(real, fake),
                 losses.discriminator_loss(real, fake, 'minimax'),
                 losses.discriminator_loss(real, fake, 'non_saturating')):
    assert np.asarray(d_loss).tobytes() == np.asarray(minus_v).tobytes()


def _linear_critic(w):
  return lambda x: x.reshape(x.shape[0], -1) @ w.reshape(-1)


def test_gradient_penalty_of_linear_critic_is_norm_of_w_minus_1_squared():
  # grad_x <w, x> = w at every x_hat, whatever eps: the norm is over all of
  # an example's axes (here 2 x 3), the same for each example.
  w = jnp.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
  expected = (float(jnp.linalg.norm(w)) - 1.0) ** 2
  k_real, k_fake = jax.random.split(jax.random.PRNGKey(0))
  real = jax.random.normal(k_real, (5, 2, 3))
  fake = jax.random.normal(k_fake, (5, 2, 3))
  for seed in range(3):
    penalty = losses.gradient_penalty(_linear_critic(w), real, fake,
                                      jax.random.PRNGKey(seed))
    assert float(penalty) == pytest.approx(expected, rel=1e-5)
  # A 1-Lipschitz slope is not penalised.
  unit = w / jnp.linalg.norm(w)
  assert float(losses.gradient_penalty(
      _linear_critic(unit), real, fake, jax.random.PRNGKey(0))) == (
          pytest.approx(0.0, abs=1e-10))


def test_gradient_penalty_is_the_mean_over_examples_of_per_example_norms():
  # f(x) = ||x||^2 / 2 has gradient x; with real = fake, x_hat = real for any
  # eps, so the penalty is mean_i (||real_i|| - 1)^2.
  real = jnp.array([[[3.0, 4.0]], [[0.0, 0.5]], [[1.0, 0.0]]])  # (3, 1, 2)
  critic = lambda x: 0.5 * jnp.sum(jnp.square(x), axis=(1, 2))
  penalty = losses.gradient_penalty(critic, real, real, jax.random.PRNGKey(0))
  assert float(penalty) == pytest.approx(np.mean([16.0, 0.25, 0.0]), rel=1e-5)


def test_gradient_penalty_aux_and_interpolation():
  # The critic hands back its input as aux: x_hat = eps * 1 + (1 - eps) * 0.
  n = 2000
  real, fake = jnp.ones((n, 2, 3)), jnp.zeros((n, 2, 3))
  critic = lambda x: (jnp.zeros(x.shape[0]) + 0.0 * jnp.sum(x, (1, 2)), x)
  penalty, x_hat = losses.gradient_penalty(critic, real, fake,
                                           jax.random.PRNGKey(1), has_aux=True)
  x_hat = np.asarray(x_hat)
  assert x_hat.shape == (n, 2, 3)
  eps = x_hat[:, 0, 0]
  # One eps per example, shared by all of its elements ...
  np.testing.assert_array_equal(x_hat, np.broadcast_to(eps[:, None, None],
                                                       x_hat.shape))
  # ... drawn from U[0, 1]: mean 1/2, variance 1/12.
  assert eps.min() >= 0.0 and eps.max() <= 1.0
  assert eps.mean() == pytest.approx(0.5, abs=0.03)
  assert eps.var() == pytest.approx(1 / 12, abs=0.01)
  # A flat critic: the gradient is zero, its norm ~0, the penalty ~1.
  assert float(penalty) == pytest.approx(1.0, abs=1e-5)


def test_gradient_penalty_differentiable_at_zero_gradient():
  # D = <w, x> with w = 0: the norm's sqrt is at 0, where d sqrt is infinite.
  real = jnp.ones((4, 3))
  grad = jax.grad(lambda w: losses.gradient_penalty(
      _linear_critic(w), real, -real, jax.random.PRNGKey(0)))(jnp.zeros(3))
  assert np.all(np.isfinite(np.asarray(grad)))


def test_gradient_penalty_parameter_gradient_matches_finite_differences():
  # Double backprop: d/d params of a penalty on d critic / d x.
  with jax.enable_x64(True):
    k_w, k_v, k_real, k_fake = jax.random.split(jax.random.PRNGKey(3), 4)
    params = {'w': jax.random.normal(k_w, (4, 5), jnp.float64),
              'v': jax.random.normal(k_v, (5,), jnp.float64)}
    real = jax.random.normal(k_real, (3, 2, 2), jnp.float64)
    fake = jax.random.normal(k_fake, (3, 2, 2), jnp.float64)
    key = jax.random.PRNGKey(7)

    def penalty(p):
      critic = lambda x: jnp.tanh(x.reshape(x.shape[0], -1) @ p['w']) @ p['v']
      return losses.gradient_penalty(critic, real, fake, key)

    penalty = jax.jit(penalty)
    grads = jax.grad(penalty)(params)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    assert flat.dtype == jnp.float64
    h = 1e-6
    numeric = np.array([
        (float(penalty(unravel(flat.at[i].add(h))))
         - float(penalty(unravel(flat.at[i].add(-h))))) / (2 * h)
        for i in range(flat.size)])
    analytic = np.asarray(jax.flatten_util.ravel_pytree(grads)[0])
    assert np.abs(analytic).max() > 1e-3  # a non-trivial gradient
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
  assert jnp.zeros(1).dtype == jnp.float32  # x64 is off again


def test_l1_is_the_mean_absolute_error():
  prediction = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.25]])
  target = np.array([[1.0, -1.0, -1.0], [0.5, 2.0, 0.25]])
  got = losses.l1(jnp.asarray(prediction), jnp.asarray(target))
  # |.5-1| + 0 + 3 + .5 + 1 + .5 = 5.5 over 6 elements.
  assert float(got) == pytest.approx(5.5 / 6, rel=1e-6)
  assert float(got) == pytest.approx(np.mean(np.abs(prediction - target)),
                                     rel=1e-6)
