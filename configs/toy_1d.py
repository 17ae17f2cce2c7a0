"""The 1-D toy of Goodfellow et al. 2014, Figure 1 (docs/toy_1d.md).

Presets via ``--config=configs/toy_1d.py:NAME`` (``PRESETS``; none: the first).
"""

import ml_collections

from gan_jax.core import optim

PRESETS = {
    'gaussian': 'p_data = N(2, 0.5^2), z ~ U[-1, 1] (Figure 1 of Goodfellow '
                'et al.)',
    'mixture': 'p_data = 0.5 N(-1, 0.4^2) + 0.5 N(2.5, 0.5^2): two modes a '
               'monotone G must bridge',
}


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = 'toy_1d'  # gan_jax/toy/toy_1d.py
  # Every key (initialisation, data, noise, the figure's story) derives from
  # this one.
  config.seed = 0

  # p_data: a mixture of Gaussians (one component: a Gaussian).
  config.data = ml_collections.ConfigDict()
  config.data.means = (2.0,)  # the components' means
  config.data.stds = (0.5,)  # the components' standard deviations (> 0)
  config.data.weights = ()  # () = equal weights; normalised to sum to 1
  config.z_distribution = 'uniform'  # U[-1, 1]; or 'normal'

  # The players: G maps z to x, D maps x to a logit.
  config.model = ml_collections.ConfigDict()
  # Widths of G's hidden layers (the monotone G takes exactly one).
  config.model.g_hidden = (64,)
  config.model.g_activation = 'tanh'  # (ignored when g_monotone)
  # G increasing by construction (positive weights, tanh): x = G(z) never
  # folds, so p_g = p_z / G' is exact, as in the paper's figure.
  config.model.g_monotone = True
  config.model.g_steepness = 0.5  # init of the monotone G's tanh units
  # Standard deviation of the monotone G's tanh unit centres at init.
  config.model.g_centre_spread = 1.0
  config.model.d_hidden = (64, 64)  # widths of D's hidden layers
  config.model.d_activation = 'leaky_relu'  # D's hidden activation
  # Standard deviation of D's initial hidden biases: spreads the units' kinks
  # over the x range (zero biases would bend every unit at x = 0).
  config.model.d_bias_stddev = 2.0

  # G's loss (gan_jax/losses): 'non_saturating' (Goodfellow et al. Sec. 3) or
  # 'minimax'; D descends -V(D, G) with either.
  config.loss = 'non_saturating'
  config.d_steps = 1  # k of Algorithm 1: D updates per G update
  config.batch_size = 512  # m of Algorithm 1: examples per minibatch
  config.num_train_steps = 3000  # G updates of the full run
  # Snapshots of (G, D) taken evenly over the run (divides num_train_steps).
  config.num_snapshots = 60

  # Cosine decay to 0 lets the game settle at its equilibrium instead of
  # orbiting it.
  config.optimizer = optim.optimizer_config(lr=1e-2, b1=0.5,
                                                 schedule='cosine')

  # The x and z grids every snapshot is measured on (gan_jax/toy/theory.py).
  config.grid = ml_collections.ConfigDict()
  config.grid.x_min = -2.0  # left end of the x grid (and of the figures)
  config.grid.x_max = 5.0  # right end of the x grid (and of the figures)
  config.grid.num_x = 1000  # x grid points
  config.grid.num_z = 1001  # z grid points (G's preimages are bisected in)

  # training_snapshots.png's panels: snapshot steps (-1: the last).
  config.panel_steps = (100, 300, 600, -1)

  # figure_1.png's story, panels (a)-(c), by real optimisation
  # (gan_jax/toy/toy_1d.py: figure_story); (d) is the full run's last pair.
  config.figure = ml_collections.ConfigDict()
  # (a): G and D trained by Algorithm 1 (the full run's step, optimizer and
  # schedule) on p_data shifted by this many x units: near convergence, but
  # to the wrong data, so against the true p_data G is visibly off.
  config.figure.shift = 0.9
  # G updates of that shifted run, which starts from the full run's last
  # (converged) pair, so G keeps p_data's shape and only moves.
  config.figure.shifted_steps = 400
  # (a)'s D: the shifted run's D after this many steps of (b)'s inner loop
  # against the true data: it leans towards the data, a partially accurate
  # classifier, not yet D*.
  config.figure.partial_d_steps = 3
  # (b): the inner loop, D-only Adam steps (D's loss of config.loss, fresh
  # minibatches of the true data and of (a)'s G) until D ~ D*.
  config.figure.inner_steps = 500
  # Real and fake examples per inner-loop step (and fakes per G step of (c)).
  config.figure.inner_batch_size = 512
  # The inner loop's peak Adam rate, decayed to 0 (cosine) over inner_steps:
  # the decay averages out the minibatch noise so D settles on D*.
  config.figure.inner_lr = 1e-2
  # (c): G-only Adam updates (G's loss of config.loss) against (b)'s fixed
  # D: few, since a fixed D's best reply is to collapse onto D's maximum.
  config.figure.g_steps = 10
  config.figure.g_lr = 1e-2  # (c)'s constant Adam rate

  if preset in (None, '', 'gaussian'):
    pass
  elif preset == 'mixture':
    config.data.means = (-1.0, 2.5)  # two modes, 3.5 apart
    config.data.stds = (0.4, 0.5)
    config.grid.x_min, config.grid.x_max = -3.5, 5.0  # both modes in view
  else:
    raise ValueError(f'unknown preset {preset!r} for configs/toy_1d.py; '
                     f'choose one of {tuple(PRESETS)}')
  return config
