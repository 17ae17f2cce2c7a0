"""The 1-D game of Goodfellow et al. 2014, Figure 1, from a real training run.

p_data is a 1-D Gaussian (or a mixture), z ~ U[-1, 1] is 1-D, G and D are
small MLPs. Training is Algorithm 1 through the project's own
``step.make_train_step`` (the same losses, Adam wiring and k D-steps as the
DCGAN path), and the whole run is one compiled ``lax.scan`` that returns
snapshots of both players. Each snapshot is then measured exactly on a grid
with ``theory``: p_g by change of variables, D*, JSD, V(D, G), V(D*, G).

``figure_story`` tells the paper's Figure 1 by real optimisation, as its
caption does: (a) a pair near convergence to data shifted by
``config.figure.shift``, (b) the same G with D trained by the inner loop to
D*, (c) G updated against that D, (d) the full run's converged pair.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import losses
from gan_jax.core import errors, optim
from gan_jax.core import state as state_lib
from gan_jax.families.dcgan import step as step_lib
from gan_jax.nn.latent import sample_latent
from gan_jax.toy import mlp, theory


@dataclasses.dataclass(frozen=True)
class Mixture1D:
  """sum_i weights_i N(means_i, stds_i^2); a single Gaussian has one component."""
  means: tuple[float, ...]
  stds: tuple[float, ...]
  weights: tuple[float, ...]

  @classmethod
  def from_config(cls, data) -> 'Mixture1D':
    means, stds = tuple(data.means), tuple(data.stds)
    weights = tuple(data.weights) if data.weights else (1.0,) * len(means)
    if not means or not len(means) == len(stds) == len(weights):
      raise errors.ConfigError(
          'config.data.means, data.stds and data.weights must be non-empty '
          f'and of equal length, got {means}, {stds}, {weights}')
    if min(stds) <= 0 or min(weights) <= 0:
      raise errors.ConfigError(
          f'config.data.stds and data.weights must be positive, got {stds}, '
          f'{weights}')
    total = sum(weights)
    return cls(means, stds, tuple(w / total for w in weights))

  def sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    comp_key, noise_key = jax.random.split(key)
    comp = jax.random.choice(comp_key, len(self.means), shape,
                             p=jnp.array(self.weights))
    noise = jax.random.normal(noise_key, shape)
    return jnp.array(self.means)[comp] + jnp.array(self.stds)[comp] * noise

  def pdf(self, x: jax.Array) -> jax.Array:
    return sum(w * jax.scipy.stats.norm.pdf(x, m, s)
               for m, s, w in zip(self.means, self.stds, self.weights))


def build_players(config):
  for field in ('g_activation', 'd_activation'):
    if config.model[field] not in mlp.ACTIVATIONS:
      raise errors.ConfigError(
          f'config.model.{field} must be one of {sorted(mlp.ACTIVATIONS)}, '
          f'got {config.model[field]!r}')
  if config.model.g_monotone:
    generator = mlp.MonotoneMLP(tuple(config.model.g_hidden),
                                steepness=config.model.g_steepness,
                                centre_spread=config.model.g_centre_spread)
  else:
    generator = mlp.MLP(tuple(config.model.g_hidden), out_dim=1,
                        activation=config.model.g_activation)
  discriminator = mlp.MLP(tuple(config.model.d_hidden),
                          activation=config.model.d_activation,
                          bias_stddev=config.model.d_bias_stddev)
  return generator, discriminator


def _algorithm_1(config, data: Mixture1D, generator, discriminator,
                 num_train_steps: int):
  """Algorithm 1 on ``data`` through ``step.make_train_step``, the optimizers'
  schedules spanning ``num_train_steps``: (init, start, one_step) with
  init(key) -> a new state, start(rng, g_params, d_params) -> a state of
  those players with fresh optimizers, one_step(state, data_key) -> (state,
  metrics)."""
  k, m = config.d_steps, config.batch_size
  g_tx, d_tx = step_lib.make_optimizers(config.optimizer, num_train_steps, k)
  train_step = step_lib.make_train_step(
      generator, discriminator, g_tx, d_tx, loss=config.loss, z_dim=1,
      z_distribution=config.z_distribution)

  def init(key):
    return step_lib.create_train_state(key, generator, discriminator, g_tx,
                                       d_tx, 1, (1,))

  def start(rng, g_params, d_params):
    return state_lib.new_state(rng, {
        'g': state_lib.make_player({'params': g_params}, g_tx),
        'd': state_lib.make_player({'params': d_params}, d_tx)})

  def one_step(state, data_key):
    return train_step(state, {'image': data.sample(data_key, (k, m, 1))})

  return init, start, one_step


def train(config) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """Runs Algorithm 1 as one compiled scan.

  Returns (snapshots, history): snapshots holds 'step', 'g_params',
  'd_params' stacked over ``num_snapshots + 1`` points (the first is the
  initialisation); history holds the per-step metrics of the step function.
  """
  if config.num_train_steps % config.num_snapshots:
    raise errors.ConfigError(
        f'config.num_train_steps {config.num_train_steps} must be a '
        f'multiple of config.num_snapshots {config.num_snapshots}')
  data = Mixture1D.from_config(config.data)
  generator, discriminator = build_players(config)
  init, _, one_step = _algorithm_1(config, data, generator, discriminator,
                                   config.num_train_steps)

  def snapshot(state):
    return {'step': state.step, 'g_params': state.players['g'].params,
            'd_params': state.players['d'].params}

  def one_chunk(state, data_keys):
    state, metrics = jax.lax.scan(one_step, state, data_keys)
    return state, (snapshot(state), metrics)

  @jax.jit
  def run(key):
    init_key, data_key = jax.random.split(key)
    state = init(init_key)
    keys = jax.random.split(data_key, config.num_train_steps).reshape(
        config.num_snapshots, -1, *data_key.shape)
    _, (snapshots, metrics) = jax.lax.scan(one_chunk, state, keys)
    snapshots = jax.tree.map(lambda first, rest: jnp.concatenate(
        [first[None], rest]), snapshot(state), snapshots)
    return snapshots, jax.tree.map(lambda h: h.reshape(-1), metrics)

  return jax.device_get(run(jax.random.PRNGKey(config.seed)))


# Figure 1's pairs (G, D), in the order figure_story stacks them.
STORY = ('a', 'b', 'c')


def figure_story(config, snapshots) -> dict[str, Any]:
  """Panels (a)-(c) of Figure 1 by real optimisation (``config.figure``).

  (a) A pair near convergence, but to the wrong data: the full run's last
      pair (``snapshots``), trained on by Algorithm 1 (the same step function,
      fresh Adam with config.optimizer's schedule) for ``figure.shifted_steps``
      steps on p_data shifted by ``figure.shift``. G keeps p_data's shape and
      moves: against the true p_data it is off. D has then taken the first
      ``figure.partial_d_steps`` steps of (b)'s inner loop, so it leans
      towards the data: a partially accurate classifier.
  (b) The same G; D goes on with the inner loop of Algorithm 1 alone: D's
      loss (``config.loss``) on fresh minibatches of the true data and of G,
      ``figure.inner_steps`` Adam steps in all at a rate decaying from
      ``figure.inner_lr`` to 0 (cosine), so D converges to
      D* = p_data / (p_data + p_g).
  (c) That D held fixed, ``figure.g_steps`` Adam updates of G on G's loss
      (``config.loss``): G(z) flows along D's gradient towards the data.

  One compiled function; its keys derive from ``config.seed`` (a stream
  independent of the full run's). Returns {'g_params', 'd_params'} stacked
  over ``STORY``: (G_a, D_a), (G_a, D_b), (G_c, D_b).
  """
  validate(config)
  fig = config.figure
  data = Mixture1D.from_config(config.data)
  shifted = dataclasses.replace(
      data, means=tuple(mean + fig.shift for mean in data.means))
  generator, discriminator = build_players(config)
  _, start, shifted_step = _algorithm_1(config, shifted, generator,
                                        discriminator, fig.shifted_steps)
  # config.optimizer's Adam, at the inner loop's and (c)'s own rates.
  adam = functools.partial(optim.optimizer_config, b1=config.optimizer.b1,
                           b2=config.optimizer.b2, eps=config.optimizer.eps)
  d_tx = optim.make_optimizer(adam(fig.inner_lr, schedule='cosine'),
                              fig.inner_steps)
  g_tx = optim.make_optimizer(adam(fig.g_lr))
  m = fig.inner_batch_size

  def fakes(g_params, key):
    z = sample_latent(key, m, 1, config.z_distribution)
    return generator.apply({'params': g_params}, z)

  def d_step(g_params, carry, step_and_key):
    """One step of the inner loop: D ascends V(D, G) on fresh minibatches."""
    d, d_a = carry
    step, key = step_and_key
    # (a)'s D: the inner loop's D after partial_d_steps steps.
    d_a = jax.tree.map(lambda now, kept: jnp.where(
        step == fig.partial_d_steps, now, kept), d.params, d_a)
    real_key, z_key = jax.random.split(key)
    real, fake = data.sample(real_key, (m, 1)), fakes(g_params, z_key)

    def d_loss(params):
      judge = lambda x: discriminator.apply({'params': params}, x)
      return losses.discriminator_loss(judge(real), judge(fake), config.loss)

    return (state_lib.apply_gradients(d, jax.grad(d_loss)(d.params), d_tx),
            d_a), None

  def g_step(d_params, g, key):
    """One update of G against the fixed D."""

    def g_loss(params):
      return losses.generator_loss(discriminator.apply(
          {'params': d_params}, fakes(params, key)), config.loss)

    return state_lib.apply_gradients(g, jax.grad(g_loss)(g.params), g_tx), None

  @jax.jit
  def story(key, g_start, d_start):
    state_key, shifted_key, inner_key, g_key = jax.random.split(key, 4)
    state, _ = jax.lax.scan(shifted_step, start(state_key, g_start, d_start),
                            jax.random.split(shifted_key, fig.shifted_steps))
    g_a, d_shifted = state.players['g'].params, state.players['d'].params
    (d_b, d_a), _ = jax.lax.scan(
        functools.partial(d_step, g_a),
        (state_lib.make_player({'params': d_shifted}, d_tx), d_shifted),
        (jnp.arange(fig.inner_steps),
         jax.random.split(inner_key, fig.inner_steps)))
    d_b = d_b.params
    g_c, _ = jax.lax.scan(functools.partial(g_step, d_b),
                          state_lib.make_player({'params': g_a}, g_tx),
                          jax.random.split(g_key, fig.g_steps))
    g_c = g_c.params
    stack = lambda *trees: jax.tree.map(lambda *leaves: jnp.stack(leaves),
                                        *trees)
    return {'g_params': stack(g_a, g_a, g_c), 'd_params': stack(d_a, d_b, d_b)}

  last = lambda tree: jax.tree.map(lambda leaf: leaf[-1], tree)
  return jax.device_get(story(
      jax.random.fold_in(jax.random.PRNGKey(config.seed), 1),
      last(snapshots['g_params']), last(snapshots['d_params'])))


def validate(config) -> None:
  """Checks ``config.figure``; errors name the field."""
  fig = config.figure
  errors.positive_ints(config, 'figure.shifted_steps', 'figure.inner_steps',
                       'figure.inner_batch_size', 'figure.g_steps')
  errors.require(isinstance(fig.partial_d_steps, int)
                 and not isinstance(fig.partial_d_steps, bool)
                 and 0 <= fig.partial_d_steps < fig.inner_steps,
                 'figure.partial_d_steps',
                 'must be an integer in [0, figure.inner_steps)',
                 fig.partial_d_steps)
  errors.require(isinstance(fig.shift, (int, float))
                 and not isinstance(fig.shift, bool) and fig.shift != 0
                 and np.isfinite(fig.shift), 'figure.shift',
                 'must be a finite non-zero number (x units)', fig.shift)
  errors.positive_numbers(config, 'figure.inner_lr', 'figure.g_lr')


def grids(config):
  """(x grid, z grid, the density p_z)."""
  x = jnp.linspace(config.grid.x_min, config.grid.x_max, config.grid.num_x)
  if config.z_distribution == 'uniform':  # U[-1, 1]
    z = jnp.linspace(-1.0, 1.0, config.grid.num_z)
    p_z = lambda zi: jnp.full_like(zi, 0.5)
  else:  # N(0, 1), truncated to +-6 sigma on the grid
    z = jnp.linspace(-6.0, 6.0, config.grid.num_z)
    p_z = jax.scipy.stats.norm.pdf
  return x, z, p_z


def high_density_region(p: jax.Array, x: jax.Array, mass: float) -> jax.Array:
  """Mask of the smallest set {p >= t} holding ``mass`` of p (for a Gaussian:
  the central interval; for a mixture it leaves out the empty gaps)."""
  cell = p * (x[1] - x[0])
  order = jnp.argsort(-p)
  cumulative = jnp.cumsum(cell[order])
  threshold = p[order][jnp.searchsorted(cumulative, mass * cell.sum())]
  return p >= threshold


def analyse(config, snapshots) -> dict[str, np.ndarray]:
  """The exact theory quantities of every snapshot (stacked on axis 0)."""
  generator, discriminator = build_players(config)
  data = Mixture1D.from_config(config.data)
  x, z, p_z = grids(config)
  p_data = data.pdf(x)
  central = high_density_region(p_data, x, 0.95)

  def one(params):
    g_params, d_params = params
    g = lambda zi: generator.apply({'params': g_params},
                                   zi.reshape(1, 1))[0, 0]
    p_g, monotone = theory.pushforward_density(g, z, p_z, x)
    logits = discriminator.apply({'params': d_params}, x[:, None])
    d = jax.nn.sigmoid(logits)
    d_star = theory.optimal_discriminator(p_data, p_g)
    return {
        'p_g': p_g,
        'g_monotone': monotone,
        'p_g_mass_on_grid': theory.integrate(p_g, x),
        'd': d,
        'd_star': d_star,
        'g_of_z': jax.vmap(g)(z),
        'jsd': theory.jsd(p_data, p_g, x),
        'value': theory.value_of_logits(logits, p_data, p_g, x),
        'value_optimal': theory.value_of_optimal(p_data, p_g, x),
        'max_abs_d_minus_half': jnp.max(jnp.where(central,
                                                  jnp.abs(d - 0.5), 0.0)),
        'max_abs_d_minus_d_star': jnp.max(jnp.where(
            central, jnp.abs(d - d_star), 0.0)),
    }

  measured = jax.jit(lambda p: jax.lax.map(one, p))(
      (snapshots['g_params'], snapshots['d_params']))
  return jax.device_get({**measured, 'x': x, 'z': z, 'p_data': p_data,
                         'step': snapshots['step']})


def _split(measured, num: int):
  """``analyse``'s result over stacked pairs -> (the first ``num``, the rest);
  the grids and p_data go to both."""
  shared = ('x', 'z', 'p_data')
  head = {k: v if k in shared else v[:num] for k, v in measured.items()}
  tail = {k: v if k in shared else v[num:] for k, v in measured.items()}
  return head, tail


def measure(config) -> dict[str, Any]:
  """Trains, tells Figure 1's story and measures both: {'summary', 'analysis'
  (the run's snapshots), 'story' (the pairs of ``STORY``), 'history'}."""
  validate(config)
  start = time.time()
  snapshots, history = train(config)
  story_start = time.time()
  story = figure_story(config, snapshots)
  story_wall_time_s = time.time() - story_start
  # One measurement of the run's snapshots and the story's pairs together:
  # each pair is measured alone (lax.map), and one compilation serves both.
  num = len(snapshots['step'])
  pairs = jax.tree.map(lambda run_, story_: np.concatenate([run_, story_]),
                       {'g_params': snapshots['g_params'],
                        'd_params': snapshots['d_params']}, story)
  analysis, story_analysis = _split(analyse(config, {
      **pairs, 'step': np.concatenate([snapshots['step'],
                                       np.full(len(STORY), -1)])}), num)
  wall_time_s = time.time() - start
  final = {name: analysis[name][-1] for name in (
      'jsd', 'max_abs_d_minus_half', 'value', 'value_optimal',
      'g_monotone', 'p_g_mass_on_grid')}
  a, b, c = range(len(STORY))
  summary = {
      'family': 'toy_1d',
      'seed': config.seed,
      'step': int(analysis['step'][-1]),
      'jsd': float(final['jsd']),
      'max_abs_d_minus_half': float(final['max_abs_d_minus_half']),
      'value': float(final['value']),
      'value_minus_neg_log4': float(final['value'] + np.log(4.0)),
      'value_optimal': float(final['value_optimal']),
      'g_monotone': bool(final['g_monotone']),
      'p_g_mass_on_grid': float(final['p_g_mass_on_grid']),
      # figure_1.png's panels (a)-(c) (figure_story); |D - D*| over the 95 %
      # highest-density region of p_data.
      'figure_1': {
          'shift': float(config.figure.shift),
          'a_max_abs_d_minus_d_star': float(
              story_analysis['max_abs_d_minus_d_star'][a]),
          'b_max_abs_d_minus_d_star': float(
              story_analysis['max_abs_d_minus_d_star'][b]),
          'c_jsd_before': float(story_analysis['jsd'][b]),
          'c_jsd_after': float(story_analysis['jsd'][c]),
          'wall_time_s': story_wall_time_s,
      },
      'wall_time_s': wall_time_s,
  }
  if not summary['g_monotone']:
    logging.warning('G is not monotone at the end: p_g sums the densities of '
                    'all preimages of each x')
  return {'summary': summary, 'analysis': analysis, 'story': story_analysis,
          'history': history}


def write(config, workdir: str, measured: dict[str, Any]) -> None:
  """figure_1.png, training_snapshots.png, training_curves.png and
  summary.json of ``measure``'s result."""
  from gan_jax.toy import figures  # pylint: disable=g-import-not-at-top
  if jax.process_index():
    return
  os.makedirs(workdir, exist_ok=True)
  analysis = measured['analysis']
  figures.figure_1(measured['story'], analysis, config,
                   os.path.join(workdir, 'figure_1.png'))
  figures.training_snapshots(analysis, config, os.path.join(
      workdir, 'training_snapshots.png'))
  figures.training_curves(analysis, measured['history'], os.path.join(
      workdir, 'training_curves.png'))
  with open(os.path.join(workdir, 'summary.json'), 'w') as f:
    json.dump(measured['summary'], f, indent=2)


def run(config, workdir: str) -> dict[str, Any]:
  """Trains, tells Figure 1's story, measures, draws the figures and writes
  ``summary.json``; returns the summary."""
  measured = measure(config)
  write(config, workdir, measured)
  logging.info('toy_1d: %s', json.dumps(measured['summary']))
  return measured['summary']
