"""What ``--mode`` does with a config and a workdir; the command line's body,
without its flags, so notebooks and tests call it as it is:

    from gan_jax import modes
    modes.run(config, '/tmp/run')                          # train or resume
    modes.run(config, '/tmp/run', 'generate', '/tmp/out')  # a family's mode
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os

import jax

from gan_jax import families
from gan_jax.core import errors, loop

# The toys train with their own compiled trainers (vmapped seeds, a scanned
# figure), not the loop; they reuse its state, losses and optimizers.
TOYS = ('toy_1d', 'toy_2d')


def run(config, workdir: str, mode: str = 'train', output: str | None = None,
        input_dir: str | None = None):
  """Dispatches --mode: the toys, train, eval, or a family's own mode.

  ``input_dir`` (--input) is for the modes that read a folder of the user's
  files (pix2pix's translate, inpaint): such a mode takes an ``input_dir``
  argument, optional where it has a default.
  A mode that takes a ``workdir`` argument gets the run's folder.
  """
  family = config.get('family', '')
  errors.check(family, 'family', families.names() + TOYS)
  if family in TOYS:
    if mode != 'train':
      raise errors.ConfigError(f'--mode={mode}: the toy {family} only trains')
    toy = importlib.import_module(f'gan_jax.toy.{family}')
    return toy.run(config, workdir)
  if mode == 'train':
    return loop.train(config, workdir)
  if mode == 'eval':
    return evaluate_checkpoint(config, workdir)
  loop.validate(config)
  own = families.get(family)(config).modes
  if mode not in own:
    raise errors.ConfigError(
        f'--mode={mode}: config.family {family!r} has the modes '
        f"{('train', 'eval', *own)}")
  parameters = inspect.signature(own[mode]).parameters
  reads_input = 'input_dir' in parameters
  # A mode whose input_dir has a default reads other images without --input
  # (inpaint: config.data.eval_source).
  if reads_input and not input_dir and (
      parameters['input_dir'].default is inspect.Parameter.empty):
    raise errors.ConfigError(f'--mode={mode} needs --input=DIR, the folder '
                             'of images to read')
  if input_dir and not reads_input:
    raise errors.ConfigError(f'--input: --mode={mode} reads no input folder')
  trained, state, step = loop.restore_trained(config, workdir)
  extra = {'input_dir': input_dir} if reads_input else {}
  if 'workdir' in parameters:
    extra['workdir'] = workdir  # e.g. for the run's cached evaluation models
  return trained.modes[mode](state, step,
                             output or os.path.join(workdir, mode), **extra)


def evaluate_checkpoint(config, workdir: str) -> dict:
  """--mode=eval: the configured metrics of the latest checkpoint."""
  loop.validate(config)
  if not config.eval_metrics:
    raise errors.ConfigError('config.eval_metrics is empty: nothing to '
                             'evaluate')
  family, state, step = loop.restore_trained(config, workdir)
  evaluator = family.make_evaluator(family.make_source,
                                    os.path.join(workdir, 'eval'))
  if not evaluator.active:
    reasons = {}
    for metric, why in evaluator.skipped.items():
      reasons.setdefault(why, []).append(metric)
    raise errors.ConfigError(
        'every metric of config.eval_metrics was skipped: ' + '; '.join(
            f'{"/".join(metrics_)}: {why}' for why, metrics_ in reasons.items()))
  results = family.evaluate(evaluator, state)
  report = {'step': step, 'metrics': results, 'skipped': evaluator.skipped}
  if jax.process_index() == 0:
    path = os.path.join(workdir, 'eval', f'eval_step_{step:07d}.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
      json.dump(report, f, indent=2)
    logging.info('Eval at step %d: %s (%s)', step, json.dumps(results), path)
  return report
