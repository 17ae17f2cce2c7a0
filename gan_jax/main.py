"""Command line: python -m gan_jax.main --config=configs/FAMILY.py --workdir=DIR.

``config.family`` picks the family (a folder of ``gan_jax/families``, or one
of the toys). --mode=train (default) trains or resumes; on a run's latest
checkpoint, --mode=eval scores it (``gan_jax/eval``) and the family's own
modes do what that family does with a trained model (DCGAN: generate,
interpolate).
"""

from __future__ import annotations

import logging as std_logging
import os
import sys

from absl import app, flags, logging
import jax
from ml_collections import config_flags

from gan_jax import modes
from gan_jax.core import errors, signals

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
flags.DEFINE_string('mode', 'train', "What to do with the workdir's run: "
                    "train, eval, or one of the family's modes (DCGAN: "
                    'generate, interpolate).')
flags.DEFINE_string('output', None, "Folder for a family's mode (default: "
                    'WORKDIR/MODE, e.g. WORKDIR/generate).')

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
  try:
    modes.run(FLAGS.config, FLAGS.workdir, FLAGS.mode, FLAGS.output)
  except errors.UserError as e:
    logging.error('%s', e)
    sys.exit(f'gan_jax: error: {e}')
  except signals.StopRun as e:  # diverged or preempted: saved, one line
    logging.error('%s', e)
    sys.exit(f'gan_jax: {e}')


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
