"""charlm from Python: a trained model to sample from, score with and explore, and training.

    import charlm

    model = charlm.load("model.pt")
    model.generate(3, seed=1)                    # three sentences
    model.score(["the cat sat on the mat."])     # a SentenceScore per sentence
    model.evaluate("held-out.txt")               # loss, perplexity, OOV rate
    model.next_words("she said that", k=5)       # [(word, probability), ...]

    result = charlm.train("corpus.txt", out="model.pt", epochs=2)
    for report in charlm.reports("corpus.txt", out="model.pt"): ...

The commands are thin wrappers over these functions: what `charlm score` prints is what
`Model.score` returns. Errors are `charlm.CharlmError`s with the commands' one-line messages;
nothing here prints.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from charlm.checkpoint.trained import TrainedModel, load_trained, training_gradients
from charlm.data.corpus import (
    AUTO,
    DOCUMENT_BREAK,
    ONE_PER_LINE,
    CorpusStats,
    column_for,
    corpus_files,
    is_csv,
    read_lines,
    read_paragraphs,
    units_from_lines,
)
from charlm.data.layout import SENTENCE_END, choose_split
from charlm.data.prepare import EncodedSentences, encode_corpus, offsets_of, split_advice
from charlm.data.settings import CONTEXTS, DOCUMENT, SENTENCE
from charlm.data.tokenizer import Tokenizer
from charlm.data.vocab import START_ID, UNKNOWN_ID
from charlm.data.word_tokenizer import word_tokenizer_warning
from charlm.devices import pick_device
from charlm.errors import CharlmError, CharlmWarning, ConfigError, CorpusError
from charlm.model.beam import BeamSentence, beam_passage, beam_problem, beam_search
from charlm.model.dynamic import Adaptation
from charlm.model.dynamic_settings import DynamicSettings
from charlm.model.network import ModelConfig, State
from charlm.model.sampling import (
    Sample,
    detokenize,
    make_generator,
    read_context,
    sample_passage,
    sample_sentences,
)
from charlm.model.scoring import (
    BATCH_SIZE,
    Evaluation,
    SentenceScore,
    sentence_scores,
    summarise,
    token_surprisals,
)
from charlm.options import python_argument, resolve
from charlm.training.config import TrainConfig
from charlm.training.loop import Report, run_to_end
from charlm.training.loop import reports as training_reports
from charlm.training.outputs import Output

STDIN = "-"
# How a caller asks for dynamic evaluation: True (the default settings) or the settings.
Dynamic = bool | DynamicSettings


@dataclass
class TrainResult:
    """What a finished `train` call leaves: where the model is, and the run's reports."""

    checkpoint: Path
    """The checkpoint: the last model (and everything --resume needs)."""
    best_checkpoint: Path | None
    """With keep_best=True: the checkpoint of the best validation loss."""
    reports: list[Report]
    """The reports made by this call, in order (none when the run had nothing left to do)."""
    stopped: str | None
    """Why the run ended before its epochs: "early-stop", or None."""


@dataclass
class GeneratedSentence:
    """A sampled sentence: its text, its tokens and its natural log-probability under the model
    (not under the temperature, top-k or top-p distribution it was drawn from)."""

    text: str
    tokens: list[str]
    log_prob: float
    score: float | None = None
    """Found by a beam: the length-normalised log-probability sentences are ranked by
    (charlm.model.beam.LENGTH_ALPHA); None for a sampled sentence."""


@dataclass
class Generation:
    """What sampling gave: the sentences that qualified, and how many were rejected. A beam
    rejects none: `attempts` is then how many sentences it finished."""

    sentences: list[GeneratedSentence]
    rejected: int
    attempts: int
    shortfall: str | None = None
    """Why fewer sentences came than were asked for, in `charlm generate`'s words (None: all
    came); `generate` warns with it."""


@dataclass
class Scoring:
    """Every sentence of some text scored, the summary of them all, and what reading found."""

    scores: list[SentenceScore]
    summary: Evaluation
    sentences: EncodedSentences
    surprisal: np.ndarray
    warnings: list[str]


@dataclass
class PromptInContext:
    """A prompt as a model reads it before continuing it."""

    state: State | None
    """The state the finished sentences leave (None: a zero state)."""
    read: list[str]
    """The words of the finished sentences, read first (document context)."""
    words: list[str]
    """The words of the sentence the prompt leaves open, which the model continues."""
    ids: list[int]
    """Their ids."""


@dataclass
class Completion:
    """The likeliest next words after a line, and one sampled continuation of it (with a
    beam, the likeliest continuation found)."""

    prompt: str
    words: list[str]
    unknown: list[str]
    next_words: list[tuple[str, float]]
    continuation: str | None


def load(path: str | os.PathLike[str], device: str = "cpu", truecase: bool = True,
         context: str | None = None) -> Model:
    """A checkpoint as a ready model, with its vocabulary and tokenizer; `device` is cpu, cuda
    or auto; `truecase` False shows words as the model reads them (see `Model.truecase`);
    `context` "sentence" or "document" reads text another way than the model was trained to
    (None: as it was trained, see `Model.context`)."""
    target = pick_device(device)
    return Model(load_trained(str(path), target), target, str(path), truecase, context)


def checked_context(context: str | None, default: str) -> str:
    """A context asked for (None: `default`), refused in one line if it is none of CONTEXTS."""
    if context is None:
        return default
    if context not in CONTEXTS:
        raise ConfigError(f"context={context!r}: choose one of {', '.join(CONTEXTS)}")
    return context


class Model:
    """A trained model with the vocabulary and tokenizer it was trained with."""

    def __init__(self, trained: TrainedModel, device: torch.device, path: str,
                 truecase: bool = True, context: str | None = None) -> None:
        self.trained = trained
        self.device = device
        self.path = path
        self.truecase = truecase
        """Text shows words in the training corpus's own casing ("Mr. Darcy"), where the
        checkpoint records it; False: as the model reads them (lowercased, as before)."""
        self.context = checked_context(context, trained.checkpoint.reads_context)
        """What each sentence is read after: "document" (everything before it in its
        document: a file, a CSV row, a prompt) or "sentence" (nothing); by default as the
        model was trained."""

    @property
    def truecasing(self) -> bool:
        """Whether text shows the corpus's casing: asked for, and the checkpoint records it."""
        return self.truecase and self.trained.vocabulary.written_forms is not None

    def as_written(self, words: Sequence[str]) -> list[str]:
        """Words as text shows them: in their written forms when truecasing."""
        return self.trained.vocabulary.as_written(words) if self.truecasing else list(words)

    @property
    def vocabulary(self) -> list[str]:
        """The words, in id order: UNKNOWN_TOKEN, SENTENCE_START, SENTENCE_END first."""
        return list(self.trained.vocabulary.words)

    @property
    def config(self) -> ModelConfig:
        """The network's shape."""
        return self.trained.model.config

    @property
    def tokenizer(self) -> Tokenizer:
        return self.trained.tokenizer

    def tokenize(self, text: str) -> list[list[str]]:
        """The sentences of `text` as words, read as the model's training text was."""
        return [words for _, words in self.text_sentences(text)]

    def text_sentences(self, text: str) -> list[tuple[str, list[str]]]:
        """The sentences of `text`, each as its text (normalised) and its words."""
        units = units_from_lines(text.splitlines(keepends=True), self.tokenizer.settings.split)
        return [sentence for unit in units for sentence in self.tokenizer.split(unit)]

    def prompt_ids(self, prompt: str | None) -> tuple[list[str], list[int]]:
        """A prompt's words (normalised as training text was) and their ids."""
        if not prompt:
            return [], []
        words = self.tokenizer.prompt_words(prompt)
        return words, self.trained.vocabulary.encode(words)

    def prompt_in_context(self, prompt: str | None) -> PromptInContext:
        """A prompt as the model's context reads it: in document context its finished
        sentences are read first, and the sentence it leaves open (none, when it ends one) is
        what follows them; in sentence context the whole prompt opens one sentence."""
        if self.context == SENTENCE or not prompt:
            return PromptInContext(None, [], *self.prompt_ids(prompt))
        sentences = self.tokenizer.prompt_sentences(prompt)
        finished = bool(SENTENCE_END.search(prompt.rstrip()))
        opened = [] if finished or not sentences else sentences.pop()
        encode = self.trained.vocabulary.encode
        state = read_context(self.trained.model, [encode(words) for words in sentences])
        return PromptInContext(state, [w for words in sentences for w in words], opened,
                               encode(opened))

    def sample(self, count: int = 1, prompt: str | None = None, *, temperature: float = 1.0,
               top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
               greedy: bool = False, min_words: int = 3, max_words: int = 100,
               allow_unknown: bool = False, tokens: bool = False, beam: int = 0) -> Generation:
        """Up to `count` sentences continuing `prompt` (as the tutorial: none with
        UNKNOWN_TOKEN unless allowed); `tokens` keeps the raw tokens as the text. `beam=N`
        (N >= count) gives instead the `count` likeliest sentences a beam search of width N
        finds, best first (charlm.model.beam), deterministically: temperature, top_k, top_p
        and greedy shape only sampling and are refused with it, seed is not used.

        In document context the sentences are a passage: each continues the ones before it,
        the first continues the prompt (which may hold several sentences), and with a beam
        each is the likeliest after those before it (any `count`)."""
        read = self.prompt_in_context(prompt)
        state, words, ids = read.state, read.words, read.ids
        if len(ids) >= max_words:
            raise CharlmError(f"the prompt has {len(ids)} words, not fewer than --max-words="
                              f"{max_words}; raise --max-words or shorten the prompt")
        options = {"prompt_ids": ids, "min_words": min_words, "max_words": max_words,
                   "allow_unknown": allow_unknown}
        if beam:
            ranked, rejected, attempts = self._beam(beam, count, state, options, {
                "temperature": temperature, "top_k": top_k, "top_p": top_p, "greedy": greedy})
        else:
            ranked, rejected, attempts = self._draw(count, state, options | {
                "temperature": temperature, "greedy": greedy, "top_k": top_k, "top_p": top_p,
                "generator": make_generator(seed)})
        sentences = []
        for number, (sentence_ids, log_prob, score) in enumerate(ranked):
            # A passage's later sentences continue the text: only the first opens with the
            # prompt's words.
            opened = words if number == 0 or self.context == SENTENCE else []
            sentence = opened + self.trained.vocabulary.decode(sentence_ids[len(opened):])
            text = " ".join(sentence) if tokens else detokenize(self.as_written(sentence))
            sentences.append(GeneratedSentence(text, sentence, log_prob, score))
        shortfall = (None if len(sentences) >= count
                     else short_generation(len(sentences), count, attempts, beam, max_words))
        return Generation(sentences, rejected, attempts, shortfall)

    def _beam(self, width: int, count: int, state: State | None, options: dict[str, Any],
              sampling: dict[str, Any]) -> tuple[list[tuple[list[int], float, float | None]],
                                                  int, int]:
        """The likeliest sentences a beam finds (document context: a passage, each sentence
        the likeliest after those before it), as (ids, log-probability, score); none
        rejected, and how many the beam finished."""
        passage = self.context == DOCUMENT
        problem = beam_problem(width, 1 if passage else count, sampling, str)
        if problem:
            raise CharlmError(problem)
        model = self.trained.model
        found = (beam_passage(model, width, count, state=state, **options) if passage
                 else beam_search(model, width, count, **options))
        return [(s.ids, s.log_prob, s.score) for s in found.sentences], 0, found.finished

    def _draw(self, count: int, state: State | None, options: dict[str, Any]
              ) -> tuple[list[tuple[list[int], float, float | None]], int, int]:
        """Sampled sentences (document context: a passage), as (ids, log-probability, None);
        how many were rejected, and how many were drawn."""
        model = self.trained.model
        result = (sample_passage(model, count, state=state, **options)
                  if self.context == DOCUMENT else sample_sentences(model, count, **options))
        return ([(s.ids, s.log_prob, None) for s in result.samples], result.rejected,
                result.attempts)

    def generate(self, count: int = 1, prompt: str | None = None, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, seed: int | None = None, **options: Any
                 ) -> list[str]:
        """`count` sampled sentences as text (fewer if too few qualified; see `sample`);
        `beam=N` gives the `count` likeliest a beam of width N finds, best first."""
        generation = self.sample(count, prompt, temperature=temperature, top_k=top_k,
                                 top_p=top_p, seed=seed, **options)
        if generation.shortfall:
            warnings.warn(generation.shortfall, CharlmWarning, stacklevel=2)
        return [sentence.text for sentence in generation.sentences]

    @torch.no_grad()
    def next_word_probabilities(self, prompt_ids: Sequence[int], state: State | None = None
                                ) -> torch.Tensor:
        """P(next word | SENTENCE_START and the prompt), over the vocabulary; `state`: the
        state the text before the sentence leaves (None: zeros)."""
        model = self.trained.model
        logits, _ = model(torch.tensor([[START_ID, *prompt_ids]], device=self.device), state)
        return torch.softmax(logits[0, -1].float(), dim=-1).cpu()

    def next_words(self, prompt: str, k: int = 10) -> list[tuple[str, float]]:
        """The `k` likeliest words after `prompt` at the start of a sentence (in document
        context, after the prompt's finished sentences too), with their probabilities,
        likeliest first."""
        read = self.prompt_in_context(prompt)
        return self._likeliest(read.ids, read.state, k)

    def _likeliest(self, ids: Sequence[int], state: State | None, k: int
                   ) -> list[tuple[str, float]]:
        probabilities = self.next_word_probabilities(ids, state)
        top = probabilities.topk(min(k, len(probabilities)))
        words = self.trained.vocabulary.words
        return [(words[int(i)], float(p)) for p, i in zip(top.values, top.indices)]

    def complete(self, line: str, k: int = 10, max_words: int = 30, temperature: float = 1.0,
                 generator: torch.Generator | None = None, beam: int = 0) -> Completion:
        """The next-word table and one sampled continuation of `line` (`charlm complete`); with
        `beam=N`, the likeliest continuation a beam of width N finds instead. Either may take
        UNKNOWN_TOKEN: the continuation shows what the model expects. In document context the
        line's finished sentences are the context, and the sentence it leaves open (a new one
        when it ends with one) is what is completed."""
        read = self.prompt_in_context(line)
        state, words, ids = read.state, read.words, read.ids
        model = self.trained.model
        longest = len(ids) + max_words
        if beam:
            problem = beam_problem(beam, 1, {"temperature": temperature}, str)
            if problem:
                raise CharlmError(problem)
            found: Sequence[Sample | BeamSentence] = beam_search(
                model, beam, 1, prompt_ids=ids, max_words=longest, allow_unknown=True,
                state=state).sentences
        else:
            found = sample_sentences(
                model, 1, temperature=temperature, min_words=0, max_words=longest,
                prompt_ids=ids, allow_unknown=True, generator=generator, state=state).samples
        continuation = None
        if found:
            new_words = self.trained.vocabulary.decode(found[0].ids[len(ids):])
            continuation = detokenize(self.as_written(words + new_words))
        everything = read.read + words
        unknown = [w for w, i in zip(everything, self.trained.vocabulary.encode(everything))
                   if i == UNKNOWN_ID]
        ranked = self._likeliest(ids, state, k)
        shown = [(form, p) for form, (_, p) in zip(self.as_written([w for w, _ in ranked]),
                                                   ranked)]
        return Completion(line, everything, unknown, shown, continuation)

    def score(self, sentences: Iterable[str], dynamic: Dynamic = False,
              context: str | None = None) -> list[SentenceScore]:
        """Each string scored as one sentence, exactly as given (`charlm score --split
        one-per-line`): its log-probability, its tokens and its unknown words. `dynamic`: the
        model adapts to the sentences while reading them in order (True, or DynamicSettings).
        Each is scored alone unless `context` is "document": then each after the ones before
        it, as one document."""
        texts = list(sentences)
        return self.score_sentences(texts, [self.tokenizer.prompt_words(t) for t in texts],
                                    "the sentences given", dynamic=dynamic,
                                    context=checked_context(context, SENTENCE)).scores

    def score_text(self, inputs: Sequence[str], one_per_line: bool = False,
                   text_column: str | None = None, batch_size: int = BATCH_SIZE,
                   split: str | None = None, dynamic: Dynamic = False,
                   context: str | None = None) -> Scoring:
        """Every sentence of files (in any format train reads; "-" is standard input), split and
        tokenized as the model's training text (its split unless `split` says otherwise, as
        `evaluate_files`), or each line one sentence exactly as given (`one_per_line`, or
        `split` "one-per-line"); `dynamic` as in `score`, the files read in the order given.
        Each sentence is read in the model's context (`context` None), or in the one asked
        for; lines one per line are scored alone unless `context` says "document" (each
        file, or CSV row, is a document)."""
        one_per_line = one_per_line or split == ONE_PER_LINE
        context = checked_context(context, SENTENCE if one_per_line else self.context)
        if split == AUTO and STDIN in inputs:
            raise CorpusError("--split auto chooses from a look at a file's text, and standard "
                              "input can be read only once: give --split paragraphs or lines")
        texts: list[str] = []
        words: list[list[str]] = []
        documents: list[tuple[int, int]] = []
        tokenizers = [self._tokenizer_for(name, None if one_per_line else split, text_column)
                      for name in inputs]
        stats = CorpusStats()
        for number, (name, tokenizer) in enumerate(zip(inputs, tokenizers)):
            for text, sentence, document in read_sentences(
                    [name], tokenizer, one_per_line, text_column, stats, self.truecasing):
                texts.append(text)
                words.append(sentence)
                documents.append((number, document))
        where = ", ".join("standard input" if n == STDIN else n for n in inputs)
        scoring = self.score_sentences(texts, words, where, batch_size, dynamic, context,
                                       document_offsets(documents))
        scoring.warnings = stats.warnings() + [_not_scored(t) for t in tokenizers
                                               if t.dropped_long]
        splits = [ONE_PER_LINE if one_per_line else t.settings.split for t in tokenizers]
        scoring.summary = replace(scoring.summary, files=[_input_name(n) for n in inputs],
                                  split=splits)
        return scoring

    def score_sentences(self, texts: list[str], words: list[list[str]], where: str,
                        batch_size: int = BATCH_SIZE, dynamic: Dynamic = False,
                        context: str = SENTENCE, documents: np.ndarray | None = None
                        ) -> Scoring:
        """Score sentences given as texts and their words (in reading order; `dynamic` as in
        `score`), each alone or, in document `context`, after the sentences before it in its
        document (`documents`: their offsets, as EncodedSentences keeps them; None: one
        document); refuses input with nothing to score or no word the vocabulary knows."""
        adaptation = self._adaptation(dynamic)
        if not texts:
            raise CorpusError(f"{where}: no sentences to score; give text with at least one "
                              "sentence")
        vocabulary = self.trained.vocabulary
        ids = np.array([i for sentence in words for i in vocabulary.encode(sentence)],
                       dtype=vocabulary.id_dtype)
        if len(ids) and not np.any(ids != UNKNOWN_ID):
            examples = " ".join(vocabulary.words[3:8])
            raise CharlmError(f"none of the {len(ids):,} words in {where} is in the vocabulary "
                              f"of {self.path} ({len(vocabulary):,} words, e.g. {examples}); "
                              "score text in the language the model was trained on")
        lengths = np.array([len(sentence) for sentence in words], dtype=np.int64)
        encoded = EncodedSentences(ids, offsets_of(lengths), documents)
        surprisal = token_surprisals(self.trained.model, encoded, self.device, batch_size,
                                     adaptation, context)
        summary = summarise([where], encoded, surprisal,
                            adaptation.settings if adaptation else None, context)
        return Scoring(sentence_scores(texts, words, encoded, surprisal), summary, encoded,
                       surprisal, [])

    def _adaptation(self, dynamic: Dynamic) -> Adaptation | None:
        """The adapting copy of the model that dynamic evaluation scores with (None for plain
        scoring); refuses bad settings, and a checkpoint without training's mean squared
        gradients, before any work."""
        settings = dynamic_settings(dynamic)
        if settings is None:
            return None
        return Adaptation(self.trained.model, settings,
                          training_gradients(self.trained, self.path))

    def evaluate(self, path_or_text: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                 text_column: str | None = None, split: str | None = None,
                 batch_size: int = BATCH_SIZE, dynamic: Dynamic = False,
                 context: str | None = None) -> Evaluation:
        """Loss, perplexity and OOV rate on corpora (paths, in any format train reads) or on a
        text: a string that names no existing file or directory and holds more than one word is
        read as the text itself (a single word that names nothing is a path not found; a text is
        one document). `dynamic`: the model adapts to the text while reading it (True, or
        DynamicSettings); `context`: as in `evaluate_files`."""
        if isinstance(path_or_text, str) and not os.path.exists(path_or_text):
            if len(path_or_text.split()) < 2:
                raise CorpusError(f"corpus not found: {path_or_text}; check the path (a text to "
                                  "evaluate holds more than one word)")
            sentences = self.text_sentences(path_or_text)
            return self.score_sentences([text for text, _ in sentences],
                                        [words for _, words in sentences], "the text given",
                                        batch_size, dynamic,
                                        checked_context(context, self.context)).summary
        paths = ([path_or_text] if isinstance(path_or_text, (str, os.PathLike))
                 else list(path_or_text))
        return self.evaluate_files([str(p) for p in paths], text_column, split,
                                   batch_size, dynamic, context).summary

    def evaluate_files(self, files: Sequence[str], text_column: str | None = None,
                       split: str | None = None, batch_size: int = BATCH_SIZE,
                       dynamic: Dynamic = False, context: str | None = None) -> EvaluatedFiles:
        """`charlm evaluate`: files encoded as the model's training corpus was (its tokenizer
        and vocabulary; its split unless `split` says otherwise), every token scored; with
        `dynamic`, by a model adapting while it reads the files in the order given. Each
        sentence is read in the model's context, or in `context` ("sentence": alone;
        "document": after everything before it in its file, or CSV row)."""
        if not files:
            raise CorpusError("no file to evaluate on: give at least one corpus")
        context = checked_context(context, self.context)
        adaptation = self._adaptation(dynamic)
        if text_column is not None and not any(column_for(f, text_column) for f in files):
            raise CorpusError("--text-column applies only to CSV files (.csv); drop it for text "
                              "files")
        readers = [FileReader(f, column_for(f, text_column), self._tokenizer_for(f, split,
                                                                                text_column))
                   for f in files]
        stats = CorpusStats()
        parts = [encode_corpus(r.path, r.tokenizer, self.trained.vocabulary, r.text_column,
                               stats) for r in readers]
        warnings = stats.warnings() + dropped_warnings(readers)
        tokenizer_warning = word_tokenizer_warning()
        if tokenizer_warning:
            warnings.append(tokenizer_warning)
        sentences = EncodedSentences.concatenate(parts)
        surprisal = token_surprisals(self.trained.model, sentences, self.device, batch_size,
                                     adaptation, context)
        summary = replace(summarise(list(files), sentences, surprisal,
                                    adaptation.settings if adaptation else None, context),
                          split=[r.tokenizer.settings.split for r in readers], warnings=warnings)
        return EvaluatedFiles(summary, readers, sentences, surprisal)

    def _tokenizer_for(self, path: str, split: str | None, text_column: str | None) -> Tokenizer:
        """A tokenizer of this call's own (its counts of dropped sentences are this call's),
        cutting text with `split` (None: as the model's training text was)."""
        mode = (self.tokenizer.settings.split if split is None
                else choose_split(path, split, column_for(path, text_column)).mode)
        return Tokenizer(replace(self.tokenizer.settings, split=mode))


@dataclass
class FileReader:
    """A file and how to read it: its CSV column and the tokenizer (with its split)."""

    path: str
    text_column: str | None
    tokenizer: Tokenizer

    def sentences(self) -> Iterator[list[str]]:
        """The file's sentences as words, read exactly as it was encoded."""
        split = self.tokenizer.settings.split
        for paragraph in read_paragraphs(self.path, self.text_column, split=split):
            yield from self.tokenizer.tokenize(paragraph)


@dataclass
class EvaluatedFiles:
    """An evaluation of files, with every token's surprisal and how each file was read."""

    summary: Evaluation
    readers: list[FileReader]
    sentences: EncodedSentences
    surprisal: np.ndarray


def short_generation(found: int, count: int, attempts: int, beam: int, max_words: int) -> str:
    """Why only `found` of `count` sentences came: a beam finished no more, or no more sampled
    ones qualified within the attempts allowed."""
    if beam:
        return (f"the beam finished only {found} of {count} sentences within "
                f"--max-words={max_words}; try a higher --max-words, a lower --min-words or "
                "--allow-unknown")
    return (f"only {found} of {count} sentences qualified after {attempts} attempts; try "
            "--allow-unknown, a lower --min-words or a higher --max-words")


def dynamic_settings(dynamic: Dynamic) -> DynamicSettings | None:
    """The settings a `dynamic` argument asks for (None: plain scoring), checked."""
    if isinstance(dynamic, DynamicSettings):
        problem = dynamic.problem()
        if problem:
            raise ConfigError(f"dynamic: {problem}")
        return dynamic
    if not isinstance(dynamic, bool):
        raise ConfigError(f"dynamic={dynamic!r}: give True, False or DynamicSettings(...)")
    return DynamicSettings() if dynamic else None


def dropped_warnings(readers: list[FileReader]) -> list[str]:
    """A warning for each tokenizer that dropped over-long sentences."""
    warnings = []
    for tokenizer in {id(r.tokenizer): r.tokenizer for r in readers}.values():
        if tokenizer.dropped_long:
            settings = tokenizer.settings
            warnings.append(
                f"{tokenizer.dropped_long:,} sentences longer than the checkpoint's "
                f"--max-sentence-words={settings.max_words} words were not evaluated (the "
                f"longest has {tokenizer.longest_dropped:,}, text read as {settings.split}); "
                f"{split_advice(settings.split, 'train with a larger --max-sentence-words')}"
            )
    return warnings


def _input_name(name: str) -> str:
    return "standard input" if name == STDIN else name


def _stdin_lines() -> Iterator[str]:
    """Standard input's lines, decoded as the corpus reader decodes files."""
    import io
    import sys

    binary = getattr(sys.stdin, "buffer", None)
    if binary is None:
        yield from sys.stdin
        return
    stream = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")
    try:
        yield from stream
    finally:
        stream.detach()  # closing the wrapper would close standard input itself


def _not_scored(tokenizer: Tokenizer) -> str:
    return (f"{tokenizer.dropped_long:,} sentences of more than {tokenizer.settings.max_words} "
            "words were not scored (the model's limit; --split one-per-line scores every line)")


def read_sentences(inputs: Sequence[str], tokenizer: Tokenizer, one_per_line: bool,
                   text_column: str | None, stats: CorpusStats | None = None,
                   as_written: bool = False) -> Iterator[tuple[str, list[str], int]]:
    """(text, words, document) of every sentence of every input, in order; the text as the
    input writes it (always so for one per line), or, unless `as_written`, normalised; the
    document counted from 0 (a file, a CSV row: with one per line, each CSV row's line). What
    reading finds wrong goes into `stats`."""
    document = 0
    for name in inputs:
        column = None if name == STDIN else column_for(name, text_column)
        if one_per_line:
            for file in [name] if name == STDIN else [str(f) for f in corpus_files(name)]:
                lines = ((line.rstrip("\r\n") for line in _stdin_lines()) if file == STDIN
                         else read_lines(file, column_for(file, text_column), stats))
                row_each = file != STDIN and is_csv(Path(file))
                for line in lines:
                    yield line, tokenizer.prompt_words(line), document
                    document += row_each
                document += not row_each
            continue
        split = tokenizer.settings.split
        paragraphs = (units_from_lines(_stdin_lines(), split) if name == STDIN
                      else read_paragraphs(name, column, stats, split, breaks=True))
        for paragraph in paragraphs:
            if paragraph == DOCUMENT_BREAK:
                document += 1
                continue
            for text, words in tokenizer.split(paragraph, as_written):
                yield text, words, document
        document += name == STDIN


def document_offsets(documents: Sequence[tuple[int, int]]) -> np.ndarray:
    """Document offsets (EncodedSentences.documents) of sentences in reading order, each
    labelled with its document (its input's number and its document's within the input)."""
    firsts = [i for i, label in enumerate(documents) if i == 0 or label != documents[i - 1]]
    return np.array([*firsts, len(documents)], dtype=np.int64)



class WarningsOutput(Output):
    """Training's events, for a Python caller: warnings through `warnings`, nothing printed."""

    def warning(self, text: str) -> None:
        warnings.warn(text, CharlmWarning, stacklevel=1)


def train_config(corpus: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
                 settings: Mapping[str, Any]) -> TrainConfig:
    """The settings of a run started from Python, validated as the command line validates its
    flags, each recorded as given by its keyword argument. Environment variables are not read:
    a Python caller says what it means."""
    given = {"corpus": corpus, "out": out, **settings}
    values = {name: os.fspath(value) if isinstance(value, os.PathLike) else value
              for name, value in given.items()}
    return resolve(TrainConfig, values, {}, given_as=python_argument)


def reports(corpus: str | os.PathLike[str] | None = None,
            out: str | os.PathLike[str] | None = None, **settings: Any) -> Iterator[Report]:
    """Train as `charlm train` does, yielding each report as it is made (after its checkpoint
    is saved). Breaking out of the loop stops the run with that checkpoint, as Ctrl-C does;
    `resume=out` continues it. Settings are `charlm train`'s, as keyword arguments
    (`epochs=2`, `cell="lstm"`, ...)."""
    return training_reports(train_config(corpus, out, settings), WarningsOutput())


def train(corpus: str | os.PathLike[str] | None = None,
          out: str | os.PathLike[str] | None = None, **settings: Any) -> TrainResult:
    """Train as `charlm train` does, to the end, printing nothing; see `reports` for the
    settings."""
    config = train_config(corpus, out, settings)
    made: list[Report] = []
    checkpoint = run_to_end(training_reports(config, WarningsOutput()), made.append)
    best = made[-1].best_checkpoint if made else None
    return TrainResult(checkpoint, best, made, made[-1].stopped if made else None)
