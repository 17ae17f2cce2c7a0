"""Command line: python -m gan_jax.main --config=configs/FAMILY.py --workdir=DIR.

--help lists the config files and presets; --show_config a config's fields.

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

from gan_jax import cli, modes
from gan_jax.core import errors, host, signals

FLAGS = flags.FLAGS
cli.define_flags(FLAGS)


class _QuietLibraries:
  """Drops chatter that is no warning: orbax's INFO lines (a dozen per save)
  and JAX's 'Unable to initialize backend ...' for each platform it probes
  and this machine lacks (an INFO line on every CPU or GPU start)."""
  NOISY = ('/orbax/',)

  def filter(self, record) -> bool:
    if record.levelno >= std_logging.WARNING:
      return True
    if record.getMessage().startswith('Unable to initialize backend'):
      return False
    return not any(part in record.pathname for part in self.NOISY)


def _parse_flags(argv):
  """absl's parser, but --help lists the config files and exits 0, and any
  mistake on the command line is one line, no traceback."""
  if cli.help_requested(argv):
    print(cli.help_text(FLAGS, full='--helpfull' in argv))
    sys.exit(0)
  try:
    rest = cli.parse(argv, FLAGS)
    if FLAGS.show_config:
      print(cli.show_config(FLAGS))
      sys.exit(0)
  except errors.UserError as e:
    sys.exit(f'gan_jax: error: {e}')
  return rest


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
  del argv  # cli.parse refuses positional arguments
  quiet = _QuietLibraries()
  # absl.logging.info(...) anywhere (orbax included) logs on 'absl'; JAX's
  # backend probing (at the first device query, below) on its own logger.
  std_logging.getLogger('absl').addFilter(quiet)
  std_logging.getLogger('jax._src.xla_bridge').addFilter(quiet)
  if FLAGS.keep_freed_memory:
    host.keep_freed_memory()  # before the backend starts its threads
  initialize_distributed()
  try:
    modes.run(FLAGS.config, FLAGS.workdir, FLAGS.mode, FLAGS.output,
              FLAGS.input)
  except errors.UserError as e:  # one line on stderr, no traceback
    sys.exit(f'gan_jax: error: {e}')
  except signals.StopRun as e:  # diverged or preempted: saved, one line
    sys.exit(f'gan_jax: {e}')


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
