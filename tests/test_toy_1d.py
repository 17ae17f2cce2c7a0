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
  """One short run shared by the tests: trained, told, measured, written."""
  # notebooks/toy_1d.ipynb runs in the suite with the same steps, snapshots
  # and batch (tests/test_notebooks.py): change them together.
  config = toy_configs.get_config()
  config.num_train_steps = 400
  config.num_snapshots = 4
  config.batch_size = 128
  config.panel_steps = (0, 100, 200, -1)
  config.figure.shifted_steps = 20
  config.figure.partial_d_steps = 2
  config.figure.inner_steps = 60
  config.figure.inner_batch_size = 128
  config.figure.g_steps = 5
  workdir = str(tmp_path_factory.mktemp('toy_1d'))
  measured = toy_1d.measure(config)
  toy_1d.write(config, workdir, measured)
  return config, workdir, measured


def test_run_writes_figures_and_summary(short_run):
  _, workdir, measured = short_run
  summary = measured['summary']
  assert sorted(os.listdir(workdir)) == ['figure_1.png', 'summary.json',
                                         'training_curves.png',
                                         'training_snapshots.png']
  with open(os.path.join(workdir, 'summary.json')) as f:
    assert json.load(f) == summary
  for key in ('jsd', 'max_abs_d_minus_half', 'value', 'value_minus_neg_log4',
              'wall_time_s'):
    assert np.isfinite(summary[key]), key
  for key, value in summary['figure_1'].items():
    assert np.isfinite(value), key
  assert summary['step'] == 400 and summary['g_monotone']
  assert summary['value_minus_neg_log4'] == pytest.approx(
      summary['value'] + np.log(4.0))


def test_training_moves_p_g_towards_p_data(short_run):
  _, _, measured = short_run
  analysis, history = measured['analysis'], measured['history']
  assert list(analysis['step']) == [0, 100, 200, 300, 400]
  assert analysis['jsd'][-1] < 0.5 * analysis['jsd'][0]
  # Proposition 1: no learned D beats D* on the exact densities.
  assert np.all(analysis['value'] <= analysis['value_optimal'] + 1e-5)
  assert len(history['d_loss']) == 400
  # Once G has moved onto the plotted range, the exact p_g integrates to 1
  # there (the initial G may put mass beyond the grid).
  np.testing.assert_allclose(analysis['p_g_mass_on_grid'][1:], 1.0, atol=2e-3)


def test_figure_story_follows_the_paper(short_run):
  """(a) G off, D partly trained; (b) the inner loop brings D to D*; (c) G's
  updates against that D bring p_g closer to p_data."""
  _, _, measured = short_run
  story, summary = measured['story'], measured['summary']['figure_1']
  a, b, c = (toy_1d.STORY.index(name) for name in 'abc')
  # (a) and (b) share G; the shift leaves it visibly off the data.
  np.testing.assert_array_equal(story['g_of_z'][a], story['g_of_z'][b])
  assert story['jsd'][a] > 0.05
  # (b): D much closer to D* than (a)'s D, over the data's bulk.
  assert summary['b_max_abs_d_minus_d_star'] < 0.5 * summary[
      'a_max_abs_d_minus_d_star']
  assert summary['b_max_abs_d_minus_d_star'] == pytest.approx(
      story['max_abs_d_minus_d_star'][b])
  # (c): the same D, G moved towards the data: G(z) decreased everywhere
  # (the data lie left of the shifted G), and the JSD fell.
  np.testing.assert_array_equal(story['d'][b], story['d'][c])
  assert np.all(story['g_of_z'][c] < story['g_of_z'][b])
  assert summary['c_jsd_after'] < 0.8 * summary['c_jsd_before']


@pytest.mark.parametrize('field,value,message', [
    ('shift', 0.0, 'config.figure.shift must be a finite non-zero'),
    ('shifted_steps', 0, 'config.figure.shifted_steps must be a positive'),
    ('inner_steps', -3, 'config.figure.inner_steps must be a positive'),
    ('inner_batch_size', 0, 'config.figure.inner_batch_size must be a '),
    ('g_steps', 0, 'config.figure.g_steps must be a positive'),
    ('partial_d_steps', 500, r'config.figure.partial_d_steps must be an '
     r'integer in \[0, figure.inner_steps\)'),
    ('partial_d_steps', -1, 'config.figure.partial_d_steps'),
    ('inner_lr', 0.0, 'config.figure.inner_lr must be positive'),
    ('g_lr', -1e-2, 'config.figure.g_lr must be positive'),
])
def test_bad_figure_config_named(field, value, message):
  config = toy_configs.get_config()
  with config.unlocked():
    config.figure[field] = value
  with pytest.raises(errors.ConfigError, match=message):
    toy_1d.validate(config)


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
  with pytest.raises(ValueError, match="unknown preset 'ring'.*'gaussian', "
                     "'mixture'"):
    toy_configs.get_config('ring')


def test_presets_described_and_the_first_is_the_default():
  assert list(toy_configs.PRESETS)[0] == 'gaussian'
  assert all(toy_configs.PRESETS.values())
  for preset in toy_configs.PRESETS:
    toy_1d.validate(toy_configs.get_config(preset))
  assert toy_configs.get_config() == toy_configs.get_config('gaussian')
