"""The 1-D toy of Goodfellow et al. 2014, Figure 1.

Presets via ``--config=configs/toy_1d.py:NAME``:
  (none)   p_data = N(2, 0.5^2), z ~ U[-1, 1]
  mixture  p_data = 0.5 N(-1, 0.4^2) + 0.5 N(2.5, 0.5^2)
"""

import ml_collections

from gan_jax.core import optim

PRESETS = ('gaussian', 'mixture')


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = 'toy_1d'
  config.seed = 0

  config.data = ml_collections.ConfigDict()
  config.data.means = (2.0,)
  config.data.stds = (0.5,)
  config.data.weights = ()  # () = equal weights
  config.z_distribution = 'uniform'  # U[-1, 1]; or 'normal'

  config.model = ml_collections.ConfigDict()
  config.model.g_hidden = (64,)
  config.model.g_activation = 'tanh'  # (ignored when g_monotone)
  # G increasing by construction (positive weights, tanh): x = G(z) never
  # folds, so p_g = p_z / G' is exact, as in the paper's figure.
  config.model.g_monotone = True
  config.model.g_steepness = 0.5  # init of the monotone G's tanh units
  config.model.g_centre_spread = 1.0
  config.model.d_hidden = (64, 64)
  config.model.d_activation = 'leaky_relu'
  config.model.d_bias_stddev = 2.0

  config.loss = 'non_saturating'
  config.d_steps = 1
  config.batch_size = 512
  config.num_train_steps = 3000
  config.num_snapshots = 60

  # Cosine decay to 0 lets the game settle at its equilibrium instead of
  # orbiting it.
  config.optimizer = optim.optimizer_config(lr=1e-2, b1=0.5,
                                                 schedule='cosine')

  config.grid = ml_collections.ConfigDict()
  config.grid.x_min = -2.0
  config.grid.x_max = 5.0
  config.grid.num_x = 1000
  config.grid.num_z = 1001

  # Figure 1's panels (a)-(d): snapshot steps (-1: the last).
  config.panel_steps = (100, 300, 600, -1)

  if preset in (None, '', 'gaussian'):
    pass
  elif preset == 'mixture':
    config.data.means = (-1.0, 2.5)
    config.data.stds = (0.4, 0.5)
    config.grid.x_min, config.grid.x_max = -3.5, 5.0
  else:
    raise ValueError(f'unknown preset {preset!r} for configs/toy_1d.py; '
                     f'choose one of {PRESETS}')
  return config
