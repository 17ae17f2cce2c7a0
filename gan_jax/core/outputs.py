"""A run's files and logs: TensorBoard scalars, sample grids and their GIF,
summary.json. Written by process 0 only; a no-op elsewhere."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any

import numpy as np
from tensorboardX import SummaryWriter

from gan_jax.core import errors, signals, visualize


class WorkdirWriteError(signals.StopRun):
  """A grid, log or summary could not be written (a full disk, a revoked
  mount); checkpoints are orbax's and stay restorable."""


@contextlib.contextmanager
def written(path: str):
  """Turns an OSError while writing ``path`` into one WorkdirWriteError."""
  try:
    yield
  except OSError as e:
    raise WorkdirWriteError(
        f'cannot write {path} ({e.strerror or e}); rerun the same command '
        'once the workdir has space: the run resumes from its last complete '
        'checkpoint') from e


def check_workdir(workdir: str) -> None:
  """A workdir that cannot hold checkpoints fails now, not at the first save."""
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.TemporaryFile(dir=workdir):
      pass
  except OSError as e:
    raise errors.ConfigError(
        f'--workdir {workdir} is not a writable directory: '
        f'{e.strerror or e}') from e


def format_duration(seconds: float) -> str:
  minutes, seconds = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}h{minutes:02d}m{seconds:02d}s' if hours else (
      f'{minutes}m{seconds:02d}s')


def previous_eval_history(summary_path: str, start_step: int) -> list[dict]:
  """A resumed run's evaluations so far, from the summary.json it wrote."""
  if start_step == 0 or not os.path.exists(summary_path):
    return []
  with open(summary_path) as f:
    history = json.load(f).get('eval_history') or []
  return [entry for entry in history if entry['step'] <= start_step]


class Outputs:
  """Files and logs of a run; a no-op on processes other than 0."""

  def __init__(self, workdir: str, enabled: bool):
    self.enabled = enabled
    self.samples_dir = os.path.join(workdir, 'samples')
    self.summary_path = os.path.join(workdir, 'summary.json')
    self.writer = None
    if enabled:
      os.makedirs(self.samples_dir, exist_ok=True)
      self.writer = SummaryWriter(workdir)

  def scalars(self, step: int, scalars: dict[str, float]) -> None:
    if self.enabled:
      for name, value in scalars.items():
        self.writer.add_scalar(name, value, step)

  def grid(self, step: int, epoch: int, images: np.ndarray,
           cols: int | None = None) -> str | None:
    if not self.enabled:
      return None
    grid = visualize.image_grid(images, cols=cols)
    path = os.path.join(self.samples_dir,
                        f'step_{step:07d}_epoch_{epoch:03d}.png')
    with written(path):
      visualize.save_png(grid, path)
    self.writer.add_image('samples', grid, step, dataformats='HWC')
    return path

  def eval_results(self, step: int, results: dict[str, float]) -> None:
    if self.enabled:
      for name, value in results.items():
        self.writer.add_scalar(f'eval/{name}', value, step)

  def finish(self, summary: dict[str, Any]) -> None:
    if not self.enabled:
      return
    frames = sorted(os.path.join(self.samples_dir, f)
                    for f in os.listdir(self.samples_dir)
                    if f.startswith('step_') and f.endswith('.png'))
    gif = os.path.join(self.samples_dir, 'progress.gif')
    if frames:
      with written(gif):
        visualize.save_gif(frames, gif)
    with written(self.summary_path):
      with open(self.summary_path, 'w') as f:
        json.dump(summary, f, indent=2)
    self.close()

  def close(self) -> None:
    """Closes the event writer; :meth:`finish` calls it, a second call is a
    no-op."""
    if self.writer is not None:
      self.writer.close()
