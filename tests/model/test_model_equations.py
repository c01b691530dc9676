"""The model's GRU and LSTM layers compute exactly the textbook equations."""

import torch

from charlm.model.network import ModelConfig, RNNLanguageModel


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + torch.exp(-x))


def textbook_gru(x: torch.Tensor, rnn: torch.nn.GRU) -> torch.Tensor:
    """Stacked GRU, one time step at a time (x: batch, time, features)."""
    layer_input = x
    for layer in range(rnn.num_layers):
        w_ih = getattr(rnn, f"weight_ih_l{layer}")
        w_hh = getattr(rnn, f"weight_hh_l{layer}")
        b_ih = getattr(rnn, f"bias_ih_l{layer}")
        b_hh = getattr(rnn, f"bias_hh_l{layer}")
        w_ir, w_iz, w_in = w_ih.chunk(3)
        w_hr, w_hz, w_hn = w_hh.chunk(3)
        b_ir, b_iz, b_in = b_ih.chunk(3)
        b_hr, b_hz, b_hn = b_hh.chunk(3)
        h = torch.zeros(x.shape[0], rnn.hidden_size, dtype=x.dtype)
        outputs = []
        for t in range(x.shape[1]):
            x_t = layer_input[:, t]
            r = sigmoid(x_t @ w_ir.T + b_ir + h @ w_hr.T + b_hr)  # reset gate
            z = sigmoid(x_t @ w_iz.T + b_iz + h @ w_hz.T + b_hz)  # update gate
            n = torch.tanh(x_t @ w_in.T + b_in + r * (h @ w_hn.T + b_hn))  # candidate state
            h = (1 - z) * n + z * h
            outputs.append(h)
        layer_input = torch.stack(outputs, dim=1)
    return layer_input


def textbook_lstm(x: torch.Tensor, rnn: torch.nn.LSTM) -> torch.Tensor:
    layer_input = x
    for layer in range(rnn.num_layers):
        w_ih = getattr(rnn, f"weight_ih_l{layer}")
        w_hh = getattr(rnn, f"weight_hh_l{layer}")
        b = getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
        w_ii, w_if, w_ig, w_io = w_ih.chunk(4)
        w_hi, w_hf, w_hg, w_ho = w_hh.chunk(4)
        b_i, b_f, b_g, b_o = b.chunk(4)
        h = torch.zeros(x.shape[0], rnn.hidden_size, dtype=x.dtype)
        c = torch.zeros_like(h)
        outputs = []
        for t in range(x.shape[1]):
            x_t = layer_input[:, t]
            i = sigmoid(x_t @ w_ii.T + h @ w_hi.T + b_i)  # input gate
            f = sigmoid(x_t @ w_if.T + h @ w_hf.T + b_f)  # forget gate
            g = torch.tanh(x_t @ w_ig.T + h @ w_hg.T + b_g)  # candidate cell
            o = sigmoid(x_t @ w_io.T + h @ w_ho.T + b_o)  # output gate
            c = f * c + i * g  # cell state
            h = o * torch.tanh(c)
            outputs.append(h)
        layer_input = torch.stack(outputs, dim=1)
    return layer_input


def check_cell(cell: str, textbook) -> None:
    torch.manual_seed(0)
    model = RNNLanguageModel(ModelConfig(vocab_size=30, embedding_dim=7, hidden_dim=11,
                                         layers=2, cell=cell)).double()
    tokens = torch.randint(0, 30, (4, 9))
    embedded = model.embedding(tokens)
    expected_hidden = textbook(embedded, model.rnn)
    expected_logits = expected_hidden @ model.output.weight.T + model.output.bias
    with torch.no_grad():
        logits, _ = model(tokens)
    torch.testing.assert_close(logits, expected_logits.detach(), rtol=1e-10, atol=1e-10)


def test_gru_is_the_textbook_gru() -> None:
    check_cell("gru", textbook_gru)


def test_lstm_is_the_textbook_lstm() -> None:
    check_cell("lstm", textbook_lstm)
