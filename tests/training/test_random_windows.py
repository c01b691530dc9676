"""--bptt-random: AWD-LSTM's random window lengths, drawn from the epoch's own random numbers, so
that every position is still predicted once an epoch, every rank steps through the same windows,
and a stopped run resumes exactly."""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.documents import (
    document_flags,
    predicted_pairs,
    random_sentences,
    write_documents,
)
from helpers.training import TINY, config_of, one_error_line, quiet_reporter
from typer.testing import CliRunner

from charlm.cli import app
from charlm.data.streams import Stream, StreamEpoch, stream_epoch
from charlm.data.types import IGNORE, EncodedSentences
from charlm.training.build import build_run
from charlm.training.loop import train_step


def window_lengths(cut: StreamEpoch) -> list[int]:
    """The length of each window of an epoch's cut, the last (cut short at the rows' end) left
    out."""
    return [cut.batch(i * cut.world).inputs.shape[1] for i in range(cut.windows - 1)]


def long_text(sentences: int = 14_000) -> EncodedSentences:
    lengths = np.random.default_rng(3).integers(1, 20, size=sentences).tolist()
    return random_sentences(lengths, [0, sentences // 3, sentences])


def test_random_window_lengths_follow_awd_lstms_rule() -> None:
    text = long_text()
    lengths = np.array([length for epoch in range(3) for length in window_lengths(
        stream_epoch(text, rows=4, window=70, seed=5, epoch=epoch, random_lengths=True))])
    assert len(lengths) > 1500
    near_full, near_half = np.abs(lengths - 70) <= 15, np.abs(lengths - 35) <= 15
    # One window in 20 around half the length, the others around the length itself, with a
    # deviation of 5: almost none in between.
    assert 0.9 <= near_full.mean() <= 0.97
    assert 0.02 <= near_half.mean() <= 0.08
    assert near_full.mean() + near_half.mean() > 0.995
    assert abs(lengths[near_full].mean() - 69.5) < 1.0  # int() rounds a draw towards zero
    assert 4.0 < lengths[near_full].std() < 6.0
    assert lengths.min() >= 5
    # Short windows are held at the minimum, or at --bptt where that is smaller.
    for window, shortest in ((6, 5), (3, 3)):
        short = np.array(window_lengths(stream_epoch(
            text, rows=4, window=window, seed=5, epoch=0, random_lengths=True)))
        assert short.min() == shortest and short.max() > window + 5


@pytest.mark.parametrize("world", [1, 2])
def test_random_windows_predict_every_position_of_the_stream_once(world: int) -> None:
    lengths = np.random.default_rng(0).integers(1, 12, size=203).tolist()
    sentences = random_sentences(lengths, [0, 50, 120, 203])
    length = len(Stream.of(sentences))
    for epoch in range(4):
        cut = stream_epoch(sentences, rows=4, window=9, seed=1, epoch=epoch, world=world,
                           random_lengths=True)
        batches = [cut.batch(i) for i in range(cut.count)]
        assert len({b.inputs.shape[1] for b in batches}) > 2  # the lengths vary
        inputs, targets, _ = cut.stream.tokens(np.arange(length))
        assert predicted_pairs(batches) == Counter(zip(inputs.tolist(), targets.tolist()))
        assert sum(int((b.targets != IGNORE).sum()) for b in batches) == length
        # The counts a run reports are what its batches predict.
        steps = [cut.step_totals(first) for first in range(0, cut.count, world)]
        assert sum(s for s, _ in steps) == sum(b.sentences for b in batches) == len(sentences)
        assert sum(t for _, t in steps) == length
        assert [t for _, t in steps] == [sum(b.tokens for b in batches[first:first + world])
                                         for first in range(0, cut.count, world)]
        assert cut.sentences_before(cut.count) == len(sentences)


def test_every_rank_cuts_the_same_random_windows() -> None:
    # Each torchrun rank builds its epoch's cut on its own: the windows must agree.
    text = long_text(2_000)
    for epoch in range(3):
        on_rank = [stream_epoch(text, rows=4, window=20, seed=7, epoch=epoch, world=2,
                                random_lengths=True) for _ in range(2)]
        steps = on_rank[0].count // 2
        assert on_rank[1].count == on_rank[0].count
        widths = [[on_rank[rank].batch(2 * step + rank).inputs.shape[1] for step in range(steps)]
                  for rank in range(2)]
        assert widths[0] == widths[1]
        assert len(set(widths[0])) > 5
    other_epoch = stream_epoch(text, rows=4, window=20, seed=7, epoch=3, world=2,
                               random_lengths=True)
    assert not np.array_equal(other_epoch.edges, on_rank[0].edges)


def test_a_windows_learning_rate_is_scaled_by_its_length(tmp_path: Path) -> None:
    folder = write_documents(tmp_path / "novels")
    moved: dict[bool, list[torch.Tensor]] = {}
    with ExitStack() as held:
        runs = {random: build_run(config_of(**document_flags(
            folder, tmp_path / f"{random}.pt", bptt_random=random, weight_average=0.0)),
            quiet_reporter(), held) for random in (False, True)}
        epoch = runs[True].epoch_batches(0)
        batch = next(b for b in map(epoch.batch, range(epoch.count)) if b.inputs.shape[1] != 10)
        for random, run in runs.items():
            before = [p.detach().clone() for p in run.model.parameters()]
            train_step(run, batch, batch.tokens)
            moved[random] = [p.detach() - b for p, b in zip(run.model.parameters(), before)]
            assert run.optimizer.param_groups[0]["lr"] == run.config.learning_rate
    scale = batch.inputs.shape[1] / 10
    for random, fixed in zip(moved[True], moved[False]):
        torch.testing.assert_close(random, fixed * scale, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize(("sentences", "origin"), [
    (["--context", "sentence"], "from --context"),
    (["--recipe", "tutorial"], "from --context (recipe tutorial)"),
])
def test_random_windows_are_refused_in_sentence_context(tmp_path: Path, sentences: list[str],
                                                        origin: str) -> None:
    folder = write_documents(tmp_path / "novels", sentences=20)
    out = tmp_path / "m.pt"
    result = CliRunner().invoke(app, ["train", str(folder), "-o", str(out), "--bptt-random",
                                      "--epochs", "1", *sentences, *TINY])
    line = one_error_line(result, 2)
    assert "--bptt-random draws the lengths of the windows of running text" in line
    assert origin in line
    assert not out.exists()
