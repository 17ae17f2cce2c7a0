import json
import os
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toy_2d as toy_2d_configs  # configs/toy_2d.py
from gan_jax.core import errors
from gan_jax.toy import mlp, toy_2d

from test_reliability import assert_no_thread_left  # pylint: disable=g-bad-import-order


@pytest.mark.parametrize('make,num_modes,sigma', [
    (toy_2d.ring, 8, 0.01), (toy_2d.grid, 25, 0.05)])
def test_mixtures_and_their_samples(make, num_modes, sigma):
  mixture = make()
  assert mixture.means.shape == (num_modes, 2) and mixture.sigma == sigma
  samples = mixture.sample(jax.random.PRNGKey(0), 4000)
  metrics = toy_2d.mode_metrics(samples, mixture)
  # Real data: every mode, ~98.9% within 3 sigma (chi with 2 dof), KL ~ 0.
  assert float(metrics['modes']) == num_modes
  assert 0.98 < float(metrics['hq']) < 0.995
  assert float(metrics['rev_kl']) < 0.01


def test_metrics_on_constructed_samples():
  ring = toy_2d.ring()
  means = jnp.asarray(ring.means, jnp.float32)
  every = toy_2d.mode_metrics(jnp.repeat(means, 10, axis=0), ring)
  assert (float(every['modes']), float(every['hq'])) == (8.0, 1.0)
  assert float(every['rev_kl']) == pytest.approx(0.0, abs=1e-6)
  one = toy_2d.mode_metrics(jnp.repeat(means[:1], 10, axis=0), ring)
  assert float(one['modes']) == 1.0
  assert float(one['rev_kl']) == pytest.approx(np.log(8), rel=1e-6)
  # 2.9 sigma away counts as high quality, 3.1 sigma does not.
  offsets = jnp.array([[2.9 * ring.sigma, 0.0], [3.1 * ring.sigma, 0.0]])
  edge = toy_2d.mode_metrics(means[:2] + offsets, ring)
  assert (float(edge['modes']), float(edge['hq'])) == (1.0, 0.5)
  nowhere = toy_2d.mode_metrics(jnp.zeros((5, 2)), ring)
  assert (float(nowhere['modes']), float(nowhere['hq'])) == (0.0, 0.0)
  assert float(nowhere['rev_kl']) == pytest.approx(np.log(8), rel=1e-6)


def test_packing_discriminator_judges_concatenated_samples():
  packed = mlp.MaxoutMLP((8,), pieces=3, pack=2)
  plain = mlp.MaxoutMLP((8,), pieces=3, pack=1)
  x = jax.random.normal(jax.random.PRNGKey(0), (6, 2))
  params = packed.init(jax.random.PRNGKey(1), x)
  logits = packed.apply(params, x)
  assert logits.shape == (3,)
  np.testing.assert_allclose(logits, plain.apply(params, x.reshape(3, 4)),
                             rtol=1e-6)
  with pytest.raises(ValueError, match='packs of 2'):
    packed.apply(params, x[:5])


def test_maxout_takes_the_largest_piece_and_routes_its_gradient():
  # Against the textbook maxout (Goodfellow et al. 2013): max over pieces.
  maxout = mlp.MaxoutMLP((8, 8), pieces=5)
  x = jax.random.normal(jax.random.PRNGKey(0), (16, 2))
  params = jax.jit(maxout.init)(jax.random.PRNGKey(1), x)

  def reference(params, x):
    p = params['params']
    for layer in ('Dense_0', 'Dense_1'):
      h = x @ p[layer]['kernel'] + p[layer]['bias']
      x = h.reshape(len(x), 8, 5).max(axis=-1)
    return (x @ p['Dense_2']['kernel'] + p['Dense_2']['bias'])[:, 0]

  # Each side compiled whole (not op by op): the same operations in the
  # same order, so the same numbers.
  np.testing.assert_array_equal(jax.jit(maxout.apply)(params, x),
                                jax.jit(reference)(params, x))
  loss = lambda f: lambda params: jnp.sum(jnp.tanh(f(params, x)))
  got = jax.jit(jax.grad(loss(maxout.apply)))(params)
  want = jax.jit(jax.grad(loss(reference)))(params)
  jax.tree.map(np.testing.assert_array_equal, got, want)


def _tiny_config():
  # notebooks/toy_2d.ipynb runs in the suite with these settings
  # (tests/test_notebooks.py): change them together.
  config = toy_2d_configs.get_config()
  config.model.g_hidden = (16, 16)
  config.model.d_hidden = (16,)
  config.batch_size = 20
  config.num_train_steps = 30
  config.num_seeds = 3
  config.eval_num_samples = 200
  config.figure_seeds = 2
  return config


@pytest.fixture
def tiny_config():
  return _tiny_config()


@pytest.fixture(scope='module')
def one_plain_seed():
  """(config, results): one seed of 'gan' with a plain (batch-norm free) G,
  trained once: the baseline its variants below are compared with."""
  config = _tiny_config()
  config.num_seeds = 1
  config.model.g_batch_norm = False
  return config, toy_2d.train_seeds(config, 'gan', toy_2d.ring())


def test_all_methods_table_and_summary(tiny_config, tmp_path):
  tiny_config.method = 'all'
  summary = toy_2d.run(tiny_config, str(tmp_path))
  assert list(summary['methods']) == list(toy_2d.METHODS)
  for method, stats in summary['methods'].items():
    assert stats['num_seeds'] == 3 and stats['pack'] == toy_2d.METHODS[method][0]
    assert 0 <= stats['modes_mean'] <= 8 and 0 <= stats['hq_mean'] <= 100
  with open(tmp_path / 'summary.json') as f:
    assert json.load(f)['methods'].keys() == summary['methods'].keys()
  table = (tmp_path / 'table.md').read_text()
  assert '| recipe (ours) |' in table and '| gan (PacGAN Table 1) | 6.3 ± 0.5' in table
  assert os.path.getsize(tmp_path / 'samples.png') > 0
  assert os.path.getsize(tmp_path / 'trajectory.png') > 0
  for method, stats in summary['methods'].items():  # uncut: one evaluation
    assert [entry['step'] for entry in stats['trajectory']] == [30]
    assert stats['trajectory'][0]['hq_mean'] == stats['hq_mean']
    assert not (tmp_path / method).exists()  # nothing to resume: no save


def test_one_method_summary_has_the_required_fields(tiny_config, tmp_path):
  tiny_config.method = 'pacgan3'
  summary = toy_2d.run(tiny_config, str(tmp_path))
  for field in ('modes_mean', 'modes_se', 'hq_mean', 'hq_se', 'rev_kl_mean',
                'rev_kl_se', 'num_seeds', 'wall_time_s'):
    assert field in summary
  # vmap over seeds: the seeds are different runs.
  results = toy_2d.train_seeds(tiny_config, 'gan', toy_2d.ring())
  assert results['samples'].shape == (3, 200, 2)
  assert not np.allclose(results['samples'][0], results['samples'][1])


def test_bad_method_and_mixture(tiny_config, tmp_path):
  tiny_config.method = 'wgan'
  with pytest.raises(errors.ConfigError, match='config.method'):
    toy_2d.run(tiny_config, str(tmp_path))
  tiny_config.method = 'gan'
  tiny_config.data.mixture = 'spiral'
  with pytest.raises(errors.ConfigError, match='config.data.mixture'):
    toy_2d.run(tiny_config, str(tmp_path))


def test_method_lists():
  assert toy_2d.parse_methods('all') == list(toy_2d.METHODS)
  assert toy_2d.parse_methods('pacgan4, gan') == ['pacgan4', 'gan']  # order kept
  with pytest.raises(errors.ConfigError, match="list of them, or 'all'; "
                     "got 'gan,wgan'"):
    toy_2d.parse_methods('gan,wgan')
  with pytest.raises(errors.ConfigError, match='got '):
    toy_2d.parse_methods('gan,')
  with pytest.raises(errors.ConfigError, match='names a method twice'):
    toy_2d.parse_methods('gan,pacgan2,gan')


def test_recipe_settings_replace_the_config_and_bad_fields_are_named(
    tiny_config):
  config, pack = toy_2d.method_config(tiny_config, 'recipe')
  assert pack == 2
  for field, value in toy_2d.RECIPE.items():
    section, _, name = field.rpartition('.')
    assert (config[section] if section else config)[name] == value
  assert tiny_config.optimizer.b1 == 0.8  # the caller's config is untouched
  tiny_config.model.g_activation = 'swish'
  with pytest.raises(errors.ConfigError, match='model.g_activation'):
    toy_2d.method_config(tiny_config, 'recipe')
  tiny_config.model.g_activation = 'relu'
  tiny_config.r1_gamma = -0.1
  with pytest.raises(errors.ConfigError, match='r1_gamma'):
    toy_2d.method_config(tiny_config, 'gan')
  tiny_config.r1_gamma = 0.0
  tiny_config.g_ema_decay = 1.0
  with pytest.raises(errors.ConfigError, match='g_ema_decay'):
    toy_2d.method_config(tiny_config, 'gan')
  tiny_config.g_ema_decay = 0.0
  tiny_config.d_steps = 0
  with pytest.raises(errors.ConfigError, match='d_steps'):
    toy_2d.method_config(tiny_config, 'gan')
  tiny_config.d_steps, tiny_config.simultaneous_updates = 2, True
  with pytest.raises(errors.ConfigError, match='simultaneous_updates '
                     'takes config.d_steps = 1, got 2'):
    toy_2d.method_config(tiny_config, 'gan')


def test_evaluation_uses_the_weight_average_when_asked(one_plain_seed):
  config, baseline = one_plain_seed
  config = config.copy_and_resolve_references()
  # A vanishing decay makes the average the last weights...
  config.g_ema_decay = 1e-12
  same = toy_2d.train_seeds(config, 'gan', toy_2d.ring())['samples']
  np.testing.assert_allclose(same, baseline['samples'], rtol=1e-5, atol=1e-6)
  # ...and a real one draws from other weights after the very same training.
  config.g_ema_decay = 0.9
  averaged = toy_2d.train_seeds(config, 'gan', toy_2d.ring())
  assert not np.allclose(averaged['samples'], baseline['samples'], atol=1e-4)
  np.testing.assert_array_equal(averaged['d_loss'], baseline['d_loss'])


def test_batch_phases_and_their_bad_values(tiny_config):
  assert toy_2d.batch_phases(tiny_config) == [(30, 20)]
  tiny_config.late_batch_steps = 10  # without a late batch size: no phase
  assert toy_2d.batch_phases(tiny_config) == [(30, 20)]
  tiny_config.late_batch_size = 80
  assert toy_2d.batch_phases(tiny_config) == [(20, 20), (10, 80)]
  tiny_config.late_batch_steps = 30
  assert toy_2d.batch_phases(tiny_config) == [(30, 80)]
  tiny_config.late_batch_steps = 31
  with pytest.raises(errors.ConfigError,
                     match=r'late_batch_steps must be .* got 31'):
    toy_2d.method_config(tiny_config, 'gan')
  tiny_config.late_batch_steps = 10
  tiny_config.late_batch_size = -1
  with pytest.raises(errors.ConfigError,
                     match='late_batch_size must be non-negative, got -1'):
    toy_2d.method_config(tiny_config, 'gan')


def test_a_late_phase_of_the_same_batch_changes_nothing(one_plain_seed):
  config, baseline = one_plain_seed
  config = config.copy_and_resolve_references()
  # Two scans over the same keys and shapes are the one scan, split...
  config.late_batch_size, config.late_batch_steps = 20, 10
  split = toy_2d.train_seeds(config, 'gan', toy_2d.ring())
  np.testing.assert_allclose(split['samples'], baseline['samples'], rtol=1e-5,
                             atol=1e-6)
  # ...and a bigger late batch trains on other data.
  config.late_batch_size = 40
  bigger = toy_2d.train_seeds(config, 'gan', toy_2d.ring())
  assert not np.allclose(bigger['samples'], baseline['samples'], atol=1e-4)


def test_segments_cut_the_phases_at_every_evaluation(tiny_config):
  assert toy_2d.segments(tiny_config) == [[(30, 20)]]  # one compiled call
  tiny_config.late_batch_size, tiny_config.late_batch_steps = 80, 10
  assert toy_2d.segments(tiny_config) == [[(20, 20), (10, 80)]]
  tiny_config.eval_every_steps = 15
  assert toy_2d.segments(tiny_config) == [[(15, 20)], [(5, 20), (10, 80)]]
  assert toy_2d.segments(tiny_config, start=15) == [[(5, 20), (10, 80)]]
  tiny_config.eval_every_steps = 7
  assert toy_2d.segments(tiny_config, start=14) == [
      [(6, 20), (1, 80)], [(7, 80)], [(2, 80)]]
  assert toy_2d.segments(tiny_config, start=30) == []


def test_an_interrupted_run_resumes_where_it_stopped(tiny_config, tmp_path,
                                                     monkeypatch):
  # tests/test_launch.py's table row trains this run: change them together.
  tiny_config.num_seeds, tiny_config.eval_every_steps = 2, 10
  whole = toy_2d.train_seeds(tiny_config, 'gan', toy_2d.ring(),
                             str(tmp_path / 'whole'))
  assert [entry['step'] for entry in whole['trajectory']] == [10, 20, 30]
  # A run that fails after its second checkpoint...
  real_segments = toy_2d.segments

  def two_then_fail(config, start=0):
    yield from real_segments(config, start)[:2]
    raise RuntimeError('killed')
  monkeypatch.setattr(toy_2d, 'segments', two_then_fail)
  threads_before = set(threading.enumerate())
  with pytest.raises(RuntimeError, match='killed') as failure:
    toy_2d.train_seeds(tiny_config, 'gan', toy_2d.ring(),
                       str(tmp_path / 'killed'))
  # ...has closed its checkpoint manager: while the error is held (its
  # traceback keeps the run's frames, as a notebook's last error does), no
  # thread of the run is left.
  assert failure.traceback
  assert_no_thread_left(threads_before)
  monkeypatch.setattr(toy_2d, 'segments', real_segments)
  # ...resumes at step 20 and ends where the uninterrupted run ends.
  resumed = toy_2d.train_seeds(tiny_config, 'gan', toy_2d.ring(),
                               str(tmp_path / 'killed'))
  assert [entry['step'] for entry in resumed['trajectory']] == [10, 20, 30]
  np.testing.assert_array_equal(resumed['samples'], whole['samples'])
  np.testing.assert_array_equal(resumed['d_loss'], whole['d_loss'])
  with open(tmp_path / 'killed' / 'trajectory.json') as f:
    assert json.load(f) == resumed['trajectory']
  # A finished run is evaluated again, not retrained.
  again = toy_2d.train_seeds(tiny_config, 'gan', toy_2d.ring(),
                             str(tmp_path / 'killed'))
  np.testing.assert_array_equal(again['samples'], whole['samples'])
  assert again['trajectory'] == resumed['trajectory']


def test_a_workdir_resumes_only_its_own_settings(tiny_config, tmp_path):
  tiny_config.num_seeds, tiny_config.num_train_steps = 1, 5
  tiny_config.eval_every_steps = 5
  toy_2d.train_seeds(tiny_config, 'gan', toy_2d.ring(), str(tmp_path))
  tiny_config.optimizer.lr = 1e-3
  with pytest.raises(errors.ConfigError,
                     match=r"config.json holds a run of other settings "
                     r"\(optimizer: saved .*'lr': 0.0001.* now .*'lr': 0.001"):
    toy_2d.train_seeds(tiny_config, 'gan', toy_2d.ring(), str(tmp_path))
  tiny_config.optimizer.lr = 1e-4
  tiny_config.eval_every_steps = -1
  with pytest.raises(errors.ConfigError, match='eval_every_steps must be '
                     'non-negative, got -1'):
    toy_2d.run(tiny_config, str(tmp_path))


def test_summary_over_seeds_keeps_each_seed():
  summary = toy_2d.summarise({'modes': np.array([8.0, 6.0]),
                              'hq': np.array([0.98, 0.96]),
                              'rev_kl': np.array([0.01, 0.41])})
  # s.e. = std (ddof 1) / sqrt(n): for two seeds, half their difference.
  assert summary['modes_mean'] == 7.0 and summary['modes_se'] == 1.0
  assert summary['hq_mean'] == pytest.approx(97.0)  # percent
  assert summary['hq_se'] == pytest.approx(1.0)
  assert summary['rev_kl_se'] == pytest.approx(0.2)
  assert summary['per_seed'] == {'modes': [8.0, 6.0], 'hq': [98.0, 96.0],
                                 'rev_kl': [0.01, 0.41]}
  assert summary['num_seeds'] == 2
