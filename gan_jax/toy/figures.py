"""Toy figures (matplotlib): Goodfellow et al. 2014 Figure 1, the 2-D scatters."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
import numpy as np

NUM_ARROWS = 15


def _snapshot_index(steps: np.ndarray, wanted: int) -> int:
  if wanted < 0:
    return len(steps) - 1
  return int(np.argmin(np.abs(steps - wanted)))


def _panel(ax, analysis, i, title: str, before: int | None = None) -> None:
  """p_data, p_g, D, D* and the arrows x = G(z) of pair ``i``; with
  ``before``, that pair's p_g and arrows faint underneath (where G was)."""
  x, p_data = analysis['x'], analysis['p_data']
  lo, hi = x[0], x[-1]
  top = 1.05 * max(1.0, float(p_data.max()))
  z_level = -0.3 * top
  ax.plot(x, p_data, ':', color='black', lw=2.2, label=r'$p_{data}$')
  if before is not None:
    ax.plot(x, analysis['p_g'][before], '-', color='green', lw=1.5,
            alpha=0.3, label=r'$p_g$ of (b)')
  ax.plot(x, analysis['p_g'][i], '-', color='green', lw=1.8, label=r'$p_g$')
  ax.plot(x, analysis['d'][i], '--', color='blue', lw=1.8, label='D')
  # D* = p_data / (p_data + p_g) is 0/0 where neither has mass: drawn only
  # where one of them has at least 1 % of p_data's peak.
  mass = p_data + analysis['p_g'][i] >= 0.01 * p_data.max()
  ax.plot(x, np.where(mass, analysis['d_star'][i], np.nan), '-', color='blue',
          lw=4, alpha=0.12, label=r'$D^*$')
  # The two domains: x (upper line) and z (lower line), with x = G(z).
  ax.axhline(0.0, color='black', lw=0.8)
  ax.plot([lo, hi], [z_level, z_level], color='black', lw=0.8)
  z = analysis['z']
  arrows = np.linspace(0, len(z) - 1, NUM_ARROWS).round().astype(int)
  for index, color in ((before, '0.8'), (i, '0.3')):
    if index is None:
      continue
    for j in arrows:
      z_pos = lo + (z[j] - z[0]) / (z[-1] - z[0]) * (hi - lo)
      ax.annotate('', xy=(analysis['g_of_z'][index][j], 0.0),
                  xytext=(z_pos, z_level),
                  arrowprops=dict(arrowstyle='->', lw=0.6, color=color))
  ax.text(lo, z_level, 'z ', ha='right', va='center')
  ax.text(lo, 0.0, 'x ', ha='right', va='center')
  ax.set_xlim(lo, hi)
  ax.set_ylim(z_level - 0.05 * top, top)
  ax.set_yticks([0.5, 1.0])
  ax.set_title(title, fontsize=10)
  for side in ('top', 'right'):
    ax.spines[side].set_visible(False)


def figure_1(story, analysis, config, path: str) -> None:
  """Goodfellow et al.'s Figure 1 as the paper tells it, by real
  optimisation: ``story`` holds the measured pairs (a), (b), (c) of
  ``toy_1d.figure_story`` (stacked in ``toy_1d.STORY`` order), ``analysis``
  the full run, whose last snapshot is (d)."""
  fig_config = config.figure
  a, b, c = range(3)  # toy_1d.STORY
  last = len(analysis['step']) - 1
  titles = [
      f'(a) a pair fit to p_data shifted {fig_config.shift:+g}:\n'
      f'G off, D partly accurate: max|D−D*| '
      f'{story["max_abs_d_minus_d_star"][a]:.2f}',
      f'(b) inner loop, {fig_config.inner_steps} D steps: D → D*,\n'
      f'max|D−D*| {story["max_abs_d_minus_d_star"][b]:.3f} on the data\'s 95 %',
      f'(c) {fig_config.g_steps} G steps on that fixed D: G(z) flows\n'
      f'to the data, JSD {story["jsd"][b]:.3g} → {story["jsd"][c]:.3g} nats',
      f'(d) the full run at step {int(analysis["step"][last])}: p_g vs '
      f'p_data,\nJSD {analysis["jsd"][last]:.2g} nats; D vs ½, max|D−½| '
      f'{analysis["max_abs_d_minus_half"][last]:.3f}',
  ]
  # Figure, not pyplot: files are written without touching the backend
  # (notebooks keep their inline one).
  fig = Figure(figsize=(16, 3.9))
  axes = fig.subplots(1, 4, sharey=True)
  _panel(axes[0], story, a, titles[0])
  _panel(axes[1], story, b, titles[1])
  _panel(axes[2], story, c, titles[2], before=b)
  _panel(axes[3], analysis, last, titles[3])
  axes[0].legend(loc='center left', fontsize=8, frameon=False)
  axes[2].legend(loc='center left', fontsize=8, frameon=False)
  fig.suptitle('Goodfellow et al. 2014, Figure 1, by optimisation: data '
               '(black dots), p_g (green), D (blue dashes), D* (faint blue), '
               'x = G(z) (arrows; in (c) faint: G of (b))', fontsize=11)
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def training_snapshots(analysis, config, path: str) -> None:
  """The full run's snapshots nearest ``config.panel_steps``, a panel each."""
  fig = Figure(figsize=(16, 3.6))
  axes = fig.subplots(1, len(config.panel_steps), sharey=True, squeeze=False)[0]
  draw_panels(axes, analysis, config.panel_steps)
  axes[0].legend(loc='upper left', fontsize=8, frameon=False)
  fig.suptitle('The full run\'s snapshots: data (black dots), p_g (green), '
               'D (blue dashes), D* (faint blue)', fontsize=11)
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def draw_panels(axes, analysis, panel_steps) -> None:
  """Panels (a), (b), ... at the snapshots nearest ``panel_steps``."""
  for ax, label, wanted in zip(axes, 'abcdefgh', panel_steps):
    i = _snapshot_index(analysis['step'], wanted)
    _panel(ax, analysis, i, f'({label}) step {int(analysis["step"][i])}: '
           f'JSD {analysis["jsd"][i]:.2g} nats')


def training_curves(analysis, history, path: str) -> None:
  """JSD(p_data || p_g) and the game's value over training."""
  steps = analysis['step']
  fig = Figure(figsize=(11, 3.6))
  ax_jsd, ax_v = fig.subplots(1, 2)
  ax_jsd.semilogy(steps, np.maximum(analysis['jsd'], 1e-6), color='green')
  ax_jsd.set_xlabel('step')
  ax_jsd.set_ylabel('JSD(p_data || p_g) [nats]')
  ax_v.plot(np.arange(1, len(history['d_loss']) + 1), -history['d_loss'],
            color='0.75', lw=0.5, label='V on minibatches')
  ax_v.plot(steps, analysis['value'], color='blue', label='V(D, G)')
  ax_v.plot(steps, analysis['value_optimal'], color='black',
            label=r'$C(G) = V(D^*, G)$')
  ax_v.axhline(-np.log(4.0), color='red', ls=':', label=r'$-\log 4$')
  ax_v.set_xlabel('step')
  ax_v.set_ylim(-2.0, 0.0)
  ax_v.legend(fontsize=8, frameon=False)
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def scatter_2d(samples: dict[str, np.ndarray], mixture,
               max_seeds: int = 5) -> Figure:
  """One row per method, one panel per seed: G's samples over the true means."""
  methods = list(samples)
  num_seeds = min(max_seeds, len(next(iter(samples.values()))))
  fig = Figure(figsize=(2.2 * num_seeds, 2.3 * len(methods)))
  axes = fig.subplots(len(methods), num_seeds, squeeze=False)
  extent = 1.5 if mixture.name == 'ring' else 6.0
  for row, method in enumerate(methods):
    for seed in range(num_seeds):
      ax = axes[row, seed]
      points = samples[method][seed]
      ax.scatter(points[:, 0], points[:, 1], s=1, c='tab:blue', alpha=0.3,
                 rasterized=True)
      ax.scatter(mixture.means[:, 0], mixture.means[:, 1], s=12, c='tab:red',
                 marker='x', linewidths=0.8)
      ax.set_xlim(-extent, extent)
      ax.set_ylim(-extent, extent)
      ax.set_aspect('equal')
      ax.set_xticks([])
      ax.set_yticks([])
      if seed == 0:
        ax.set_ylabel(method)
      if row == 0:
        ax.set_title(f'seed {seed}', fontsize=9)
  fig.suptitle(f'{mixture.name}: samples of G (blue) over the true means (red)')
  fig.tight_layout()
  return fig


def trajectory_2d(trajectories: dict[str, list[dict]], mixture, num_modes: int,
                  published: dict | None = None) -> Figure:
  """Modes, HQ and reverse KL (mean ± s.e. over seeds) against training step;
  a published row's values (PacGAN Table 1, after 400k steps) as a line."""
  fig = Figure(figsize=(13, 3.4))
  axes = fig.subplots(1, 3)
  labels = (f'modes captured /{num_modes}', 'high quality %', 'reverse KL')
  for i, (ax, name, label) in enumerate(zip(axes, ('modes', 'hq', 'rev_kl'),
                                            labels)):
    for j, (method, trajectory) in enumerate(trajectories.items()):
      color = f'C{j}'
      steps = np.array([entry['step'] for entry in trajectory])
      mean = np.array([entry[f'{name}_mean'] for entry in trajectory])
      se = np.array([entry[f'{name}_se'] for entry in trajectory])
      ax.errorbar(steps, mean, yerr=se, color=color, marker='.', capsize=2,
                  label=method)
      if published and method in published:
        ax.axhline(published[method][i][0], color=color, ls='--', lw=0.8)
    ax.set_xlabel('step')
    ax.set_ylabel(label)
    # 300k, not 300000: six-digit ticks run into each other.
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda x, _: f'{x / 1000:g}k' if x >= 1000 else f'{x:g}'))
  axes[0].set_ylim(0, num_modes + 0.5)
  axes[1].set_ylim(0, 100)
  axes[2].set_ylim(bottom=0)
  axes[0].legend(fontsize=8, frameon=False)
  fig.suptitle(f'{mixture.name}: the metrics during training (dashed: PacGAN '
               'Table 1 after 400k steps)', fontsize=10)
  fig.tight_layout()
  return fig
