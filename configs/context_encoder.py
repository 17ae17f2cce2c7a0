"""Context Encoder (Pathak et al. 2016) configs:
``--config=configs/context_encoder.py:PRESET``.

Defaults follow the authors' release (pathak22/context-encoder, train.lua);
gan_jax/families/context_encoder/ says where and why anything differs.
Train, then fill: ``--mode=inpaint`` (gan_jax/inpainting/completion.py).
``--show_config`` lists every field with its meaning.
"""

import ml_collections

from gan_jax.core import optim

# Name -> one line (``--help``); the first is the default.
PRESETS = {
    'digits': 'holes in the embedded digits at 32x32 (trained on their '
              'training split, scored on the 359 held out): minutes on 2 CPU '
              'cores',
    'anime': 'anime faces at 64x64 (data.source=folder:PATH, '
             'data.eval_source=folder:HELD_OUT)',
    'celeba': 'CelebA faces at 64x64 (data.source=folder:PATH, '
              'data.eval_source=folder:HELD_OUT)',
}


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = 'context_encoder'  # a folder of gan_jax/families
  config.seed = 0  # initialisation, masks and data order

  config.image_size = 32  # height = width: 32, 64 or 128
  config.channels = 1  # 1 (grey) or 3 (RGB)
  config.batch_size = 64  # global, over all devices (the release: 64)
  config.num_epochs = 100  # passes over the training images
  config.num_train_steps = -1  # updates; -1: from num_epochs
  # The holes it learns to fill: 'center' (the central square of half the
  # side, the release's train.lua), 'random_blocks' (8 squares, ~1/4 of the
  # image) or 'both' (each image one or the other).
  config.train_mask = 'both'
  # lambda_rec of Eq. 3 (the release's wtl2); the adversarial term gets
  # 1 - lambda_rec.
  config.reconstruction_weight = 0.999
  # Pixels of the band around the hole that G also predicts (known in its
  # input; the release's overlapPred, 4 at 128 px) ...
  config.overlap = 1
  config.overlap_weight = 10.0  # ... and their loss weight (the release: 10)
  # Data parallelism over every device: 'shard_map' or 'pmap'.
  config.parallel = 'shard_map'

  config.model = ml_collections.ConfigDict()
  config.model.base_width = 32  # encoder/decoder/D width (the release: 64)
  # 'channelwise' (the paper's channel-wise fully connected layer) or
  # 'dense' (the release's train.lua: a bottleneck_dim vector).
  config.model.bottleneck = 'channelwise'
  config.model.bottleneck_dim = 4000  # 'dense' only (the release's nBottleneck)
  config.model.init_stddev = 0.02  # weights ~ N(0, 0.02^2)
  # Kernel-4 convolutions: 'matmul' (fast on CPU), 'lax', or 'auto'.
  config.model.conv_impl = 'auto'

  # Adam, beta1 0.5: D at 2e-4, G at 10x (the release, when
  # 0 < reconstruction_weight < 1).
  config.optimizer = optim.optimizer_config(lr=2e-3, b1=0.5,
                                            d_lr_multiplier=0.1)

  config.data = ml_collections.ConfigDict()
  # 'digits[train]' (embedded), 'folder:PATH', 'tfds:NAME[SPLIT]'.
  config.data.source = 'digits[train]'
  # The held-out images grids, evaluation and --mode=inpaint fill.
  config.data.eval_source = 'digits[test]'
  config.data.tfds_dir = ''  # TFDS data_dir for tfds: sources; '' = default
  config.data.num_workers = 2  # decoding threads
  config.data.prefetch = 4  # steps decoded ahead

  config.log_every_steps = 100  # console and TensorBoard
  config.checkpoint_every_steps = 1000  # and at the end, and on SIGTERM
  config.checkpoint_max_to_keep = 3  # older checkpoints are deleted
  # Epochs after which samples/ gets a grid (and always the last step).
  config.sample_epochs = (1, 5, 20, 50)
  config.num_sample_images = 16  # held-out images in each grid

  # Scores of the fills of data.eval_source's images under inpaint_mask
  # (gan_jax/inpainting/completion.py): 'hole' (L1, PSNR, SSIM inside the
  # hole), 'digits' (is the completed digit's class the original's?), 'fid'
  # (needs eval_inception_weights). At the last step, and every
  # eval_every_steps if positive.
  config.eval_metrics = ('hole', 'digits')
  config.eval_every_steps = 0  # > 0: also during training
  config.eval_batch_size = 100  # images per feature-extractor call
  config.eval_inception_weights = ''  # the Inception .npz for fid

  # --mode=inpaint and evaluation: 'center', 'half', 'random_blocks' or a
  # folder of masks (black = hole) at the image size.
  config.inpaint_mask = 'center'
  config.inpaint_num_images = 359  # the first N held-out images
  config.inpaint_grid_rows = 16  # images in OUTPUT/grid.png

  if preset in (None, '', 'digits'):
    pass
  elif preset in ('anime', 'celeba'):
    config.image_size = 64
    config.channels = 3
    config.model.base_width = 64
    config.overlap = 2
    config.num_epochs = 25  # the release's niter
    config.data.source = 'folder:'  # required: folder:/path/to/faces
    config.data.eval_source = 'folder:'  # required: held-out faces
    config.eval_metrics = ('hole', 'fid')
    config.inpaint_num_images = 2000
  else:
    raise ValueError(f'unknown preset {preset!r} for configs/context_encoder.py; '
                     f'choose one of {tuple(PRESETS)}')
  return config
