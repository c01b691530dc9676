"""charlm from Python: a trained model to sample from, score with and explore, and training.

    import charlm

    model = charlm.load("model.pt")
    model.generate(3, seed=1)                    # three sentences
    model.score(["the cat sat on the mat."])     # a SentenceScore per sentence
    model.evaluate("held-out.txt")               # loss, perplexity, OOV rate
    model.next_words("she said that", k=5)       # [(word, probability), ...]
    model.rescore("nbest.txt", am_scores="ac.txt")  # each utterance's hypotheses, its 1-best

    result = charlm.train("corpus.txt", out="model.pt", epochs=2)
    for report in charlm.reports("corpus.txt", out="model.pt"): ...

The commands are thin wrappers over these functions: what `charlm score` prints is what
`Model.score_text` returns. Errors are `charlm.CharlmError`s with the commands' one-line messages;
nothing here prints. Each function checks its arguments as the command checks its flags, then
hands the work on: reading text to charlm.data.reading, generating to charlm.generation, scoring
to charlm.evaluation, n-best lists to charlm.rescoring, training to charlm.training.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from charlm.bounds import COMPLETE, GENERATE, READING, word_range_problem
from charlm.checkpoint.trained import TrainedModel, load_trained
from charlm.data.corpus import ONE_PER_LINE
from charlm.data.reading import encode_sentences, read_files, read_inputs, text_sentences
from charlm.data.settings import SENTENCE
from charlm.data.tokenizer import Tokenizer
from charlm.devices import pick_device
from charlm.errors import CharlmWarning, ConfigError, CorpusError
from charlm.evaluation.dynamic import Adaptation, TrainingGradients
from charlm.evaluation.dynamic_settings import DynamicSettings
from charlm.evaluation.ngram import (
    NgramMix,
    NgramModel,
    best_weight,
    checked_mix,
    ngram_surprisals,
)
from charlm.evaluation.ngram_settings import AUTO, DEFAULT_WEIGHT, parse_weight, weight_problem
from charlm.evaluation.scoring import BATCH_SIZE, Evaluation, SentenceScore
from charlm.evaluation.text import (
    Dynamic,
    Scoring,
    adaptation_for,
    measured_gradients,
    score_read,
)
from charlm.generation import text as generation
from charlm.generation.text import (
    Completion,
    GeneratedSentence,
    Generation,
    PromptInContext,
    SentenceChoice,
    TextModel,
)
from charlm.model.network import ModelConfig
from charlm.model.state import State
from charlm.options import check_arguments, python_argument, resolve
from charlm.rescoring.reading import read_nbest
from charlm.rescoring.rescore import RescoredHypothesis, RescoredUtterance, Rescorer, Rescoring
from charlm.rescoring.settings import RESCORING, UTTERANCE, Weights
from charlm.training.config import TrainConfig
from charlm.training.loop import Report, run_to_end, training_reports
from charlm.training.outputs import WarningsOutput

__all__ = ["Completion", "Dynamic", "DynamicSettings", "Evaluation", "GeneratedSentence",
           "Generation", "Model", "NgramMix", "NgramModel", "PromptInContext", "Report",
           "RescoredHypothesis", "RescoredUtterance", "Rescoring", "Scoring", "SentenceScore",
           "TrainResult", "load", "reports", "train"]

# The `k` of Model.next_words and Model.complete is `charlm complete --next-words`.
NEXT_WORDS = {"k": COMPLETE["next_words"]}


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


def load(path: str | os.PathLike[str], device: str = "cpu", truecase: bool = True,
         context: str | None = None) -> Model:
    """A checkpoint as a ready model, with its vocabulary and tokenizer; `device` is cpu, cuda
    or auto; `truecase` False shows words as the model reads them (see `Model.truecase`);
    `context` "sentence" or "document" reads text another way than the model was trained to
    (None: as it was trained, see `Model.context`)."""
    check_arguments(READING, device=device, context=context)
    target = pick_device(device)
    return Model(load_trained(str(path), target), target, str(path), truecase, context)


def checked_context(context: str | None, default: str) -> str:
    """A context asked for (None: `default`), refused in one line if it is none of CONTEXTS."""
    if context is None:
        return default
    check_arguments(READING, context=context)
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

    @property
    def _text_model(self) -> TextModel:
        """The model as it reads and writes text now: its context and casing."""
        return TextModel(self.trained, self.device, self.context, self.truecase)

    @property
    def truecasing(self) -> bool:
        """Whether text shows the corpus's casing: asked for, and the checkpoint records it."""
        return self._text_model.truecasing

    def as_written(self, words: Sequence[str]) -> list[str]:
        """Words as text shows them: in their written forms when truecasing."""
        return self._text_model.as_written(words)

    def tokenize(self, text: str) -> list[list[str]]:
        """The sentences of `text` as words, read as the model's training text was."""
        return [words for _, words in self.text_sentences(text)]

    def text_sentences(self, text: str) -> list[tuple[str, list[str]]]:
        """The sentences of `text`, each as its text (normalised) and its words."""
        return text_sentences(self.tokenizer, text)

    def prompt_ids(self, prompt: str | None) -> tuple[list[str], list[int]]:
        """A prompt's words (normalised as training text was) and their ids."""
        return self._text_model.prompt_ids(prompt)

    def prompt_in_context(self, prompt: str | None) -> PromptInContext:
        """A prompt as the model's context reads it: its finished sentences, the one it opens."""
        return self._text_model.prompt_in_context(prompt)

    def sample(self, count: int = 1, prompt: str | None = None, *, temperature: float = 1.0,
               top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
               greedy: bool = False, min_words: int = 3, max_words: int = 100,
               allow_unknown: bool = False, tokens: bool = False, beam: int = 0) -> Generation:
        """Up to `count` sentences continuing `prompt` (as the tutorial: none with
        UNKNOWN_TOKEN unless allowed); `tokens` keeps the raw tokens as the text. `beam=N`
        (N >= count) gives instead the `count` likeliest sentences a beam search of width N
        finds, best first (charlm.generation.beam), deterministically: temperature, top_k, top_p
        and greedy shape only sampling and are refused with it, seed is not used.

        In document context the sentences are a passage: each continues the ones before it,
        the first continues the prompt (which may hold several sentences), and with a beam
        each is the likeliest after those before it (any `count`)."""
        choice = SentenceChoice(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                                greedy=greedy, min_words=min_words, max_words=max_words,
                                allow_unknown=allow_unknown, beam=beam)
        check_choice(count, choice)
        return generation.generate(self._text_model, count, prompt, choice, tokens)

    def generate(self, count: int = 1, prompt: str | None = None, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, seed: int | None = None, **options: Any
                 ) -> list[str]:
        """`count` sampled sentences as text (fewer if too few qualified; see `sample`);
        `beam=N` gives the `count` likeliest a beam of width N finds, best first."""
        generated = self.sample(count, prompt, temperature=temperature, top_k=top_k,
                                top_p=top_p, seed=seed, **options)
        if generated.shortfall:
            warnings.warn(generated.shortfall, CharlmWarning, stacklevel=2)
        return [sentence.text for sentence in generated.sentences]

    def next_word_probabilities(self, prompt_ids: Sequence[int], state: State | None = None
                                ) -> torch.Tensor:
        """P(next word | SENTENCE_START and the prompt), over the vocabulary; `state`: the
        state the text before the sentence leaves (None: zeros)."""
        return self._text_model.next_word_probabilities(prompt_ids, state)

    def next_words(self, prompt: str, k: int = 10) -> list[tuple[str, float]]:
        """The `k` likeliest words after `prompt` at the start of a sentence (in document
        context, after the prompt's finished sentences too), with their probabilities,
        likeliest first."""
        check_arguments(NEXT_WORDS, k=k)
        read = self.prompt_in_context(prompt)
        return self._text_model.likeliest(read.ids, read.state, k)

    def complete(self, line: str, k: int = 10, max_words: int = 30, temperature: float = 1.0,
                 generator: torch.Generator | None = None, beam: int = 0) -> Completion:
        """The next-word table and one sampled continuation of `line` (`charlm complete`); with
        `beam=N`, the likeliest continuation a beam of width N finds instead. Either may take
        UNKNOWN_TOKEN: the continuation shows what the model expects. In document context the
        line's finished sentences are the context, and the sentence it leaves open (a new one
        when it ends with one) is what is completed."""
        check_arguments(COMPLETE | NEXT_WORDS, k=k, max_words=max_words, temperature=temperature,
                        beam=beam)
        return generation.complete(self._text_model, line, k, max_words, temperature, generator,
                                   beam)

    def score(self, sentences: Iterable[str], dynamic: Dynamic = False,
              context: str | None = None, ngram: NgramMix | None = None
              ) -> list[SentenceScore]:
        """Each string scored as one sentence, exactly as given (`charlm score --split
        one-per-line`): its log-probability, its tokens and its unknown words. `dynamic`: the
        model adapts to the sentences while reading them in order (True, or DynamicSettings).
        Each is scored alone unless `context` is "document": then each after the ones before
        it, as one document. `ngram`: an n-gram model mixed in (`ngram_mix`)."""
        texts = list(sentences)
        return self.score_sentences(texts, [self.tokenizer.prompt_words(t) for t in texts],
                                    "the sentences given", dynamic=dynamic,
                                    context=checked_context(context, SENTENCE),
                                    ngram=ngram).scores

    def score_text(self, inputs: Sequence[str], one_per_line: bool = False,
                   text_column: str | None = None, batch_size: int = BATCH_SIZE,
                   split: str | None = None, dynamic: Dynamic = False,
                   context: str | None = None, ngram: NgramMix | None = None) -> Scoring:
        """`charlm score`: every sentence of files (in any format train reads; "-" is standard
        input), split and tokenized as the model's training text (its split unless `split` says
        otherwise), or each line one sentence exactly as given (`one_per_line`, or `split`
        "one-per-line"); `dynamic` as in `score`, the files read in the order given. Each
        sentence is read in the model's context, or in `context`; lines one per line alone
        unless `context` says "document" (each file, or CSV row, is a document); `ngram` as in
        `score`."""
        if not inputs:
            raise CorpusError('no file to score: give at least one, or "-" for standard input')
        check_arguments(READING, batch_size=batch_size, split=split)
        ngram = checked_mix(ngram)
        one_per_line = one_per_line or split == ONE_PER_LINE
        context = checked_context(context, SENTENCE if one_per_line else self.context)
        adaptation = self._adaptation(dynamic, context, batch_size)
        read = read_inputs(inputs, self.tokenizer, self.trained.vocabulary, self.path,
                           one_per_line, text_column, split, self.truecasing)
        return score_read(self.trained, self.device, read, batch_size, adaptation, context,
                          ngram)

    def score_sentences(self, texts: list[str], words: list[list[str]], where: str,
                        batch_size: int = BATCH_SIZE, dynamic: Dynamic = False,
                        context: str = SENTENCE, documents: np.ndarray | None = None,
                        ngram: NgramMix | None = None) -> Scoring:
        """Sentences given as texts and their words (in reading order; `dynamic` as in
        `score`) scored, each alone or, in document `context`, after the sentences before it
        in its document (`documents`: their offsets, as EncodedSentences keeps them; None: one
        document); refuses input with nothing to score or no word the vocabulary knows."""
        ngram = checked_mix(ngram)
        adaptation = self._adaptation(dynamic, context, batch_size)
        read = encode_sentences(texts, words, [where], self.trained.vocabulary, self.path,
                                documents)
        return score_read(self.trained, self.device, read, batch_size, adaptation, context,
                          ngram)

    def evaluate(self, path_or_text: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                 text_column: str | None = None, split: str | None = None,
                 batch_size: int = BATCH_SIZE, dynamic: Dynamic = False,
                 context: str | None = None, ngram: NgramMix | None = None) -> Evaluation:
        """Loss, perplexity and OOV rate on corpora (paths, in any format train reads) or on a
        text: a string that names no existing file or directory and holds more than one word is
        read as the text itself (a single word that names nothing is a path not found; a text is
        one document). `dynamic`: the model adapts to the text while reading it (True, or
        DynamicSettings); `context` and `ngram`: as in `evaluate_files`."""
        check_arguments(READING, batch_size=batch_size, split=split)
        ngram = checked_mix(ngram)
        if isinstance(path_or_text, str) and not os.path.exists(path_or_text):
            return self._evaluate_text(path_or_text, batch_size, dynamic, context, ngram)
        paths = ([path_or_text] if isinstance(path_or_text, (str, os.PathLike))
                 else list(path_or_text))
        return self.evaluate_files([str(p) for p in paths], text_column, split,
                                   batch_size, dynamic, context, ngram).summary

    def evaluate_files(self, files: Sequence[str], text_column: str | None = None,
                       split: str | None = None, batch_size: int = BATCH_SIZE,
                       dynamic: Dynamic = False, context: str | None = None,
                       ngram: NgramMix | None = None) -> Scoring:
        """`charlm evaluate`: files encoded as the model's training corpus was (its tokenizer
        and vocabulary; its split unless `split` says otherwise), every token scored; with
        `dynamic`, by a model adapting while it reads the files in the order given. Each
        sentence is read in the model's context, or in `context` ("sentence": alone;
        "document": after everything before it in its file, or CSV row). `ngram`: an n-gram
        model mixed into every token's probability (`ngram_mix`)."""
        if not files:
            raise CorpusError("no file to evaluate on: give at least one corpus")
        check_arguments(READING, batch_size=batch_size, split=split)
        ngram = checked_mix(ngram)
        context = checked_context(context, self.context)
        adaptation = self._adaptation(dynamic, context, batch_size)
        read = read_files(files, self.tokenizer, self.trained.vocabulary, text_column, split)
        return score_read(self.trained, self.device, read, batch_size, adaptation, context,
                          ngram)

    def rescore(self, nbest: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                nbest_format: str | None = None, *, am_scores: str | os.PathLike[str] | None = None,
                lm_scores: str | os.PathLike[str] | None = None, am_weight: float = 1.0,
                lm_weight: float = 1.0, word_penalty: float = 0.0, unk_penalty: float = 0.0,
                context: str = UTTERANCE, batch_size: int = BATCH_SIZE,
                ngram: NgramMix | None = None) -> Rescoring:
        """`charlm rescore`: the n-best lists at `nbest` (files, or directories of them) in
        `nbest_format` ("kaldi", "srilm", "moses", "tsv"; None: recognised from the first line),
        with Kaldi's costs from `am_scores` and `lm_scores`; each hypothesis scored (each alone,
        or with `context` "previous" after the 1-bests chosen before it) and combined as
        am_weight · am + lm_weight · lm + word_penalty · words, in log10, `unk_penalty` added to
        lm for each unknown word; each utterance's 1-best the highest combined score. `ngram`:
        an n-gram model mixed into the model's probability of each token (`ngram_mix`)."""
        ngram = checked_mix(ngram)
        check_arguments(RESCORING, nbest_format=nbest_format, context=context,
                        am_weight=am_weight, lm_weight=lm_weight, word_penalty=word_penalty,
                        unk_penalty=unk_penalty)
        check_arguments(READING, batch_size=batch_size)
        paths = ([nbest] if isinstance(nbest, (str, os.PathLike)) else list(nbest))
        lists = read_nbest([os.fspath(p) for p in paths], nbest_format,
                           *(os.fspath(p) if p is not None else None
                             for p in (am_scores, lm_scores)))
        weights = Weights(am_weight, lm_weight, word_penalty, unk_penalty)
        rescorer = Rescorer(self.trained, self.device, self.path, weights, batch_size, ngram)
        return rescorer.rescore(lists, context)

    def _evaluate_text(self, text: str, batch_size: int, dynamic: Dynamic,
                       context: str | None, ngram: NgramMix | None) -> Evaluation:
        """`evaluate` of a string that names nothing: the text itself, as one document."""
        if not text.strip():
            raise CorpusError("nothing to evaluate: the text given is empty; give a corpus path "
                              "or a text")
        if len(text.split()) < 2:
            raise CorpusError(f"corpus not found: {text}; check the path (a text to evaluate "
                              "holds more than one word)")
        sentences = self.text_sentences(text)
        return self.score_sentences([written for written, _ in sentences],
                                    [words for _, words in sentences], "the text given",
                                    batch_size, dynamic,
                                    checked_context(context, self.context),
                                    ngram=ngram).summary

    def ngram_mix(self, ngram: str | os.PathLike[str] | NgramModel,
                  weight: float | str = DEFAULT_WEIGHT, dev: str | os.PathLike[str] | None = None,
                  context: str | None = None, split: str | None = None) -> NgramMix:
        """An n-gram model (an ARPA file, a KenLM binary, or an NgramModel already read) to mix
        into scoring, as the `ngram` of `score`, `score_text`, `evaluate` and
        `evaluate_files`: each token's probability becomes λ·P_ngram + (1 − λ)·P_charlm, λ being
        `weight`, or with weight "auto" the λ that gives the development text `dev` (a file,
        read as `evaluate_files` reads one, with `split` and in `context`) its highest
        likelihood."""
        weight = parse_weight(weight)
        problem = weight_problem(weight, dev, {"weight": python_argument("weight"),
                                               "dev": python_argument("dev")})
        if problem:
            raise ConfigError(problem)
        model = ngram if isinstance(ngram, NgramModel) else NgramModel(ngram)
        if weight != AUTO:
            return NgramMix(model, float(weight))
        development = self.evaluate_files([str(dev)], split=split, context=context)
        chosen = best_weight(development.surprisal, ngram_surprisals(
            model, development.sentences, self.trained.vocabulary))
        return NgramMix(model, chosen, str(dev))

    def _adaptation(self, dynamic: Dynamic, context: str, batch_size: int
                    ) -> Adaptation | None:
        """The adapting copy dynamic evaluation scores with (None: plain), refused before work;
        mean squared gradients measured on a text are measured reading it in `context`."""
        return adaptation_for(self.trained, self.path, dynamic,
                              partial(self._measured_gradients, context=context,
                                      batch_size=batch_size))

    def _measured_gradients(self, settings: DynamicSettings, context: str,
                            batch_size: int) -> TrainingGradients:
        """The mean squared gradients of settings.gradients_from, read as the model's training
        text was (its tokenizer, vocabulary and split)."""
        read = read_files([os.fspath(settings.gradients_from)], self.tokenizer,
                          self.trained.vocabulary, None, None)
        return measured_gradients(self.trained, self.device, read, settings, batch_size, context)


def check_choice(count: int, choice: SentenceChoice) -> None:
    """Refuse `Model.sample`'s arguments as `charlm generate` refuses its flags, in their words."""
    check_arguments(GENERATE, min_words=choice.min_words, max_words=choice.max_words,
                    count=count, temperature=choice.temperature, top_k=choice.top_k,
                    top_p=choice.top_p, seed=choice.seed, beam=choice.beam)
    problem = word_range_problem(choice.min_words, choice.max_words, str)
    if problem:
        raise ConfigError(problem)


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
