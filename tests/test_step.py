import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import losses
from gan_jax.core import loop, optim
from gan_jax.families.dcgan import models, step
from gan_jax.nn import latent

Z_DIM, SIZE, BATCH = 8, 32, 16


@pytest.fixture(scope='module')
def parts():
  opt = optim.optimizer_config(lr=2e-4)
  g = models.Generator(SIZE, 1, base_width=4)
  d = models.Discriminator(SIZE, base_width=4)
  tx = optim.make_optimizer(opt)
  # Compiled whole, not op by op.
  state = jax.jit(lambda key: step.create_train_state(
      key, g, d, tx, tx, Z_DIM, (SIZE, SIZE, 1)))(jax.random.PRNGKey(0))
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
    state, metrics = train_step(state, {'image': jnp.stack([real] * k)})
  assert int(state.step) == 2
  assert _adam_count(state.players['d'].opt_state) == 2 * k
  assert _adam_count(state.players['g'].opt_state) == 2
  assert set(metrics) == {'d_loss', 'g_loss', 'd_real', 'd_fake'}
  assert all(np.isfinite(float(v)) for v in metrics.values())


def test_d_steps_raise_discriminator_accuracy(parts):
  g, d, state, train_step, real = parts
  z = latent.sample_latent(jax.random.PRNGKey(7), BATCH, Z_DIM, 'uniform')
  fake = jax.jit(functools.partial(g.apply, train=True, mutable=[
      'batch_stats']))({'params': state.players['g'].params,
                        'batch_stats': state.players['g'].batch_stats}, z)[0]

  @jax.jit
  def accuracy_and_loss(d_params, d_stats):
    apply = lambda x: d.apply({'params': d_params, 'batch_stats': d_stats}, x,
                              train=True, mutable=['batch_stats'])[0]
    real_logits = apply(step.to_model_range(real))
    fake_logits = apply(fake)
    accuracy = (jnp.mean(real_logits > 0) + jnp.mean(fake_logits < 0)) / 2
    return accuracy, losses.discriminator_loss(real_logits, fake_logits)

  acc_before, loss_before = accuracy_and_loss(state.players['d'].params,
                                              state.players['d'].batch_stats)
  new_state, _ = train_step(state, {'image': real[None]})
  _, loss_after_one = accuracy_and_loss(new_state.players['d'].params,
                                        new_state.players['d'].batch_stats)
  assert float(loss_after_one) < float(loss_before)
  for _ in range(4):
    new_state, _ = train_step(new_state, {'image': real[None]})
  acc_after, _ = accuracy_and_loss(new_state.players['d'].params,
                                   new_state.players['d'].batch_stats)
  assert float(acc_after) > float(acc_before)


def test_step_is_deterministic_and_consumes_the_key(parts):
  _, _, state, train_step, real = parts
  a, _ = train_step(state, {'image': real[None]})
  b, _ = train_step(state, {'image': real[None]})
  assert all(jax.tree.leaves(jax.tree.map(np.array_equal, a, b)))
  assert not np.array_equal(a.rng, state.rng)


def test_uint8_scaled_to_tanh_range():
  pixels = jnp.array([0, 255], jnp.uint8)
  np.testing.assert_allclose(step.to_model_range(pixels), [-1.0, 1.0])


def test_unknown_loss_rejected(parts):
  g, d, _, _, _ = parts
  with pytest.raises(ValueError, match='loss'):
    step.make_train_step(g, d, None, None, loss='bogus', z_dim=Z_DIM,
                         z_distribution='uniform')


def test_reuse_fake_and_r1_are_the_update_written_out(parts):
  """reuse_fake + R1, against the update written out by hand.

  pytorch/examples style: one fake batch G(z) (z from G's key) serves D's
  update and G's. D descends -V(real, G(z)) + gamma/2 E||grad_x logit||^2
  (R1 on the real batch); G descends its loss on the same G(z) through the
  updated D. Gradients are compared through Adam's first moments.
  """
  g, d, state, fresh_step, real = parts
  gamma = 10.0
  tx = optim.make_optimizer(optim.optimizer_config(lr=2e-4))
  new_state, metrics = jax.jit(step.make_train_step(
      g, d, tx, tx, loss='non_saturating', z_dim=Z_DIM,
      z_distribution='uniform', reuse_fake=True, r1_gamma=gamma))(
          state, {'image': real[None]})

  _, g_key, _ = jax.random.split(state.rng, 3)
  z = latent.sample_latent(g_key, BATCH, Z_DIM, 'uniform')
  run_g = lambda params: g.apply(
      {'params': params, 'batch_stats': state.players['g'].batch_stats}, z, train=True,
      mutable=['batch_stats'])
  run_d = lambda params, stats, x: d.apply(
      {'params': params, 'batch_stats': stats}, x, train=True,
      mutable=['batch_stats'])
  fake, g_vars = jax.jit(run_g)(state.players['g'].params)
  real_images = step.to_model_range(real)

  @jax.jit
  def reference(d_params, g_params):
    def d_objective(params):
      real_grads = jax.grad(lambda x: jnp.sum(
          run_d(params, state.players['d'].batch_stats, x)[0]))(real_images)
      penalty = jnp.sum(real_grads ** 2) / BATCH
      real_logits, d_vars = run_d(params, state.players['d'].batch_stats, real_images)
      fake_logits, d_vars = run_d(params, d_vars['batch_stats'], fake)
      game = losses.discriminator_loss(real_logits, fake_logits)
      return game + gamma / 2 * penalty, (game, penalty, d_vars)

    (_, (game, penalty, d_vars)), d_grads = jax.value_and_grad(
        d_objective, has_aux=True)(d_params)
    d_updates, d_opt = tx.update(d_grads, state.players['d'].opt_state, d_params)
    new_d_params = optax.apply_updates(d_params, d_updates)
    g_grads = jax.grad(lambda p: losses.generator_loss(
        run_d(new_d_params, d_vars['batch_stats'], run_g(p)[0])[0],
        'non_saturating'))(g_params)
    _, g_opt = tx.update(g_grads, state.players['g'].opt_state, g_params)
    return game, penalty, d_opt, g_opt

  game, penalty, want_d_opt, want_g_opt = reference(state.players['d'].params,
                                                    state.players['g'].params)

  def assert_close(got, want):
    scale = max(float(jnp.max(jnp.abs(w))) for w in jax.tree.leaves(want))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(
        a, b, rtol=1e-4, atol=1e-5 * scale), got, want)

  np.testing.assert_allclose(metrics['d_loss'], game, rtol=1e-5)
  np.testing.assert_allclose(metrics['r1_penalty'], penalty, rtol=1e-4)
  assert float(penalty) > 0
  assert_close(new_state.players['d'].opt_state[0].mu, want_d_opt[0].mu)
  assert_close(new_state.players['g'].opt_state[0].mu, want_g_opt[0].mu)
  assert_close(new_state.players['g'].batch_stats, g_vars['batch_stats'])
  # Algorithm 1's fresh noise for G is a different update.
  fresh_state, fresh_metrics = fresh_step(state, {'image': real[None]})
  assert 'r1_penalty' not in fresh_metrics
  assert not np.allclose(
      jax.tree.leaves(fresh_state.players['g'].opt_state[0].mu)[0],
      jax.tree.leaves(new_state.players['g'].opt_state[0].mu)[0])


def test_simultaneous_update_judges_g_by_the_d_before_the_step(parts):
  """PacGAN's released update: G's gradient does not see D's step."""
  g, d, state, _, real = parts

  def one_step(simultaneous, d_lr):
    g_tx = optim.make_optimizer(optim.optimizer_config(lr=2e-4))
    d_tx = optim.make_optimizer(optim.optimizer_config(lr=d_lr))
    return jax.jit(step.make_train_step(
        g, d, g_tx, d_tx, loss='non_saturating', z_dim=Z_DIM,
        z_distribution='uniform', reuse_fake=True,
        simultaneous=simultaneous))(state, {'image': real[None]})[0]

  simultaneous = one_step(True, 1e-2)
  alternating = one_step(False, 1e-2)
  d_still = one_step(False, 0.0)  # alternating against a D that did not move
  # Both orders move D alike; only simultaneous G ignores where D went.
  jax.tree.map(np.testing.assert_array_equal, simultaneous.players['d'].params,
               alternating.players['d'].params)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-6,
                                 atol=1e-9),
               simultaneous.players['g'].params, d_still.players['g'].params)
  assert not np.allclose(
      jax.tree.leaves(simultaneous.players['g'].opt_state[0].mu)[0],
      jax.tree.leaves(alternating.players['g'].opt_state[0].mu)[0])
  with pytest.raises(ValueError, match='k = 1 D step, got 2'):
    step.make_train_step(g, d, None, None, loss='non_saturating', z_dim=Z_DIM,
                         z_distribution='uniform', simultaneous=True)(
                             state, {'image': jnp.stack([real, real])})


def test_wgan_gp_with_spectral_and_layer_norm_and_g_average(tiny_config,
                                                            tmp_path):
  """The options beyond the paper, together through the loop: a Wasserstein
  critic with the gradient penalty, layer norm and spectral norm, G's weight
  average and the linear-decay schedule."""
  config = tiny_config
  config.loss, config.gp_weight = 'wasserstein', 10.0
  config.model.d_norm, config.model.spectral_norm = 'layer', True
  config.g_ema_decay = 0.9
  config.optimizer.schedule = 'linear_decay'
  config.num_train_steps = 2
  summary = loop.train(config, str(tmp_path))
  assert summary['gradient_penalty'] > 0 and np.isfinite(summary['d_loss'])
  _, state, _ = loop.restore_trained(config, str(tmp_path))
  d_stats = jax.tree_util.tree_flatten_with_path(
      state.players['d'].batch_stats)[0]
  names = [jax.tree_util.keystr(path) for path, _ in d_stats]
  assert names and all('SpectralNorm' in n for n in names)  # no batch norm
  assert any(n.endswith("/kernel/u']") for n in names)
  g = state.players['g']
  assert jax.tree.structure(g.ema) == jax.tree.structure(g.params)
  assert not np.allclose(jax.tree.leaves(g.ema)[0],
                         jax.tree.leaves(g.params)[0])
