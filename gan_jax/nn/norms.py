"""Spectral normalisation (Miyato et al. 2018), a discriminator option.

Miyato, Kataoka, Koyama and Yoshida, "Spectral Normalization for Generative
Adversarial Networks", ICLR 2018, divide each weight by its largest singular
value, W_SN = W / sigma(W), so every linear layer of D is 1-Lipschitz (Sec. 2.1).
sigma(W) is estimated by power iteration (Algorithm 1, Appendix A): one step
per training step, u persisted between steps,

    v <- W^T u / ||W^T u||,   u <- W v / ||W v||,   sigma(W) ~ u^T W v,

with u and v treated as constants in the gradient, which still flows through
sigma(W) (Eq. 12: the gradient of W / sigma(W) has the extra -lambda u v^T
term). A convolution kernel (kh, kw, in, out) is a matrix after a reshape:
Miyato et al. use (out, in * kh * kw); flax uses (kh * kw * in, out). The two
are transposes up to a permutation of rows/columns, so they have the same
singular values (the operator norm of the convolution itself is a different
number; Miyato et al. normalise the reshaped kernel, and so do we).

This is ``flax.linen.SpectralNorm``; ``spectral_norm`` only fixes its options
for our models:

* state: ``u`` (shape (1, out)) and ``sigma`` (shape ()) in the
  ``'batch_stats'`` collection, under the wrapper's scope as
  ``SpectralNorm_<i>/<layer name>/kernel/u`` and ``.../sigma`` (the names
  contain '/'; orbax checkpoints them as they are). They are written only when
  ``train`` is True, which needs ``mutable=['batch_stats']`` in ``apply``, as
  our train steps already pass. So the state is checkpointed, donated and
  restored with each player's batch-norm statistics. ``u`` starts as an
  unnormalised N(0, 1) draw from the 'params' RNG at ``init``; the stored
  ``sigma`` starts at 1 and is only a record (for logging): every call
  normalises by the sigma it has just computed from the stored ``u``.
* params: the wrapped layer's parameters stay where they would be without the
  wrapper (``Conv_<j>/kernel`` of the enclosing module), so a model's
  ``params`` tree does not change when spectral normalisation is switched on;
  only ``batch_stats`` gains entries. Biases (1-D) and scalars are left alone.
* init: flax's wrapper (``nn.map_variables`` with ``init=True``) stores the
  *normalised* view as the initial params, W0 / sigma_1(W0) with sigma_1 one
  power iteration from the random ``u``, not ``kernel_init``'s draw W0. The
  direction is W0's and the forward pass is unchanged (W / sigma(W) does not
  see the scale of W), but the kernels start with top singular value ~1.2-1.3
  instead of W0's (for N(0, 0.02) DCGAN kernels of 3->64, 64->128, 256->512
  channels: 0.30, 0.86, 1.73), so the optimiser's step relative to the weights
  differs from PyTorch's / Chainer's SN-GAN, which keep W0. ``apply`` with
  ``mutable=['batch_stats']`` never writes params (it would with
  ``mutable=True``).
* ``train=False`` (evaluation) still runs ``n_steps`` power iterations from the
  stored ``u``, without writing them back: deterministic, and normalised by a
  sigma one iteration fresher than the last stored one (PyTorch's
  ``spectral_norm`` reuses its stored u, v instead).
* data parallelism: params and ``u`` are replicated and the power iteration
  reads only them (never the batch), so every device computes the same ``u``
  and ``sigma``; no cross-device reduction is needed, unlike batch norm's
  statistics.

Each call with ``train=True`` is one power-iteration step, so a train step that
applies D several times with the statistics threaded through (real then fake
batch in D's update) advances ``u`` once per application.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn

COLLECTION = 'batch_stats'


def spectral_norm(layer: nn.Module, train: bool,
                  n_steps: int = 1) -> Callable[..., Any]:
  """``layer`` with its weights divided by their power-iteration sigma.

  Use it inside a compact ``__call__`` where the layer is built:

      x = norms.spectral_norm(layers.Conv(f, 2, 1), train)(x)

  Args:
    layer: an unbound layer (e.g. ``layers.Conv``, ``nn.Dense``), constructed
      in the enclosing module so its params keep their usual name.
    train: update ``u`` and ``sigma`` in 'batch_stats' (apply with
      ``mutable=['batch_stats']``); False reads them only.
    n_steps: power iterations per call (Miyato et al.: 1).

  Returns:
    The wrapped layer's ``__call__``: ``nn.SpectralNorm(layer)`` with
    ``update_stats=train`` bound.
  """
  wrapped = nn.SpectralNorm(layer, n_steps=n_steps, collection_name=COLLECTION)
  return functools.partial(wrapped, update_stats=train)
