"""Shared test set-up."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread():
    """One intra-op thread: the test models are tiny, and on a loaded 2-core machine torch's spinning
    OpenMP threads slow them several-fold (Snakemake jobs get the same via OMP_NUM_THREADS=threads)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
