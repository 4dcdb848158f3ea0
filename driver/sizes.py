"""Ready-made sizes of search, each flag of which can still be given: the smoke test's and the
small search's (``--smoke-test``, ``--small``; ``make demo`` runs the small one)."""

# Tiny synthetic data: rungs by epochs alone, so ASHA's stopping shows in seconds.
SMOKE_TEST = {
    "num_samples": 4,
    "max_epochs": 2,
    "grace_period": 1,
    "reduction_factor": 2,
    "min_rung_steps": 0,
}
# A small real search a 2-core CPU runs in about 5 minutes: 8 trials of up to 6 epochs on 1,200
# images. An epoch is then 5 optimizer steps at batch 256, so --min-rung-steps 10 lets ASHA
# judge every trial at epoch 2 and stop the weak ones there (the space's default, 100 steps, is
# meant for full-size data and would allow no rung before the last epoch).
SMALL = {
    "num_samples": 8,
    "max_epochs": 6,
    "grace_period": 2,
    "reduction_factor": 3,
    "min_rung_steps": 10,
    "train_images": 1200,
}
