"""The 1-D game of Goodfellow et al. 2014, Figure 1, from a real training run.

p_data is a 1-D Gaussian (or a mixture), z ~ U[-1, 1] is 1-D, G and D are
small MLPs. Training is Algorithm 1 through the project's own
``step.make_train_step`` (the same losses, Adam wiring and k D-steps as the
DCGAN path), and the whole run is one compiled ``lax.scan`` that returns
snapshots of both players. Each snapshot is then measured exactly on a grid
with ``theory``: p_g by change of variables, D*, JSD, V(D, G), V(D*, G).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.core import errors
from gan_jax.families.dcgan import step as step_lib
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
  k, m = config.d_steps, config.batch_size
  g_tx, d_tx = step_lib.make_optimizers(config.optimizer,
                                           config.num_train_steps, k)
  train_step = step_lib.make_train_step(
      generator, discriminator, g_tx, d_tx, loss=config.loss, z_dim=1,
      z_distribution=config.z_distribution)

  def snapshot(state):
    return {'step': state.step, 'g_params': state.players['g'].params,
            'd_params': state.players['d'].params}

  def one_step(state, data_key):
    return train_step(state, {'image': data.sample(data_key, (k, m, 1))})

  def one_chunk(state, data_keys):
    state, metrics = jax.lax.scan(one_step, state, data_keys)
    return state, (snapshot(state), metrics)

  @jax.jit
  def run(key):
    init_key, data_key = jax.random.split(key)
    state = step_lib.create_train_state(init_key, generator, discriminator,
                                           g_tx, d_tx, 1, (1,))
    keys = jax.random.split(data_key, config.num_train_steps).reshape(
        config.num_snapshots, -1, *data_key.shape)
    _, (snapshots, metrics) = jax.lax.scan(one_chunk, state, keys)
    snapshots = jax.tree.map(lambda first, rest: jnp.concatenate(
        [first[None], rest]), snapshot(state), snapshots)
    return snapshots, jax.tree.map(lambda h: h.reshape(-1), metrics)

  return jax.device_get(run(jax.random.PRNGKey(config.seed)))


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
    return {
        'p_g': p_g,
        'g_monotone': monotone,
        'p_g_mass_on_grid': theory.integrate(p_g, x),
        'd': d,
        'd_star': theory.optimal_discriminator(p_data, p_g),
        'g_of_z': jax.vmap(g)(z),
        'jsd': theory.jsd(p_data, p_g, x),
        'value': theory.value_of_logits(logits, p_data, p_g, x),
        'value_optimal': theory.value_of_optimal(p_data, p_g, x),
        'max_abs_d_minus_half': jnp.max(jnp.where(central,
                                                  jnp.abs(d - 0.5), 0.0)),
    }

  measured = jax.jit(lambda p: jax.lax.map(one, p))(
      (snapshots['g_params'], snapshots['d_params']))
  return jax.device_get({**measured, 'x': x, 'z': z, 'p_data': p_data,
                         'step': snapshots['step']})


def run(config, workdir: str) -> dict[str, Any]:
  """Trains, measures, draws Figure 1 and writes ``summary.json``."""
  from gan_jax.toy import figures  # pylint: disable=g-import-not-at-top
  start = time.time()
  snapshots, history = train(config)
  analysis = analyse(config, snapshots)
  wall_time_s = time.time() - start
  final = {name: analysis[name][-1] for name in (
      'jsd', 'max_abs_d_minus_half', 'value', 'value_optimal',
      'g_monotone', 'p_g_mass_on_grid')}
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
      'wall_time_s': wall_time_s,
  }
  if not summary['g_monotone']:
    logging.warning('G is not monotone at the end: p_g sums the densities of '
                    'all preimages of each x')
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    figures.figure_1(analysis, config, os.path.join(workdir, 'figure_1.png'))
    figures.training_curves(analysis, history, os.path.join(
        workdir, 'training_curves.png'))
    with open(os.path.join(workdir, 'summary.json'), 'w') as f:
      json.dump(summary, f, indent=2)
  logging.info('toy_1d: %s', json.dumps(summary))
  return summary
