"""Document context: the state carries from one sentence to the next through running text, in
preparation, training, evaluation and generation; sentence context stays the tutorial's."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.corpora import write_corpus
from helpers.documents import document_flags, predicted_pairs, random_sentences, write_documents
from helpers.resuming import SignalAfter, assert_same_state, metric_lines
from helpers.training import config_of, quiet_reporter, tiny_flags
from typer.testing import CliRunner

import charlm
from charlm.checkpoint.files import load_checkpoint, save_checkpoint
from charlm.cli import app
from charlm.data import streams
from charlm.data.batches import make_batch
from charlm.data.cache import cached_prepare
from charlm.data.prepare import prepare_corpus
from charlm.data.settings import PrepareSettings
from charlm.data.streams import Stream, held_out_documents, sentence_starts, stream_epoch
from charlm.data.types import IGNORE, Batch, EncodedSentences, Resets
from charlm.data.vocab import START_ID
from charlm.errors import CharlmError
from charlm.evaluation import scoring
from charlm.evaluation.scoring import token_surprisals
from charlm.model.network import ModelConfig, RNNLanguageModel
from charlm.training.loop import run_training
from charlm.training.signals import Interrupted

CPU = torch.device("cpu")


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def document_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny model of document context, trained for two epochs on three documents."""
    root = tmp_path_factory.mktemp("document-model")
    folder = write_documents(root / "novels")
    out = root / "doc.pt"
    run_training(config_of(**tiny_flags(corpus=str(folder), out=str(out), epochs=2,
                                        context="document", bptt=10)), quiet_reporter())
    return {"folder": folder, "checkpoint": out}


# Preparation keeps documents.

def test_a_file_and_a_csv_row_are_each_a_document(tmp_path: Path) -> None:
    folder = write_documents(tmp_path / "novels", count=3, sentences=8)
    prepared = prepare_corpus(str(folder), PrepareSettings())
    assert prepared.sentences.document_count == 3
    assert list(np.diff(prepared.sentences.documents)) == [8, 8, 8]

    rows = tmp_path / "comments.csv"
    rows.write_text('body\n"First row. It has two sentences."\n"A second row."\n""\n'
                    '"The fourth row, after an empty one. It has two."\n', encoding="utf-8")
    csv = prepare_corpus(str(rows), PrepareSettings()).sentences
    assert list(np.diff(csv.documents)) == [2, 1, 2]  # the empty row is no document


def test_the_cache_keeps_documents(tmp_path: Path) -> None:
    folder = write_documents(tmp_path / "novels", count=3, sentences=8)
    fresh, hit = cached_prepare(str(folder), PrepareSettings(), cache_dir=tmp_path / "cache")
    cached, hit_again = cached_prepare(str(folder), PrepareSettings(),
                                       cache_dir=tmp_path / "cache")
    assert (hit, hit_again) == (False, True)
    assert list(cached.sentences.documents) == list(fresh.sentences.documents) == [0, 8, 16, 24]


def test_a_subset_keeps_the_documents_of_its_sentences() -> None:
    sentences = random_sentences([3, 2, 4, 1, 2], [0, 2, 5])
    chosen = sentences.subset(np.array([0, 1, 3, 4]))
    assert list(chosen.documents) == [0, 2, 4]
    assert list(EncodedSentences.concatenate([chosen, chosen]).documents) == [0, 2, 4, 6, 8]


# Streams.

def test_a_stream_reads_each_sentence_as_a_batch_of_it_alone_does() -> None:
    sentences = random_sentences([3, 1, 4, 2], [0, 2, 4])
    stream = Stream.of(sentences)
    inputs, targets, opens = stream.tokens(np.arange(len(stream)))
    alone = make_batch(sentences, np.arange(len(sentences)))
    mask = alone.targets.numpy() != -100
    assert list(inputs) == list(alone.inputs.numpy()[mask])
    assert list(targets) == list(alone.targets.numpy()[mask])
    assert list(np.flatnonzero(opens)) == [0, 6]  # where documents 0 and 1 begin
    assert list(sentence_starts(sentences)) == [0, 4, 6, 11]


@pytest.mark.parametrize("world", [1, 2])
def test_an_epoch_predicts_every_position_of_its_stream_once(world: int) -> None:
    lengths = np.random.default_rng(0).integers(1, 12, size=203).tolist()
    sentences = random_sentences(lengths, [0, 50, 120, 203])
    length = len(Stream.of(sentences))
    cuts = [stream_epoch(sentences, rows=4, window=7, seed=1, epoch=e, world=world)
            for e in range(4)]
    for cut in cuts:
        batches = [cut.batch(i) for i in range(cut.count)]
        inputs, targets, _ = cut.stream.tokens(np.arange(length))
        assert predicted_pairs(batches) == Counter(zip(inputs.tolist(), targets.tolist()))
        assert sum(b.tokens for b in batches) == length
        assert sum(int((b.targets != IGNORE).sum()) for b in batches) == length
        # Each document's first position zeroes the state once, wherever the cut put it.
        assert sum(int((b.resets.keep == 0).sum()) for b in batches if b.resets) == 3
        # The counts a run reports are what its batches predict.
        steps = [cut.step_totals(first) for first in range(0, cut.count, world)]
        assert sum(s for s, _ in steps) == sum(b.sentences for b in batches) == len(sentences)
        assert sum(t for _, t in steps) == length
        assert cut.sentences_before(cut.count) == len(sentences)
        assert cut.sentences_before(2 * world) == sum(b.sentences for b in batches[:2 * world])
        # Whole windows of every row, and a shorter last one.
        assert {b.inputs.shape for b in batches[:-world]} == {(4, 7)}
        assert batches[-1].inputs.shape[0] == 4 and batches[-1].inputs.shape[1] <= 7
    assert len({(c.shift, tuple(c.stream.order[:5])) for c in cuts}) > 1  # each epoch its own


def test_an_epoch_of_running_text_trains_and_reports_every_training_sentence(
    tmp_path: Path
) -> None:
    folder = write_documents(tmp_path / "novels", count=3, sentences=40)
    valid = write_corpus(tmp_path / "valid.txt", sentences=20, seed=9)
    training = prepare_corpus(str(folder), PrepareSettings()).sentences
    result = charlm.train(folder, tmp_path / "m.pt", **tiny_flags(
        context="document", bptt=10, epochs=2, valid=str(valid), print_every=100_000))
    first, second = result.reports
    assert (first.epoch, first.sentences) == (1, len(training))
    assert first.tokens == len(Stream.of(training))
    assert (second.sentences, second.tokens) == (2 * first.sentences, 2 * first.tokens)


def test_the_rows_start_afresh_where_a_document_begins() -> None:
    sentences = random_sentences([5] * 40, [0, 10, 40])
    cut = stream_epoch(sentences, rows=2, window=6, seed=0, epoch=0)
    resets = [cut.batch(i).resets for i in range(cut.count)]
    opened = sum(int((r.keep == 0).sum()) for r in resets if r is not None)
    assert 1 <= opened <= 2  # the document that does not open a row begins inside one
    for batch in (cut.batch(i) for i in range(cut.count)):
        if batch.resets is not None:
            for column in batch.resets.columns:
                rows = np.flatnonzero(batch.resets.keep[:, column].numpy() == 0)
                assert all(batch.inputs[row, column] == START_ID for row in rows)


def test_held_out_running_text_is_whole_documents_or_the_end_of_each() -> None:
    many = random_sentences([4] * 400, list(range(0, 401, 10)))
    train_ids, valid_ids, how = held_out_documents(many, 0.05, seed=3)
    assert how == "whole documents"
    assert set(np.unique(valid_ids // 10)).isdisjoint(np.unique(train_ids // 10))

    few = random_sentences([4] * 300, [0, 100, 300])
    train_ids, valid_ids, how = held_out_documents(few, 0.05, seed=3)
    assert how == "the end of each document"
    assert list(valid_ids) == [*range(95, 100), *range(290, 300)]


def test_held_out_running_text_stays_near_its_share() -> None:
    # Nineteen short documents and one that is most of the corpus: the long one is never held
    # out whole, whatever the seed.
    skewed = random_sentences([4] * 138, [*range(0, 39, 2), 138])
    goal = round(0.05 * 138)
    for seed in range(20):
        _, valid_ids, how = held_out_documents(skewed, 0.05, seed)
        assert how == "whole documents" and goal <= len(valid_ids) <= 2 * goal
    # Few one-sentence documents: one sentence is held out, not every document's.
    single = random_sentences([4] * 15, list(range(16)))
    train_ids, valid_ids, how = held_out_documents(single, 0.05, seed=0)
    assert (len(train_ids), len(valid_ids)) == (14, 1)


def test_few_short_documents_hold_out_at_least_the_share_asked_for() -> None:
    # Nineteen documents of ten sentences: 5% of each rounds to none.
    short = random_sentences([4] * 190, list(range(0, 191, 10)))
    for fraction in (0.05, 0.2):
        train_ids, valid_ids, how = held_out_documents(short, fraction, seed=3)
        assert how == "the end of each document"
        assert len(valid_ids) >= fraction * len(short)  # counted in sentences
        assert len(train_ids) + len(valid_ids) == len(short)
        # What is held out is the end of documents, each of which keeps its beginning.
        documents = short.documents
        for d in range(short.document_count):
            held = [i for i in valid_ids if documents[d] <= i < documents[d + 1]]
            assert held == list(range(documents[d + 1] - len(held), documents[d + 1]))
            assert len(held) < documents[d + 1] - documents[d]
    # Twenty documents, none of which fits the share but short ones that fall short of it.
    skewed = random_sentences([4] * 419, [*range(20), 419])
    _, valid_ids, how = held_out_documents(skewed, 0.05, seed=0)
    assert how == "the end of each document"
    assert list(valid_ids) == list(range(419 - 21, 419))


# Scoring.

def exact_document_surprisals(model: RNNLanguageModel, sentences: EncodedSentences
                              ) -> np.ndarray:
    """Each document read from start to end as one sequence: the definition of document
    context."""
    stream = Stream.of(sentences)
    result = np.empty(len(stream))
    with torch.no_grad():
        for d in range(sentences.document_count):
            first, end = (int(stream.starts[sentences.documents[k]]) for k in (d, d + 1))
            inputs, targets, _ = stream.tokens(np.arange(first, end)[None])
            losses, _ = model.token_losses(torch.from_numpy(inputs), torch.from_numpy(targets))
            result[first:end] = losses.numpy()
    return result


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_document_scoring_reads_every_sentence_after_its_document_so_far(
    cell: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    model = RNNLanguageModel(ModelConfig(vocab_size=40, embedding_dim=8, hidden_dim=16,
                                         cell=cell)).eval()
    sentences = random_sentences(list(range(1, 13)) * 40, [0, 3, 200, 480])
    expected = exact_document_surprisals(model, sentences)
    # Short pieces read side by side, each after a stretch of the text before it long enough
    # for this small model's state to forget what came earlier.
    monkeypatch.setattr(scoring, "PIECE_TOKENS", 64)
    monkeypatch.setattr(scoring, "WARMUP_TOKENS", 64)
    monkeypatch.setattr(scoring, "WINDOW", 16)  # each piece read in windows, the state carried
    scored = token_surprisals(model, sentences, CPU, batch_size=8, context="document")
    assert np.abs(scored - expected).max() < 1e-4
    monkeypatch.setattr(scoring, "WARMUP_TOKENS", 0)  # pieces without it start from zero
    cold = token_surprisals(model, sentences, CPU, batch_size=8, context="document")
    assert np.abs(cold - expected).max() > 0.01
    alone = token_surprisals(model, sentences, CPU, context="sentence")
    assert np.abs(alone - expected).max() > 0.01  # sentence context is another thing


# Training.

def carry_corpus(folder: Path, documents: int = 20, sentences: int = 30, seed: int = 0) -> Path:
    """Documents (a file each, a sentence a line) whose sentences each open with a word fixed by
    the previous sentence's last word, and end with one of eight drawn at random: only the
    previous sentence tells the next one's first word."""
    rng = random.Random(seed)
    lasts = [f"l{name}" for name in "abcdefgh"]
    firsts = {last: f"f{name}" for last, name in zip(lasts, "hgfedcba")}
    fillers = ["ka", "lo", "mi", "nu", "po", "ru", "si", "tu"]
    folder.mkdir()
    for number in range(documents):
        first = rng.choice(list(firsts.values()))
        lines = []
        for _ in range(sentences):
            last = rng.choice(lasts)
            lines.append(" ".join([first, *rng.sample(fillers, 2), last]))
            first = firsts[last]
        (folder / f"{number:03d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def first_word_loss(model: charlm.Model, corpus: Path) -> float:
    """Mean surprisal of the first word of every sentence that does not open its document."""
    scored = model.score_text([str(corpus)])
    sentences = scored.sentences
    starts = sentence_starts(sentences)
    inner = np.setdiff1d(np.arange(len(sentences)), sentences.documents[:-1])
    return float(scored.surprisal[starts[inner]].mean())


def test_the_state_carries_what_the_previous_sentence_says(tmp_path: Path) -> None:
    corpus = carry_corpus(tmp_path / "carry")
    held_out = carry_corpus(tmp_path / "held-out", documents=12, seed=1)
    losses = {}
    for context in ("document", "sentence"):
        out = tmp_path / f"{context}.pt"
        charlm.train(corpus, out, context=context, valid=held_out, epochs=5, batch_size=8,
                     bptt=20, embedding_dim=16, hidden_dim=32, learning_rate=0.03, samples=0,
                     vocabulary_size=0, split="one-per-line", threads=1, device="cpu")
        losses[context] = first_word_loss(charlm.load(out), held_out)
    # The first word is one of eight, all alike without the sentence before it: read alone,
    # its loss stays near log 8; read after the sentence before, it nearly vanishes.
    assert losses["sentence"] > 0.9 * np.log(8)
    assert losses["document"] < 0.2 * np.log(8)


def test_the_checkpoint_records_the_context_and_commands_read_text_the_same_way(
    document_model: dict[str, Path], tmp_path: Path
) -> None:
    folder, out = document_model["folder"], document_model["checkpoint"]
    assert load_checkpoint(out)["context"] == "document"
    model = charlm.load(out)
    assert model.context == "document"
    held_out = str(folder / "doc1.txt")
    document = model.evaluate(held_out)
    assert (document.context, model.evaluate(held_out, context="sentence").context) == (
        "document", "sentence")
    # The report's validation perplexity and evaluate's are one computation.
    scored = model.score_text([held_out])
    assert scored.summary.log_prob == pytest.approx(document.log_prob, rel=1e-12)

    # A checkpoint from before document context reads each sentence alone.
    older = load_checkpoint(out)
    del older["context"]
    save_checkpoint(older, tmp_path / "older.pt")
    assert charlm.load(tmp_path / "older.pt").context == "sentence"


def test_score_scores_lines_alone_unless_asked_for_running_text(
    document_model: dict[str, Path], tmp_path: Path
) -> None:
    out = document_model["checkpoint"]
    lines = tmp_path / "lines.txt"
    lines.write_text("Anna walked to the garden.\nAnna walked to the garden.\n", encoding="utf-8")
    model = charlm.load(out)
    alone = model.score_text([str(lines)], one_per_line=True).scores
    running = model.score_text([str(lines)], one_per_line=True, context="document").scores
    assert alone[0].log_prob == alone[1].log_prob
    assert running[0].log_prob == pytest.approx(alone[0].log_prob, rel=1e-6)  # nothing before
    assert running[1].log_prob != pytest.approx(alone[1].log_prob, rel=1e-3)
    assert [s.log_prob for s in model.score(["Anna walked.", "Anna walked."])][0] == (
        model.score(["Anna walked.", "Anna walked."])[1].log_prob)


def test_tutorial_schedule_keeps_the_tutorials_sentence_context(tmp_path: Path) -> None:
    assert config_of(tutorial_schedule=True, corpus="x").context == "sentence"
    assert config_of(tutorial_schedule=True, corpus="x", context="document").context == (
        "document")


def test_generate_writes_a_passage_that_continues_its_prompt(
    document_model: dict[str, Path]
) -> None:
    out = document_model["checkpoint"]
    model = charlm.load(out)
    prompt = "Anna was happy. Ben walked to"
    passage = model.sample(4, prompt, seed=3, allow_unknown=True, min_words=0)
    assert len(passage.sentences) == 4
    assert passage.sentences[0].tokens[:3] == ["ben", "walked", "to"]
    assert not any(s.tokens[:3] == ["ben", "walked", "to"] for s in passage.sentences[1:])
    # Each sentence's log-probability is the model's, after the prompt and the sentences before.
    scored = model.score_sentences(
        ["x"] * 5, [["anna", "was", "happy", "."], *[s.tokens for s in passage.sentences]],
        "the passage", context="document")
    starts = sentence_starts(scored.sentences)
    new_words = scored.surprisal[starts[1] + 3 : starts[2]]  # after "ben walked to"
    assert passage.sentences[0].log_prob == pytest.approx(-new_words.sum(), abs=1e-4)
    for number, sentence in enumerate(passage.sentences[1:], start=2):
        assert sentence.log_prob == pytest.approx(scored.scores[number].log_prob, abs=1e-4)
    # The command prints the passage as one paragraph.
    result = CliRunner().invoke(app, ["generate", str(out), "-n", "3", "--seed", "1",
                                      "--allow-unknown", "--min-words", "0"])
    assert result.exit_code == 0, result.output
    assert len([line for line in result.stdout.splitlines() if line.strip()]) == 1


def test_complete_reads_the_whole_prompt(document_model: dict[str, Path]) -> None:
    out = document_model["checkpoint"]
    model = charlm.load(out)
    table = dict(model.next_words("Anna was happy. Ben walked to", k=50))
    # The same probabilities as scoring the text with each candidate next.
    for word in list(table)[:3]:
        scored = model.score_sentences(["a", "b"], [["anna", "was", "happy", "."],
                                                   ["ben", "walked", "to", word]],
                                       "the prompt", context="document")
        assert np.exp(-scored.surprisal[-2]) == pytest.approx(table[word], rel=1e-4)
    alone = dict(charlm.load(out, context="sentence").next_words("Ben walked to", k=50))
    assert alone != table
    completed = model.complete("Anna was happy. Ben walked to", k=50)
    assert [p for _, p in completed.next_words] == pytest.approx(list(table.values()))
    # A prompt that ends a sentence leaves a new one open.
    assert model.prompt_in_context("Anna was happy.").words == []


# Everything else in document context.


@pytest.mark.parametrize("cell", [{"cell": "gru", "dropout": 0.3},
                                  {"cell": "lstm", "softmax": "adaptive"},
                                  {"cell": "gru", "bptt_random": True}],
                         ids=["gru-dropout", "lstm-adaptive", "gru-random-windows"])
def test_a_run_stopped_inside_a_window_resumes_exactly(tmp_path: Path, cell: dict) -> None:
    folder = write_documents(tmp_path / "novels")
    flags = document_flags(folder, tmp_path / "x.pt", epochs=2, print_every=90, **cell)
    whole, stopped = tmp_path / "whole.pt", tmp_path / "stopped.pt"
    run_training(config_of(**{**flags, "out": str(whole)}), quiet_reporter())
    with pytest.raises(Interrupted):
        run_training(config_of(**{**flags, "out": str(stopped)}), SignalAfter(150))
    checkpoint = load_checkpoint(stopped)
    assert checkpoint["progress"]["epoch"] == 0 and checkpoint["progress"]["batch_in_epoch"] > 0
    carried = checkpoint["stream_states"][0]
    assert set(carried) == ({"h", "c"} if cell["cell"] == "lstm" else {"h"})
    assert carried["h"].shape == (2, 16, 16) and carried["h"].abs().sum() > 0
    run_training(config_of(corpus=str(folder), resume=str(stopped)), quiet_reporter())
    assert_same_state(whole, stopped)
    assert metric_lines(stopped) == metric_lines(whole)


def test_a_run_that_forgets_the_carried_state_does_not_resume_exactly(tmp_path: Path) -> None:
    """The state carried into the next window is part of where training stands."""
    folder = write_documents(tmp_path / "novels")
    flags = document_flags(folder, tmp_path / "x.pt", epochs=1, print_every=90)
    whole, stopped = tmp_path / "whole.pt", tmp_path / "stopped.pt"
    run_training(config_of(**{**flags, "out": str(whole)}), quiet_reporter())
    with pytest.raises(Interrupted):
        run_training(config_of(**{**flags, "out": str(stopped)}), SignalAfter(150))
    checkpoint = load_checkpoint(stopped)
    checkpoint["stream_states"] = [{}]
    save_checkpoint(checkpoint, stopped)
    run_training(config_of(corpus=str(folder), resume=str(stopped)), quiet_reporter())
    first, second = load_checkpoint(whole), load_checkpoint(stopped)
    assert any(not torch.equal(first["model_state"][name], second["model_state"][name])
               for name in first["model_state"])


def test_adaptive_validation_is_what_evaluate_gives_the_held_out_text(tmp_path: Path) -> None:
    folder = write_documents(tmp_path / "novels")
    valid = write_corpus(tmp_path / "valid.txt", sentences=60, seed=9)
    out = tmp_path / "adaptive.pt"
    run_training(config_of(**document_flags(folder, out, epochs=1, softmax="adaptive",
                                            valid=str(valid))), quiet_reporter())
    reported = json_lines(Path(f"{out}.metrics.jsonl"))[-1]["val_loss"]
    assert charlm.load(out).evaluate(str(valid)).loss == pytest.approx(reported, rel=1e-6)


def test_early_stop_ends_a_run_of_running_text(tmp_path: Path) -> None:
    folder = write_documents(tmp_path / "novels")
    out = tmp_path / "early.pt"
    result = charlm.train(folder, out, **{k: v for k, v in document_flags(
        folder, out, epochs=40, print_every=100_000, learning_rate=0.05, early_stop=2,
        weight_average=0.0).items() if k not in ("corpus", "out")})
    assert result.stopped == "early-stop"
    assert result.reports[-1].epoch < 40


def test_fine_tuning_keeps_the_models_context_unless_told(tmp_path: Path) -> None:
    folder = write_documents(tmp_path / "novels")
    sentence_model, tuned = tmp_path / "sentence.pt", tmp_path / "tuned.pt"
    run_training(config_of(**tiny_flags(corpus=str(folder), out=str(sentence_model), epochs=1,
                                        context="sentence")), quiet_reporter())
    new = write_documents(tmp_path / "new", count=2, sentences=60)
    run_training(config_of(**tiny_flags(corpus=str(new), out=str(tuned), epochs=1,
                                        init_from=str(sentence_model))), quiet_reporter())
    assert load_checkpoint(tuned)["context"] == "sentence"
    run_training(config_of(**tiny_flags(corpus=str(new), out=str(tuned), epochs=1, force=True,
                                        init_from=str(sentence_model), context="document",
                                        bptt=10)),
                 quiet_reporter())
    assert load_checkpoint(tuned)["context"] == "document"
    assert load_checkpoint(tuned)["stream_states"] is not None


def test_dynamic_evaluation_reads_each_segment_on_from_the_last(
    document_model: dict[str, Path]
) -> None:
    from charlm.evaluation.dynamic_settings import DynamicSettings

    model = charlm.load(document_model["checkpoint"])
    text = str(document_model["folder"])  # three documents: segments cross where each begins
    plain = model.evaluate(text)
    # Adapting nothing, segment after segment carrying the state: plain document scoring.
    still = model.evaluate(text, dynamic=DynamicSettings(segment_tokens=64, rate=0.0))
    assert still.loss == pytest.approx(plain.loss, abs=1e-5)
    adapted = model.evaluate(text, dynamic=DynamicSettings(segment_tokens=64, rate=0.01))
    assert adapted.context == "document" and adapted.loss != pytest.approx(plain.loss, abs=1e-5)


def test_lines_read_as_running_text_keep_each_file_a_document(
    document_model: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "lines"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text("Anna walked to the garden.\nBen was happy.\n",
                                   encoding="utf-8")
    model = charlm.load(document_model["checkpoint"])
    both = model.score_text([str(folder)], one_per_line=True, context="document")
    assert list(both.sentences.documents) == [0, 2, 4]
    first, second = both.scores[0].log_prob, both.scores[2].log_prob
    assert second == pytest.approx(first, rel=1e-6)  # the second file starts afresh


def test_complete_names_every_unknown_word_of_the_line(document_model: dict[str, Path]
                                                       ) -> None:
    model = charlm.load(document_model["checkpoint"])
    completion = model.complete("Zyxxy quorble. Anna walked", k=3)
    assert completion.unknown == ["zyxxy", "quorble"]
    assert completion.words[-2:] == ["anna", "walked"]


def test_a_prompt_is_cut_into_sentences_as_training_text_is(tmp_path: Path) -> None:
    titles = tmp_path / "titles.txt"
    titles.write_text("\n".join(f"the {word} garden" for word in
                                ["old", "green", "quiet", "small", "wild"] * 40) + "\n",
                      encoding="utf-8")
    out = tmp_path / "titles.pt"
    run_training(config_of(**tiny_flags(corpus=str(titles), out=str(out), epochs=1, split="lines",
                                        bptt=10)), quiet_reporter())
    model = charlm.load(out)
    assert model.tokenizer.prompt_sentences("the old garden\nthe quiet garden") == [
        ["the", "old", "garden"], ["the", "quiet", "garden"]]
    assert model.prompt_in_context("the old garden\nthe quiet").words == ["the", "quiet"]


def test_a_checkpoint_of_an_unknown_context_is_refused_in_one_line(
    document_model: dict[str, Path], tmp_path: Path
) -> None:
    damaged = load_checkpoint(document_model["checkpoint"])
    damaged["context"] = "chapter"
    save_checkpoint(damaged, tmp_path / "damaged.pt")
    result = CliRunner().invoke(app, ["info", str(tmp_path / "damaged.pt")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "unknown context 'chapter'" in result.stderr


def test_the_state_is_zeroed_where_a_document_begins() -> None:
    """A row whose document begins at step 3 reads on from a zero state there: as if its text
    before were another sequence."""
    torch.manual_seed(1)
    model = RNNLanguageModel(ModelConfig(vocab_size=40, embedding_dim=8, hidden_dim=16)).eval()
    inputs, targets = torch.randint(3, 40, (2, 6)), torch.randint(3, 40, (2, 6))
    state = torch.randn(2, 2, 16)
    keep = torch.ones(2, 6)
    keep[0, 3] = 0.0
    with torch.no_grad():
        reset, _ = model.token_losses(inputs, targets, state, Resets(keep, (3,)))
        before, middle = model.token_losses(inputs[:, :3], targets[:, :3], state)
        middle[:, 0] = 0.0
        after, _ = model.token_losses(inputs[:, 3:], targets[:, 3:], middle)
        carried, _ = model.token_losses(inputs, targets, state)
    by_hand = torch.cat([before.view(2, 3), after.view(2, 3)], dim=1).flatten()
    torch.testing.assert_close(reset, by_hand)
    assert not torch.allclose(reset[3:6], carried[3:6])  # row 0 after the reset
    torch.testing.assert_close(reset[6:], carried[6:])  # row 1 reads on


def test_training_zeroes_the_state_where_a_document_begins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_documents(tmp_path / "novels", count=6, sentences=40)
    flags = document_flags(folder, tmp_path / "x.pt", epochs=1)
    run_training(config_of(**{**flags, "out": str(tmp_path / "reset.pt")}), quiet_reporter())
    original = streams.stream_batch

    def without_resets(stream: Stream, positions: np.ndarray,
                       predicted: np.ndarray | None = None) -> Batch:
        batch = original(stream, positions, predicted)
        assert batch.resets is not None or positions.size
        return Batch(batch.inputs, batch.targets, batch.tokens, batch.sentences, None)

    monkeypatch.setattr(streams, "stream_batch", without_resets)
    run_training(config_of(**{**flags, "out": str(tmp_path / "carried.pt")}), quiet_reporter())
    first, second = (load_checkpoint(tmp_path / f"{n}.pt")["model_state"]
                     for n in ("reset", "carried"))
    apart = max(float((first[name] - second[name]).abs().max()) for name in first)
    assert apart > 1e-4  # more than the rounding of a sequence read in pieces


def test_training_holds_out_running_text_and_scores_it_as_evaluate_does(
    document_model: dict[str, Path], tmp_path: Path
) -> None:
    folder = document_model["folder"]
    result = CliRunner().invoke(app, ["train", str(folder), "-o", str(tmp_path / "m.pt"),
                                      "--epochs", "1", "--bptt", "10", "--embedding-dim", "8",
                                      "--hidden-dim", "16", "--vocabulary-size", "50",
                                      "--batch-size", "16", "--samples", "0"])
    assert result.exit_code == 0, result.output
    assert "(the end of each document of 3 documents)" in result.stdout
    # score reads documents with a reader of its own: files, and a CSV's rows, as evaluate does.
    model = charlm.load(document_model["checkpoint"])
    rows = tmp_path / "rows.csv"
    paragraphs = (folder / "doc0.txt").read_text(encoding="utf-8").split("\n\n")
    rows.write_text("body\n" + "".join(f'"{p}"\n' for p in paragraphs), encoding="utf-8")
    for inputs in ([str(folder)], [str(rows)]):
        scored, evaluated = model.score_text(inputs).summary, model.evaluate_files(inputs)
        assert scored.log_prob == pytest.approx(evaluated.summary.log_prob, rel=1e-12)
        assert scored.tokens == evaluated.summary.tokens
    command = CliRunner().invoke(app, ["score", str(document_model["checkpoint"]), str(rows),
                                       "--split", "one-per-line", "--context", "document",
                                       "--json"])
    summary = json.loads(command.stdout.splitlines()[-1])["summary"]
    assert summary["context"] == "document"


def test_an_epoch_begins_afresh_whatever_the_last_one_carried(tmp_path: Path) -> None:
    folder = write_documents(tmp_path / "novels")
    flags = document_flags(folder, tmp_path / "x.pt", print_every=100_000)
    whole, parts = tmp_path / "whole.pt", tmp_path / "parts.pt"
    run_training(config_of(**{**flags, "out": str(whole), "epochs": 2}), quiet_reporter())
    run_training(config_of(**{**flags, "out": str(parts), "epochs": 1}), quiet_reporter())
    checkpoint = load_checkpoint(parts)
    assert checkpoint["progress"]["batch_in_epoch"] == 0
    checkpoint["stream_states"] = [{"h": torch.randn_like(checkpoint["stream_states"][0]["h"])}]
    save_checkpoint(checkpoint, parts)
    run_training(config_of(corpus=str(folder), resume=str(parts), epochs=2), quiet_reporter())
    assert_same_state(whole, parts)


def test_a_run_stopped_inside_an_epoch_resumes_with_its_number_of_ranks(tmp_path: Path
                                                                         ) -> None:
    folder = write_documents(tmp_path / "novels")
    stopped = tmp_path / "stopped.pt"
    with pytest.raises(Interrupted):
        run_training(config_of(**document_flags(folder, stopped, epochs=1, print_every=90)),
                     SignalAfter(150))
    checkpoint = load_checkpoint(stopped)
    checkpoint["stream_states"] = checkpoint["stream_states"] * 2
    save_checkpoint(checkpoint, stopped)
    with pytest.raises(CharlmError, match=r"cut for 2 rank\(s\), and this run has 1"):
        run_training(config_of(corpus=str(folder), resume=str(stopped)), quiet_reporter())


def test_a_run_from_before_contexts_resumes_reading_sentences(tmp_path: Path) -> None:
    folder = write_documents(tmp_path / "novels")
    stopped = tmp_path / "stopped.pt"
    with pytest.raises(Interrupted):
        run_training(config_of(**tiny_flags(corpus=str(folder), out=str(stopped), epochs=1,
                                            print_every=90, context="sentence")), SignalAfter(150))
    checkpoint = load_checkpoint(stopped)
    for part in (checkpoint, checkpoint["train_config"], checkpoint["setting_origins"]):
        del part["context"]
    del checkpoint["train_config"]["bptt"], checkpoint["setting_origins"]["bptt"]
    save_checkpoint(checkpoint, stopped)
    run_training(config_of(corpus=str(folder), resume=str(stopped)), quiet_reporter())
    resumed = load_checkpoint(stopped)
    assert resumed["context"] == resumed["train_config"]["context"] == "sentence"
    assert resumed["progress"]["epoch"] == 1
