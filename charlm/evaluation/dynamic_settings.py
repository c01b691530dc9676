"""The settings of dynamic evaluation (a model adapting to the text it scores while it reads it),
written without PyTorch: the commands declare their flags from these defaults, and --help reads
them without loading torch. dynamic.py does the adapting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from charlm.options import bounds_problem, python_argument

# The smallest and largest value of each setting (the commands' flags declare the same).
BOUNDS: dict[str, tuple[float, float]] = {"segment_tokens": (1, 1_000_000), "rate": (0.0, 1.0),
                                          "decay": (0.0, 1.0)}


@dataclass(frozen=True)
class DynamicSettings:
    """How the model adapts: θ ← θ − rate·g/(√ms + ε) + decay·(θ₀ − θ) after each segment."""

    # The defaults were chosen on the first 1,000 sentences (31,214 tokens) of a novel held out
    # from the training text of charlm's default model (Austen: five novels trained, Persuasion
    # held out; docs/performance.md): perplexity 54.05 plain, 50.18 with these. Every segment
    # length tried adapts (the best rate's perplexity: 51.4 at 64 tokens, 50.9 at 128, 50.5 at
    # 256, 50.2 at 512, 50.5 at 1,024): a longer segment's gradient averages more tokens, so it
    # bears a larger rate, and takes fewer steps, so it runs faster. The rate is the sharpest
    # choice (at 512 tokens: 50.3 at 0.0007, 50.5 at 0.0015, 51.3 at 0.002; at 256 tokens 0.004
    # is worse than plain); the decay barely matters over 60 segments (50.24 to 50.31 from 0 to
    # 0.03) and is there for long texts, so the adapted weights stay near the trained ones.
    segment_tokens: int = 512
    """Predicted tokens per segment (whole sentences: a segment ends at the first sentence that
    brings it to this many)."""
    rate: float = 0.001
    """η, the step's size: a step moves each weight by at most about 3η (with RMSprop's usual
    decay of 0.9), as one RMSprop step of training at learning rate η does; 0 adapts nothing."""
    decay: float = 0.01
    """λ, the share of the way back to the trained weights taken at each step (0: none; 1: each
    step starts again from the trained weights)."""
    gradients_from: str | None = None
    """A text (the training text, or a part of it) on which the mean squared gradients that
    divide each step are measured, read in segments as the text scored is (Krause et al.'s way),
    in place of the optimiser's; a checkpoint trained with SGD or NT-ASGD kept none. None: the
    checkpoint's."""

    def problem(self, names: Mapping[str, str] | None = None) -> str | None:
        """Why these settings cannot be used, or None, in the words a flag is refused with;
        `names` says how to call each field in the message (its flag, for a command line; by
        default its keyword argument, `rate=`)."""
        def name(field: str) -> str:
            return (names or {}).get(field, python_argument(field))

        if isinstance(self.segment_tokens, bool) or not isinstance(self.segment_tokens, int):
            return f"{name('segment_tokens')}: {self.segment_tokens!r} is not a whole number"
        if self.gradients_from is not None and not isinstance(self.gradients_from,
                                                              (str, os.PathLike)):
            return f"{name('gradients_from')}: {self.gradients_from!r} is not a path"
        for field, (low, high) in BOUNDS.items():
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{name(field)}: {value!r} is not a number"
            problem = bounds_problem({"minimum": low, "maximum": high}, value, name(field))
            if problem:
                return problem
        return None

    def to_dict(self) -> dict[str, float | str]:
        measured = ({"gradients_from": os.fspath(self.gradients_from)}
                    if self.gradients_from is not None else {})
        return {"segment_tokens": self.segment_tokens, "rate": self.rate, "decay": self.decay,
                **measured}
