"""A small text classifier the zoo never saw, written as a new user would write it.

``tests.helpers_transformers:encoder`` is a ``--model_name`` factory: token ids (int64,
``1 x 16``, values in ``[0, 100)``) -> ``nn.Embedding`` -> one ``nn.TransformerEncoderLayer``
-> mean over the sequence -> ``nn.Linear`` (4 classes). One layer: every op kind a layer has
(attention, layer norm, feed-forward) is there once, and each export of it takes half the time
of two layers' (the tests export it about ten times).
"""

from __future__ import annotations

import torch

VOCAB = 100
D_MODEL = 32
SEQ_LEN = 16
CLASSES = 4


class TinyEncoderClassifier(torch.nn.Module):
    def __init__(self, vocab: int = VOCAB, d_model: int = D_MODEL, layers: int = 1, classes: int = CLASSES):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, d_model)
        layer = torch.nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=4 * d_model, batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.head = torch.nn.Linear(d_model, classes)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


def tiny_encoder() -> TinyEncoderClassifier:
    torch.manual_seed(0)
    return TinyEncoderClassifier().eval()


def token_ids(seq_len: int = SEQ_LEN, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (1, seq_len), generator=torch.Generator().manual_seed(seed))


def encoder():
    return tiny_encoder(), (token_ids(),)
