"""Shared pieces of the benchmarks: charlm's training run for a fixed time (through the Python
API, or as the `charlm train` command itself), and the tutorial's one-sentence-per-step training
written out as the baseline to compare it with."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# As the `charlm` command does before torch loads (charlm/__main__.py): idle OpenMP threads spin
# a while before they sleep, so in-process runs train as fast as the command.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "30000000"

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from charlm.data.batches import epoch_order, iterate_batches, split_validation  # noqa: E402
from charlm.data.cache import cached_prepare  # noqa: E402
from charlm.data.types import EncodedSentences  # noqa: E402
from charlm.data.vocab import END_ID, START_ID  # noqa: E402
from charlm.model.network import ModelConfig, RNNLanguageModel  # noqa: E402, F401
from charlm.options import flag_name, option_fields, parse_text, resolve  # noqa: E402
from charlm.training.config import TrainConfig  # noqa: E402
from charlm.training.runtime import configure_cpu  # noqa: E402

DEFAULTS = resolve(TrainConfig, {"corpus": "-"}, {})
# The tutorial trained at this rate (and batch size, for the order of its sentences).
TUTORIAL = resolve(TrainConfig, {"corpus": "-", "tutorial_schedule": True}, {})


@dataclass
class Data:
    train: EncodedSentences
    valid: EncodedSentences
    vocab_size: int


def load(corpus: str) -> Data:
    """The corpus prepared with charlm's defaults (cached), split as `charlm train` splits it."""
    prepared, _ = cached_prepare(corpus, DEFAULTS.prepare_settings())
    train_ids, valid_ids = split_validation(len(prepared.sentences), DEFAULTS.valid_fraction,
                                            DEFAULTS.seed)
    return Data(prepared.sentences.subset(train_ids), prepared.sentences.subset(valid_ids),
                len(prepared.vocabulary))


def new_model(data: Data, seed: int = DEFAULTS.seed) -> tuple[RNNLanguageModel,
                                                                torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = RNNLanguageModel(ModelConfig(vocab_size=data.vocab_size,
                                         embedding_dim=DEFAULTS.embedding_dim,
                                         hidden_dim=DEFAULTS.hidden_dim, layers=DEFAULTS.layers,
                                         cell=DEFAULTS.cell))
    optimizer = torch.optim.RMSprop(model.parameters(), lr=TUTORIAL.learning_rate,
                                    alpha=DEFAULTS.decay, eps=DEFAULTS.epsilon)
    return model, optimizer


def configure(threads: int) -> int:
    return configure_cpu(threads)


def epoch_batches(data: Data, batch_size: int) -> Iterator[np.ndarray]:
    """charlm's batches, epoch after epoch."""
    epoch = 0
    while True:
        yield from epoch_order(data.train.lengths, batch_size, DEFAULTS.seed, epoch)
        epoch += 1


def sentence_order(data: Data) -> Iterator[int]:
    """The same sentences the batched run sees, in the same order, one at a time."""
    for indices in epoch_batches(data, TUTORIAL.batch_size):
        yield from (int(i) for i in indices)


def baseline_step(model: RNNLanguageModel, optimizer: torch.optim.Optimizer, data: Data,
                  index: int) -> int:
    """The tutorial's step: one sentence, SENTENCE_START w1..wn → w1..wn SENTENCE_END, one
    RMSprop update. Returns the tokens predicted."""
    words = torch.from_numpy(data.train.sentence(index).astype(np.int64))
    inputs = torch.cat([torch.tensor([START_ID]), words])[None]
    targets = torch.cat([words, torch.tensor([END_ID])])[None]
    # The tutorial's network written plainly: PyTorch's own layers, the scores of the whole
    # sentence at once (charlm's model computes them in blocks).
    hidden, _ = model.rnn(model.embedding(inputs))
    logits = model.output(hidden)
    loss = torch.nn.functional.cross_entropy(logits[0], targets[0])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return int(targets.numel())


def validation_ppl(model: RNNLanguageModel, valid: EncodedSentences) -> float:
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in iterate_batches(valid, 256):
            loss, n = model.loss(batch.inputs, batch.targets)
            total += float(loss)
            count += n
    model.train(was_training)
    return math.exp(total / count)


class Clock:
    """Training time only: evaluation pauses it."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self._since: float | None = None

    def start(self) -> None:
        self._since = time.perf_counter()

    def stop(self) -> None:
        if self._since is not None:
            self.elapsed += time.perf_counter() - self._since
            self._since = None

    def now(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self.elapsed + running


@dataclass
class TrainedFor:
    """What a timed `charlm train` run did, read from its checkpoint."""

    tokens: int
    training_s: float  # training time, reports excluded
    steps: int
    metrics: list[dict]  # one record per report, as in the metrics file

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / max(self.training_s, 1e-9)


def settings_from_flags(flags: list[str]) -> dict[str, Any]:
    """`charlm train` flags (`--batch-size 128`, `--batch-size=128`, `--keep-best`,
    `--no-lowercase`) as the keyword arguments of `charlm.train`."""
    by_flag = {flag_name(f.name): f.name for f in option_fields(TrainConfig)}
    settings: dict[str, Any] = {}
    words = [part for flag in flags for part in flag.split("=", 1)] if flags else []
    i = 0
    while i < len(words):
        flag = words[i]
        if flag.startswith("--no-") and "--" + flag[5:] in by_flag:
            settings[by_flag["--" + flag[5:]]] = False
        elif flag in by_flag and TrainConfig.__dataclass_fields__[by_flag[flag]].type in (
                "bool", bool):
            settings[by_flag[flag]] = True
        elif flag in by_flag:
            name = by_flag[flag]
            settings[name] = parse_text(TrainConfig, name, words[i + 1], flag)
            i += 1
        else:
            raise SystemExit(f"not a charlm train flag: {flag}")
        i += 1
    return settings


def resolve_flags(flags: list[str]) -> TrainConfig:
    """The settings `charlm train` runs with, given these flags."""
    return resolve(TrainConfig, {"corpus": "-", **settings_from_flags(flags)}, {})


def train_for(corpus: str, seconds: float, flags: list[str], workdir: Path) -> TrainedFor:
    """Train on CORPUS with FLAGS through the Python API (the loop `charlm train` runs), and
    stop at the first report after `seconds` of training time (reports excluded) by breaking
    out of the loop of reports, which saves the checkpoint as Ctrl-C would."""
    import charlm

    settings = settings_from_flags(flags) | {"force": True}
    made = []
    for report in charlm.reports(corpus, out=workdir / "run.pt", **settings):
        made.append(report)
        if report.elapsed_s >= seconds:
            break
    last = made[-1]
    metrics = [{"elapsed_s": r.elapsed_s, "epoch": r.epoch, "tokens": r.tokens, "lr": r.lr,
                "val_ppl": r.val_ppl, "val_loss": r.val_loss} for r in made]
    return TrainedFor(last.tokens, last.elapsed_s, last.step, metrics)


def command_for(corpus: str, seconds: float, flags: list[str], workdir: Path) -> TrainedFor:
    """Run `charlm train CORPUS FLAGS` (the command users run) for `seconds` after its first
    step, stop it with SIGINT as a user would (it saves its checkpoint), and read the result."""
    out = workdir / "run.pt"
    command = [sys.executable, "-m", "charlm", "train", corpus, "--out", str(out), "--force",
               "--json", *flags]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if json.loads(line).get("event") == "progress" or '"model: ' in line:
                break
        time.sleep(seconds)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    progress = torch.load(out, weights_only=True)["progress"]
    return TrainedFor(progress["tokens"], progress["elapsed_s"], progress["steps"],
                      progress["metrics"])
