"""Run by Python at the start of every process the tests start, whose PYTHONPATH holds this
folder (tests/training.py, CHILD_SITE): NLTK looks for its data only in NLTK_DATA's folders,
which a test sets to provide data of its own, never where it looks by default (~/nltk_data,
/usr/share/nltk_data, ...). NLTK data installed on the machine, punkt_tab above all, would
change how corpora are split into sentences. tests/conftest.py does the same in the tests' own
process."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


def folders_of_the_environment() -> list[str]:
    return [os.path.expanduser(folder)
            for folder in os.environ.get("NLTK_DATA", "").split(os.pathsep) if folder]


class NltkDataLoader(importlib.abc.Loader):
    """Loads nltk.data with its own loader, then sets its search path."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        module.path[:] = folders_of_the_environment()


class NltkDataFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name != "nltk.data":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = NltkDataLoader(spec.loader)
        return spec


sys.meta_path.insert(0, NltkDataFinder())
