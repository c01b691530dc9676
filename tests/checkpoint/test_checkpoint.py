from pathlib import Path

import torch

from charlm.checkpoint.files import FORMAT_VERSION, save_checkpoint
from charlm.checkpoint.trained import load_trained
from charlm.data.vocab import SPECIAL_TOKENS
from charlm.model.network import ModelConfig, RNNLanguageModel


def test_save_load_gives_bit_identical_logits_and_loads_weights_only(tmp_path: Path) -> None:
    torch.manual_seed(1)
    config = ModelConfig(vocab_size=10, embedding_dim=5, hidden_dim=6, layers=2, cell="lstm")
    model = RNNLanguageModel(config).eval()
    path = tmp_path / "model.pt"
    save_checkpoint({
        "model_config": config.to_dict(),
        "model_state": model.state_dict(),
        "vocabulary": [*SPECIAL_TOKENS, *"abcdefg"],
        "tokenizer": {"lowercase": True, "drop_urls": True, "min_chars": 1,
                      "splitter": "punkt/trained-on-corpus",
                      "punkt": {"abbrev_types": ["mr"], "collocations": [],
                                "sent_starters": [], "ortho_context": []}},
    }, path)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "charlm" and raw["format_version"] == FORMAT_VERSION
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind

    tokens = torch.randint(0, 10, (3, 8))
    with torch.no_grad():
        before, _ = model(tokens)
        after, _ = load_trained(path).model(tokens)
    assert torch.equal(before, after)
