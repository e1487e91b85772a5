"""BERT-family text classifiers, built from a config with Hugging Face ``transformers``.

Random weights by default (nothing is downloaded); real ones from ``--weights PATH``: a local
Hugging Face folder (``config.json`` + ``*.safetensors``, as ``save_pretrained`` writes it) or
a ``state_dict`` file. Inputs: ``input_ids`` (int64, ``1 x seq_len``, ids in ``[0, vocab)``)
and ``attention_mask`` (int64 0/1); the output is the classification logits.
``transformers`` is the ``text`` extra of pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

import torch

from examples.models.model_spec import TEXT_SEQ_LEN

DEFAULT_SEQ_LEN = TEXT_SEQ_LEN
# google/bert_uncased_L-2_H-128_A-2 ("BERT-tiny"), with a 2-class head.
BERT_TINY = dict(vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=512, max_position_embeddings=512, num_labels=2)


class ClassifierLogits(torch.nn.Module):
    """A Hugging Face sequence classifier as a plain module: tensors in, logits out."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def import_transformers():
    # transformers imports torchvision when it is installed; this one needs the toolkit's fix first.
    from examples.models.torchvision_compat import import_torchvision

    import_torchvision()
    try:
        import transformers
    except ImportError:
        raise ImportError("BERT models need Hugging Face transformers: pip install -e '.[text]'") from None
    return transformers


def text_inputs(vocab_size: int, seq_len: int = DEFAULT_SEQ_LEN, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, vocab_size, (1, seq_len), generator=torch.Generator().manual_seed(seed))
    return ids, torch.ones(1, seq_len, dtype=torch.int64)


def bert_classifier(config: dict, seq_len: int = DEFAULT_SEQ_LEN):
    """A zoo factory: the model from ``config`` with random weights (seeded) and its example inputs."""

    def factory(weights):
        transformers = import_transformers()
        torch.manual_seed(0)
        cfg = transformers.BertConfig(**config, attn_implementation="sdpa")
        model = transformers.BertForSequenceClassification(cfg)
        return ClassifierLogits(model).eval(), text_inputs(cfg.vocab_size, seq_len)

    return factory


def load_hf_folder(folder: Path, seq_len: int = DEFAULT_SEQ_LEN):
    """``(model, example_inputs)`` from a local Hugging Face folder (never the hub)."""
    transformers = import_transformers()
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        folder, local_files_only=True, attn_implementation="sdpa")
    return ClassifierLogits(model).eval(), text_inputs(model.config.vocab_size, seq_len)


bert_tiny = bert_classifier(BERT_TINY)
