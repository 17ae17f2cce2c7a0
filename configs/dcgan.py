"""DCGAN (Radford et al. 2015) configs: ``--config=configs/dcgan.py:PRESET``.

The TFDS presets read config.data.tfds_dir (local or gs://; empty: TFDS's
default) and prepare the dataset on first use (needs pip install '.[tfds]').
``python -m gan_jax.main --config=configs/dcgan.py --show_config`` lists
every field with its value and meaning.
"""

import ml_collections

from gan_jax.core import optim

# Name -> one line (``--help``); the first is the default.
PRESETS = {
    'digits': 'the embedded digits at 32x32x1: ~6 min on 2 CPU cores',
    'anime': 'the reference experiment: 64x64x3 faces (data.source=folder:)',
    'anime_best': ("the faces: the paper's DCGAN at batch 64 with G's "
                   'weight average (0.995), bf16'),
    'mnist': 'TFDS mnist at 32x32x1, paper widths',
    'cifar10': 'TFDS cifar10 at 32x32x3, paper widths',
    'celeba': 'TFDS celeb_a, centre-cropped, at 64x64x3',
    'conditional': 'class-conditional DCGAN on the digits: a row per class',
}


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = 'dcgan'  # a folder of gan_jax/families
  config.seed = 0  # initialisation, noise and data order

  config.image_size = 32  # height = width: 32, 64 or 128 (a layer each)
  config.channels = 1  # 1 (grey) or 3 (RGB)
  config.batch_size = 128  # global, over all devices
  config.num_epochs = 100  # passes over the data
  config.num_train_steps = -1  # updates of G; -1: from num_epochs
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
  config.model.z_dim = 100  # length of G's noise vector z
  config.model.z_distribution = 'uniform'  # U[-1, 1]; or 'normal'
  config.model.base_width = 32  # channels of D's first / G's last hidden layer
  config.model.init_stddev = 0.02  # weights ~ N(0, 0.02^2) (Sec. 4)
  config.model.dtype = 'float32'  # activations: 'float32' or 'bfloat16'
  # Kernel-4 convolutions: 'matmul' (fast on CPU), 'lax' (XLA's conv), or
  # 'auto': matmul on CPU, lax elsewhere (gan_jax/nn/layers.py).
  config.model.conv_impl = 'auto'
  config.model.d_norm = 'batch'  # D's norm: or 'layer' (WGAN-GP's critic), 'none'
  config.model.spectral_norm = False  # D's kernels / sigma (Miyato et al. 2018)
  # Samples from G with batch statistics (as the reference DCGAN, which never
  # switches G to eval mode) or with the running averages.
  config.model.sample_with_batch_stats = True
  # With g_ema_decay > 0: grids, evaluation and generate use G's weight
  # average (True) or its last weights (False, e.g. --mode=eval to compare).
  config.model.sample_with_ema = True

  # Adam, lr 2e-4, beta1 0.5 (Sec. 4), for both players.
  config.optimizer = optim.optimizer_config(lr=2e-4, b1=0.5)

  config.data = ml_collections.ConfigDict()
  # 'digits' (embedded), 'folder:PATH' (image files), 'tfds:NAME[SPLIT]'.
  config.data.source = 'digits'
  config.data.tfds_dir = ''  # TFDS data_dir for tfds: sources; '' = default
  # Held-out real images (never trained on), same spec as data.source: the
  # reference of fid/kid/pr/digits scores and the images --mode=inpaint
  # fills without --input; '' = score against data.source (e.g.
  # 'digits[test]' beside data.source='digits[train]').
  config.data.eval_source = ''
  config.data.num_workers = 2  # decoding threads
  config.data.prefetch = 4  # steps decoded ahead

  config.log_every_steps = 50  # console and TensorBoard
  config.checkpoint_every_steps = 500  # and at the end, and on SIGTERM
  config.checkpoint_max_to_keep = 3  # older checkpoints are deleted
  # Epochs after which samples/ gets a grid (and always the last step).
  config.sample_epochs = (1, 5, 10, 20, 40, 60)
  config.num_sample_images = 64  # images per grid, from one fixed z batch

  # Sample quality (gan_jax/evaluation.py): at the last step, and every
  # eval_every_steps if positive. 'digits' is the project's own classifier;
  # 'fid', 'kid', 'pr' need eval_inception_weights (or
  # $GAN_JAX_INCEPTION_WEIGHTS), the .npz of scripts/convert_inception_weights.py.
  config.eval_metrics = ('digits',)
  config.eval_every_steps = 0  # > 0: also during training
  config.eval_num_samples = 5000  # generated images per evaluation
  config.eval_batch_size = 100  # images per feature-extractor call
  config.eval_inception_weights = ''  # the Inception .npz for fid/kid/pr

  config.generate_num_images = 1000  # --mode=generate: PNGs written
  config.generate_npz = False  # also one images.npz of all uint8 images
  # --mode=interpolate: rows of the grid (slerp walks between two z) ...
  config.interpolate_num_walks = 8
  config.interpolate_num_steps = 10  # ... and images per walk

  # --mode=inpaint: fill holes by latent search (Yeh et al. 2017;
  # gan_jax/families/dcgan/inpainting.py), in --input=DIR's images or else
  # the held-out data.eval_source's, scored in OUTPUT/metrics.json.
  # The holes: 'center' (a quarter of the area), 'half' (the left half),
  # 'random_blocks' (a quarter, in squares) or a folder of masks (black =
  # hole) at the image size.
  config.inpaint_mask = 'center'
  config.inpaint_num_images = 359  # the first N images are filled
  config.inpaint_iterations = 1500  # Adam steps on z (the paper's 1,500)
  config.inpaint_candidates = 16  # z's searched per image; the best is kept
  config.inpaint_lr = 0.01  # Adam's learning rate on z
  config.inpaint_perceptual_weight = 0.003  # lambda of -log D(G(z)) (paper)
  config.inpaint_window = 7  # side of the context loss's weighting window
  config.inpaint_blend_iterations = 2000  # conjugate-gradient steps (Poisson)
  config.inpaint_batch_size = 64  # images per compiled search
  config.inpaint_grid_rows = 16  # images in OUTPUT/grid.png

  if preset in (None, '', 'digits'):
    pass
  elif preset in ('anime', 'anime_best'):
    config.image_size = 64
    config.channels = 3
    config.model.base_width = 64
    config.num_epochs = 60
    config.checkpoint_every_steps = 1000
    config.data.source = 'folder:'  # required: folder:/path/to/anime_faces
    # The faces scores compare against: folder:/path/to/anime_faces_eval.
    config.data.eval_source = ''
    config.reuse_fake = True  # the update of the PyTorch reference
    config.eval_metrics = ('fid', 'kid', 'pr')
    if preset == 'anime_best':
      # Chosen by runs to epoch 60 on the faces (docs/dcgan.md): the paper's
      # players and loss, twice the updates per epoch (batch 64,
      # pytorch/examples' default), and evaluation of a short average of
      # G's weights (~200 updates, so it does not trail a G that is still
      # improving fast).
      config.batch_size = 64
      config.g_ema_decay = 0.995
      config.model.dtype = 'bfloat16'  # same scores, twice the speed on CPU
  elif preset == 'conditional':
    config.family = 'conditional_dcgan'
    config.model.num_classes = 10  # classes of the labels (digits: 10)
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
    config.data.eval_source = config.data.source + '[test]'
    config.eval_metrics = ('fid', 'kid', 'pr')
  else:
    raise ValueError(f'unknown preset {preset!r} for configs/dcgan.py; '
                     f'choose one of {tuple(PRESETS)}')
  return config
