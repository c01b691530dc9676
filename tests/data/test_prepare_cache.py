"""Preparing a corpus: parallel tokenization and the prepared-corpus cache."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers.corpora import write_corpus
from typer.testing import CliRunner

import charlm.data.prepare
from charlm.cli import app
from charlm.data import cache
from charlm.data.cache import cache_key, cached_prepare, load_entry
from charlm.data.prepare import PreparedCorpus, prepare_corpus
from charlm.data.settings import PrepareSettings

SETTINGS = PrepareSettings(vocabulary_size=40, lowercase=True, drop_urls=True, min_chars=1,
                           max_words=0, text_column=None)


def assert_same(a: PreparedCorpus, b: PreparedCorpus) -> None:
    assert a.sentences.ids.dtype == b.sentences.ids.dtype
    assert np.array_equal(a.sentences.ids, b.sentences.ids)
    assert np.array_equal(a.sentences.offsets, b.sentences.offsets)
    assert a.vocabulary.words == b.vocabulary.words
    assert a.vocabulary.written_forms == b.vocabulary.written_forms
    assert a.vocabulary_stats == b.vocabulary_stats
    assert a.tokenizer.settings == b.tokenizer.settings
    assert a.tokenizer.dropped_long == b.tokenizer.dropped_long
    assert (a.corpus_stats.paragraphs, a.corpus_stats.characters) == (
        b.corpus_stats.paragraphs, b.corpus_stats.characters)


def test_worker_processes_give_the_same_result_as_one(
    corpus_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks, so the corpus is spread over many tasks and both workers.
    monkeypatch.setattr(charlm.data.prepare, "CHUNK_CHARS", 1500)
    alone = prepare_corpus(str(corpus_file), SETTINGS, workers=1)
    parallel = prepare_corpus(str(corpus_file), SETTINGS, workers=2)
    assert len(alone.sentences) == 400
    assert_same(alone, parallel)


def test_automatic_workers_stay_in_process_for_a_small_corpus(corpus_file: Path) -> None:
    assert charlm.data.prepare.choose_workers(0, str(corpus_file)) == 1
    assert charlm.data.prepare.choose_workers(3, str(corpus_file)) == 3


def test_automatic_workers_take_the_cores_a_large_corpus_can_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    large = tmp_path / "large.txt"
    large.write_text("Anna walked to the garden in the morning.\n" * 70_000, encoding="utf-8")
    assert 3 << 20 > large.stat().st_size > 2 << 20  # three chunks of 1 MiB
    choose = charlm.data.prepare.choose_workers
    monkeypatch.setattr(charlm.data.prepare, "available_cores", lambda: 16)
    assert choose(0, str(large)) == 3  # no more workers than chunks
    monkeypatch.setattr(charlm.data.prepare, "available_cores", lambda: 2)
    assert choose(0, str(large)) == 2


def test_cache_hit_gives_identical_arrays(corpus_file: Path, tmp_path: Path) -> None:
    first, hit = cached_prepare(str(corpus_file), SETTINGS, cache_dir=tmp_path / "c")
    assert not hit
    second, hit = cached_prepare(str(corpus_file), SETTINGS, cache_dir=tmp_path / "c")
    assert hit
    assert_same(first, second)
    assert second.sentences.ids.dtype == np.uint16
    # The written forms are the prepared corpus's too ("Did Anna see" in the generated corpus).
    assert second.vocabulary.as_written(["anna", "did"]) == ["Anna", "did"]


@pytest.mark.parametrize("change", [
    {"vocabulary_size": 41}, {"lowercase": False}, {"drop_urls": False}, {"min_chars": 30},
    {"max_words": 8}, {"words": "whitespace"},
])
def test_a_changed_setting_never_reuses_the_cache(
    corpus_file: Path, tmp_path: Path, change: dict
) -> None:
    cached_prepare(str(corpus_file), SETTINGS, cache_dir=tmp_path)
    changed, hit = cached_prepare(str(corpus_file), replace(SETTINGS, **change), cache_dir=tmp_path)
    assert not hit
    assert_same(changed, prepare_corpus(str(corpus_file), replace(SETTINGS, **change)))


def test_a_changed_file_never_reuses_the_cache(tmp_path: Path) -> None:
    path = write_corpus(tmp_path / "corpus.txt", sentences=200, seed=1)
    cached_prepare(str(path), SETTINGS, cache_dir=tmp_path / "c")
    write_corpus(path, sentences=200, seed=2)  # same size class, other content
    changed, hit = cached_prepare(str(path), SETTINGS, cache_dir=tmp_path / "c")
    assert not hit
    assert_same(changed, prepare_corpus(str(path), SETTINGS))


def test_key_covers_the_csv_column_and_the_sentence_splitter(
    corpus_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = cache_key(corpus_file, SETTINGS)
    assert cache_key(corpus_file, replace(SETTINGS, text_column="body")) != base
    monkeypatch.setattr(cache, "punkt_tab_installed", lambda: True)
    assert cache_key(corpus_file, SETTINGS) != base


def test_a_damaged_or_pickled_entry_is_prepared_again(corpus_file: Path, tmp_path: Path) -> None:
    first, _ = cached_prepare(str(corpus_file), SETTINGS, cache_dir=tmp_path / "c")
    (entry,) = [p for p in (tmp_path / "c").iterdir() if not p.name.startswith(".")]
    # An object array needs pickle to load: it must be refused, never unpickled.
    np.save(entry / cache.IDS_FILE, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    assert load_entry(entry) is None
    again, hit = cached_prepare(str(corpus_file), SETTINGS, cache_dir=tmp_path / "c")
    assert not hit
    assert_same(first, again)


def test_train_reuses_the_prepared_corpus_unless_told_not_to(
    corpus_file: Path, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    args = ["train", str(corpus_file), "--force", "--epochs", "1", "--embedding-dim", "8",
            "--hidden-dim", "8", "--vocabulary-size", "40", "--samples", "0",
            "--cache-dir", str(cache_dir), "-o", str(tmp_path / "m.pt")]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "(cached)" not in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "(cached)" in second.output
    entries = {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()}
    # The very settings whose entry is there: --no-cache neither reads it nor writes one.
    uncached = runner.invoke(app, [*args, "--no-cache"])
    assert uncached.exit_code == 0, uncached.output
    assert "(cached)" not in uncached.output
    assert {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()} == entries


def test_sampling_drops_rows_early_yet_honours_every_rule() -> None:
    import torch

    from charlm.data.vocab import UNKNOWN_ID
    from charlm.generation.sampling import sample_sentences
    from charlm.model.network import ModelConfig, RNNLanguageModel

    torch.manual_seed(0)
    for cell in ("gru", "lstm"):
        model = RNNLanguageModel(ModelConfig(vocab_size=12, embedding_dim=4, hidden_dim=6,
                                             cell=cell))
        result = sample_sentences(model, 30, min_words=2, max_words=9,
                                  generator=torch.Generator().manual_seed(1))
        assert len(result.samples) == 30
        assert result.attempts >= len(result.samples) + result.rejected
        for sample in result.samples:
            assert 2 <= len(sample.ids) <= 9 and UNKNOWN_ID not in sample.ids
            assert sample.log_prob < 0


def test_a_renamed_corpus_is_recognised_by_its_content(corpus_file: Path, tmp_path: Path) -> None:
    first, _ = cached_prepare(str(corpus_file), SETTINGS, cache_dir=tmp_path / "c")
    renamed = corpus_file.rename(tmp_path / "renamed.txt")
    again, hit = cached_prepare(str(renamed), SETTINGS, cache_dir=tmp_path / "c")
    assert hit
    assert_same(first, again)
