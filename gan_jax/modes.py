"""What ``--mode`` does with a config and a workdir; the command line's body,
without its flags, so notebooks and tests call it as it is:

    from gan_jax import modes
    modes.run(config, '/tmp/run')                          # train or resume
    modes.run(config, '/tmp/run', 'generate', '/tmp/out')  # a family's mode
"""

from __future__ import annotations

import importlib
import os

from gan_jax import families
from gan_jax.core import errors, loop
from gan_jax.eval import evaluation

# The toys train with their own compiled trainers (vmapped seeds, a scanned
# figure), not the loop; they reuse its state, losses and optimizers.
TOYS = ('toy_1d', 'toy_2d')


def run(config, workdir: str, mode: str = 'train', output: str | None = None):
  """Dispatches --mode: the toys, train, eval, or a family's own mode."""
  family = config.get('family', '')
  if family in TOYS:
    if mode != 'train':
      raise errors.ConfigError(f'--mode={mode}: the toy {family} only trains')
    toy = importlib.import_module(f'gan_jax.toy.{family}')
    return toy.run(config, workdir)
  if mode == 'train':
    return loop.train(config, workdir)
  if mode == 'eval':
    return evaluation.evaluate_checkpoint(config, workdir)
  loop.validate(config)
  own = families.get(family)(config).modes
  if mode not in own:
    raise errors.ConfigError(
        f'--mode={mode}: config.family {family!r} has the modes '
        f"{('train', 'eval', *own)}")
  trained, state, step = loop.restore_trained(config, workdir)
  return trained.modes[mode](state, step,
                             output or os.path.join(workdir, mode))
