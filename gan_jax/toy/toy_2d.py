"""The 2-D mode-collapse benchmark of PacGAN (Lin et al. 2018, Table 1).

Data: the ring (8 Gaussians on the unit circle, sigma 0.01) and the grid (25
Gaussians at {-4, -2, 0, 2, 4}^2, sigma 0.05), equal weights. Players as in
the paper's released ``synthetic_data_experiments``: G an MLP of four
400-unit [Dense -> BatchNorm -> ReLU] layers on z ~ N(0, I_2); D three maxout
layers (200 units x 5 pieces) and a linear logit, judging ``pack`` samples
at once for PacGAN; Adam(1e-4, beta1 0.8), batch 100 (packs), the
non-saturating loss, weights ~ N(0, 0.02).

Training goes through the project's own ``step.make_train_step`` (the DCGAN
path's losses and Adam wiring; packing lives entirely inside D), and all
seeds of a method train in one compiled call: ``jax.vmap`` over seeds of a
``lax.scan`` over steps. With ``eval_every_steps`` > 0 the run is cut into
segments of that many steps, one compiled call each: after every segment the
seeds are evaluated (the trajectory) and checkpointed, so a long run (the
paper's length is hours per method on a CPU) can be stopped and resumed.

Differences from the released code, none of which looks at the true modes:
fresh mixture samples every step instead of epochs over a fixed 100k-sample
set; G and D updated alternately (Algorithm 1) instead of simultaneously
(``simultaneous_updates`` = True is the released code's update, see
``step.make_train_step``); a pack's samples come from one G batch (BatchNorm
sees pack x 100 samples) instead of ``pack`` batches of 100; G's output bias
starts ~ N(0, 0.02), not at 0. The paper runs 400 epochs x 1,000 = 400k
steps; ``num_train_steps`` defaults to far fewer.

Metrics (PacGAN's ``MetricLogger``, on ``eval_num_samples`` = 2,500 samples
of G with its population statistics): a sample is high quality if its
distance to the nearest mean is below 3 sigma; a mode is captured if it is
the nearest mean of at least one high-quality sample; reverse KL is
KL(q || u) = sum_j q_j log(q_j K), q the histogram of the high-quality
samples over the K modes (0 log 0 = 0) and u uniform, so a G that covers
every mode equally scores 0 and one that sits on a single mode log K.

Methods: 'gan' (pack 1), 'pacgan2', 'pacgan3', 'pacgan4', and 'recipe', this
project's best setting (``RECIPE``: pack 2, G without batch norm, Adam beta1
0 at lr 1e-3 decayed to 0, R1 0.1; the reasons and measurements are at
``RECIPE``). ``config.method`` names one, a comma-separated list or 'all'.
A method's settings replace the config's values of those fields.
Any method can end on a bigger batch: ``late_batch_size`` packs for the last
``late_batch_steps`` steps (``batch_phases``), a second scan in the same call.
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

from gan_jax.core import checkpoints, errors, optim
from gan_jax.families.dcgan import step as step_lib
from gan_jax.nn import latent
from gan_jax.toy import mlp

# method -> (pack, the config fields it sets). The recipe keeps PacGAN's D,
# widths, loss and batch, and changes what governs how the game settles, none
# of it informed by the true modes (docs/toy_2d.md has what each bought):
#   * Adam beta1 = 0: momentum makes alternating gradient steps circle an
#     equilibrium (Gidel et al. 2019), and circling samples are samples
#     between modes;
#   * G without batch norm: batch norm re-standardises every layer, which
#     caps how steeply G can fold z-space into separate modes;
#   * R1 = 0.1 (Mescheder et al. 2018): damps D's slope on the data so the
#     game converges locally instead of orbiting;
#   * lr 1e-3 with a cosine decay to 0: the grid's G must spread over a 10x
#     wider square, and the decay lets the samples land at the end;
#   * pack 2: the PacGAN2 row's mode coverage.
RECIPE = {'optimizer.schedule': 'cosine', 'optimizer.b1': 0.0,
          'optimizer.lr': 1e-3, 'r1_gamma': 0.1, 'model.g_batch_norm': False}
METHODS = {
    'gan': (1, {}),
    'pacgan2': (2, {}),
    'pacgan3': (3, {}),
    'pacgan4': (4, {}),
    'recipe': (2, RECIPE),
}
METRICS = ('modes', 'hq', 'rev_kl')


@dataclasses.dataclass(frozen=True)
class Mixture2D:
  """Equal-weight isotropic Gaussians N(means_j, sigma^2 I)."""
  name: str
  means: np.ndarray  # (K, 2)
  sigma: float

  def sample(self, key: jax.Array, num: int) -> jax.Array:
    mode_key, noise_key = jax.random.split(key)
    modes = jax.random.randint(mode_key, (num,), 0, len(self.means))
    return (jnp.asarray(self.means, jnp.float32)[modes]
            + self.sigma * jax.random.normal(noise_key, (num, 2)))


def ring() -> Mixture2D:
  angles = 2 * np.pi * np.arange(8) / 8
  return Mixture2D('ring', np.stack([np.cos(angles), np.sin(angles)], 1), 0.01)


def grid() -> Mixture2D:
  axis = np.arange(-4.0, 5.0, 2.0)
  return Mixture2D('grid', np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2),
                   0.05)


MIXTURES = {'ring': ring, 'grid': grid}


def mode_metrics(samples: jax.Array, mixture: Mixture2D,
                 threshold: float = 3.0) -> dict[str, jax.Array]:
  """modes captured, high-quality fraction, reverse KL (see module doc)."""
  means = jnp.asarray(mixture.means, jnp.float32)
  distance = jnp.linalg.norm(samples[:, None, :] - means[None], axis=-1)
  nearest = jnp.argmin(distance, axis=1)
  good = jnp.min(distance, axis=1) < threshold * mixture.sigma
  counts = jnp.zeros(len(means)).at[nearest].add(good.astype(jnp.float32))
  total = jnp.sum(counts)
  q = counts / jnp.maximum(total, 1.0)
  rev_kl = jnp.sum(jnp.where(q > 0, q * jnp.log(q * len(means)), 0.0))
  return {'modes': jnp.sum(counts > 0).astype(jnp.float32),
          'hq': total / samples.shape[0],
          # With no high-quality sample at all, q is undefined: worst case.
          'rev_kl': jnp.where(total > 0, rev_kl, jnp.log(len(means)))}


def parse_methods(spec: str) -> list[str]:
  """``config.method``: one method, a comma-separated list of them, or 'all'
  (every method in ``METHODS``' order)."""
  if spec == 'all':
    return list(METHODS)
  methods = [name.strip() for name in spec.split(',')]
  unknown = [name for name in methods if name not in METHODS]
  if unknown:
    raise errors.ConfigError(
        f"config.method must be one of {sorted(METHODS)}, a comma-separated "
        f"list of them, or 'all'; got {spec!r}")
  if len(set(methods)) != len(methods):
    raise errors.ConfigError(
        f'config.method names a method twice: {spec!r}')
  return methods


def method_config(config, method: str):
  """The config with ``method``'s overrides applied; returns (config, pack)."""
  if method not in METHODS:
    raise errors.ConfigError(
        f"config.method must be one of {sorted(METHODS)} or 'all', got "
        f'{method!r}')
  pack, overrides = METHODS[method]
  config = config.copy_and_resolve_references()
  config.update_from_flattened_dict(overrides)
  if config.r1_gamma < 0:
    raise errors.ConfigError(
        f'config.r1_gamma must be non-negative, got {config.r1_gamma!r}')
  if not 0.0 <= config.g_ema_decay < 1.0:
    raise errors.ConfigError(
        f'config.g_ema_decay must be in [0, 1), got {config.g_ema_decay!r}')
  if config.d_steps < 1:
    raise errors.ConfigError(
        f'config.d_steps must be a positive integer, got {config.d_steps!r}')
  if config.simultaneous_updates and config.d_steps != 1:
    raise errors.ConfigError(
        'config.simultaneous_updates takes config.d_steps = 1, got '
        f'{config.d_steps!r}')
  if config.late_batch_size < 0:
    raise errors.ConfigError(
        'config.late_batch_size must be non-negative, got '
        f'{config.late_batch_size!r}')
  if not 0 <= config.late_batch_steps <= config.num_train_steps:
    raise errors.ConfigError(
        'config.late_batch_steps must be in [0, num_train_steps = '
        f'{config.num_train_steps}], got {config.late_batch_steps!r}')
  if config.model.g_activation not in mlp.ACTIVATIONS:
    raise errors.ConfigError(
        f'config.model.g_activation must be one of {sorted(mlp.ACTIVATIONS)}, '
        f'got {config.model.g_activation!r}')
  return config, pack


def batch_phases(config) -> list[tuple[int, int]]:
  """[(steps, packs per batch)]: ``batch_size`` packs, then ``late_batch_size``
  for the last ``late_batch_steps`` steps.

  The late phase feeds D and G more samples per step once the modes are
  found: what is left then is thin mass between modes that drowns in the noise
  of minibatch gradients, and a bigger batch lowers that noise without the
  smaller steps a lower learning rate would take (Smith et al. 2018, "Don't
  decay the learning rate, increase the batch size").
  """
  late_steps = config.late_batch_steps if config.late_batch_size else 0
  phases = [(config.num_train_steps - late_steps, config.batch_size),
            (late_steps, config.late_batch_size)]
  return [(steps, batch) for steps, batch in phases if steps > 0]


def segments(config, start: int = 0) -> list[list[tuple[int, int]]]:
  """The run from step ``start`` on, cut at every multiple of
  ``eval_every_steps``
  (0: never), where it is evaluated (the trajectory) and, with a workdir,
  checkpointed: a list of segments, each its [(steps, packs per batch)] pieces
  of ``batch_phases``. A segment is one compiled call."""
  every, total = config.eval_every_steps, config.num_train_steps
  cuts = [*(range(every, total, every) if every else ()), total]
  phases = batch_phases(config)
  out, first = [], 0
  for end in cuts:
    pieces, phase_start = [], 0
    for steps, batch in phases:
      lo, hi = max(first, start, phase_start), min(end, phase_start + steps)
      if hi > lo:
        pieces.append((hi - lo, batch))
      phase_start += steps
    if pieces:
      out.append(pieces)
    first = end
  return out


# Fields that may change when a run resumes: they change what is written, not
# what is trained.
RESUMABLE_CHANGES = ('method', 'figure_seeds', 'eval_every_steps',
                     'eval_num_samples')


def _check_resumable(path: str, config) -> None:
  """A workdir resumes only the run it holds: same settings, else one error."""
  wanted = {k: v for k, v in config.to_dict().items()
            if k not in RESUMABLE_CHANGES}
  wanted = json.loads(json.dumps(wanted))  # tuples as JSON lists
  if not os.path.exists(path):
    with open(path, 'w') as f:
      json.dump(wanted, f, indent=2)
    return
  with open(path) as f:
    saved = json.load(f)
  differ = sorted(k for k in wanted.keys() | saved.keys()
                  if wanted.get(k) != saved.get(k))
  if differ:
    raise errors.ConfigError(
        f'{path} holds a run of other settings ('
        + '; '.join(f'{k}: saved {saved.get(k)!r}, now {wanted.get(k)!r}'
                    for k in differ)
        + '). Use those settings to resume it, or a new --workdir.')


def train_seeds(config, method: str, mixture: Mixture2D,
                workdir: str | None = None) -> dict[str, Any]:
  """Trains ``config.num_seeds`` seeds of ``method``, all in one compiled call
  per segment (``segments``): ``jax.vmap`` over seeds of a ``lax.scan`` over
  steps.

  With ``workdir`` and ``eval_every_steps`` > 0, every segment's end is
  checkpointed
  there (orbax) with the trajectory so far, and a run found there resumes from
  its latest step.
  Returns numpy arrays over seeds: the metrics, the evaluation samples
  (seeds, eval_num_samples, 2) and the last step's losses, plus
  ``trajectory``: the metrics' summary at the end of every segment.
  """
  config, pack = method_config(config, method)
  if METHODS[method][1]:
    logging.info("method %s sets %s over the config's values", method,
                 METHODS[method][1])
  if config.model.g_batch_norm:
    generator = mlp.BatchNormMLP(tuple(config.model.g_hidden),
                                 init_stddev=config.model.init_stddev)
  else:
    generator = mlp.MLP(tuple(config.model.g_hidden), out_dim=2,
                        activation=config.model.g_activation,
                        bias_stddev=config.model.g_bias_stddev)
  discriminator = mlp.MaxoutMLP(tuple(config.model.d_hidden),
                                pieces=config.model.d_pieces, pack=pack,
                                init_stddev=config.model.init_stddev)
  g_tx, d_tx = step_lib.make_optimizers(config.optimizer,
                                           config.num_train_steps,
                                           config.d_steps)
  train_step = step_lib.make_train_step(
      generator, discriminator, g_tx, d_tx, loss=config.loss,
      z_dim=config.model.z_dim, z_distribution=config.model.z_distribution,
      simultaneous=config.simultaneous_updates, r1_gamma=config.r1_gamma)

  def real_batch(data_key, batch_size):
    samples_per_step = batch_size * pack  # D sees batch_size packs
    real = mixture.sample(data_key, config.d_steps * samples_per_step)
    return {'image': real.reshape(config.d_steps, samples_per_step, 2)}

  def init(key):
    init_key, data_key, _ = jax.random.split(key, 3)  # as in step_keys
    state = step_lib.create_train_state(
        init_key, generator, discriminator, g_tx, d_tx, config.model.z_dim,
        (2,), init_batch=2 * pack)
    losses_shape = jax.eval_shape(train_step, state,
                                  real_batch(data_key, 1))[1]
    # 'last': the latest step's losses, carried so a resumed run has them.
    return {'state': state, 'g_average': state.players['g'].params,
            'last': jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                                 losses_shape)}

  def train_segment(pieces, from_scratch):
    def make_step(batch_size):
      def one_step(carry, data_key):
        state, metrics = train_step(carry['state'],
                                    real_batch(data_key, batch_size))
        # Decay 0 keeps exactly the last weights: one path whether or not
        # asked.
        g_average = optim.ema_update(carry['g_average'],
                                     state.players['g'].params, state.step,
                                     config.g_ema_decay)
        return {'state': state, 'g_average': g_average, 'last': metrics}, None
      return one_step

    def one_seed(start, data_keys):
      # A fresh run initialises in the same compiled call as its first steps,
      # and a segment's batch phases share one call: compiled apart, the
      # numbers round differently, and the game amplifies that to other
      # results within tens of steps.
      carry = init(start) if from_scratch else start
      first = 0
      for steps, batch_size in pieces:  # one scan per batch shape
        carry = jax.lax.scan(make_step(batch_size), carry,
                             data_keys[first:first + steps])[0]
        first += steps
      return carry
    return jax.jit(jax.vmap(one_seed))

  def step_keys(key):
    _, data_key, eval_key = jax.random.split(key, 3)
    return jax.random.split(data_key, config.num_train_steps), eval_key

  @jax.jit
  @jax.vmap
  def evaluate(carry, eval_key):
    # The same z at every evaluation: the trajectory follows the same points.
    z = latent.sample_latent(eval_key, config.eval_num_samples,
                                  config.model.z_dim,
                                  config.model.z_distribution)
    samples = generator.apply(
        {'params': carry['g_average'],
         'batch_stats': carry['state'].players['g'].batch_stats}, z,
        train=False)
    return {**mode_metrics(samples, mixture), 'samples': samples,
            **carry['last']}

  keys = jax.random.split(jax.random.PRNGKey(config.seed), config.num_seeds)
  data_keys, eval_keys = jax.jit(jax.vmap(step_keys))(keys)
  carry, start, trajectory, manager = keys, 0, [], None
  if workdir is not None and config.eval_every_steps:
    # An uncut run has nothing to resume: it keeps no checkpoint (10 seeds
    # of PacGAN's players are ~100 MB) and may be rerun with new settings.
    os.makedirs(workdir, exist_ok=True)
    _check_resumable(os.path.join(workdir, 'config.json'), config)
    manager = checkpoints.make_manager(workdir, max_to_keep=1)
    restored, step = checkpoints.restore_latest(
        manager, jax.eval_shape(jax.vmap(init), keys))
    if step is not None:
      carry, start = restored, int(step)
      trajectory = [entry for entry in _read_trajectory(workdir)
                    if entry['step'] <= start]
      logging.info('toy_2d %s: resuming %s at step %d of %d', mixture.name,
                   workdir, start, config.num_train_steps)
  try:
    elapsed = trajectory[-1]['wall_time_s'] if trajectory else 0.0
    segment_start = time.time()
    segment_fns, first = {}, start
    for pieces in segments(config, start):
      signature = (tuple(pieces), first == 0)
      if signature not in segment_fns:
        segment_fns[signature] = train_segment(*signature)
      steps = sum(piece[0] for piece in pieces)
      carry = segment_fns[signature](carry, data_keys[:, first:first + steps])
      first += steps
      results = jax.device_get(evaluate(carry, eval_keys))
      now = time.time()
      elapsed, segment_start = elapsed + now - segment_start, now
      trajectory.append({'step': first, **summarise(results),
                         'wall_time_s': elapsed})
      logging.info('toy_2d %s %s: %s', mixture.name, method,
                   json.dumps(trajectory[-1]))
      if manager is not None:
        checkpoints.save(manager, carry, step=first)
        _write_trajectory(workdir, trajectory)
    if manager is not None:
      checkpoints.wait(manager)
      manager.close()
  finally:  # after an error too: no checkpoint thread is left behind
    if manager is not None:
      errors.close_quietly('the checkpoint manager', manager.close)
  if start == config.num_train_steps:  # nothing left to train: evaluate
    results = jax.device_get(evaluate(carry, eval_keys))
  return {**results, 'trajectory': trajectory}


def _read_trajectory(workdir: str) -> list[dict[str, float]]:
  path = os.path.join(workdir, 'trajectory.json')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return json.load(f)


def _write_trajectory(workdir: str, trajectory) -> None:
  if jax.process_index() == 0:
    with open(os.path.join(workdir, 'trajectory.json'), 'w') as f:
      json.dump(trajectory, f, indent=2)


def summarise(results: dict[str, Any]) -> dict[str, Any]:
  """Mean and standard error (std / sqrt(n), ddof 1) over seeds, and
  ``per_seed``: each seed's value (which seeds lost modes, not only how many)."""
  out, per_seed = {}, {}
  for name in METRICS:
    scale = 100.0 if name == 'hq' else 1.0  # HQ in percent, as in Table 1
    values = scale * np.asarray(results[name], np.float64)
    out[f'{name}_mean'] = float(values.mean())
    out[f'{name}_se'] = float(values.std(ddof=1) / np.sqrt(len(values))
                              if len(values) > 1 else 0.0)
    per_seed[name] = [round(float(v), 6) for v in values]
  out['num_seeds'] = int(len(results['modes']))
  out['per_seed'] = per_seed
  return out


# PacGAN Table 1 (mean +- s.e.): modes, HQ %, reverse KL.
PUBLISHED = {
    'ring': {'gan': ((6.3, .5), (98.2, .2), (.45, .09)),
             'pacgan2': ((7.9, .1), (95.6, 2.0), (.07, .03)),
             'pacgan4': ((7.8, .1), (95.9, 1.4), (.07, .02))},
    'grid': {'gan': ((17.3, .8), (94.8, .7), (.70, .07)),
             'pacgan2': ((23.8, .7), (91.3, .8), (.13, .04)),
             'pacgan4': ((24.8, .2), (93.6, .6), (.04, .01))},
}


def markdown_table(mixture: str, summaries: dict[str, dict[str, float]],
                   num_modes: int) -> str:
  """This run's rows next to the published ones."""
  lines = [f'| {mixture} | modes /{num_modes} | HQ % | reverse KL | seeds | '
           'wall s |', '|---|---|---|---|---|---|']
  for method, s in summaries.items():
    lines.append(
        f"| {method} (ours) | {s['modes_mean']:.1f} ± {s['modes_se']:.1f} | "
        f"{s['hq_mean']:.1f} ± {s['hq_se']:.1f} | "
        f"{s['rev_kl_mean']:.3f} ± {s['rev_kl_se']:.3f} | {s['num_seeds']} | "
        f"{s['wall_time_s']:.0f} |")
  for method, rows in PUBLISHED[mixture].items():
    (m, m_se), (hq, hq_se), (kl, kl_se) = rows
    lines.append(f'| {method} (PacGAN Table 1) | {m} ± {m_se} | {hq} ± {hq_se}'
                 f' | {kl} ± {kl_se} | 10 | |')
  return '\n'.join(lines) + '\n'


def run(config, workdir: str) -> dict[str, Any]:
  """Trains the methods of ``config.method`` (``parse_methods``), one after
  the other, and writes the figures, summary.json and table.md over them.

  Each method trains (and, cut by ``eval_every_steps``, checkpoints) in
  ``workdir/METHOD``; run again, the same command resumes where the last one
  stopped, and a finished method is evaluated, not retrained. So methods may
  also train in separate processes, each naming its own, and one more run
  naming them all writes their common table (launch/toy_2d_table.sh).
  """
  from gan_jax.toy import figures  # pylint: disable=g-import-not-at-top
  if config.data.mixture not in MIXTURES:
    raise errors.ConfigError(
        f'config.data.mixture must be one of {sorted(MIXTURES)}, got '
        f'{config.data.mixture!r}')
  if config.num_seeds < 1 or config.num_train_steps < 1:
    raise errors.ConfigError(
        'config.num_seeds and config.num_train_steps must be positive, got '
        f'{config.num_seeds}, {config.num_train_steps}')
  if config.eval_every_steps < 0:
    raise errors.ConfigError(
        'config.eval_every_steps must be non-negative, got '
        f'{config.eval_every_steps!r}')
  mixture = MIXTURES[config.data.mixture]()
  methods = parse_methods(config.method)
  for method in methods:
    method_config(config, method)  # a bad field fails before any training
  summaries, samples = {}, {}
  for method in methods:
    # Each method checkpoints in its own folder; a rerun resumes them.
    results = train_seeds(config, method, mixture,
                          os.path.join(workdir, method))
    trajectory = results['trajectory']
    summaries[method] = {**summarise(results),
                         # Training time over all the run's resumptions.
                         'wall_time_s': trajectory[-1]['wall_time_s'],
                         'trajectory': trajectory,
                         'pack': METHODS[method][0],
                         'final_d_loss_mean': float(np.mean(results['d_loss'])),
                         'final_g_loss_mean': float(np.mean(results['g_loss']))}
    samples[method] = results['samples']
  summary = {'family': 'toy_2d', 'mixture': mixture.name,
             'num_train_steps': config.num_train_steps,
             **(summaries[methods[0]] if len(methods) == 1 else {}),
             'methods': summaries}
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    figures.scatter_2d(samples, mixture, max_seeds=config.figure_seeds).savefig(
        os.path.join(workdir, 'samples.png'), dpi=110)
    figures.trajectory_2d(
        {method: s['trajectory'] for method, s in summaries.items()},
        mixture, len(mixture.means), PUBLISHED[mixture.name]).savefig(
            os.path.join(workdir, 'trajectory.png'), dpi=110)
    with open(os.path.join(workdir, 'summary.json'), 'w') as f:
      json.dump(summary, f, indent=2)
    with open(os.path.join(workdir, 'table.md'), 'w') as f:
      f.write(markdown_table(mixture.name, summaries, len(mixture.means)))
  return summary
