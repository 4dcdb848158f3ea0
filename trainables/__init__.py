"""How one trial trains: model families, data, the plain PyTorch loop and the Ray Tune wrapper."""

import os

# albumentations asks PyPI for a newer version when imported: up to 2 s and a warning in every
# trial worker on a GPU node with no internet (seen on the H100 run of nas.check). Off unless the
# user asks for it.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
