"""Metrics against straightforward reference computations."""

import numpy as np
import pytest
import scipy.linalg

from gan_jax.eval import metrics


def _reference_fd(x, y):
  """pytorch-fid's formula: scipy.linalg.sqrtm of the product."""
  mu1, mu2 = x.mean(0), y.mean(0)
  c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  covmean = scipy.linalg.sqrtm(c1 @ c2).real
  return ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * covmean)


def _ill_conditioned(rng, n, d, condition):
  """Features whose covariance has eigenvalues spanning ``condition``."""
  basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
  scales = np.logspace(0, -np.log10(condition) / 2, d)
  return (rng.normal(size=(n, d)) * scales) @ basis.T + rng.normal(size=d)


def test_gaussian_fit_streams_to_numpy_moments():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(1000, 8)) * 3 + 1e4  # a large offset: cancellation
  fit = metrics.GaussianFit()
  for chunk in np.array_split(x, 7):
    fit.update(chunk)
  assert fit.count == 1000
  np.testing.assert_allclose(fit.mean, x.mean(0), rtol=1e-12)
  np.testing.assert_allclose(fit.cov, np.cov(x, rowvar=False), rtol=1e-9)


@pytest.mark.parametrize('condition', [1.0, 1e8])
def test_frechet_distance_matches_sqrtm_reference(condition):
  rng = np.random.default_rng(1)
  x = _ill_conditioned(rng, 2000, 32, condition)
  y = _ill_conditioned(rng, 2000, 32, condition) * 1.3 + 0.1
  ours = metrics.frechet_distance_of_features(x, y)
  np.testing.assert_allclose(ours, _reference_fd(x, y), rtol=1e-7)


def test_frechet_distance_identities_with_singular_covariance():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(20, 64))  # 20 samples in 64-d: rank-19 covariance
  fit = metrics.GaussianFit().update(x)
  # Against itself: 0 (sqrtm of a singular product gives complex noise here).
  trace = np.trace(fit.cov)
  assert metrics.frechet_distance(fit.mean, fit.cov, fit.mean,
                                  fit.cov) == pytest.approx(0, abs=1e-12 * trace)
  # Shifting the mean adds exactly ||shift||^2.
  shift = rng.normal(size=64)
  assert metrics.frechet_distance(fit.mean + shift, fit.cov, fit.mean,
                                  fit.cov) == pytest.approx(shift @ shift,
                                                            abs=1e-12 * trace)
  # 1-d Gaussians: (mu1-mu2)^2 + (s1-s2)^2.
  assert metrics.frechet_distance(
      [0.0], [[4.0]], [1.0], [[9.0]]) == pytest.approx(1 + 1)


def test_frechet_distance_of_fewer_samples_than_dimensions_is_the_same():
  # Under d samples the features' FD is taken in sample space (an SVD of
  # X1 X2'): the value of the covariances' formula, to rounding.
  rng = np.random.default_rng(3)
  x = rng.normal(size=(12, 96)) * rng.uniform(0.1, 3, 96) + 5
  y = rng.normal(size=(17, 96)) * 1.3 + 5.2
  fit1, fit2 = metrics.GaussianFit().update(x), metrics.GaussianFit().update(y)
  np.testing.assert_allclose(
      metrics.frechet_distance_of_features(x, y),
      metrics.frechet_distance(fit1.mean, fit1.cov, fit2.mean, fit2.cov),
      rtol=1e-12)
  assert metrics.frechet_distance_of_features(x, x) == pytest.approx(
      0, abs=1e-12 * np.trace(fit1.cov))
  with pytest.raises(ValueError, match='at least 2 samples'):
    metrics.frechet_distance_of_features(x[:1], y)


def test_frechet_distance_rejects_mismatched_dimensions():
  with pytest.raises(ValueError, match='dimensions'):
    metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def _reference_mmd2(x, y):
  d = x.shape[1]
  def k(a, b):
    return (a @ b / d + 1) ** 3
  m, n = len(x), len(y)
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
  yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n))
  return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2 * xy / (m * n)


def test_mmd2_matches_loops_and_kid_separates_distributions():
  rng = np.random.default_rng(3)
  x, y = rng.normal(size=(30, 5)), rng.normal(size=(25, 5)) + 0.5
  assert metrics.mmd2_unbiased(x, y) == pytest.approx(_reference_mmd2(x, y),
                                                      rel=1e-10)
  same = rng.normal(size=(400, 5))
  other = rng.normal(size=(400, 5))
  kid_same, _ = metrics.kernel_inception_distance(same, other, num_subsets=20,
                                                  subset_size=200)
  kid_far, std_far = metrics.kernel_inception_distance(
      same, other + 1.0, num_subsets=20, subset_size=200)
  assert abs(kid_same) < 0.02  # unbiased: centred on 0 for equal laws
  assert kid_far > 0.1 and std_far > 0


def _reference_precision_recall(real, fake, k):
  def radii(a):
    d = np.linalg.norm(a[:, None] - a[None], axis=-1)
    return np.sort(d, axis=1)[:, k]
  def inside(points, centres, r):
    d = np.linalg.norm(points[:, None] - centres[None], axis=-1)
    return np.mean([(d[i] <= r).any() for i in range(len(points))])
  return (inside(fake, real, radii(real)), inside(real, fake, radii(fake)))


def test_precision_recall_matches_reference_and_detects_collapse():
  rng = np.random.default_rng(4)
  real = rng.normal(size=(300, 4))
  fake = rng.normal(size=(200, 4)) * 0.8 + 0.3
  ours = metrics.precision_recall(real, fake, k=3, block=64)
  np.testing.assert_allclose(ours, _reference_precision_recall(real, fake, 3))
  # A collapsed generator (all samples near one real point): precise, no recall.
  collapsed = real[:1] + 1e-3 * rng.normal(size=(200, 4))
  precision, recall = metrics.precision_recall(real, collapsed, k=3)
  assert precision == 1.0 and recall < 0.05
