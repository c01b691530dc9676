"""What charlm is published as, written once: its version and the name it has on the package
index (pyproject.toml reads both from here), and how to install one of its optional extras. No
imports: every layer may read it, and `import charlm` re-exports it."""

from __future__ import annotations

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"
# The name charlm is published under (`charlm` on the package index is another project); the
# import package and the command are `charlm`. pyproject.toml's [project] name is this.
DISTRIBUTION = "charlm-rnn"


def install_hint(extra: str) -> str:
    """How to install one of charlm's optional extras, for messages and help."""
    return (f"pip install '{DISTRIBUTION}[{extra}]' (from a checkout: "
            f"pip install -e '.[{extra}]')")
