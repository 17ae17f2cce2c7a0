"""Reconstruction losses of conditional GANs."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def l1(prediction: jax.Array, target: jax.Array) -> jax.Array:
  """Mean absolute error, E[||y - G(x, z)||_1]: pix2pix's L1 term.

  Isola et al. 2017, Eq. 3, averaged over every element (as torch's L1Loss in
  the released code). The weight lambda (100 in the paper) is applied by the
  caller.
  """
  return jnp.mean(jnp.abs(prediction - target))
