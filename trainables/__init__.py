"""How one trial trains: model families, data, the plain PyTorch loop and the Ray Tune wrapper."""
