"""DCGAN (Radford et al. 2015) configs. Presets via ``--config=configs/dcgan.py:NAME``.

  (none)  scikit-learn's embedded handwritten digits at 32x32x1: trains on
          2 CPU cores in about 5 minutes, no download.
  anime   the reference experiment: 64x64x3 faces from an image folder, batch
          128, grids after epochs 1, 5, 10, 20, 40, 60. Point it at the data:
          --config.data.source=folder:/path/to/anime_faces
  mnist   TFDS mnist (60k) at 32x32x1, paper widths.
  cifar10 TFDS cifar10 (50k) at 32x32x3, paper widths.
  celeba  TFDS celeb_a (163k train faces, centre-cropped) at 64x64x3.
  conditional  class-conditional DCGAN on the embedded digits (family
          'conditional_dcgan'): G(z, y), a projection D, grids with one row
          per class, eval['digits_class_accuracy'].
The TFDS presets read config.data.tfds_dir (local or gs://; empty: TFDS's
default) and prepare the dataset on first use (needs pip install '.[tfds]').
"""

import ml_collections

from gan_jax.core import optim

PRESETS = ('digits', 'anime', 'mnist', 'cifar10', 'celeba', 'conditional')


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = 'dcgan'
  config.seed = 0

  config.image_size = 32
  config.channels = 1
  config.batch_size = 128  # global, over all devices
  config.num_epochs = 100
  config.num_train_steps = -1  # -1: from num_epochs
  # The adversarial pair (gan_jax/losses): 'non_saturating' or 'minimax'
  # (Goodfellow et al. Sec. 3), 'hinge', 'wasserstein' (with gp_weight or
  # model.spectral_norm), 'least_squares'.
  config.loss = 'non_saturating'
  config.d_steps = 1  # k of Algorithm 1
  # False: fresh noise for G's update (Algorithm 1). True: G's update moves
  # the fakes of the last D update, as pytorch/examples' DCGAN does (one G
  # forward pass fewer per update; see gan_jax/families/dcgan/step.py).
  config.reuse_fake = False
  # gamma of the R1 penalty on D (Mescheder et al. 2018; gan_jax/losses/penalties.py);
  # 0 is the papers' DCGAN.
  config.r1_gamma = 0.0
  # lambda of WGAN-GP's gradient penalty (Gulrajani et al. 2017: 10); 0: off.
  config.gp_weight = 0.0
  # Decay of the moving average of G's weights that grids, evaluation and
  # generate use (Yazici et al. 2019; e.g. 0.999); 0: G's last weights.
  config.g_ema_decay = 0.0
  # Data parallelism over every device: 'shard_map' (any number of hosts) or
  # 'pmap' (one host, older JAX images); see gan_jax/parallel.py.
  config.parallel = 'shard_map'

  config.model = ml_collections.ConfigDict()
  config.model.z_dim = 100
  config.model.z_distribution = 'uniform'  # U[-1, 1]; or 'normal'
  config.model.base_width = 32  # channels of D's first / G's last hidden layer
  config.model.init_stddev = 0.02
  config.model.dtype = 'float32'
  config.model.conv_impl = 'auto'  # 'matmul' | 'lax' (gan_jax/nn/layers.py)
  config.model.d_norm = 'batch'  # or 'layer' (WGAN-GP's critic), 'none'
  config.model.spectral_norm = False  # D's kernels / sigma (Miyato et al.)
  # Samples from G with batch statistics (as the reference DCGAN, which never
  # switches G to eval mode) or with the running averages.
  config.model.sample_with_batch_stats = True
  # With g_ema_decay > 0: grids, evaluation and generate use G's weight
  # average (True) or its last weights (False, e.g. --mode=eval to compare).
  config.model.sample_with_ema = True

  config.optimizer = optim.optimizer_config(lr=2e-4, b1=0.5)  # Sec. 4

  config.data = ml_collections.ConfigDict()
  config.data.source = 'digits'  # or 'folder:PATH', 'tfds:NAME[SPLIT]'
  config.data.tfds_dir = ''  # TFDS data_dir for tfds: sources; '' = default
  config.data.num_workers = 2  # decoding threads
  config.data.prefetch = 4  # steps decoded ahead

  config.log_every_steps = 50
  config.checkpoint_every_steps = 500
  config.checkpoint_max_to_keep = 3
  config.sample_epochs = (1, 5, 10, 20, 40, 60)  # and always the last step
  config.num_sample_images = 64

  # Sample quality (gan_jax/evaluation.py): at the last step, and every
  # eval_every_steps if positive. 'digits' is the project's own classifier;
  # 'fid', 'kid', 'pr' need eval_inception_weights (or
  # $GAN_JAX_INCEPTION_WEIGHTS), the .npz of scripts/convert_inception_weights.py.
  config.eval_metrics = ('digits',)
  config.eval_every_steps = 0
  config.eval_num_samples = 5000
  config.eval_batch_size = 100  # images per feature-extractor call
  config.eval_inception_weights = ''

  # --mode=generate / --mode=interpolate (gan_jax/sampling.py).
  config.generate_num_images = 1000
  config.generate_npz = False  # also one images.npz of all uint8 images
  config.interpolate_num_walks = 8
  config.interpolate_num_steps = 10

  if preset in (None, '', 'digits'):
    pass
  elif preset == 'anime':
    config.image_size = 64
    config.channels = 3
    config.model.base_width = 64
    config.num_epochs = 60
    config.checkpoint_every_steps = 1000
    config.data.source = 'folder:'  # required: folder:/path/to/anime_faces
    config.reuse_fake = True  # the update of the PyTorch reference
    config.eval_metrics = ('fid', 'kid', 'pr')
  elif preset == 'conditional':
    config.family = 'conditional_dcgan'
    config.model.num_classes = 10
    # 'projection' (Miyato & Koyama 2018) or 'concat' (Mirza & Osindero's
    # one-hot input, as extra channels of D's image).
    config.model.conditioning = 'projection'
    config.ac_weight = 0.0  # > 0: AC-GAN's auxiliary classifier (Odena 2017)
    config.generate_class = -1  # --mode=generate: -1 all classes, or one
    config.num_sample_images = 100  # the grid: a row of 10 per class
  elif preset in ('mnist', 'cifar10', 'celeba'):
    config.image_size = 64 if preset == 'celeba' else 32
    config.channels = 1 if preset == 'mnist' else 3
    config.model.base_width = 64
    config.num_epochs = {'mnist': 20, 'cifar10': 50, 'celeba': 20}[preset]
    config.checkpoint_every_steps = 1000
    config.data.source = 'tfds:' + {'celeba': 'celeb_a'}.get(preset, preset)
    config.eval_metrics = ('fid', 'kid', 'pr')
  else:
    raise ValueError(f'unknown preset {preset!r} for configs/dcgan.py; '
                     f'choose one of {PRESETS}')
  return config
