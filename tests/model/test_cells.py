"""The hand-written cells against PyTorch's fused layers, finite differences and their equations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from charlm.model.cells import CELLS, HandWrittenRNN, gate
from charlm.model.network import ModelConfig, RNNLanguageModel

FUSED = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


def random_state(cell: str, layers: int, batch: int, hidden: int) -> object:
    h = torch.randn(layers, batch, hidden, dtype=torch.float64)
    if cell == "lstm":
        return (h, torch.randn(layers, batch, hidden, dtype=torch.float64))
    return h


def flat(state: object) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]  # type: ignore[arg-type]


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_hand_written_cell_matches_fused_layer_outputs_and_gradients(cell: str) -> None:
    torch.manual_seed(0)
    fused = FUSED[cell](5, 6, 2, batch_first=True).double()
    hand = HandWrittenRNN(cell, 5, 6, 2).double()
    hand.load_state_dict(fused.state_dict())
    x = torch.randn(3, 7, 5, dtype=torch.float64)
    state = random_state(cell, 2, 3, 6)
    results = []
    for layer in (fused, hand):
        inputs = x.clone().requires_grad_(True)
        initial = [s.clone().requires_grad_(True) for s in flat(state)]
        out, final = layer(inputs, tuple(initial) if cell == "lstm" else initial[0])
        # A loss that weighs every output and final state differently, so any mix-up shows.
        weights = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)
        loss = (out * weights).sum() + sum((f**2).sum() for f in flat(final))
        loss.backward()
        grads = {name: p.grad.clone() for name, p in layer.named_parameters()}
        results.append((out, flat(final), inputs.grad, [s.grad for s in initial], grads))
    (out_f, fin_f, gx_f, gs_f, gp_f), (out_h, fin_h, gx_h, gs_h, gp_h) = results
    torch.testing.assert_close(out_h, out_f)
    for a, b in zip(fin_h, fin_f):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(gx_h, gx_f)
    for a, b in zip(gs_h, gs_f):
        torch.testing.assert_close(a, b)
    assert gp_h.keys() == gp_f.keys()
    for name in gp_f:
        torch.testing.assert_close(gp_h[name], gp_f[name], msg=name)


def tiny_model(cell: str, activation: str, **extra: object) -> RNNLanguageModel:
    torch.manual_seed(3)
    config = ModelConfig(vocab_size=7, embedding_dim=3, hidden_dim=4, layers=2, cell=cell,
                         gate_activation=activation, implementation="hand-written",
                         **extra)  # type: ignore[arg-type]
    return RNNLanguageModel(config).double()


CELL_ACTIVATIONS = [(cell, activation) for cell in CELLS
                    for activation in ("sigmoid", "hard-sigmoid") if cell != "rnn"
                    or activation == "sigmoid"]


@pytest.mark.parametrize(("cell", "activation"), CELL_ACTIVATIONS)
def test_finite_difference_gradient_check(cell: str, activation: str) -> None:
    """As the tutorial's gradient_check: nudge every parameter by ±h, compare slopes."""
    model = tiny_model(cell, activation)
    inputs = torch.tensor([[1, 4, 2, 6, 3], [1, 5, 5, 2, 0]])
    targets = torch.tensor([[4, 2, 6, 3, 2], [5, 5, 2, 3, -100]])
    loss, _ = model.loss(inputs, targets)
    loss.backward()
    h = 1e-6
    checked = 0
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            assert parameter.grad is not None, name
            values = parameter.view(-1)
            for i in range(values.numel()):
                original = float(values[i])
                values[i] = original + h
                plus = float(model.loss(inputs, targets)[0])
                values[i] = original - h
                minus = float(model.loss(inputs, targets)[0])
                values[i] = original
                estimate = (plus - minus) / (2 * h)
                analytic = float(parameter.grad.view(-1)[i])
                error = abs(estimate - analytic) / max(abs(estimate) + abs(analytic), 1e-8)
                assert error < 1e-5 or abs(estimate - analytic) < 1e-8, (
                    f"{name}[{i}]: backprop {analytic}, finite differences {estimate}"
                )
                checked += 1
    assert checked == model.parameter_count()


def test_hard_sigmoid_is_theanos() -> None:
    x = torch.tensor([-4.0, -2.5, -1.0, 0.0, 1.0, 2.5, 4.0])
    expected = torch.tensor([0.0, 0.0, 0.3, 0.5, 0.7, 1.0, 1.0])
    torch.testing.assert_close(gate(x, hard=True), expected)
    torch.testing.assert_close(gate(x, hard=False), torch.sigmoid(x))


def test_gru_with_reset_before_is_the_tutorials_theano_step() -> None:
    """One step of the tutorial's GRU layer, written as its Theano code, with shared weights."""
    torch.manual_seed(1)
    layer = HandWrittenRNN("gru", 3, 4, 1, gate_activation="hard-sigmoid",
                           reset_before=True).double()
    x = torch.randn(2, 1, 3, dtype=torch.float64)
    s_prev = torch.randn(1, 2, 4, dtype=torch.float64)
    out, _ = layer(x, s_prev)

    def hard_sigmoid(v: torch.Tensor) -> torch.Tensor:
        return torch.clamp(0.2 * v + 0.5, 0, 1)

    u_r, u_z, u_c = layer.weight_ih_l0.chunk(3)
    w_r, w_z, w_c = layer.weight_hh_l0.chunk(3)
    b_r, b_z, b_c = (layer.bias_ih_l0 + layer.bias_hh_l0).chunk(3)
    x_e, s = x[:, 0], s_prev[0]
    z = hard_sigmoid(x_e @ u_z.T + s @ w_z.T + b_z)
    r = hard_sigmoid(x_e @ u_r.T + s @ w_r.T + b_r)
    c = torch.tanh(x_e @ u_c.T + (s * r) @ w_c.T + b_c)
    expected = (1 - z) * c + z * s
    torch.testing.assert_close(out[:, 0], expected)


def test_peephole_lstm_with_zero_peepholes_is_the_plain_lstm() -> None:
    torch.manual_seed(2)
    lstm = nn.LSTM(3, 5, 2, batch_first=True).double()
    peephole = HandWrittenRNN("peephole-lstm", 3, 5, 2).double()
    with torch.no_grad():
        for k in range(2):
            getattr(peephole, f"weight_peephole_l{k}").zero_()
    peephole.load_state_dict(lstm.state_dict(), strict=False)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    torch.testing.assert_close(peephole(x)[0], lstm(x)[0])
    with torch.no_grad():
        peephole.weight_peephole_l0.fill_(0.5)
    assert not torch.allclose(peephole(x)[0], lstm(x)[0])


def test_cifg_input_gate_is_one_minus_forget_gate() -> None:
    """With the candidate pinned at 1 and the output gate open, c' = f·c + (1 - f)."""
    layer = HandWrittenRNN("cifg-lstm", 1, 1, 1).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.zero_()
        layer.bias_ih_l0.copy_(torch.tensor([0.3, 50.0, 50.0]))  # rows: f, g, o
    c_prev = torch.tensor([[[2.0]]], dtype=torch.float64)
    _, (_, c) = layer(torch.zeros(1, 1, 1, dtype=torch.float64), (torch.zeros_like(c_prev),
                                                                  c_prev))
    f = torch.sigmoid(torch.tensor(0.3, dtype=torch.float64))
    torch.testing.assert_close(c[0, 0, 0], f * 2.0 + (1 - f) * 1.0)


@pytest.mark.parametrize("implementation", ["auto", "hand-written"])
def test_bptt_truncate_stops_gradients_beyond_k_steps(implementation: str) -> None:
    def gradient_at_first_step(truncate: int) -> torch.Tensor:
        torch.manual_seed(0)
        model = RNNLanguageModel(ModelConfig(vocab_size=10, embedding_dim=4, hidden_dim=5,
                                             cell="lstm", implementation=implementation,
                                             bptt_truncate=truncate))
        embedded = torch.randn(2, 9, 4, requires_grad=True)
        hidden, _ = model.recurrent(embedded)
        hidden[:, -1].sum().backward()
        assert embedded.grad is not None
        return embedded.grad

    truncated = gradient_at_first_step(3)
    assert torch.all(truncated[:, :6] == 0)  # steps 0-5 lie outside the last chunk (6-8)
    assert torch.any(truncated[:, 6] != 0)
    assert torch.any(gradient_at_first_step(-1)[:, 0] != 0)


def test_bptt_truncate_leaves_the_forward_computation_unchanged() -> None:
    tokens = torch.randint(0, 10, (3, 11))
    outputs = []
    for truncate in (-1, 2):
        torch.manual_seed(0)
        model = RNNLanguageModel(ModelConfig(vocab_size=10, embedding_dim=4, hidden_dim=5,
                                             bptt_truncate=truncate))
        outputs.append(model(tokens)[0])
    torch.testing.assert_close(outputs[0], outputs[1])


@pytest.mark.parametrize("implementation", ["auto", "hand-written"])
def test_dropout_is_active_in_training_and_off_at_eval(implementation: str) -> None:
    torch.manual_seed(0)
    model = RNNLanguageModel(ModelConfig(vocab_size=10, embedding_dim=4, hidden_dim=8, layers=2,
                                         implementation=implementation, dropout=0.5))
    tokens = torch.randint(0, 10, (2, 6))
    model.train()
    assert not torch.allclose(model(tokens)[0], model(tokens)[0])
    model.eval()
    torch.testing.assert_close(model(tokens)[0], model(tokens)[0])
    no_dropout = RNNLanguageModel(ModelConfig(vocab_size=10, embedding_dim=4, hidden_dim=8,
                                              layers=2, implementation=implementation))
    no_dropout.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(tokens)[0], no_dropout(tokens)[0])


def test_tied_weights_share_one_matrix_and_need_equal_sizes() -> None:
    model = RNNLanguageModel(ModelConfig(vocab_size=10, embedding_dim=6, hidden_dim=6,
                                         tie_weights=True))
    assert model.output.weight is model.embedding.weight
    untied = RNNLanguageModel(ModelConfig(vocab_size=10, embedding_dim=6, hidden_dim=6))
    assert untied.parameter_count() - model.parameter_count() == 60
    with pytest.raises(ValueError, match="embedding and hidden sizes to be equal"):
        RNNLanguageModel(ModelConfig(vocab_size=10, embedding_dim=4, hidden_dim=6,
                                     tie_weights=True))


def test_a_model_config_saved_before_the_new_fields_still_loads() -> None:
    old = {"vocab_size": 10, "embedding_dim": 4, "hidden_dim": 5, "layers": 2, "cell": "lstm"}
    config = ModelConfig.from_dict(old)
    assert (config.gate_activation, config.dropout, config.tie_weights,
            config.bptt_truncate) == ("sigmoid", 0.0, False, -1)
    assert not config.hand_written
    model = RNNLanguageModel(config)
    assert isinstance(model.rnn, nn.LSTM)
    fused_names = {f"rnn.{name}" for name, _ in nn.LSTM(4, 5, 2).named_parameters()}
    assert fused_names <= set(model.state_dict())


@pytest.mark.parametrize(("cell", "activation", "kind"), [
    ("gru", "sigmoid", nn.GRU), ("lstm", "sigmoid", nn.LSTM), ("rnn", "sigmoid", nn.RNN),
    ("gru", "hard-sigmoid", HandWrittenRNN), ("peephole-lstm", "sigmoid", HandWrittenRNN),
    ("cifg-lstm", "sigmoid", HandWrittenRNN),
])
def test_fused_layers_are_used_where_they_compute_the_cell(
    cell: str, activation: str, kind: type
) -> None:
    model = RNNLanguageModel(ModelConfig(vocab_size=10, embedding_dim=4, hidden_dim=5, cell=cell,
                                         gate_activation=activation))
    assert type(model.rnn) is kind
