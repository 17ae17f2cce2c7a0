"""Evaluation during training and on a checkpoint, with every extractor."""

import importlib.util
import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from gan_jax import modes
from gan_jax.core import errors, loop, visualize
from gan_jax.data import sources
from gan_jax.eval import evaluation
from gan_jax.families import base

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_padded_chunks_pad_the_last_chunk_alone():
  images = np.arange(1, 11).reshape(5, 2)
  chunks = list(evaluation.padded_chunks(images, 2))
  assert [(start, count) for start, _, count in chunks] == [(0, 2), (2, 2),
                                                            (4, 1)]
  assert {chunk.shape for _, chunk, _ in chunks} == {(2, 2)}  # one shape
  np.testing.assert_array_equal(
      np.concatenate([chunk[:count] for _, chunk, count in chunks]), images)
  np.testing.assert_array_equal(chunks[-1][1][1], 0)


def test_validate_names_the_field(tiny_config):
  tiny_config.eval_metrics = ('fid', 'is')
  with pytest.raises(errors.ConfigError, match=r"eval_metrics: unknown \['is'\]"):
    evaluation.validate(tiny_config)
  tiny_config.eval_metrics = ('digits',)
  tiny_config.data.source = 'folder:/data'
  with pytest.raises(errors.ConfigError, match='scores digits only'):
    evaluation.validate(tiny_config)
  tiny_config.data.source = 'digits'
  tiny_config.eval_num_samples = 1
  with pytest.raises(errors.ConfigError, match='eval_num_samples'):
    evaluation.validate(tiny_config)


def test_inception_metrics_without_weights_are_skipped_with_one_message(
    tiny_config, tmp_path, monkeypatch, caplog):
  monkeypatch.delenv(evaluation.WEIGHTS_ENV, raising=False)
  tiny_config.eval_metrics = ('fid', 'kid')
  source = sources.make_source('digits', 32, 1)
  evaluator = evaluation.Evaluator(tiny_config, source, str(tmp_path))
  assert evaluator.active == ()
  assert set(evaluator.skipped) == {'fid', 'kid'}
  assert evaluation.WEIGHTS_ENV in evaluator.skipped['fid']
  assert sum('Skipping fid/kid' in r.message for r in caplog.records) == 1
  assert evaluator.evaluate(None) == {}


def test_bad_weights_file_is_a_config_error(tiny_config, tmp_path):
  tiny_config.eval_metrics = ('fid',)
  tiny_config.eval_inception_weights = str(tmp_path / 'missing.npz')
  source = sources.make_source('digits', 32, 1)
  with pytest.raises(errors.ConfigError,
                     match='eval_inception_weights.*missing.npz'):
    evaluation.Evaluator(tiny_config, source, str(tmp_path))


def test_real_features_of_every_image_are_shared_across_seeds(
    tiny_config, tmp_path, monkeypatch):
  """The seed draws the real subset; all images are one set for any seed."""
  monkeypatch.delenv(evaluation.WEIGHTS_ENV, raising=False)
  source = sources.make_source('digits[test]', 32, 1)
  files = {}
  for seed in (0, 1):
    tiny_config.seed = seed
    evaluator = evaluation.Evaluator(tiny_config, source, str(tmp_path))
    files[seed] = [evaluator._cache_file('inception', count)
                   for count in (100, source.num_examples)]
  assert files[0][0] != files[1][0]  # different subsets of 100
  assert files[0][1] == files[1][1]  # the whole held-out set

@pytest.fixture(scope='module')
def run_with_eval(tmp_path_factory, digits_classifier_cache):
  """6 tiny steps evaluated at steps 3 and 6 with every metric."""
  import dcgan  # pylint: disable=g-import-not-at-top
  config = dcgan.get_config()
  config.batch_size, config.model.base_width, config.model.z_dim = 16, 4, 8
  config.num_train_steps, config.num_sample_images = 6, 4
  config.log_every_steps = config.checkpoint_every_steps = 3
  config.eval_metrics = ('digits',)
  config.eval_every_steps = 3
  config.eval_num_samples = 40
  config.eval_batch_size = 16
  workdir = str(tmp_path_factory.mktemp('run'))
  digits_classifier_cache[1](os.path.join(workdir, 'eval'))
  summary = loop.train(config, workdir)
  return config, workdir, summary


def test_eval_during_training_is_logged_and_summarised(run_with_eval):
  config, workdir, summary = run_with_eval
  assert [e['step'] for e in summary['eval_history']] == [3, 6]
  final = summary['eval']
  assert final == summary['eval_history'][-1]
  assert 1 <= final['digits_classes_covered'] <= 10
  assert final['digits_class_kl'] >= 0
  # An untrained G is far from the data; the floor is two real halves.
  assert final['digits_fd'] > 2 * final['digits_fd_real_halves'] > 0
  assert final['eval_num_samples'] == 40
  with open(os.path.join(workdir, 'summary.json')) as f:
    assert json.load(f)['eval'] == final
  assert any(f.startswith('real_features_digits_')
             for f in os.listdir(os.path.join(workdir, 'eval')))


def test_mode_eval_reproduces_the_last_training_eval(run_with_eval):
  config, workdir, summary = run_with_eval
  report = modes.evaluate_checkpoint(config, workdir)
  assert report['step'] == 6
  last = {k: v for k, v in summary['eval'].items() if k != 'step'}
  assert report['metrics'] == pytest.approx(last)
  assert os.path.exists(os.path.join(workdir, 'eval',
                                     'eval_step_0000006.json'))


def test_inception_metrics_with_weights(run_with_eval,
                                        synthetic_inception_weights):
  """fid/kid/pr through the real weight loading, on the trained tiny G."""
  config, workdir, _ = run_with_eval
  config = config.copy_and_resolve_references()
  config.eval_metrics = ('fid', 'kid', 'pr')
  config.eval_inception_weights = synthetic_inception_weights
  config.eval_num_samples = 8
  config.eval_batch_size = 2  # test_inception's batch: one shared compile
  family, state, _ = loop.restore_trained(config, workdir)
  source = sources.make_source('digits', 32, 1)
  evaluator = evaluation.Evaluator(config, source, os.path.join(workdir, 'e2'))
  sample = lambda key, num, size: family.eval_batches(state, key, num, size)
  results = evaluator.evaluate(sample)
  assert results['fid'] > 0 and np.isfinite(results['kid'])
  assert 0 <= results['precision'] <= 1 and 0 <= results['recall'] <= 1
  again = evaluator.evaluate(sample)
  assert again == results  # the eval stream's noise is fixed


def test_mode_eval_with_every_metric_skipped_is_one_error(run_with_eval,
                                                          monkeypatch):
  config, workdir, _ = run_with_eval
  config = config.copy_and_resolve_references()
  config.eval_metrics = ('fid', 'kid')
  monkeypatch.delenv(evaluation.WEIGHTS_ENV, raising=False)
  with pytest.raises(errors.ConfigError,
                     match='every metric of config.eval_metrics was skipped: '
                     'fid/kid: no FID Inception weights'):
    modes.evaluate_checkpoint(config, workdir)


def test_eval_source_is_the_reference_of_the_scores(run_with_eval,
                                                    monkeypatch):
  """data.eval_source's real images (held out) are what samples are scored
  against, not the training source's, which --mode=eval then never builds
  (so a checkpoint is scored where its training data is absent)."""
  config, workdir, summary = run_with_eval
  config = config.copy_and_resolve_references()
  config.data.eval_source = 'digits[test]'

  def training_source(*args):
    raise AssertionError('built the training source')

  monkeypatch.setattr(base.Family, 'make_source', training_source)
  family, _, _ = loop.restore_trained(config, workdir)
  evaluator = family.make_evaluator(family.make_source,
                                    os.path.join(workdir, 'eval'))
  held_out = sources.make_source('digits[test]', 32, 1)
  assert evaluator.source.name == held_out.name
  assert evaluator.source.num_examples == held_out.num_examples == 359
  report = modes.evaluate_checkpoint(config, workdir)
  # The floor is now two halves of the 359 held-out digits.
  assert (report['metrics']['digits_fd_real_halves']
          != summary['eval']['digits_fd_real_halves'])


def test_score_samples_script_scores_a_folder_like_the_run(run_with_eval,
                                                          tmp_path, capsys):
  """The run's own evaluation samples, saved as PNGs and scored by
  scripts/score_samples.py, get the run's scores."""
  config, workdir, summary = run_with_eval
  family, state, _ = loop.restore_trained(config, workdir)
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed),
                           evaluation.EVAL_STREAM)
  folder = tmp_path / 'samples'
  folder.mkdir()
  count = 0
  for batch in family.eval_batches(state, key, config.eval_num_samples,
                                   config.batch_size):
    for image in visualize.to_uint8(batch['image']):
      Image.fromarray(image[..., 0]).save(folder / f'{count:04d}.png')
      count += 1
  path = os.path.join(ROOT, 'scripts', 'score_samples.py')
  spec = importlib.util.spec_from_file_location('score_samples', path)
  script = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(script)
  args = ['--samples', str(folder), '--reference', 'digits',
          '--image_size', '32', '--channels', '1', '--metrics', 'digits',
          '--batch_size', str(config.batch_size),
          '--eval_batch_size', str(config.eval_batch_size),
          '--cache_dir', os.path.join(workdir, 'eval')]
  assert script.main(args + ['--num', '1000']) == 0
  scores = json.loads(capsys.readouterr().out)
  run = {k: v for k, v in summary['eval'].items() if k != 'step'}
  assert {k: scores[k] for k in run} == pytest.approx(run)
  assert scores['eval_num_samples'] == count == 40  # --num beyond the folder
  assert script.main(args[:1] + [str(tmp_path / 'none')] + args[2:]) == 2
  assert 'score_samples.py: error:' in capsys.readouterr().err
