"""CycleGAN (Zhu et al. 2017) configs: ``--config=configs/cyclegan.py:PRESET``.

Defaults follow the authors' released code (junyanz/pytorch-CycleGAN-and-
pix2pix, ``--model cycle_gan``); gan_jax/families/cyclegan/ says where and
why anything differs. ``--show_config`` lists every field with its meaning.
"""

import ml_collections

from gan_jax.core import optim

# Name -> one line (``--help``); the first is the default.
PRESETS = {
    'digits': 'digits <-> blue-on-yellow digits (unpaired, a known mapping) '
              'at 32x32: a few minutes on 2 CPU cores',
    'facades': "labels <-> photo on CMP Facades at 256 with the pairs broken "
               '(data.source=paired:PATH), scored on the test pairs',
    'facades_128': 'the same at 128 (load 143, resnet_6blocks): the CPU-sized '
                   'variant',
    'photo2anime': 'CelebA faces <-> anime faces at 64 (data.source='
                   'unpaired:CELEBA_DIR,ANIME_DIR)',
}


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = 'cyclegan'  # a folder of gan_jax/families
  config.seed = 0  # initialisation, data order, crops and the image pools

  config.image_size = 256  # the model's side: the crop (reference crop_size)
  config.input_channels = 3  # channels of domain A
  config.channels = 3  # channels of domain B
  config.batch_size = 1  # global, over all devices (the paper: 1)
  # Passes over max(|A|, |B|) images: the reference's n_epochs (100,
  # constant rate) + n_epochs_decay (100, linear to 0), see optimizer below.
  config.num_epochs = 200
  config.num_train_steps = -1  # updates; -1: from num_epochs
  # The GAN loss on every patch output: 'least_squares' (the paper's and
  # reference's 'lsgan') or 'non_saturating' (cross-entropy, 'vanilla').
  config.loss = 'least_squares'
  config.gan_weight = 1.0  # weight of both GAN terms; 0: cycle (+ identity) only
  config.cycle_weight_a = 10.0  # lambda_A: |G_ba(G_ab(a)) - a|_1 (Eq. 2)
  config.cycle_weight_b = 10.0  # lambda_B: |G_ab(G_ba(b)) - b|_1
  # The identity loss, as a fraction of lambda (Sec. 5.2): 0.5 lambda_B
  # |G_ab(b) - b|_1 + 0.5 lambda_A |G_ba(a) - a|_1; needs input_channels ==
  # channels; 0 switches it off.
  config.identity_weight = 0.5
  # Generated images each D's history pool holds (Shrivastava et al. 2017);
  # 0: D sees only the newest fakes.
  config.pool_size = 50
  # Data parallelism over every device: 'shard_map' or 'pmap'
  # (gan_jax/core/parallel.py).
  config.parallel = 'shard_map'
  # --mode=translate: 'AtoB' (G_ab) or 'BtoA' (G_ba).
  config.translate_direction = 'AtoB'

  config.model = ml_collections.ConfigDict()
  # G: 'resnet_9blocks' (the paper's at 256) or 'resnet_6blocks' (128); any
  # 'resnet_<n>blocks' builds n residual blocks.
  config.model.generator = 'resnet_9blocks'
  config.model.base_width = 64  # G's first / D's first channels (ngf, ndf)
  config.model.d_layers = 3  # PatchGAN's stride-2 layers: 3 = 70x70 patches
  # 'instance' (per image, no affine: the reference) or 'none'.
  config.model.norm = 'instance'
  config.model.init_stddev = 0.02  # weights ~ N(0, 0.02^2), biases 0
  # Convolutions as matrix products ('matmul', fast on CPU), XLA's own
  # ('lax'), or 'auto': matmul on CPU, lax elsewhere (gan_jax/nn/layers.py,
  # gan_jax/families/cyclegan/models.py).
  config.model.conv_impl = 'auto'

  # Adam 2e-4, beta (0.5, 0.999), one for both G's and one for both D's;
  # constant for the first half of the updates, then linear to 0 (the
  # reference: per epoch, here per update).
  config.optimizer = optim.optimizer_config(
      lr=2e-4, b1=0.5, schedule='linear_decay', decay_start_fraction=0.5)

  config.data = ml_collections.ConfigDict()
  # 'digits_colour' (embedded), 'unpaired:PATH' (trainA/ trainB/ testA/
  # testB/), 'unpaired:PATH_A,PATH_B' (two folders) or a pix2pix source
  # 'paired:...' whose pairs training never sees (gan_jax/data/unpaired.py).
  config.data.source = 'unpaired:'
  # Evaluation images; '' = the test split of data.source (testA/ testB/,
  # a paired source's test/, or the data.eval_holdout), same syntax.
  config.data.eval_source = ''
  # For a 'paired:' source: which half is A ('AtoB': the left one).
  config.data.direction = 'AtoB'
  # Training images are resized to load_size, then get their own random
  # image_size crop and flip (evaluation: resized to image_size only).
  config.data.load_size = 286
  config.data.flip = True  # random horizontal flips in training
  # Crop the centre square before resizing (False: squash, the reference).
  config.data.center_crop = False
  # 'unpaired:PATH_A,PATH_B': keep the last N images (by name) of each
  # folder for evaluation, out of training; 0: none.
  config.data.eval_holdout = 0
  config.data.num_workers = 2  # decoding threads
  config.data.prefetch = 4  # steps decoded ahead

  config.log_every_steps = 100  # console and TensorBoard
  config.checkpoint_every_steps = 2000  # and at the end, and on SIGTERM
  config.checkpoint_max_to_keep = 3  # older checkpoints are deleted
  # Epochs after which samples/ gets a grid (and always the last step).
  config.sample_epochs = (1, 5, 10, 20, 50, 100, 150)
  # Evaluation images of each domain in each grid, as rows
  # A | G_ab(A) | G_ba(G_ab(A)) | B | G_ba(B) | G_ab(G_ba(B)).
  config.num_sample_images = 8

  # Scores of G_ab(A) against B and G_ba(B) against A (suffixes _ab, _ba;
  # gan_jax/eval/translation.py): 'l1', 'psnr', 'ssim' (where the
  # evaluation images are pairs), 'fid' (needs eval_inception_weights or
  # $GAN_JAX_INCEPTION_WEIGHTS); the cycle L1s are always reported. At the
  # last step, and every eval_every_steps if positive.
  config.eval_metrics = ('l1', 'psnr', 'ssim', 'fid')
  config.eval_every_steps = 0  # > 0: also during training
  config.eval_batch_size = 50  # images per translation / feature call
  config.eval_inception_weights = ''  # the Inception .npz for fid

  if preset in (None, '', 'digits'):
    config.image_size = 32
    config.data.source = 'digits_colour'
    config.data.load_size = 36  # 286 / 256 of 32, the reference's jitter
    config.model.generator = 'resnet_6blocks'
    # Sized for 2 CPU cores: 8 images a step (instance norm does not depend
    # on the batch) and half the widths.
    config.batch_size = 8
    config.model.base_width = 32
    config.model.d_layers = 2  # 34x34 patches: a 32x32 image has 6x6 of them
    config.num_epochs = 12
    config.log_every_steps = 90
    config.sample_epochs = (1, 4)
    config.num_sample_images = 12
    config.eval_metrics = ('l1', 'psnr', 'ssim')
  elif preset in ('facades', 'facades_128'):
    config.data.source = 'paired:'  # required: paired:/path/to/facades
    config.data.direction = 'BtoA'  # A = labels (right half), B = photo
    if preset == 'facades_128':
      config.image_size = 128
      config.model.generator = 'resnet_6blocks'
      config.data.load_size = 143  # 286 / 256 of 128
  elif preset == 'photo2anime':
    # required: unpaired:/path/to/celeba/img_align_celeba,/path/to/anime_faces
    config.data.source = 'unpaired:'
    config.image_size = 64
    config.data.load_size = 72  # 286 / 256 of 64
    config.model.generator = 'resnet_6blocks'
    config.data.center_crop = True  # CelebA's 89x109 faces: crop, not squash
    config.data.eval_holdout = 500
    config.num_epochs = 10
    config.sample_epochs = (1, 2, 5)
    config.checkpoint_every_steps = 1000
    config.eval_metrics = ('fid',)
  else:
    raise ValueError(f'unknown preset {preset!r} for configs/cyclegan.py; '
                     f'choose one of {tuple(PRESETS)}')
  return config
