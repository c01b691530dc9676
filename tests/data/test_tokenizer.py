import json
import os
import subprocess
import sys
from pathlib import Path

from nltk.tokenize.punkt import PunktParameters, PunktTrainer

from charlm.data.settings import PrepareSettings
from charlm.data.tokenizer import (
    PUNKT_TAB_ENGLISH,
    PUNKT_TRAINED,
    Tokenizer,
    TokenizerSettings,
    build_tokenizer,
    punkt_from_dict,
    punkt_to_dict,
    train_punkt,
)

ABBREVIATION_TEXT = " ".join(
    f"Mr. {name} replied that it was {mood}. It was {mood} and dark in the town. "
    f"Mrs. {name} laughed at him."
    for name in ["Bennet", "Darcy", "Bingley", "Collins", "Wickham", "Lucas"] * 20
    for mood in ["late", "cold", "fine"]
)


def offline_tokenizer(**settings: object) -> Tokenizer:
    """A tokenizer whose Punkt model is trained on text here, as when punkt_tab is absent."""
    values = {"lowercase": True, "drop_urls": True, "min_chars": 1, **settings}
    tokenizer_settings = TokenizerSettings(**values, splitter=PUNKT_TRAINED,  # type: ignore[arg-type]
                                           punkt=punkt_to_dict(train_punkt([ABBREVIATION_TEXT.lower()])))
    return Tokenizer(tokenizer_settings)


def test_fresh_environment_tokenizes_without_punkt_tab(tmp_path: Path, corpus_file: Path) -> None:
    # A child process whose NLTK data path is empty: nothing installed, nothing downloadable.
    script = f"""
import nltk
nltk.data.path[:] = [{str(tmp_path)!r}]
from charlm.data.tokenizer import punkt_tab_installed
from charlm.data.prepare import prepare_corpus
assert not punkt_tab_installed()
try:
    nltk.word_tokenize("This needs punkt_tab.")
except LookupError:
    pass
else:
    raise SystemExit("punkt_tab was found")
from charlm.data.settings import PrepareSettings
corpus = prepare_corpus({str(corpus_file)!r}, PrepareSettings(vocabulary_size=100))
print(corpus.tokenizer.settings.splitter, len(corpus.sentences))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr
    splitter, sentences = result.stdout.split()
    assert splitter == PUNKT_TRAINED
    assert int(sentences) == 400


def test_trained_punkt_keeps_abbreviations_inside_sentences() -> None:
    tokenizer = offline_tokenizer()
    assert tokenizer.sentences("Mr. Bennet replied that it was late. It rained.") == [
        "mr. bennet replied that it was late.",
        "it rained.",
    ]


def test_words_are_nltk_tokens_and_special_tokens_stay_whole() -> None:
    tokenizer = offline_tokenizer(lowercase=False)
    assert tokenizer.words("The <unk> sat, didn't it?") == [
        "The", "<unk>", "sat", ",", "did", "n't", "it", "?"
    ]


def test_tutorial_filters_switch_on_and_off() -> None:
    text = "See http://example.com for more. Ok. A longer sentence stays."
    assert offline_tokenizer(min_chars=5).sentences(text) == ["a longer sentence stays."]
    assert offline_tokenizer(drop_urls=False, lowercase=False).sentences(text) == [
        "See http://example.com for more.", "Ok.", "A longer sentence stays."
    ]


def test_settings_round_trip_tokenizes_identically() -> None:
    tokenizer = offline_tokenizer()
    params = tokenizer.settings.punkt
    assert params is not None
    assert punkt_to_dict(punkt_from_dict(params)) == params
    restored = Tokenizer(TokenizerSettings.from_dict(tokenizer.settings.to_dict()))
    text = "Mr. Darcy replied that it was cold. Mrs. Lucas laughed at him. He left."
    assert restored.tokenize(text) == tokenizer.tokenize(text)


def test_build_tokenizer_trains_punkt_when_punkt_tab_is_missing(monkeypatch) -> None:
    monkeypatch.setattr("charlm.data.tokenizer.punkt_tab_installed", lambda: False)
    tokenizer = build_tokenizer([ABBREVIATION_TEXT], PrepareSettings())
    assert tokenizer.settings.splitter == PUNKT_TRAINED
    assert "mr" in tokenizer.settings.punkt["abbrev_types"]


def install_punkt_tab(nltk_data: Path, params: PunktParameters) -> None:
    """Install Punkt parameters as NLTK's punkt_tab model for English: the four tab files of
    tokenizers/punkt_tab/english/, one entry per line."""
    english = nltk_data / "tokenizers" / "punkt_tab" / "english"
    english.mkdir(parents=True)
    (english / "abbrev_types.txt").write_text("\n".join(sorted(params.abbrev_types)))
    (english / "collocations.tab").write_text(
        "\n".join(f"{a}\t{b}" for a, b in sorted(params.collocations)))
    (english / "sent_starters.txt").write_text("\n".join(sorted(params.sent_starters)))
    (english / "ortho_context.tab").write_text(
        "\n".join(f"{word}\t{flags}" for word, flags in sorted(params.ortho_context.items())))


def test_an_installed_punkt_tab_is_the_splitter(tmp_path: Path, corpus_file: Path) -> None:
    # A model that knows "qv." as an abbreviation, which the corpus never uses: only the
    # installed model can keep "qv. bennet" inside its sentence.
    trainer = PunktTrainer()
    trainer.train(ABBREVIATION_TEXT.replace("Mr.", "Qv.").lower(), finalize=True)
    assert "qv" in trainer.get_params().abbrev_types
    nltk_data = tmp_path / "nltk_data"
    install_punkt_tab(nltk_data, trainer.get_params())
    script = f"""
import json
import nltk.data
from charlm.data.prepare import prepare_corpus
from charlm.data.settings import PrepareSettings
from charlm.data.tokenizer import punkt_tab_installed
assert punkt_tab_installed()
corpus = prepare_corpus({str(corpus_file)!r}, PrepareSettings(vocabulary_size=100))
print(json.dumps({{
    "found": str(nltk.data.find("tokenizers/punkt_tab/english/")),
    "splitter": corpus.tokenizer.settings.splitter,
    "sentences": corpus.tokenizer.sentences("Qv. Bennet replied that it was late. It rained."),
}}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).parents[2],
                            env=os.environ | {"NLTK_DATA": str(nltk_data)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert Path(report["found"]).is_relative_to(nltk_data)
    assert report["splitter"] == PUNKT_TAB_ENGLISH
    assert report["sentences"] == ["qv. bennet replied that it was late.", "it rained."]
