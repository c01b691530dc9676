"""`python -m charlm` and the `charlm` command."""

import os

# OpenMP threads that find no work sleep almost at once by default, and waking them costs more
# than a small model's operations: with 2 threads a training step took a quarter longer. Spinning
# for a while first (GNU OpenMP, which PyTorch's Linux wheels use) keeps them ready without
# holding a core once the process goes idle. It must be set before torch loads; a user's own
# OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "30000000"

from charlm.cli import main  # noqa: E402

# Guarded: tokenizer worker processes are spawned and import the main module without running it.
if __name__ == "__main__":
    main()
