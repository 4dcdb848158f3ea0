"""The HW2P2 face augmentations as batched tensor operations on the trial's device.

``trainables.data.augment.face_train_transform`` (albumentations, one image at a time on the CPU)
stays the reference; this does the same work on a whole uint8 batch with a few tensor ops, so a
GPU is not left waiting on the CPU (about 400 images/s per core at 224 px for the reference,
against the 2,000 images/s a ResNet-50 trains at on an H100):

- horizontal flip, p=0.5;
- rotation by an angle uniform in +-12 degrees, bilinear, the corners filled with black (as
  ``A.Rotate(limit=12, p=1)``);
- grayscale (luma weights 0.299, 0.587, 0.114), p=0.1;
- colour jitter: brightness, contrast and saturation factors each uniform in [0.8, 1.2] (contrast
  blends with the image's mean grey, saturation with its grey image), in that order, clipped to
  0-255 once at the end (albumentations draws the order at random per image and clips after
  each);
- random erasing, p=0.5: a rectangle of 10% of the image, aspect ratio log-uniform in [0.3, 3.3],
  set to 0;
- normalisation with the training set's channel statistics.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from trainables.data.augment import ChannelStats

LUMA = (0.299, 0.587, 0.114)


class FaceAugment:
    def __init__(
        self,
        stats: ChannelStats,
        rotate: float = 12.0,  # +- degrees
        gray: float = 0.1,  # probability of grayscale
        jitter: float = 0.2,  # brightness, contrast and saturation factors in 1 +- jitter
        erase: float = 0.5,  # probability of erasing
        erase_area: float = 0.1,  # fraction of the image erased
        erase_ratio: tuple[float, float] = (0.3, 3.3),  # aspect ratio range of the erased box
    ):
        self.stats = stats
        self.rotate, self.gray, self.jitter = rotate, gray, jitter
        self.erase, self.erase_area, self.erase_ratio = erase, erase_area, erase_ratio

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 N x C x H x W images -> augmented, normalised float, on the images' device.

        Few passes over the pixels: the flip rides on the rotation's sampling grid, grayscale
        touches only the images drawn for it, and the colour jitter, its clipping and the
        normalisation are one affine map per image (brightness and contrast are linear, and so
        is the grey image under them; albumentations clips after each factor, this once).
        """
        device = images.device
        n, _, h, w = images.shape

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(n, generator=generator, device=device)

        def chosen(p: float) -> torch.Tensor:
            return torch.rand(n, generator=generator, device=device) < p

        # Rotation about the centre, and the flip: affine_grid maps output to input coordinates
        # (the inverse rotation; a flip negates the output's x). Outside the image reads black.
        flip = torch.where(chosen(0.5), -1.0, 1.0)
        angle = uniform(-self.rotate, self.rotate) * math.pi / 180
        cos, sin = torch.cos(angle), torch.sin(angle)
        zero = torch.zeros_like(cos)
        theta = torch.stack(
            [
                torch.stack([cos * flip, sin * h / w, zero], 1),
                torch.stack([-sin * w / h * flip, cos, zero], 1),
            ],
            1,
        )
        grid = F.affine_grid(theta, [n, 3, h, w], align_corners=False)
        x = F.grid_sample(
            images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )

        luma = torch.tensor(LUMA, device=device).view(1, 3, 1, 1)
        grey = (x * luma).sum(1, keepdim=True)
        to_grey = chosen(self.gray).nonzero().flatten()
        x[to_grey] = grey[to_grey].expand(-1, 3, -1, -1)

        # Jitter: brightness b, then contrast c about the mean grey m of the brightened image
        # (b * mean(grey)), then saturation s towards its grey image:
        # out = a * lerp(grey, x, s) + k with a = b * c, k = b * m * (1 - c).
        low, high = 1 - self.jitter, 1 + self.jitter
        b, c, sat = uniform(low, high), uniform(low, high), uniform(low, high)
        k = b * grey.mean((1, 2, 3)) * (1 - c)
        x = torch.lerp(grey.expand_as(x), x, sat.view(n, 1, 1, 1))
        x = torch.addcmul(k.view(n, 1, 1, 1), x, (b * c).view(n, 1, 1, 1)).clamp_(0, 255)

        area = self.erase_area * h * w
        log_low, log_high = (math.log(r) for r in self.erase_ratio)
        ratio = torch.exp(uniform(log_low, log_high))  # height / width
        box_h = (area * ratio).sqrt().round().clamp(1, h).long()
        box_w = (area / ratio).sqrt().round().clamp(1, w).long()
        top = (torch.rand(n, generator=generator, device=device) * (h - box_h + 1)).long()
        left = (torch.rand(n, generator=generator, device=device) * (w - box_w + 1)).long()
        rows = torch.arange(h, device=device).view(1, h, 1)
        cols = torch.arange(w, device=device).view(1, 1, w)
        in_rows = (rows >= top.view(n, 1, 1)) & (rows < (top + box_h).view(n, 1, 1))
        in_cols = (cols >= left.view(n, 1, 1)) & (cols < (left + box_w).view(n, 1, 1))
        erased = in_rows & in_cols & chosen(self.erase).view(n, 1, 1)
        x.masked_fill_(erased.unsqueeze(1), 0.0)

        mean = torch.tensor(self.stats.mean, device=device).view(1, 3, 1, 1)
        scale = 1 / torch.tensor(self.stats.std, device=device).view(1, 3, 1, 1)
        return torch.addcmul(-mean * scale, x, scale)
