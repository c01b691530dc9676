"""How close to the synthetic chain's optimum charlm's output layer could get, given perfect input.

    python benchmarks/fit_limit.py [--hidden 128] [--embedding 48] [--steps 4000]

The chain is the one `known_optimum.py` writes (same seed). Each context (a word, or the start
of a sentence) gets its own embedding, mapped to a hidden state as charlm's cells bound it
(tanh(A e + c): a vector in (-1, 1)^hidden), then the default full softmax (W h + b). Every
parameter is fitted, full-batch with Adam, to the chain's exact next-token distributions,
weighted as the validation sentences weight them. No recurrence and no sampling noise: the
result is the best perplexity the output layer can express, against the optimum. When it is
close to 1.000x, a trained model that ends further away is limited by its recurrence or its
optimisation, not by the width of its softmax.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from known_optimum import VALID_SENTENCES, WORDS, Chain, make_chain, sample_sentence

SEED = 2026  # known_optimum.write_corpus's


def true_distributions(chain: Chain) -> torch.Tensor:
    """Row c: the next token's probabilities after context c (the words, then the start);
    columns: the words, then "." (which SENTENCE_END always follows, at no cost)."""
    table = np.zeros((WORDS + 1, WORDS + 1))
    for word in range(WORDS):
        table[word, chain.successors[word]] = (1 - chain.end[word]) * chain.weights[word]
        table[word, WORDS] = chain.end[word]
    table[WORDS, :WORDS] = chain.start
    return torch.tensor(table, dtype=torch.float64)


def context_weights(chain: Chain, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
    """How often each context is predicted from in the validation sentences, and the number of
    predicted tokens there (as known_optimum counts them)."""
    _ = [sample_sentence(chain, rng) for _ in range(200_000)]  # the training sentences
    counts = np.zeros(WORDS + 1)
    tokens = 0
    for _ in range(VALID_SENTENCES):
        sentence = sample_sentence(chain, rng)
        counts[WORDS] += 1
        np.add.at(counts, sentence, 1)
        tokens += len(sentence) + 2
    return torch.tensor(counts), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--embedding", type=int, default=48)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    chain = make_chain(rng)
    target = true_distributions(chain)
    weights, tokens = context_weights(chain, rng)
    entropy = -(target * torch.log(target.clamp_min(1e-300))).sum(1)
    optimum = math.exp(float(weights @ entropy) / tokens)

    torch.manual_seed(0)
    contexts, outputs = target.shape
    embedding = torch.randn(contexts, args.embedding, dtype=torch.float64, requires_grad=True)
    into_hidden = (0.3 * torch.randn(args.hidden, args.embedding, dtype=torch.float64)
                   ).requires_grad_()
    hidden_bias = torch.zeros(args.hidden, dtype=torch.float64, requires_grad=True)
    output = (0.1 * torch.randn(outputs, args.hidden, dtype=torch.float64)).requires_grad_()
    output_bias = torch.zeros(outputs, dtype=torch.float64, requires_grad=True)
    parameters = [embedding, into_hidden, hidden_bias, output, output_bias]
    optimizer = torch.optim.Adam(parameters, lr=0.03)
    print(f"optimum (the chain's own perplexity, in expectation): {optimum:.4f}")
    print("| Adam steps | best perplexity the output layer reaches | against the optimum |")
    print("| ---: | ---: | ---: |")
    best = math.inf
    for step in range(1, args.steps + 1):
        hidden = torch.tanh(embedding @ into_hidden.T + hidden_bias)
        log_probabilities = torch.log_softmax(hidden @ output.T + output_bias, dim=1)
        loss = -(weights @ (target * log_probabilities).sum(1)) / tokens
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        best = min(best, math.exp(float(loss.detach())))
        if step in (args.steps // 8, args.steps // 2, args.steps):
            print(f"| {step} | {best:.4f} | {best / optimum:.4f}x |")


if __name__ == "__main__":
    main()
