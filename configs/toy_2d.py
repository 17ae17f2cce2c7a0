"""The 2-D mode-collapse benchmark (PacGAN, Lin et al. 2018, Table 1).

``--config.method`` is one of gan, pacgan2, pacgan3, pacgan4, recipe, a
comma-separated list of them (e.g. gan,pacgan2,pacgan4: the methods of
PacGAN's Table 1), or ``all``; table.md compares the methods trained with the
published rows. See gan_jax/toy/toy_2d.py; launch/toy_2d_table.sh trains the
table's rows at the paper's length.
"""

import ml_collections

from gan_jax.core import optim

# Name -> one line (``--help``); the first is the default.
PRESETS = {
    'ring': "PacGAN's ring: 8 Gaussians on a circle",
    'grid': "PacGAN's grid: 25 Gaussians on a 5x5 grid",
}


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = 'toy_2d'  # gan_jax/toy/toy_2d.py
  config.seed = 0  # the first seed; seeds seed .. seed + num_seeds - 1
  # gan, pacgan2, pacgan3, pacgan4, recipe, a comma-separated list, or 'all'.
  config.method = 'all'
  config.num_seeds = 10  # independent runs per method (vmapped)

  config.data = ml_collections.ConfigDict()
  config.data.mixture = 'ring'  # 'ring' (8 modes) or 'grid' (25 modes)

  # PacGAN's released synthetic_data_experiments configuration.
  config.model = ml_collections.ConfigDict()
  config.model.z_dim = 2  # length of G's noise vector z
  config.model.z_distribution = 'normal'  # N(0, I); or 'uniform'
  config.model.g_hidden = (400, 400, 400, 400)  # G's hidden widths
  config.model.g_batch_norm = True  # G: ReLU + batch norm hidden layers
  # Without batch norm, G is a plain MLP (gan_jax/toy/mlp.py) of this
  # activation, its biases ~ N(0, g_bias_stddev^2).
  config.model.g_activation = 'relu'
  config.model.g_bias_stddev = 0.0  # (without batch norm) see g_activation
  config.model.d_hidden = (200, 200, 200)  # D's hidden widths (maxout)
  config.model.d_pieces = 5  # maxout pieces
  config.model.init_stddev = 0.02  # weights ~ N(0, 0.02^2)
  config.loss = 'non_saturating'  # the adversarial pair (gan_jax/losses)
  config.r1_gamma = 0.0  # R1 penalty weight (gan_jax/losses.py)
  config.batch_size = 100  # packs per D batch: pack x 100 samples
  # > 0: the last late_batch_steps steps use this many packs per batch
  # (toy_2d.batch_phases).
  config.late_batch_size = 0
  config.late_batch_steps = 0  # see late_batch_size
  config.d_steps = 1  # k of Algorithm 1
  # True: both players step from the same point, as PacGAN's released code
  # does; False: alternating, as Algorithm 1 (step.make_train_step).
  config.simultaneous_updates = False
  # > 0: evaluate an exponential average of G's weights with this decay
  # (core.optim.ema_update) instead of the last ones; a batch-norm G
  # keeps its last population statistics.
  config.g_ema_decay = 0.0
  # Adam as PacGAN's released code: lr 1e-4, beta1 0.8.
  config.optimizer = optim.optimizer_config(lr=1e-4, b1=0.8)
  # The paper trains 400 epochs of 1,000 steps; see the README for what
  # this length reproduces.
  config.num_train_steps = 20000

  config.eval_num_samples = 2500  # samples of G per measurement (PacGAN: 2500)
  # > 0: evaluate (summary.json's trajectory, trajectory.png) and checkpoint
  # every eval_every_steps steps; a rerun of the same command resumes there.
  config.eval_every_steps = 0
  config.figure_seeds = 5  # panels per method in samples.png

  if preset in (None, '', 'ring'):
    pass
  elif preset == 'grid':
    config.data.mixture = 'grid'
  else:
    raise ValueError(f'unknown preset {preset!r} for configs/toy_2d.py; '
                     f'choose one of {tuple(PRESETS)}')
  return config
