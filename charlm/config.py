"""Command configurations: the single source of defaults, flags, environment variables and help.

Each command has one dataclass. A field's metadata names its help text, the tutorial's own
environment variable (if any) and its bounds. `resolve` turns explicit flags plus the environment
into a validated instance with the precedence flag > CHARLM_<NAME> > tutorial variable > default.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

from charlm.errors import ConfigError

ENV_PREFIX = "CHARLM_"
TRUE_WORDS = {"1", "true", "yes", "on", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "off", "n", "f"}

C = TypeVar("C")


def option(
    default: Any,
    help: str,
    *,
    tutorial_env: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    choices: tuple[str, ...] | None = None,
    argument: bool = False,
    short: str | None = None,
) -> Any:
    """A config field; `minimum`/`maximum` are inclusive bounds, `above` is exclusive."""
    metadata = {
        "help": help,
        "tutorial_env": tutorial_env,
        "minimum": minimum,
        "maximum": maximum,
        "above": above,
        "choices": choices,
        "argument": argument,
        "short": short,
    }
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_names(cls: type, name: str) -> list[str]:
    """The environment variables of a field, highest precedence first."""
    meta = _field(cls, name).metadata
    names = [ENV_PREFIX + name.upper()]
    if meta.get("tutorial_env"):
        names.append(meta["tutorial_env"])
    return names


def _field(cls: type, name: str) -> Any:
    for f in fields(cls):
        if f.name == name:
            return f
    raise KeyError(name)


def field_type(cls: type, name: str) -> tuple[type, bool, bool]:
    """(base type, optional, is_list) of a field."""
    hint = typing.get_type_hints(cls)[name]
    optional = False
    is_list = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = True
        hint = args[0]
        origin = typing.get_origin(hint)
    if origin is list:
        is_list = True
        hint = typing.get_args(hint)[0]
    return hint, optional, is_list


def default_of(cls: type, name: str) -> Any:
    f = _field(cls, name)
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def parse_text(cls: type, name: str, text: str, source: str) -> Any:
    """Parse a value given as text (an environment variable) into the field's type."""
    base, optional, is_list = field_type(cls, name)
    raw = text.strip()
    if is_list:
        return [part for part in raw.split(",") if part]
    if optional and raw.lower() in {"", "none"}:
        return None
    if base is bool:
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise ConfigError(f"{source}={text!r} is not a yes/no value: use 1 or 0, true or false")
    if base is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{source}={text!r} is not a whole number") from None
    if base is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{source}={text!r} is not a number") from None
    return raw


def check_value(cls: type, name: str, value: Any, source: str) -> None:
    """Check a field's bounds and choices; `source` is how the user gave it."""
    meta = _field(cls, name).metadata
    if value is None:
        return
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{source}: unknown value {value!r}; choose one of {', '.join(choices)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {value} is not a finite number")
    lo, hi, above = meta.get("minimum"), meta.get("maximum"), meta.get("above")
    if lo is not None and value < lo:
        raise ConfigError(f"{source}: {value} is too small; it must be at least {_num(lo)}")
    if hi is not None and value > hi:
        raise ConfigError(f"{source}: {value} is too large; it must be at most {_num(hi)}")
    if above is not None and value <= above:
        raise ConfigError(f"{source}: {value} is too small; it must be greater than {_num(above)}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def resolve(cls: type[C], flags: Mapping[str, Any], env: Mapping[str, str]) -> C:
    """Build a config from explicitly given flags (None = not given) and the environment."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    explicit: set[str] = set()
    for f in fields(cls):  # type: ignore[arg-type]
        given = flags.get(f.name)
        if given is not None and given != []:
            values[f.name] = given
            sources[f.name] = flag_name(f.name)
            explicit.add(f.name)
            continue
        for var in env_names(cls, f.name):
            if env.get(var) is not None:
                values[f.name] = parse_text(cls, f.name, env[var], var)
                sources[f.name] = var
                explicit.add(f.name)
                break
        else:
            values[f.name] = default_of(cls, f.name)
            sources[f.name] = flag_name(f.name)
    for name, value in values.items():
        check_value(cls, name, value, sources[name])
    config = cls(**values)
    # Kept beside the fields (not in asdict): a resumed run takes the checkpoint's value for
    # every setting the user did not give.
    config._given = frozenset(explicit)  # type: ignore[attr-defined]
    config._sources = sources  # type: ignore[attr-defined]
    check = getattr(config, "check", None)
    if check is not None:
        check(sources)
    return config


def given_fields(config: Any) -> frozenset[str]:
    """The fields set by a flag or an environment variable, not left at their default."""
    return getattr(config, "_given", frozenset())


def source_of(config: Any, name: str) -> str:
    """How the user gave a field (its flag or variable), for messages."""
    return getattr(config, "_sources", {}).get(name, flag_name(name))


def help_text(cls: type, name: str) -> str:
    """The --help line of a field: its description, variables and default."""
    meta = _field(cls, name).metadata
    parts = [meta["help"]]
    if meta.get("choices"):
        parts.append(f"One of: {', '.join(meta['choices'])}.")
    parts.append(f"[env: {', '.join(env_names(cls, name))}]")
    default = default_of(cls, name)
    if default is not None and default != []:
        shown = ("yes" if default else "no") if isinstance(default, bool) else default
        parts.append(f"[default: {shown}]")
    return " ".join(parts)


LENGTH_HELP = "Use 0 for no limit."


@dataclass
class TrainConfig:
    """Settings of `charlm train`."""

    corpus: str | None = option(
        None,
        "Corpus to train on: a UTF-8 text file, a .gz file, a directory of .txt files, or a CSV "
        "file with a header row.",
        tutorial_env="INPUT_DATA_FILE",
        argument=True,
    )
    out: str | None = option(
        None,
        "Checkpoint file to write. Default: <CELL>-<timestamp>-<vocab>-<emb>-<hidden>.pt in the "
        "current directory, as the tutorial named its files.",
        tutorial_env="MODEL_OUTPUT_FILE",
        short="-o",
    )
    force: bool = option(False, "Overwrite an existing file at the checkpoint path.")
    resume: str | None = option(
        None,
        "Continue training from this checkpoint exactly where it stopped (same batch, optimizer "
        "and random state). Settings not given are taken from it; --out defaults to it.",
    )
    keep_best: bool = option(
        False, "Also keep the checkpoint with the best validation loss so far, as "
        "<out stem>.best.pt.",
    )
    text_column: str | None = option(
        None, "CSV column holding the text. Default: body, else text, else the first column."
    )
    lowercase: bool = option(True, "Lowercase the text before splitting it, as the tutorial.")
    drop_urls: bool = option(True, "Drop sentences that contain a URL, as the tutorial.")
    min_chars: int = option(
        1, "Drop sentences shorter than this many characters, as the tutorial.", minimum=0
    )
    vocabulary_size: int = option(
        2000,
        "Vocabulary size, counting UNKNOWN_TOKEN, SENTENCE_START and SENTENCE_END.",
        tutorial_env="VOCABULARY_SIZE",
        minimum=4,
        maximum=1_000_000,
    )
    max_sentence_words: int = option(
        200,
        "Drop sentences with more words than this, so text without sentence boundaries cannot "
        "make giant batches.",
        minimum=1,
        maximum=100_000,
    )
    valid_fraction: float = option(
        0.05, "Share of sentences held out for validation.", above=0.0, maximum=0.5
    )
    valid: str | None = option(
        None, "Validate on this corpus (encoded with the training vocabulary) instead of holding "
        "out --valid-fraction of the training sentences."
    )
    cell: str = option(
        "gru",
        "Recurrent cell: gru, lstm and rnn (tanh) run on PyTorch's fused layers; peephole-lstm "
        "and cifg-lstm (coupled input and forget gate) on charlm's hand-written cells.",
        choices=("gru", "lstm", "rnn", "peephole-lstm", "cifg-lstm"),
    )
    gate_activation: str = option(
        "sigmoid",
        "Gate activation. hard-sigmoid (Theano's clip(0.2x+0.5, 0, 1)) runs gru and lstm on the "
        "hand-written cells; gru with hard-sigmoid is the tutorial's Theano GRU.",
        choices=("sigmoid", "hard-sigmoid"),
    )
    implementation: str = option(
        "auto",
        "auto: PyTorch's fused layer where one computes the cell, else the hand-written cell; "
        "hand-written: always the hand-written cell (slower; for study and comparison).",
        choices=("auto", "fused", "hand-written"),
    )
    embedding_dim: int = option(
        48, "Word embedding size.", tutorial_env="EMBEDDING_DIM", minimum=1, maximum=65536
    )
    hidden_dim: int = option(
        128, "Hidden state size of each layer.", tutorial_env="HIDDEN_DIM", minimum=1,
        maximum=65536,
    )
    layers: int = option(2, "Number of recurrent layers.", minimum=1, maximum=64)
    dropout: float = option(
        0.0, "Dropout probability between recurrent layers and before the output layer.",
        minimum=0.0, maximum=0.99,
    )
    tie_weights: bool = option(
        False, "Share the embedding matrix with the output layer (needs --embedding-dim equal to "
        "--hidden-dim)."
    )
    bptt_truncate: int = option(
        -1, "Backpropagate through at most this many time steps, as the tutorial's "
        "bptt_truncate; -1: through the whole sentence.", minimum=-1, maximum=1_000_000,
    )
    learning_rate: float = option(
        0.001, "RMSprop learning rate.", tutorial_env="LEARNING_RATE", above=0.0, maximum=10.0
    )
    decay: float = option(0.9, "RMSprop decay of the squared-gradient average.", minimum=0.0,
                          maximum=0.9999)
    epsilon: float = option(1e-6, "RMSprop epsilon.", above=0.0, maximum=1.0)
    lr_decay: float = option(
        1.0, "Multiply the learning rate by this factor when the validation loss has not improved "
        "for --patience reports (1: never).", above=0.0, maximum=1.0
    )
    patience: int = option(
        2, "Reports without a better validation loss before the learning rate is decayed.",
        minimum=1,
    )
    clip_norm: float = option(
        0.0, "Clip the gradient norm of each step to this value (0: no clipping).", minimum=0.0
    )
    epochs: int = option(20, "Passes over the training sentences.", tutorial_env="NEPOCH",
                         minimum=1)
    batch_size: int = option(
        64, "Sentences per training step; sentences of similar length are batched together.",
        minimum=1, maximum=65536,
    )
    print_every: int = option(
        25000,
        "Report, sample and save every this many training sentences (and at the end of each "
        "epoch when an epoch is shorter).",
        tutorial_env="PRINT_EVERY",
        minimum=1,
    )
    samples: int = option(10, "Sentences to generate at each report.", minimum=0, maximum=1000)
    log_format: str = option(
        "text", "Training output: text (a progress bar and panels at a terminal, plain lines "
        "elsewhere) or json (one JSON object per line, no progress bar).", choices=("text", "json")
    )
    quiet: bool = option(False, "Plain lines only: no progress bar, panels or progress lines.")
    seed: int = option(1234, "Random seed: the same seed repeats a CPU run exactly.", minimum=0,
                       maximum=2**32 - 1)
    device: str = option("auto", "Where to train: auto picks CUDA when available.",
                         choices=("auto", "cpu", "cuda"))
    amp: bool = option(
        False, "Mixed precision: bf16 autocast on CUDA. On a CPU it runs, with a warning, and is "
        "usually slower.",
    )
    threads: int = option(
        0, "CPU threads per process (0: the machine's cores, shared among the torchrun ranks on "
        "it).", minimum=0, maximum=4096,
    )
    workers: int = option(
        0, "Processes that tokenize the corpus before training (0: automatic, up to 2 for corpora "
        "over 2 MB).", minimum=0, maximum=256,
    )
    cache: bool = option(True, "Reuse the prepared corpus from the cache, and store it there.")
    cache_dir: str | None = option(
        None, "Where prepared corpora are cached. Default: $XDG_CACHE_HOME/charlm or "
        "~/.cache/charlm.",
    )

    def check(self, sources: Mapping[str, str]) -> None:
        # A resumed run may take the corpus path from its checkpoint.
        if self.corpus is None and self.resume is None:
            raise ConfigError("no corpus given: pass a path (charlm train corpus.txt) or set "
                              "INPUT_DATA_FILE")
        if self.resume is None:
            # A resumed model's settings are the checkpoint's; train() checks the merged ones.
            self._check_model(sources)

    def _check_model(self, sources: Mapping[str, str]) -> None:
        if self.tie_weights and self.embedding_dim != self.hidden_dim:
            raise ConfigError(
                f"{sources['tie_weights']} needs the embedding and hidden sizes to be equal, but "
                f"{sources['embedding_dim']}={self.embedding_dim} and "
                f"{sources['hidden_dim']}={self.hidden_dim}; set both to the same size"
            )
        if self.cell == "rnn" and self.gate_activation != "sigmoid":
            raise ConfigError(f"{sources['gate_activation']}={self.gate_activation} does not "
                              "apply to --cell rnn, which has no gates; leave it at sigmoid")
        hand_written_only = (self.cell in ("peephole-lstm", "cifg-lstm")
                             or self.gate_activation == "hard-sigmoid")
        if self.implementation == "fused" and hand_written_only:
            raise ConfigError(
                f"{sources['implementation']}=fused: PyTorch has no fused layer for "
                f"{self.cell} with {self.gate_activation} gates; use auto or hand-written"
            )
        if self.bptt_truncate == 0:
            raise ConfigError(f"{sources['bptt_truncate']}=0 would backpropagate nothing; use "
                              "-1 (whole sentence) or a number of steps of at least 1")

    @property
    def default_out(self) -> str:
        from datetime import datetime

        stamp = datetime.now().strftime("%Y-%m-%d-%H-%M")
        return (f"{self.cell.upper()}-{stamp}-{self.vocabulary_size}-{self.embedding_dim}-"
                f"{self.hidden_dim}.pt")


@dataclass
class GenerateConfig:
    """Settings of `charlm generate`."""

    model: str | None = option(None, "Checkpoint to generate from.", argument=True)
    count: int = option(10, "Sentences to print.", minimum=1, maximum=1_000_000, short="-n")
    temperature: float = option(
        1.0, "Sampling temperature: below 1 is more conservative, above 1 more adventurous.",
        above=0.0, maximum=100.0,
    )
    min_words: int = option(3, "Reject sentences shorter than this many words, as the tutorial.",
                            minimum=0)
    max_words: int = option(100, "Reject sentences longer than this many words.", minimum=1)
    prompt: str | None = option(None, "Continue sentences from these words.")
    allow_unknown: bool = option(False, "Keep sentences that contain UNKNOWN_TOKEN.")
    greedy: bool = option(
        False, "Always take the most likely next word (deterministic; ignores --temperature)."
    )
    top_k: int = option(0, "Sample only from the k most likely words (0: all).", minimum=0)
    top_p: float = option(
        1.0, "Nucleus sampling: sample only from the most likely words whose probabilities add up "
        "to this share (1: all).", above=0.0, maximum=1.0
    )
    json: bool = option(
        False, "Print one JSON object per line: the sentence, its tokens and its natural "
        "log-probability under the model."
    )
    tokens: bool = option(False, "Print raw tokens instead of detokenized text.")
    seed: int | None = option(None, "Random seed: the same seed gives the same sentences.",
                              minimum=0, maximum=2**32 - 1)
    device: str = option("cpu", "Where to run the model.", choices=("auto", "cpu", "cuda"))

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm generate MODEL.pt")
        if self.min_words > self.max_words:
            raise ConfigError(
                f"{sources['min_words']}={self.min_words} is above "
                f"{sources['max_words']}={self.max_words}: no sentence could qualify"
            )


@dataclass
class EvaluateConfig:
    """Settings of `charlm evaluate`."""

    model: str | None = option(None, "Checkpoint to evaluate.", argument=True)
    files: list[str] = option(
        [], "Corpora to evaluate on, in any format train reads.", argument=True
    )
    json: bool = option(False, "Print one JSON object instead of the table.")
    per_token: str | None = option(
        None, "Write one row per predicted token (sentence, position, token, oov, surprisal in "
        "bits) to this TSV file."
    )
    text_column: str | None = option(
        None, "CSV column holding the text. Default: body, else text, else the first column."
    )
    batch_size: int = option(256, "Sentences per evaluation batch.", minimum=1, maximum=65536)
    device: str = option("cpu", "Where to run the model.", choices=("auto", "cpu", "cuda"))

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm evaluate MODEL.pt FILE...")
        if not self.files:
            raise ConfigError("no file to evaluate on: charlm evaluate MODEL.pt FILE...")


@dataclass
class InfoConfig:
    """Settings of `charlm info`."""

    model: str | None = option(None, "Checkpoint to describe.", argument=True)
    json: bool = option(False, "Print one JSON object instead of the table.")

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm info MODEL.pt")


@dataclass
class PlotConfig:
    """Settings of `charlm plot`."""

    metrics: list[str] = option(
        [], "Metrics files written by train (<checkpoint>.metrics.jsonl); one line per run.",
        argument=True,
    )
    out: str = option("loss.png", "Image file to write (PNG, or any format matplotlib knows).",
                      short="-o")
    width: int = option(1000, "Image width in pixels.", minimum=100, maximum=20000)
    height: int = option(600, "Image height in pixels.", minimum=100, maximum=20000)

    def check(self, sources: Mapping[str, str]) -> None:
        if not self.metrics:
            raise ConfigError("no metrics file given: charlm plot RUN.pt.metrics.jsonl -o loss.png")
