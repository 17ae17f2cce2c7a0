"""Orbax checkpoints of the whole GANState in ``workdir/checkpoints``."""

from __future__ import annotations

import logging
import os

import jax
import orbax.checkpoint as ocp


def make_manager(workdir: str, max_to_keep: int) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), 'checkpoints'),
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                           create=True))


def save(manager: ocp.CheckpointManager, state) -> None:
  """Saves asynchronously; orbax finalises the step directory atomically."""
  manager.save(int(jax.device_get(state.step)),
               args=ocp.args.StandardSave(state))


def restore_latest(manager: ocp.CheckpointManager, state):
  """Returns (state, step): the latest checkpoint, or ``state`` if none exists.

  ``state`` is the freshly initialised state; it gives the tree structure,
  shapes and dtypes the checkpoint must have.
  """
  step = manager.latest_step()
  if step is None:
    return state, None
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  logging.info('Restoring checkpoint %s', os.path.join(
      str(manager.directory), str(step)))
  return manager.restore(step, args=ocp.args.StandardRestore(abstract)), step
