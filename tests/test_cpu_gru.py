"""The CPU training path for GRU layers computes exactly what nn.GRU computes, gradients too."""

import torch
from torch import nn

from charlm import cpu_gru
from charlm.model import ModelConfig, RNNLanguageModel


def outputs_and_gradients(run, rnn: nn.GRU, x: torch.Tensor, h0: torch.Tensor | None):
    out, final = run(x, h0)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    loss = (out * weights).sum() + final.square().sum()
    inputs = [x, *([h0] if h0 is not None else []), *rnn.parameters()]
    return out.detach(), final.detach(), torch.autograd.grad(loss, inputs)


def test_outputs_and_every_gradient_match_nn_gru() -> None:
    torch.manual_seed(0)
    rnn = nn.GRU(7, 11, num_layers=3, batch_first=True).double()
    x = torch.randn(5, 9, 7, dtype=torch.float64, requires_grad=True)
    for h0 in (None, torch.randn(3, 5, 11, dtype=torch.float64, requires_grad=True)):
        assert cpu_gru.can_use(rnn, x)
        expected = outputs_and_gradients(rnn, rnn, x, h0)
        got = outputs_and_gradients(lambda a, b: cpu_gru.gru_forward(rnn, a, b), rnn, x, h0)
        torch.testing.assert_close(got[0], expected[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(got[1], expected[1], rtol=1e-12, atol=1e-12)
        for mine, theirs in zip(got[2], expected[2]):
            torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)


def test_model_loss_gradients_are_unchanged_by_the_fast_path(monkeypatch) -> None:
    torch.manual_seed(1)
    model = RNNLanguageModel(ModelConfig(vocab_size=20, embedding_dim=6, hidden_dim=8)).double()
    inputs = torch.randint(0, 20, (4, 6))
    targets = torch.randint(0, 20, (4, 6))
    targets[0, 3:] = -100  # a padded sentence

    def gradients() -> list[torch.Tensor]:
        model.zero_grad()
        loss, _ = model.loss(inputs, targets)
        loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    fast = gradients()
    monkeypatch.setattr(cpu_gru, "can_use", lambda *args: False)
    native = gradients()
    for a, b in zip(fast, native):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_not_used_without_gradients_or_for_other_layers() -> None:
    x = torch.randn(2, 3, 4)
    assert not cpu_gru.can_use(nn.LSTM(4, 5, batch_first=True), x)
    assert not cpu_gru.can_use(nn.GRU(4, 5), x)  # time-major layers are not what it computes
    with torch.no_grad():
        assert not cpu_gru.can_use(nn.GRU(4, 5, batch_first=True), x)
