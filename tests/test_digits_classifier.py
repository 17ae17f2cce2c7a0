"""The offline digits judge: accurate, cached, and its class scores."""

import math

import numpy as np
import pytest

from gan_jax.eval import digits_classifier


def test_classifier_is_accurate_and_scores_real_digits_as_perfect(
    digits_classifier_cache):
  classifier, _ = digits_classifier_cache
  assert classifier.held_out_accuracy >= 0.95
  images, _ = digits_classifier.load_digits(32, 1)
  logits, features = classifier.apply(images)
  assert features.shape == (len(images), digits_classifier.FEATURE_DIM)
  scores = digits_classifier.class_scores(np.asarray(logits))
  assert scores['digits_classes_covered'] == 10
  assert scores['digits_class_kl'] < 0.01


def test_cached_classifier_is_loaded_not_retrained(digits_classifier_cache,
                                                   tmp_path, monkeypatch):
  classifier, copy_to = digits_classifier_cache
  copy_to(str(tmp_path))

  def no_training(*args, **kwargs):
    raise AssertionError('retrained despite a cache file')
  monkeypatch.setattr(digits_classifier, '_train', no_training)
  cached = digits_classifier.get_classifier(32, 1, str(tmp_path))
  images, _ = digits_classifier.load_digits(32, 1)
  np.testing.assert_array_equal(np.asarray(cached.apply(images[:8])[0]),
                                np.asarray(classifier.apply(images[:8])[0]))


def _one_hot_logits(classes):
  return np.eye(10)[np.asarray(classes)] * 5.0


def test_class_scores():
  uniform = digits_classifier.class_scores(_one_hot_logits(np.arange(1000) % 10))
  assert uniform == {'digits_classes_covered': 10, 'digits_class_kl': 0.0}
  collapsed = digits_classifier.class_scores(_one_hot_logits([3] * 100))
  assert collapsed['digits_classes_covered'] == 1
  assert collapsed['digits_class_kl'] == pytest.approx(math.log(10))
  # A class predicted for 0.5 % of samples (under 10 % of its share of 10 %)
  # is not covered; 1 % is.
  rare = [7] * 5 + [8] * 10 + list(np.arange(985) % 7)
  assert digits_classifier.class_scores(
      _one_hot_logits(rare))['digits_classes_covered'] == 8
