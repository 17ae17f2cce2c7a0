"""Sample-quality metrics on feature vectors: FD/FID, KID, precision and recall.

All take features from any extractor (the FID Inception network,
``gan_jax/inception.py``; the digits classifier, ``gan_jax/digits_classifier.py``)
as (n, d) arrays. They run in float64 numpy on the host: the work is a few
d x d matrices and blocked distance matrices, and float32 loses the
Frechet distance's last digits to cancellation.
"""

from __future__ import annotations

import numpy as np


class GaussianFit:
  """Streaming mean and covariance of feature batches (any number of samples).

  Sums are kept around a shift (the first batch's mean) so the covariance
  does not suffer the cancellation of E[xx^T] - mu mu^T.
  """

  def __init__(self):
    self.count = 0
    self._shift = None
    self._sum = None
    self._outer = None

  def update(self, features) -> 'GaussianFit':
    x = np.asarray(features, np.float64)
    if x.ndim != 2:
      raise ValueError(f'features must be (n, d), got shape {x.shape}')
    if self._shift is None:
      self._shift = x.mean(axis=0)
      self._sum = np.zeros_like(self._shift)
      self._outer = np.zeros((x.shape[1], x.shape[1]))
    centred = x - self._shift
    self.count += len(x)
    self._sum += centred.sum(axis=0)
    self._outer += centred.T @ centred
    return self

  @property
  def mean(self) -> np.ndarray:
    return self._shift + self._sum / self.count

  @property
  def cov(self) -> np.ndarray:
    """Unbiased sample covariance (numpy's np.cov convention)."""
    if self.count < 2:
      raise ValueError('a covariance needs at least 2 samples')
    mean_centred = self._sum / self.count
    return (self._outer - self.count * np.outer(mean_centred, mean_centred)
            ) / (self.count - 1)


def _psd_eigvals_sqrt(eigvals: np.ndarray) -> np.ndarray:
  """sqrt of a PSD matrix's eigenvalues; those under eigh's rounding level
  (d * eps * the largest) are zeros of a singular matrix, and their rounding
  noise would otherwise grow to sqrt(noise) each."""
  noise = len(eigvals) * np.finfo(np.float64).eps * max(eigvals.max(), 0.0)
  return np.sqrt(np.where(eigvals > noise, eigvals, 0.0))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  """Symmetric square root of a (numerically) PSD matrix via eigh."""
  eigvals, eigvecs = np.linalg.eigh((matrix + matrix.T) / 2)
  return (eigvecs * _psd_eigvals_sqrt(eigvals)) @ eigvecs.T


def frechet_distance(mean1, cov1, mean2, cov2) -> float:
  """Frechet distance between N(mean1, cov1) and N(mean2, cov2).

  Heusel et al. 2017, Eq. (6) / Dowson & Landau 1982:
      ||mu1 - mu2||^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^(1/2)).
  tr((C1 C2)^(1/2)) is computed as the sum of square roots of the eigenvalues
  of the symmetric PSD matrix C1^(1/2) C2 C1^(1/2), which has the same
  spectrum as C1 C2. Unlike ``scipy.linalg.sqrtm(C1 @ C2)`` (pytorch-fid,
  TF-GAN) this stays real and exact for singular covariances (fewer samples
  than dimensions), so no epsilon is added to the diagonals.
  """
  mean1, mean2 = np.asarray(mean1, np.float64), np.asarray(mean2, np.float64)
  cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
  if mean1.shape != mean2.shape or cov1.shape != cov2.shape:
    raise ValueError(f'feature dimensions differ: {mean1.shape} vs '
                     f'{mean2.shape}')
  sqrt1 = _psd_sqrt(cov1)
  middle = sqrt1 @ cov2 @ sqrt1
  trace_sqrt = _psd_eigvals_sqrt(
      np.linalg.eigvalsh((middle + middle.T) / 2)).sum()
  diff = mean1 - mean2
  value = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * trace_sqrt
  return float(max(value, 0.0))


def frechet_distance_of_features(features1, features2) -> float:
  """``frechet_distance`` of the two samples' means and covariances.

  With fewer samples than dimensions (a test set of a hundred images in
  Inception's 2,048) it is computed in sample space instead: for centred
  samples X1 (n1, d) and X2 (n2, d), C1 C2 = X1' X1 X2' X2 / ((n1-1)(n2-1))
  has the nonzero spectrum of M M' with M = X1 X2' / sqrt((n1-1)(n2-1)), so
  tr((C1 C2)^(1/2)) is the sum of M's singular values: one small SVD in place
  of two d x d eigendecompositions, the same value.
  """
  x1 = np.asarray(features1, np.float64)
  x2 = np.asarray(features2, np.float64)
  if x1.ndim != 2 or x2.ndim != 2:
    raise ValueError(f'features must be (n, d), got shapes {x1.shape} and '
                     f'{x2.shape}')
  if min(len(x1), len(x2)) >= x1.shape[1] or x1.shape[1] != x2.shape[1]:
    fit1, fit2 = GaussianFit().update(x1), GaussianFit().update(x2)
    return frechet_distance(fit1.mean, fit1.cov, fit2.mean, fit2.cov)
  if min(len(x1), len(x2)) < 2:
    raise ValueError('a covariance needs at least 2 samples')
  mean1, mean2 = x1.mean(axis=0), x2.mean(axis=0)
  centred1, centred2 = x1 - mean1, x2 - mean2
  scale1, scale2 = len(x1) - 1, len(x2) - 1
  trace_sqrt = np.linalg.svd(centred1 @ centred2.T, compute_uv=False).sum(
  ) / np.sqrt(scale1 * scale2)
  diff = mean1 - mean2
  value = (diff @ diff + np.sum(centred1**2) / scale1
           + np.sum(centred2**2) / scale2 - 2 * trace_sqrt)
  return float(max(value, 0.0))


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 (Binkowski et al. 2018, Eq. 2)."""
  m, n = len(x), len(y)
  k_xx, k_yy = _polynomial_kernel(x, x), _polynomial_kernel(y, y)
  k_xy = _polynomial_kernel(x, y)
  return float((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
               + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
               - 2 * k_xy.mean())


def kernel_inception_distance(real, fake, *, num_subsets: int = 100,
                              subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
  """KID (Binkowski et al. 2018): mean and std of unbiased MMD^2 over subsets.

  As TF-GAN and torch-fidelity: ``num_subsets`` random subsets of
  ``min(subset_size, n_real, n_fake)`` samples from each set, drawn without
  replacement within a subset, with the cubic polynomial kernel.
  """
  real = np.asarray(real, np.float64)
  fake = np.asarray(fake, np.float64)
  size = min(subset_size, len(real), len(fake))
  if size < 2:
    raise ValueError('KID needs at least 2 samples in each set')
  rng = np.random.default_rng(seed)
  values = [mmd2_unbiased(real[rng.choice(len(real), size, replace=False)],
                          fake[rng.choice(len(fake), size, replace=False)])
            for _ in range(num_subsets)]
  return float(np.mean(values)), float(np.std(values))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
  return np.maximum(d2, 0.0)


def knn_radii(features: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
  """Squared distance from each point to its k-th nearest other point."""
  if len(features) <= k:
    raise ValueError(f'k-NN radii with k={k} need more than {k} samples, '
                     f'got {len(features)}')
  radii = np.empty(len(features))
  for start in range(0, len(features), block):
    d2 = _squared_distances(features[start:start + block], features)
    # Column k of the sorted row: column 0 is the point itself (distance 0).
    radii[start:start + block] = np.partition(d2, k, axis=1)[:, k]
  return radii


def _fraction_inside(points: np.ndarray, centres: np.ndarray,
                     radii: np.ndarray, block: int) -> float:
  inside = 0
  for start in range(0, len(points), block):
    d2 = _squared_distances(points[start:start + block], centres)
    inside += int((d2 <= radii[None, :]).any(axis=1).sum())
  return inside / len(points)


def precision_recall(real, fake, *, k: int = 3,
                     block: int = 1024) -> tuple[float, float]:
  """Improved precision and recall (Kynkaanniemi et al. 2019, Eqs. 1-3).

  The real (fake) manifold is the union of balls around every real (fake)
  feature with radius the distance to its k-th nearest neighbour in the same
  set (k = 3 in the paper). Precision: the fraction of fake samples inside the
  real manifold; recall: the fraction of real samples inside the fake one.
  Distances are computed in blocks of ``block`` rows: memory O(block * n).
  """
  real = np.asarray(real, np.float64)
  fake = np.asarray(fake, np.float64)
  precision = _fraction_inside(fake, real, knn_radii(real, k, block), block)
  recall = _fraction_inside(real, fake, knn_radii(fake, k, block), block)
  return precision, recall
