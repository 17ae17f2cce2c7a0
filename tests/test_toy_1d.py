import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toy_1d as toy_configs  # configs/toy_1d.py
from gan_jax.core import errors
from gan_jax.toy import mlp, toy_1d


@pytest.fixture(scope='module')
def short_run(tmp_path_factory):
  config = toy_configs.get_config()
  config.num_train_steps = 400
  config.num_snapshots = 4
  config.batch_size = 128
  config.panel_steps = (0, 100, 200, -1)
  workdir = str(tmp_path_factory.mktemp('toy_1d'))
  return config, workdir, toy_1d.run(config, workdir)


def test_run_writes_figure_and_summary(short_run):
  _, workdir, summary = short_run
  assert sorted(os.listdir(workdir)) == ['figure_1.png', 'summary.json',
                                         'training_curves.png']
  with open(os.path.join(workdir, 'summary.json')) as f:
    assert json.load(f) == summary
  for key in ('jsd', 'max_abs_d_minus_half', 'value', 'value_minus_neg_log4',
              'wall_time_s'):
    assert np.isfinite(summary[key]), key
  assert summary['step'] == 400 and summary['g_monotone']
  assert summary['value_minus_neg_log4'] == pytest.approx(
      summary['value'] + np.log(4.0))


def test_training_moves_p_g_towards_p_data(short_run):
  config, _, _ = short_run
  snapshots, history = toy_1d.train(config)
  analysis = toy_1d.analyse(config, snapshots)
  assert list(analysis['step']) == [0, 100, 200, 300, 400]
  assert analysis['jsd'][-1] < 0.5 * analysis['jsd'][0]
  # Proposition 1: no learned D beats D* on the exact densities.
  assert np.all(analysis['value'] <= analysis['value_optimal'] + 1e-5)
  assert len(history['d_loss']) == 400
  # Once G has moved onto the plotted range, the exact p_g integrates to 1
  # there (the initial G may put mass beyond the grid).
  np.testing.assert_allclose(analysis['p_g_mass_on_grid'][1:], 1.0, atol=2e-3)


def test_monotone_generator_is_increasing():
  module = mlp.MonotoneMLP((8,))
  params = module.init(jax.random.PRNGKey(0), jnp.zeros((2, 1)))['params']
  z = jnp.linspace(-1, 1, 1001)[:, None]
  x = module.apply({'params': params}, z)[:, 0]
  assert bool(jnp.all(jnp.diff(x) > 0))


def test_mixture_samples_and_density():
  config = toy_configs.get_config('mixture')
  data = toy_1d.Mixture1D.from_config(config.data)
  samples = data.sample(jax.random.PRNGKey(0), (200_000,))
  assert float(jnp.mean(samples < 0.75)) == pytest.approx(0.5, abs=0.01)
  x = jnp.linspace(-6, 8, 5001)
  assert float(jnp.trapezoid(data.pdf(x), x)) == pytest.approx(1.0, abs=1e-5)


def test_bad_mixture_named():
  config = toy_configs.get_config()
  config.data.stds = (0.5, 0.2)
  with pytest.raises(errors.ConfigError, match='data.means, data.stds'):
    toy_1d.Mixture1D.from_config(config.data)


def test_bad_activation_named():
  config = toy_configs.get_config()
  config.model.d_activation = 'swish'
  with pytest.raises(errors.ConfigError, match='config.model.d_activation'):
    toy_1d.build_players(config)


def test_unknown_preset():
  with pytest.raises(ValueError, match="unknown preset 'ring'"):
    toy_configs.get_config('ring')
