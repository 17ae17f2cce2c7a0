"""Command line: python -m gan_jax.main --config=configs/dcgan.py --workdir=DIR.

--mode=train (default) trains or resumes; on a DCGAN run's latest checkpoint,
--mode=eval scores it (gan_jax/evaluation.py), --mode=generate writes a folder
of samples and --mode=interpolate a grid of latent walks (gan_jax/sampling.py).
"""

from __future__ import annotations

import logging as std_logging
import os
import sys

from absl import app, flags, logging
import jax
from ml_collections import config_flags

from gan_jax.core import config as config_lib

from gan_jax.eval import evaluation

from gan_jax.families.dcgan import sampling

from gan_jax.core import loop as train

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, samples and '
                    'logs; an existing run there is resumed.')
config_flags.DEFINE_config_file('config', None, 'Config file, optionally '
                                'with a preset: configs/dcgan.py:anime.',
                                lock_config=True)
flags.DEFINE_string('coordinator_address', None, 'host:port of process 0, '
                    'for a multi-process run outside TPU VMs and SLURM.')
flags.DEFINE_integer('num_processes', None, 'Processes of a multi-process run '
                     '(with --coordinator_address).')
flags.DEFINE_integer('process_id', None, 'This process (with '
                     '--coordinator_address).')
flags.DEFINE_bool('distributed', False, 'jax.distributed.initialize() with '
                  'the cluster auto-detected (Cloud TPU VM slices, SLURM); '
                  'implied by --coordinator_address and by SLURM_NTASKS > 1.')
MODES = ('train', 'eval', 'generate', 'interpolate')
flags.DEFINE_enum('mode', 'train', MODES, 'What to do with the workdir\'s run.')
flags.DEFINE_string('output', None, 'Folder for --mode=generate/interpolate '
                    '(default: WORKDIR/generated, WORKDIR/interpolation).')
flags.mark_flags_as_required(['config', 'workdir'])


class _QuietLibraries:
  """Drops the INFO chatter of orbax (a dozen lines per save) from the log."""
  NOISY = ('/orbax/',)

  def filter(self, record) -> bool:
    return record.levelno >= std_logging.WARNING or not any(
        part in record.pathname for part in self.NOISY)


def _parse_flags(argv):
  """absl's parser, but a bad flag or config file is one line, no traceback."""
  try:
    return FLAGS(argv)
  except flags.Error as e:
    # config_flags embeds the config file's traceback; its last line is the
    # error itself (e.g. an unknown preset).
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    sys.exit(f'gan_jax: error: {lines[-1]}\n'
             'Usage: python -m gan_jax.main --config=configs/FILE.py[:PRESET] '
             '--workdir=DIR [--config.FIELD=VALUE ...]')


def initialize_distributed() -> None:
  """jax.distributed.initialize() when this is one of several processes."""
  if FLAGS.coordinator_address:
    # CPU processes exchange collectives through gloo (GPU/TPU ignore this).
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes,
                               FLAGS.process_id)
  elif FLAGS.distributed or int(os.environ.get('SLURM_NTASKS', '1')) > 1:
    jax.distributed.initialize()  # the cluster's layout is auto-detected
  if jax.process_index() != 0:
    logging.set_verbosity(logging.WARNING)  # logs and files: process 0 only
  if jax.process_count() > 1:
    logging.info('Process %d of %d, %d local devices of %d',
                 jax.process_index(), jax.process_count(),
                 jax.local_device_count(), jax.device_count())


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  initialize_distributed()
  # absl.logging.info(...) anywhere (orbax included) logs on this logger.
  std_logging.getLogger('absl').addFilter(_QuietLibraries())
  experiment = FLAGS.config.get('experiment', 'dcgan')
  try:
    if FLAGS.mode != 'train' and experiment != 'dcgan':
      raise config_lib.ConfigError(
          f'--mode={FLAGS.mode} needs a DCGAN config (configs/dcgan.py); '
          f'config.experiment is {experiment!r}')
    if FLAGS.mode == 'eval':
      evaluation.evaluate_checkpoint(FLAGS.config, FLAGS.workdir)
    elif FLAGS.mode == 'generate':
      sampling.generate(FLAGS.config, FLAGS.workdir, FLAGS.output)
    elif FLAGS.mode == 'interpolate':
      sampling.interpolate(FLAGS.config, FLAGS.workdir, FLAGS.output)
    elif experiment == 'dcgan':
      train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    elif experiment == 'toy_1d':
      from gan_jax.toy import toy_1d  # pylint: disable=g-import-not-at-top
      toy_1d.run(FLAGS.config, FLAGS.workdir)
    elif experiment == 'toy_2d':
      from gan_jax.toy import toy_2d  # pylint: disable=g-import-not-at-top
      toy_2d.run(FLAGS.config, FLAGS.workdir)
    else:
      raise config_lib.ConfigError(
          "config.experiment must be 'dcgan', 'toy_1d' or 'toy_2d', got "
          f'{experiment!r}')
  except config_lib.USER_ERRORS as e:
    logging.error('%s', e)
    sys.exit(f'gan_jax: error: {e}')
  except train.StopRun as e:  # diverged or preempted: saved, one line
    logging.error('%s', e)
    sys.exit(f'gan_jax: {e}')


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
