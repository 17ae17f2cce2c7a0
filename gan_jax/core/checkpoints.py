"""Orbax checkpoints of the whole TrainState in ``workdir/checkpoints``.

Crash safety is orbax's: a step is written into a temporary directory and
renamed into place only when complete (on file systems without atomic rename,
a commit marker is written last), and unfinished steps are never listed. So a
crash or a full disk during a save leaves the previous checkpoint as the
latest; the tests plant such torn saves and kill runs mid-save.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from flax import serialization
import jax
import orbax.checkpoint as ocp

from gan_jax.core import errors


class CheckpointError(errors.UserError, ValueError):
  """A checkpoint that cannot be used or written; the message names the path."""


def make_manager(workdir: str, max_to_keep: int | None,
                 create: bool = True) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), 'checkpoints'),
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                           create=create),
      item_handlers=ocp.StandardCheckpointHandler())


def _save_failed(manager: ocp.CheckpointManager, step: int,
                 error: Exception) -> CheckpointError:
  previous = [s for s in manager.all_steps() if s != step]
  kept = (f'the previous checkpoint, step {max(previous)}, is intact'
          if previous else 'no earlier checkpoint exists')
  return CheckpointError(f'saving the checkpoint of step {step} in '
                         f'{manager.directory} failed ({error}); {kept}')


def save(manager: ocp.CheckpointManager, state, step: int | None = None
         ) -> None:
  """Saves asynchronously; orbax finalises the step directory atomically.

  ``step`` defaults to ``state.step`` (a pytree without one, or with one per
  seed, names it).

  A failure of the previous asynchronous save surfaces here or in
  :func:`wait` as one CheckpointError (e.g. a full disk).
  """
  if step is None:
    step = int(jax.device_get(state.step))
  try:
    manager.save(step, args=ocp.args.StandardSave(state))
  except (OSError, ValueError, RuntimeError) as e:
    raise _save_failed(manager, step, e) from e


def wait(manager: ocp.CheckpointManager) -> None:
  """Blocks until the pending save is on disk."""
  try:
    manager.wait_until_finished()
  except (OSError, ValueError, RuntimeError) as e:
    raise _save_failed(manager, manager.latest_step() or -1, e) from e


def _path_name(path) -> str:
  return '/'.join(str(getattr(k, 'key', getattr(k, 'name', k))) for k in path)


def check_compatible(manager: ocp.CheckpointManager, step: int,
                     abstract_state) -> None:
  """Raises CheckpointError naming every array whose shape or dtype differs
  between checkpoint ``step`` and the state the config builds."""
  metadata = manager.item_metadata(step)
  if metadata is None:
    return  # no metadata to compare: orbax's own restore checks remain
  saved = {_path_name(p): leaf for p, leaf in
           jax.tree_util.tree_flatten_with_path(metadata)[0]}
  wanted = {_path_name(p): leaf for p, leaf in
            jax.tree_util.tree_flatten_with_path(abstract_state)[0]}
  if any(name.startswith('g_params/') for name in saved):
    raise CheckpointError(
        f'the checkpoint at step {step} in {manager.directory} has the layout '
        'of gan_jax before per-player state (g_params, d_params, ...; now '
        'players/g/params, ...): train in a new --workdir, or use that run '
        'with the commit that wrote it')
  problems = [f'{name}: missing in the checkpoint' for name in wanted
              if name not in saved]
  problems += [f'{name}: in the checkpoint only' for name in saved
               if name not in wanted]
  problems += [
      f'{name}: checkpoint {tuple(saved[name].shape)} {saved[name].dtype}, '
      f'config {tuple(leaf.shape)} {leaf.dtype}'
      for name, leaf in wanted.items() if name in saved and (
          tuple(saved[name].shape) != tuple(leaf.shape)
          or saved[name].dtype != leaf.dtype)]
  # The players' kernels first, each player's first kernel before anyone's
  # second: their shapes are what a user recognises in a config (optimizer
  # moments repeat them).
  rank, seen = {}, {}
  for problem in problems:
    name = problem.split(':')[0]
    player = name.split('/')[1] if name.startswith('players/') else ''
    if name.endswith('kernel') and '/params/' in name:
      rank[name] = seen[player] = seen.get(player, -1) + 1

  def order(problem: str):
    name = problem.split(':')[0]
    return ('/params/' not in name, not name.endswith('kernel'),
            rank.get(name, 0), name)
  problems.sort(key=order)
  if problems:
    raise CheckpointError(
        f'the checkpoint at step {step} in {manager.directory} was written by '
        f'a different model config ({len(problems)} arrays differ: '
        + '; '.join(problems[:4]) + ('; ...' if len(problems) > 4 else '')
        + '). Use the config of that run, or a new --workdir.')


def restore_latest(manager: ocp.CheckpointManager, state):
  """Returns (state, step): the latest checkpoint, or ``state`` if none exists.

  ``state`` is the freshly initialised state (or its ShapeDtypeStructs); it
  gives the tree structure, shapes and dtypes the checkpoint must have.
  """
  step = manager.latest_step()
  if step is None:
    return state, None
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  check_compatible(manager, step, abstract)
  logging.info('Restoring checkpoint %s', os.path.join(
      str(manager.directory), str(step)))
  return manager.restore(step, args=ocp.args.StandardRestore(abstract)), step


def restore_latest_for_inference(workdir: str, abstract_state):
  """(state, step) from the latest checkpoint of ``workdir``; never creates it.

  ``abstract_state``: jax.ShapeDtypeStructs (with shardings) of the state.
  """
  directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
  if not os.path.isdir(directory):
    raise CheckpointError(f'no checkpoints in {directory}: train a run in '
                          'this workdir first')
  with make_manager(workdir, None, create=False) as manager:
    state, step = restore_latest(manager, abstract_state)
  if step is None:
    raise CheckpointError(f'no finished checkpoint in {directory}')
  return state, step


def cached_params(path: str | None, template, train: Callable[[], Any]):
  """A small model's parameters from ``path`` (flax msgpack shaped like
  ``template``), or ``train()``'s, then written there (atomically: never a
  half-written cache). For the evaluation's own judges, which are trained
  once per run and reused by later evaluations and modes; ``path`` None:
  train, keep nothing."""
  if path and os.path.exists(path):
    with open(path, 'rb') as f:
      return serialization.from_bytes(template, f.read())
  params = train()
  if path:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.tmp', 'wb') as f:
      f.write(serialization.to_bytes(params))
    os.replace(path + '.tmp', path)
  return params
