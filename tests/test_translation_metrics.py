"""Translation scores: gan_jax/eval/translation.py, scripts/score_translations.py."""

import importlib.util
import json
import logging
import os

import ml_collections
import numpy as np
import pytest
from PIL import Image

from gan_jax.core import errors, visualize
from gan_jax.eval import digits_classifier, evaluation, inception, metrics
from gan_jax.eval import translation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(metrics_, batch_size=2, weights=''):
  return ml_collections.ConfigDict({'eval_metrics': metrics_,
                                    'eval_batch_size': batch_size,
                                    'eval_inception_weights': weights})


def _noisy_pair(rng, shape, noise=30):
  target = rng.integers(0, 256, shape, dtype=np.uint8)
  translated = np.clip(target.astype(np.int64)
                       + rng.integers(-noise, noise + 1, shape), 0, 255)
  return translated.astype(np.uint8), target


def test_l1_and_psnr_closed_forms_and_identical_images():
  rng = np.random.default_rng(0)
  target = rng.integers(0, 200, (3, 12, 13, 3), dtype=np.uint8)
  for d in (1, 7, 50):
    translated = target + np.uint8(d)  # no overflow: target < 200
    assert translation.l1(translated, target) == pytest.approx(d / 127.5,
                                                               rel=1e-12)
    assert translation.psnr(translated, target) == pytest.approx(
        10 * np.log10(255**2 / d**2), rel=1e-12)
  # Per-image PSNR, then the mean: offsets 2 and 0 give (PSNR(2) + 100) / 2.
  translated = target.copy()
  translated[0] += 2
  assert translation.psnr(translated[:2], target[:2]) == pytest.approx(
      (10 * np.log10(255**2 / 4) + 100) / 2, rel=1e-12)
  assert translation.l1(target, target) == 0.0
  assert translation.psnr(target, target) == 100.0
  assert translation.ssim(target, target) == pytest.approx(1.0, abs=1e-12)
  with pytest.raises(ValueError, match='uint8'):
    translation.l1(target.astype(np.float32) / 127.5 - 1, target)
  with pytest.raises(ValueError, match='shapes differ'):
    translation.psnr(target[:2], target)


def _ssim_by_windows(x, y):
  """SSIM of one-channel (H, W) images straight from Wang et al.'s definition:
  weighted moments of every 11x11 window that fits, then the mean."""
  g = np.exp(-(np.arange(11) - 5.0)**2 / (2 * 1.5**2))
  w = np.outer(g, g) / np.outer(g, g).sum()
  c1, c2 = (0.01 * 255)**2, (0.03 * 255)**2
  x, y = x.astype(np.float64), y.astype(np.float64)
  values = []
  for i in range(x.shape[0] - 10):
    for j in range(x.shape[1] - 10):
      a, b = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
      mu_a, mu_b = (w * a).sum(), (w * b).sum()
      var_a = (w * (a - mu_a)**2).sum()
      var_b = (w * (b - mu_b)**2).sum()
      cov = (w * (a - mu_a) * (b - mu_b)).sum()
      values.append((2 * mu_a * mu_b + c1) * (2 * cov + c2)
                    / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
  return np.mean(values)


def test_ssim_matches_the_windowed_definition():
  rng = np.random.default_rng(1)
  translated, target = _noisy_pair(rng, (2, 13, 14, 1), noise=60)
  expected = np.mean([_ssim_by_windows(a[..., 0], b[..., 0])
                      for a, b in zip(translated, target)])  # 3x4 windows each
  value = translation.ssim(translated, target)
  assert value == pytest.approx(expected, abs=1e-10)
  assert translation.ssim(target, translated) == pytest.approx(value,
                                                               abs=1e-14)
  assert 0 < value < 0.99
  # Channels are averaged: a 3-channel image of copies scores the same.
  assert translation.ssim(np.repeat(translated, 3, -1),
                          np.repeat(target, 3, -1)) == pytest.approx(
                              value, abs=1e-14)
  with pytest.raises(ValueError, match='at least 11x11'):
    translation.ssim(target[:, :10], target[:, :10])


def test_evaluator_without_inception_weights_skips_fid_once(
    tmp_path, monkeypatch, caplog):
  monkeypatch.delenv(evaluation.WEIGHTS_ENV, raising=False)
  with pytest.raises(errors.ConfigError, match=r"eval_metrics: unknown \['is'\]"):
    translation.validate(_config(('l1', 'is')))
  with pytest.raises(errors.ConfigError, match='eval_batch_size'):
    translation.validate(_config(('l1',), batch_size=1))
  with pytest.raises(ValueError, match='labels'):
    translation.TranslationEvaluator(
        _config(('digits',)), np.zeros((2, 16, 16, 1), np.uint8), str(tmp_path))
  rng = np.random.default_rng(2)
  translated, target = _noisy_pair(rng, (5, 16, 12, 3))
  caplog.set_level(logging.WARNING)
  evaluator = translation.TranslationEvaluator(
      _config(('l1', 'psnr', 'ssim', 'fid')), target, str(tmp_path))
  assert evaluator.active == ('l1', 'psnr', 'ssim')
  assert evaluation.WEIGHTS_ENV in evaluator.skipped['fid']
  assert sum('Skipping fid' in r.message for r in caplog.records) == 1
  scores = evaluator.score(translated)
  assert scores == {'l1': translation.l1(translated, target),
                    'psnr': translation.psnr(translated, target),
                    'ssim': translation.ssim(translated, target),
                    'eval_num_pairs': 5}


def test_evaluator_fid_and_digits_wiring(tmp_path, monkeypatch):
  """Stand-in extractors (the real ones take minutes on a CPU): FID is the
  FD of the translations' vs. the targets' features, extracted in padded
  fixed-size chunks, the targets' once (then from the cache); 'digits' scores
  the classifier's predictions against the labels."""
  calls = []

  def features(x):
    calls.append(x.shape)
    return np.concatenate([x.mean((1, 2)), x.std((1, 2)), x[:, 0, 0]], -1)

  weights = tmp_path / 'weights.npz'
  weights.write_bytes(b'stand-in')
  monkeypatch.setattr(inception, 'load_params', lambda path: {})
  monkeypatch.setattr(inception, 'make_feature_fn', lambda v: features)

  def classify(x):  # image brightness 20 * label -> that label
    label = np.round((x.mean((1, 2, 3)) + 1) * 127.5 / 20)
    return -np.abs(np.arange(10) - label[:, None]), None

  monkeypatch.setattr(digits_classifier, 'get_classifier',
                      lambda size, channels, cache_dir:
                      digits_classifier.DigitsClassifier(classify, 0.97))
  labels = np.array([0, 1, 2, 3, 4, 5, 6])
  rng = np.random.default_rng(3)
  target = (20 * labels[:, None, None, None]
            + rng.integers(0, 3, (7, 12, 12, 1))).astype(np.uint8)
  translated = target.copy()
  translated[1] = 20 * 4  # translation of a '1' that looks like a '4'
  config = _config(('fid', 'digits'), batch_size=3, weights=str(weights))
  evaluator = translation.TranslationEvaluator(config, target, str(tmp_path),
                                               labels=labels, name='test')
  scores = evaluator.score(translated)
  assert set(calls) == {(3, 12, 12, 1)}  # 7 images: chunks 3, 3, 1 + padding
  assert len(calls) == 3 + 3  # the targets' features, the translations'
  expected = metrics.frechet_distance_of_features(
      features(visualize.from_uint8(translated)),
      features(visualize.from_uint8(target)))
  assert scores['fid'] == pytest.approx(expected, rel=1e-6)
  assert scores['fid'] > 0
  assert scores['digits_class_accuracy'] == pytest.approx(6 / 7)
  assert scores['digits_class_accuracy_1'] == 0.0
  assert scores['digits_class_accuracy_targets'] == 1.0
  assert scores['digits_classifier_accuracy'] == 0.97
  assert scores['eval_num_pairs'] == 7
  # A second evaluator of the same targets reads their features from disk.
  calls.clear()
  again = translation.TranslationEvaluator(
      _config(('fid',), batch_size=3, weights=str(weights)), target,
      str(tmp_path), name='test')
  assert again.score(translated)['fid'] == pytest.approx(scores['fid'],
                                                         rel=1e-6)
  assert len(calls) == 3
  assert len(list(tmp_path.glob('target_features_inception_*.npy'))) == 1


def _script():
  path = os.path.join(ROOT, 'scripts', 'score_translations.py')
  spec = importlib.util.spec_from_file_location('score_translations', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_script_scores_saved_pairs_like_the_module(tmp_path, monkeypatch,
                                                   capsys):
  monkeypatch.delenv(evaluation.WEIGHTS_ENV, raising=False)
  rng = np.random.default_rng(4)
  translated, target = _noisy_pair(rng, (3, 16, 16, 3))
  images = tmp_path / 'images'
  images.mkdir()
  stems = ['b', 'a', 'c_1']
  for stem, fake, real in zip(stems, translated, target):
    Image.fromarray(fake).save(images / f'{stem}_fake_B.png')
    Image.fromarray(real).save(images / f'{stem}_real_B.png')
    Image.fromarray(real).save(images / f'{stem}_real_A.png')  # ignored
  Image.fromarray(target[0]).save(images / 'lonely_real_B.png')  # unmatched
  order = np.argsort(stems)  # pairs are scored in stem order
  script = _script()
  output = tmp_path / 'scores.json'
  rc = script.main(['--translated', str(images),
                    '--pattern', '{stem}_fake_B.png',
                    '--targets', str(images),
                    '--target_pattern', '{stem}_real_B.png',
                    '--metrics', 'l1,psnr,ssim,fid', '--output', str(output)])
  assert rc == 0
  scores = json.loads(output.read_text())
  assert json.loads(capsys.readouterr().out) == scores
  assert scores == pytest.approx({
      'l1': translation.l1(translated[order], target[order]),
      'psnr': translation.psnr(translated[order], target[order]),
      'ssim': translation.ssim(translated[order], target[order]),
      'eval_num_pairs': 3}, rel=1e-12)
  # The same targets from an .npz; nothing matched is an error.
  npz = tmp_path / 'targets.npz'
  np.savez(npz, image=target, stem=np.array(stems))
  rc = script.main(['--translated', str(images),
                    '--pattern', '{stem}_fake_B.png',
                    '--targets_npz', str(npz), '--metrics', 'l1,psnr,ssim'])
  assert rc == 0
  assert json.loads(capsys.readouterr().out) == scores
  rc = script.main(['--translated', str(images), '--targets', str(images),
                    '--target_pattern', '{stem}_real_A.png'])
  assert rc == 2
  assert 'no translation matches a target' in capsys.readouterr().err
