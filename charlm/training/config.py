"""The settings of `charlm train`: one field per flag, with its help, bounds and variables.

They load without torch (--help and shell completion read them): the choices come from
kinds.py, and the model's settings are checked by the network's ModelConfig, imported when used.
ModelConfig and PrepareSettings are built from the settings by name (`settings_for`; RENAMED holds
the one they call otherwise), and --init-from reads the model's settings back the same way: a new
model or data setting is a field here and a field of the class that uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from charlm.checkpoint.optimizers import DEFAULT_OPTIMIZER, OPTIMIZER_KINDS
from charlm.data.corpus import PARAGRAPHS, SPLIT_CHOICES
from charlm.data.settings import (
    CONTEXTS,
    DEFAULT_CONTEXT,
    MAX_VOCABULARY,
    NLTK_WORDS,
    SENTENCE,
    WORD_SPLITS,
    PrepareSettings,
)
from charlm.devices import DEVICE_CHOICES
from charlm.distribution import install_hint
from charlm.errors import ConfigError
from charlm.model.kinds import (
    CELL_KINDS,
    DROPOUT_MASKS,
    GATE_ACTIVATIONS,
    IMPLEMENTATIONS,
    LOCKED,
    SOFTMAX_KINDS,
)
from charlm.options import (
    Former,
    given_fields,
    option,
    origins_field,
    settings_of,
    source_of,
)
from charlm.training.recipes import recipe_names, recipe_settings
from charlm.training.schedule import DEFAULT_SCHEDULE, LR_SCHEDULES

if TYPE_CHECKING:
    from charlm.model.network import ModelConfig

# The special tokens and one word; 0 means every word.
MIN_VOCABULARY = 4
# Shared with `charlm cache`, which reads the same directory.
CACHE_DIR_HELP = (
    "Where prepared corpora are cached. Default: the user cache directory, "
    "$XDG_CACHE_HOME/charlm or ~/.cache/charlm on Linux, ~/Library/Caches/charlm on macOS, "
    "%LOCALAPPDATA%\\charlm\\Cache on Windows (charlm cache shows it)."
)
# The settings that the classes built from them call by another name: PrepareSettings and
# TokenizerSettings know the sentence-length limit as max_words. Every other field of those
# classes and of ModelConfig takes the setting of its own name.
RENAMED = {"max_sentence_words": "max_words"}
# The fixed setting whose file's words, not its path, decide the vocabulary: a start from a
# checkpoint compares the words (start.py).
WORD_LIST = "vocabulary"


def own_name(setting: str) -> str:
    """What PrepareSettings, TokenizerSettings and ModelConfig call a setting."""
    return RENAMED.get(setting, setting)


@dataclass
class TrainConfig:
    """Settings of `charlm train`."""

    corpus: str | None = option(
        None,
        "Corpus to train on: a UTF-8 text file, a .gz file, a directory of .txt files, or a CSV "
        "file with a header row.",
        tutorial_env="INPUT_DATA_FILE",
        argument=True,
        panel="Data",
    )
    out: str | None = option(
        None,
        "Checkpoint file to write. Default: <CELL>-<timestamp>-<vocab>-<emb>-<hidden>.pt in the "
        "current directory, as the tutorial named its files.",
        tutorial_env="MODEL_OUTPUT_FILE",
        short="-o",
        panel="Output",
    )
    force: bool = option(
        False, "Overwrite an earlier checkpoint (and its metrics file) at the checkpoint path; "
        "a file that is not a charlm checkpoint is never replaced.", panel="Output"
    )
    resume: str | None = option(
        None,
        "Continue training from this checkpoint exactly where it stopped (same batch, optimizer "
        "and random state). Settings not given are taken from it; --out defaults to it. auto: "
        "resume --out if it holds a checkpoint, else start a new run there (one command for a "
        "batch job's first run and its reruns).",
        panel="Run",
    )
    init_from: str | None = option(
        None,
        "Fine-tune: start from this model's weights, vocabulary, tokenizer settings and shape, "
        "on the corpus given, with a fresh optimizer and progress (--resume continues one run "
        "instead).",
        panel="Run",
    )
    early_stop: int = option(
        0,
        "Stop when the validation loss has not improved for this many reports in a row "
        "(0: never).",
        minimum=0,
        panel="Run",
    )
    keep_best: bool = option(
        False,
        "Also keep the checkpoint with the best validation loss so far, as <out stem>.best.pt.",
        panel="Output",
    )
    text_column: str | None = option(
        None,
        "CSV column holding the text. Default: body, else text, else the first column.",
        panel="Data",
        fixed=True,
    )
    lowercase: bool = option(
        True, "Lowercase the text before splitting it, as the tutorial (never the words of a "
        "--vocabulary list).", panel="Data", fixed=True
    )
    drop_urls: bool = option(
        True, "Drop sentences that contain a URL, as the tutorial.", panel="Data", fixed=True
    )
    min_chars: int = option(
        1,
        "Drop sentences shorter than this many characters, as the tutorial.",
        minimum=0,
        panel="Data",
        fixed=True,
    )
    vocabulary_size: int = option(
        2000,
        "Vocabulary size, counting UNKNOWN_TOKEN, SENTENCE_START and SENTENCE_END; 0: every word "
        "of the corpus (then only words absent from the training corpus are unknown). --vocabulary "
        "gives the words instead.",
        tutorial_env="VOCABULARY_SIZE",
        minimum=0,
        maximum=MAX_VOCABULARY,
        panel="Data",
        fixed=True,
    )
    vocabulary: str | None = option(
        None,
        "A word list whose words are the vocabulary, in place of the --vocabulary-size most "
        "frequent (a recogniser's or a translator's words): one word a line, or Kaldi's "
        "words.txt (a word and its id on every line). Every word of the list is kept, the corpus "
        "holding it or not; every other word of the corpus is UNKNOWN_TOKEN. <s>, </s>, and "
        "words.txt's <eps> and #0, #1, ... are no words; <unk> is UNKNOWN_TOKEN. The words are "
        "taken as written, and --lowercase lowercases the text alone: give --no-lowercase with "
        "a list in mixed or upper case. Refuses --vocabulary-size.",
        panel="Data",
        fixed=True,
    )
    split: str = option(
        "auto",
        "How text is cut before sentence splitting: paragraphs (wrapped lines are joined, a blank "
        "line ends a paragraph), lines (every line on its own; a line may hold several "
        "sentences), one-per-line (every line is exactly one sentence), or auto (look at the "
        "text and choose paragraphs or lines).",
        choices=SPLIT_CHOICES,
        panel="Data",
        fixed=True,
    )
    words: str = option(
        NLTK_WORDS,
        "How sentences are cut into words: nltk (NLTK's word tokenizer: \"didn't\" is did "
        "n't) or whitespace (for text already tokenized, as WikiText and the Penn Treebank "
        "are: every whitespace-separated piece is one word, its own <unk> included).",
        choices=WORD_SPLITS,
        panel="Data",
        fixed=True,
    )
    max_sentence_words: int = option(
        200,
        "Drop sentences with more words than this, so text without sentence boundaries cannot "
        "make giant batches.",
        minimum=1,
        maximum=100_000,
        panel="Data",
        fixed=True,
    )
    valid_fraction: float = option(
        0.05,
        "Share of sentences held out for validation.",
        above=0.0,
        maximum=0.5,
        panel="Data",
        fixed=True,
    )
    valid: str | None = option(
        None,
        "Validate on this corpus (encoded with the training vocabulary) instead of holding "
        "out --valid-fraction of the training sentences.",
        panel="Data",
        fixed=True,
    )
    context: str = option(
        DEFAULT_CONTEXT,
        "What the model reads each sentence after: document (everything before it in its "
        "document, a file or a CSV row: the state carries from sentence to sentence, and "
        "training steps through running text in windows of --bptt tokens) or sentence (nothing: "
        "each sentence alone from a zero state, as the tutorial). Later commands read text "
        "the same way.",
        choices=CONTEXTS,
        panel="Data",
        fixed=True,
    )
    bptt: int = option(
        35,
        "Document context: tokens per training window; each row's state carries from one "
        "window to the next, and gradients flow back at most this far.",
        minimum=1,
        maximum=100_000,
        panel="Optimisation",
        fixed=True,
    )
    bptt_random: bool = option(
        False,
        "Document context: AWD-LSTM's random window length: each window --bptt tokens, or half "
        "of it one time in 20, then drawn from a normal distribution of deviation 5 around that "
        "(at least 5 tokens, or --bptt if smaller); each step's learning rate is scaled by its "
        "window's length / --bptt, as AWD-LSTM's, so every token weighs the same. The lengths "
        "are drawn from --seed and the epoch: a resumed run and every torchrun rank cut the "
        "same windows.",
        panel="Optimisation",
        fixed=True,
    )
    cell: str = option(
        "gru",
        "Recurrent cell: gru, lstm and rnn (tanh) run on PyTorch's fused layers; peephole-lstm "
        "and cifg-lstm (coupled input and forget gate) on charlm's hand-written cells.",
        choices=tuple(CELL_KINDS),
        panel="Model",
        fixed=True,
    )
    gate_activation: str = option(
        "sigmoid",
        "Gate activation. hard-sigmoid (Theano's clip(0.2x+0.5, 0, 1)) runs gru and lstm on the "
        "hand-written cells; gru with hard-sigmoid is the tutorial's Theano GRU.",
        choices=GATE_ACTIVATIONS,
        panel="Model",
        fixed=True,
    )
    implementation: str = option(
        "auto",
        "auto: PyTorch's fused layer where one computes the cell, else the hand-written cell; "
        "hand-written: always the hand-written cell (slower; for study and comparison).",
        choices=IMPLEMENTATIONS,
        panel="Model",
    )
    embedding_dim: int = option(
        48,
        "Word embedding size.",
        tutorial_env="EMBEDDING_DIM",
        minimum=1,
        maximum=65536,
        panel="Model",
        fixed=True,
    )
    hidden_dim: int = option(
        128,
        "Hidden state size of each layer (the last one's: --last-hidden-dim, where set).",
        tutorial_env="HIDDEN_DIM",
        minimum=1,
        maximum=65536,
        panel="Model",
        fixed=True,
    )
    layers: int = option(
        2, "Number of recurrent layers.", minimum=1, maximum=64, panel="Model", fixed=True
    )
    last_hidden_dim: int = option(
        0,
        "Size of the last recurrent layer, the one the output layer reads, when it is smaller "
        "than the others (AWD-LSTM: --hidden-dim 1150 --layers 3 --last-hidden-dim 400, tied to "
        "an --embedding-dim of 400); 0: --hidden-dim.",
        minimum=0,
        maximum=65536,
        panel="Model",
        fixed=True,
    )
    dropout: float = option(
        0.0,
        "Dropout probability between recurrent layers and before the output layer, a new mask "
        "at every step (what --dropout-hidden P --dropout-output P --dropout-mask step do), so "
        "refused beside either of those two; it goes with --dropout-input, --dropout-embedding "
        "and --weight-drop.",
        minimum=0.0,
        maximum=0.99,
        panel="Model",
    )
    dropout_input: float = option(
        0.0,
        "Dropout probability on the embedding output, the first layer's input, in training "
        "(masks: --dropout-mask).",
        minimum=0.0,
        maximum=0.99,
        panel="Model",
    )
    dropout_hidden: float = option(
        0.0,
        "Dropout probability between recurrent layers, in training (masks: --dropout-mask); "
        "needs --layers 2 or more.",
        minimum=0.0,
        maximum=0.99,
        panel="Model",
    )
    dropout_output: float = option(
        0.0,
        "Dropout probability on the last recurrent layer's output, before the output layer, in "
        "training (masks: --dropout-mask).",
        minimum=0.0,
        maximum=0.99,
        panel="Model",
    )
    dropout_mask: str = option(
        LOCKED,
        "Masks of --dropout-input, --dropout-hidden and --dropout-output: locked (one mask per "
        "row held for a whole window, or a whole sentence: variational dropout, Gal & "
        "Ghahramani 2016) or step (a new mask at every time step: ordinary dropout, as Zaremba "
        "et al. 2014).",
        choices=DROPOUT_MASKS,
        panel="Model",
    )
    dropout_embedding: float = option(
        0.0,
        "Probability of dropping a word from the embedding matrix for a training step: every "
        "occurrence of it in the batch reads zeros, the other words are scaled by 1/(1-P).",
        minimum=0.0,
        maximum=0.99,
        panel="Model",
    )
    weight_drop: float = option(
        0.0,
        "DropConnect probability on the hidden-to-hidden weight matrices: each training window "
        "runs on the matrices with this share of their weights zeroed (the rest scaled), one "
        "mask per window; the fused cells stay fused, each layer run on its own.",
        minimum=0.0,
        maximum=0.99,
        panel="Model",
    )
    ar: float = option(
        0.0,
        "Activation regularisation: add alpha times the mean square of the last layer's dropped "
        "output to the training objective (AWD-LSTM: 2). The reported training loss leaves it "
        "out.",
        minimum=0.0,
        maximum=1000.0,
        panel="Model",
    )
    tar: float = option(
        0.0,
        "Temporal activation regularisation: add beta times the mean square of the change in "
        "the last layer's undropped output from one step to the next to the training objective "
        "(AWD-LSTM: 1). The reported training loss leaves it out.",
        minimum=0.0,
        maximum=1000.0,
        panel="Model",
    )
    tie_weights: bool = option(
        False,
        "Share the embedding matrix with the output layer (needs --embedding-dim equal to the "
        "last layer's size: --hidden-dim, or --last-hidden-dim where set).",
        panel="Model",
        fixed=True,
    )
    softmax: str = option(
        "full",
        "Output layer: full (a softmax over every word, as the tutorial) or adaptive (frequent "
        "words in a small head, rarer ones in clusters, with cut-offs chosen from the training "
        "words' frequencies: far faster for large vocabularies).",
        choices=tuple(SOFTMAX_KINDS),
        panel="Model",
        fixed=True,
    )
    bptt_truncate: int = option(
        -1,
        "Backpropagate through at most this many time steps, as the tutorial's "
        "bptt_truncate; -1: through the whole sentence (document context: the whole window).",
        minimum=-1,
        maximum=1_000_000,
        panel="Model",
    )
    learning_rate: float = option(
        0.002,
        "Learning rate: the step size of RMSprop, Adam and AdamW; what SGD multiplies the "
        "gradient by (the papers train SGD at 1 to 30, with --clip-norm: give it with --optimizer "
        "sgd or asgd).",
        tutorial_env="LEARNING_RATE",
        above=0.0,
        maximum=100.0,
        panel="Optimisation",
    )
    optimizer: str = option(
        DEFAULT_OPTIMIZER,
        "How the weights learn: rmsprop (the tutorial's), sgd (plain steps, no momentum), asgd "
        "(NT-ASGD, Merity et al. 2018: sgd until the switch that --nonmono describes, then sgd "
        "whose weights are averaged uniformly from that report on; the average is what reports "
        "validate and checkpoints hold, so it refuses --weight-average other than 0), adam or "
        "adamw (Adam with decoupled weight decay; both with PyTorch's betas 0.9, 0.999 and "
        "epsilon 1e-8).",
        choices=tuple(OPTIMIZER_KINDS),
        panel="Optimisation",
        fixed=True,
    )
    nonmono: int = option(
        5,
        "--optimizer asgd: switch to averaging at the first report whose validation loss is "
        "worse than the best of the reports before the last this many. The paper validates "
        "once an epoch (n 5); charlm at every report, so --print-every above an epoch's "
        "sentences gives the paper's count. Other optimizers refuse it.",
        minimum=1,
        panel="Optimisation",
    )
    weight_decay: float = option(
        0.0,
        "Weight decay: each step adds this times each weight to its gradient (L2; adamw "
        "instead shrinks each weight by the rate times this, apart from the gradient).",
        minimum=0.0,
        maximum=1.0,
        panel="Optimisation",
    )
    init_range: float = option(
        0.0,
        "Start every weight, biases included, uniform in [-r, r], as Zaremba et al. (0.1, 0.05, "
        "0.04 for their small, medium and large models); 0: the layers' own initialisation. "
        "--init-from refuses it: the model gives the weights.",
        minimum=0.0,
        maximum=1.0,
        panel="Model",
        fixed=True,
    )
    embedding_init_range: float = option(
        0.0,
        "Start the embedding matrix (the output layer's weights too, when tied) uniform in "
        "[-r, r], as AWD-LSTM (0.1), after --init-range; 0: the layer's own initialisation "
        "(normal, with a spread of 1). --init-from refuses it: the model gives the weights.",
        minimum=0.0,
        maximum=1.0,
        panel="Model",
        fixed=True,
    )
    recipe: str | None = option(
        None,
        "A named bundle of model and optimisation settings, as a paper trained its model: "
        f"{', '.join(recipe_names())} (charlm recipes lists each with its paper and published "
        "perplexity). Each setting of the recipe that no flag or variable gives takes the "
        "recipe's value. tutorial learns as the tutorial did (--tutorial-schedule is another "
        "spelling): each sentence alone, RMSprop at 0.001 on batches of 64 sentences, reporting "
        "the last step's weights; the defaults learn faster, at 0.002 on batches of 128, "
        "reporting a moving average of the weights. Both keep the rate constant; --lr-decay "
        "lowers it.",
        choices=recipe_names(),
        panel="Optimisation",
        fixed=True,
        formerly=(Former("tutorial_schedule", {True: "tutorial", False: None}, switch=True),),
    )
    decay: float = option(
        0.9,
        "--optimizer rmsprop: the decay of its squared-gradient average. Other optimizers refuse "
        "it (Adam's betas stay 0.9, 0.999).",
        minimum=0.0,
        maximum=0.9999,
        panel="Optimisation",
    )
    epsilon: float = option(
        1e-6,
        "--optimizer rmsprop: the epsilon added to the root of its squared-gradient average. "
        "Other optimizers refuse it (Adam's stays 1e-8).",
        above=0.0,
        maximum=1.0,
        panel="Optimisation",
    )
    lr_decay: float = option(
        1.0,
        "Multiply the learning rate by this factor whenever --lr-schedule says (1: never).",
        above=0.0,
        maximum=1.0,
        panel="Optimisation",
    )
    lr_schedule: str = option(
        DEFAULT_SCHEDULE,
        "When --lr-decay multiplies the rate. plateau: when the mean validation loss of the "
        "last --patience reports is no lower than of the --patience before them, all at the "
        "current rate. epochs (Zaremba et al.): at the start of every epoch after the first "
        "--lr-keep-epochs, so epoch k trains at the rate x decay^max(0, k - keep). best (the "
        "word_language_model example, there 0.25): at every report whose validation loss is "
        "not below the best so far. Reports come every --print-every sentences and at the end "
        "of an epoch that had none: set --print-every above an epoch's sentences for one "
        "report an epoch, as the papers validate.",
        choices=tuple(LR_SCHEDULES),
        panel="Optimisation",
    )
    patience: int = option(
        2,
        "--lr-schedule plateau: reports in each of the two windows it compares. Other "
        "schedules refuse it.",
        minimum=1,
        panel="Optimisation",
    )
    lr_keep_epochs: int = option(
        0,
        "--lr-schedule epochs: epochs trained at --learning-rate before the decay starts. "
        "Other schedules refuse it.",
        minimum=0,
        panel="Optimisation",
    )
    weight_average: float = option(
        0.999,
        "Reports, samples and checkpoints use a moving average of the weights, each step "
        "weighing this much of the average before it (0: the last step's weights).",
        minimum=0.0,
        maximum=0.9999,
        panel="Optimisation",
    )
    clip_norm: float = option(
        0.0,
        "Clip the gradient norm of each step to this value (0: no clipping).",
        minimum=0.0,
        panel="Optimisation",
    )
    epochs: int = option(
        20,
        "Passes over the training sentences.",
        tutorial_env="NEPOCH",
        minimum=1,
        panel="Optimisation",
    )
    batch_size: int = option(
        128,
        "Sentence context: sentences per training step, sentences of similar length batched "
        "together. Document context: rows of running text per step, each --bptt tokens.",
        minimum=1,
        maximum=65536,
        panel="Optimisation",
        fixed=True,
    )
    print_every: int = option(
        25000,
        "Report, sample and save every this many training sentences (and at the end of each "
        "epoch when an epoch is shorter).",
        tutorial_env="PRINT_EVERY",
        minimum=1,
        panel="Output",
    )
    samples: int = option(
        10, "Sentences to generate at each report.", minimum=0, maximum=1000, panel="Output"
    )
    json: bool = option(
        False,
        "Print one JSON object per line, never a progress bar (else a progress bar and panels "
        "at a terminal, plain lines elsewhere).",
        panel="Output",
        formerly=(Former("log_format", {"text": False, "json": True}),),
    )
    tensorboard: str | None = option(
        None,
        "Also write the reports (losses, perplexity, learning rate, speed, samples) as "
        "TensorBoard events to this directory. Needs the tensorboard extra: "
        f"{install_hint('tensorboard')}.",
        panel="Output",
    )
    quiet: bool = option(
        False, "Plain lines only: no progress bar, panels or progress lines.", panel="Output"
    )
    seed: int = option(
        1234,
        "Random seed: the same seed repeats a CPU run exactly.",
        minimum=0,
        maximum=2**32 - 1,
        panel="Optimisation",
        fixed=True,
    )
    device: str = option(
        "auto",
        "Where to train: auto picks CUDA when available.",
        choices=DEVICE_CHOICES,
        panel="Run",
        shared=True,
    )
    amp: bool = option(
        False,
        "Mixed precision: bf16 autocast on CUDA. On a CPU it runs, with a warning, and is "
        "usually slower.",
        panel="Run",
    )
    threads: int = option(
        0,
        "CPU threads per process (0: the machine's cores, shared among the torchrun ranks on it).",
        minimum=0,
        maximum=4096,
        panel="Run",
    )
    workers: int = option(
        0,
        "Processes that tokenize the corpus before training (0: automatic: for a corpus over 2 MB, "
        "one per core available, no more than it has megabytes; below, this process alone).",
        minimum=0,
        maximum=256,
        panel="Data",
    )
    cache: bool = option(
        True, "Reuse the prepared corpus from the cache, and store it there.", panel="Data"
    )
    cache_dir: str | None = option(None, CACHE_DIR_HELP, panel="Data", shared=True)
    origins: dict[str, str] = origins_field()

    # What --recipe NAME gives each setting that no flag or variable gives.
    RECIPES: ClassVar[dict[str, Mapping[str, Any]]] = recipe_settings()

    # What a checkpoint's settings that lack a field meant: how charlm trained before the field
    # existed, so that --resume goes on as the run began.
    BEFORE_FIELD: ClassVar[dict[str, Any]] = {"weight_average": 0.0, "words": NLTK_WORDS,
                                              "context": SENTENCE, "split": PARAGRAPHS,
                                              "recipe": None, "bptt_random": False,
                                              "optimizer": DEFAULT_OPTIMIZER}

    def check(self, sources: Mapping[str, str]) -> None:
        # A resumed run may take the corpus path from its checkpoint.
        if self.corpus is None and self.resume is None:
            raise ConfigError(
                "no corpus given: pass a path (charlm train corpus.txt) or set INPUT_DATA_FILE"
            )
        if self.resume is not None and self.init_from is not None:
            raise ConfigError(
                f"{sources['resume']} continues a run and {sources['init_from']} starts a new one "
                "from a model's weights: give one of them"
            )
        if self.vocabulary is not None and "vocabulary_size" in given_fields(self):
            raise ConfigError(
                f"{sources['vocabulary']} makes the vocabulary of the words of its list, and "
                f"{sources['vocabulary_size']} makes it of the corpus's most frequent words: give "
                "one of them")
        if 0 < self.vocabulary_size < MIN_VOCABULARY:
            raise ConfigError(
                f"{sources['vocabulary_size']}: {self.vocabulary_size} is too small; it must be at "
                f"least {MIN_VOCABULARY} (the special tokens and a word), or 0 for every word")
        if self.resume is None and self.init_from is None:
            # A resumed or fine-tuned model's settings are the checkpoint's; the run checks the
            # merged ones.
            self.check_model(sources)

    def check_windows(self) -> None:
        """Random window lengths cut running text: sentence context has no windows. Checked
        once a run's settings are merged with a checkpoint's, which may hold the context."""
        if self.bptt_random and self.context == SENTENCE:
            raise ConfigError(
                f"{source_of(self, 'bptt_random')} draws the lengths of the windows of running "
                f"text, but this run reads each sentence alone (context sentence, from "
                f"{source_of(self, 'context')}), without windows: train with --context document "
                f"or leave out {source_of(self, 'bptt_random')}")

    def check_model(self, sources: Mapping[str, str] | None = None) -> None:
        # Before the corpus is read, every word (0) is at least the smallest vocabulary.
        problem = self.model_config(self.vocabulary_size or MIN_VOCABULARY).problem(sources)
        if problem:
            raise ConfigError(problem if sources else f"cannot build this model: {problem}")

    def settings_for(self, cls: type) -> dict[str, Any]:
        """The settings that the dataclass `cls` has a field for, under its names: a setting's
        own name, or the one RENAMED gives it."""
        names = {f.name for f in fields(cls)}
        return {own_name(name): value for name, value in settings_of(self).items()
                if own_name(name) in names}

    def prepare_settings(self) -> PrepareSettings:
        return PrepareSettings(**self.settings_for(PrepareSettings))

    def model_config(self, vocab_size: int, cutoffs: tuple[int, ...] = ()) -> ModelConfig:
        from charlm.model.network import ModelConfig

        return ModelConfig(**self.settings_for(ModelConfig), vocab_size=vocab_size,
                           cutoffs=cutoffs)

    @property
    def default_out(self) -> str:
        from datetime import datetime

        stamp = datetime.now().strftime("%Y-%m-%d-%H-%M")
        return (
            f"{self.cell.upper()}-{stamp}-{self.vocabulary_size}-{self.embedding_dim}-"
            f"{self.hidden_dim}.pt"
        )
