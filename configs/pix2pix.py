"""Pix2Pix (Isola et al. 2017) configs: ``--config=configs/pix2pix.py:PRESET``.

Defaults follow the authors' released code (junyanz/pytorch-CycleGAN-and-
pix2pix, ``--model pix2pix``); gan_jax/families/pix2pix/ says where and why
anything differs. ``--show_config`` lists every field with its meaning.
"""

import ml_collections

from gan_jax.core import optim

# Name -> one line (``--help``); the first is the default.
PRESETS = {
    'digits': 'edge map -> digit on the embedded digits at 32x32: ~3 min on '
              '2 CPU cores',
    'facades': "the paper's labels -> photo on CMP Facades at 256 "
               '(data.source=paired:PATH)',
    'facades_128': 'the same at 128 (load 143, unet_128): the CPU-sized '
                   'variant',
}


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = 'pix2pix'  # a folder of gan_jax/families
  config.seed = 0  # initialisation, dropout, crops and data order

  config.image_size = 256  # the model's side: the crop (reference crop_size)
  config.input_channels = 3  # channels of A, G's input
  config.channels = 3  # channels of B, G's output
  config.batch_size = 1  # global, over all devices (the paper: 1)
  # Passes over the training pairs: the reference's n_epochs (100, constant
  # rate) + n_epochs_decay (100, linear to 0), see optimizer below.
  config.num_epochs = 200
  config.num_train_steps = -1  # updates; -1: from num_epochs
  # The cGAN loss on every patch logit: 'non_saturating' (binary cross-
  # entropy, the reference's 'vanilla') or 'least_squares' ('lsgan').
  config.loss = 'non_saturating'
  config.gan_weight = 1.0  # weight of the cGAN term; 0: the L1-only ablation
  config.l1_weight = 100.0  # lambda of L1(G(A), B) (Eq. 4); 0: cGAN only
  # Data parallelism over every device: 'shard_map' or 'pmap'
  # (gan_jax/core/parallel.py).
  config.parallel = 'shard_map'

  config.model = ml_collections.ConfigDict()
  # G: 'unet_256' (8 levels), 'unet_128' (7), 'unet_64' (6), 'unet_32' (5);
  # image_size must be a multiple of 2^levels.
  config.model.generator = 'unet_256'
  config.model.base_width = 64  # G's first / D's first channels (ngf, ndf)
  config.model.d_layers = 3  # PatchGAN's stride-2 layers: 3 = 70x70 patches
  # 'batch' (statistics of the batch at hand, train and test: the reference),
  # 'instance' (per image, no affine) or 'none'.
  config.model.norm = 'batch'
  config.model.dropout = True  # G's dropout(0.5), on at test time too
  # D reads [A, B] (True, Eq. 1) or B alone (the unconditional-D ablation).
  config.model.conditional_d = True
  config.model.init_stddev = 0.02  # weights ~ N(0, 0.02^2), biases 0
  # Kernel-4 convolutions: 'matmul' (fast on CPU), 'lax' (XLA's conv), or
  # 'auto': matmul on CPU, lax elsewhere (gan_jax/nn/layers.py).
  config.model.conv_impl = 'auto'

  # Adam 2e-4, beta (0.5, 0.999); constant for the first half of the
  # updates, then linear to 0 (the reference: per epoch, here per update).
  config.optimizer = optim.optimizer_config(
      lr=2e-4, b1=0.5, schedule='linear_decay', decay_start_fraction=0.5)

  config.data = ml_collections.ConfigDict()
  # 'digits_edges' (embedded), 'paired:PATH' (pix2pix's A|B files; PATH/train
  # and PATH/test if present) or 'paired:PATH_A,PATH_B' (matched by name).
  config.data.source = 'paired:'
  # The pairs evaluation and grids use; '' = the test split of data.source
  # (PATH/test, or PATH/val), same syntax otherwise.
  config.data.eval_source = ''
  config.data.direction = 'AtoB'  # 'AtoB' or 'BtoA' (swaps A and B)
  # Training pairs are resized to load_size, then share one random
  # image_size crop and flip (evaluation: resized to image_size only).
  config.data.load_size = 286
  config.data.flip = True  # random horizontal flips in training
  config.data.num_workers = 2  # decoding threads
  config.data.prefetch = 4  # steps decoded ahead

  config.log_every_steps = 100  # console and TensorBoard
  config.checkpoint_every_steps = 2000  # and at the end, and on SIGTERM
  config.checkpoint_max_to_keep = 3  # older checkpoints are deleted
  # Epochs after which samples/ gets a grid (and always the last step).
  config.sample_epochs = (1, 5, 10, 20, 50, 100, 150)
  # Evaluation pairs in each grid, as input | output | target triplets.
  config.num_sample_images = 8

  # Scores on every evaluation pair (gan_jax/eval/translation.py): 'l1',
  # 'psnr', 'ssim', 'fid' (needs eval_inception_weights or
  # $GAN_JAX_INCEPTION_WEIGHTS) and 'digits' (the digits task: does the
  # class survive translation?). At the last step, and every
  # eval_every_steps if positive.
  config.eval_metrics = ('l1', 'psnr', 'ssim', 'fid')
  config.eval_every_steps = 0  # > 0: also during training
  config.eval_batch_size = 50  # images per feature-extractor call
  config.eval_inception_weights = ''  # the Inception .npz for fid

  if preset in (None, '', 'digits'):
    config.image_size = 32
    config.input_channels = 1
    config.channels = 1
    config.model.generator = 'unet_32'
    config.data.source = 'digits_edges'
    config.data.load_size = 36  # 286 / 256 of 32, the reference's jitter
    # Sized for 2 CPU cores: 16 pairs a step (instance norm, which does not
    # depend on the batch, unlike batch norm at the reference's batch of 1)
    # and half the widths.
    config.batch_size = 16
    config.model.norm = 'instance'
    config.model.base_width = 32
    config.num_epochs = 20
    config.log_every_steps = 90
    config.sample_epochs = (1, 5, 10)
    config.num_sample_images = 24
    config.eval_metrics = ('l1', 'psnr', 'ssim', 'digits')
  elif preset in ('facades', 'facades_128'):
    config.data.source = 'paired:'  # required: paired:/path/to/facades
    config.data.direction = 'BtoA'  # labels (right half) -> photo (left)
    if preset == 'facades_128':
      config.image_size = 128
      config.model.generator = 'unet_128'
      config.data.load_size = 143  # 286 / 256 of 128
  else:
    raise ValueError(f'unknown preset {preset!r} for configs/pix2pix.py; '
                     f'choose one of {tuple(PRESETS)}')
  return config
