"""`python tests/paused_saves.py ARGS...` runs `charlm ARGS...` with every checkpoint save (a
destination ending in .pt) held for ten minutes (or PAUSED_SAVES_S seconds) once its temporary
file is complete, before the rename, so a test can kill or interrupt the process in the middle of
a save."""

from __future__ import annotations

import os
import time

from charlm.paths import StagedFile

PAUSE_S = float(os.environ.get("PAUSED_SAVES_S", "600"))
_commit = StagedFile.commit


def _paused_commit(staged: StagedFile) -> None:
    if staged.destination.suffix == ".pt":
        time.sleep(PAUSE_S)
    _commit(staged)


StagedFile.commit = _paused_commit  # type: ignore[method-assign]

# Guarded: tokenizer worker processes are spawned and import the main module without running it.
if __name__ == "__main__":
    import charlm.__main__  # noqa: F401 (its settings for the threads, as `python -m charlm`)
    from charlm.cli import main

    main()
