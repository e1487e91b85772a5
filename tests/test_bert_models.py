"""The bert_tiny zoo entry: random weights, weights from a local Hugging Face folder or a state_dict file."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from examples.models.bert_models import BERT_TINY, DEFAULT_SEQ_LEN  # noqa: E402
from examples.models.input_specs import infer_input_specs  # noqa: E402
from examples.models.weights import WeightsError, load_model  # noqa: E402
from examples.models.zoo import MODELS  # noqa: E402

SPEC = MODELS["bert_tiny"]


@pytest.fixture(scope="module")
def bert_tiny():
    with pytest.warns(UserWarning, match="RANDOM weights"):
        return load_model(SPEC, "random")


def test_random_bert_tiny_takes_ids_and_mask(bert_tiny):
    ids, mask = bert_tiny.example_inputs
    assert ids.shape == mask.shape == (1, DEFAULT_SEQ_LEN) and ids.dtype == mask.dtype == torch.int64
    with torch.no_grad():
        assert bert_tiny.model(ids, mask).shape == (1, BERT_TINY["num_labels"])
    specs = infer_input_specs(bert_tiny.example_inputs, bert_tiny.model)
    assert (specs[0].low, specs[0].high) == (0, BERT_TINY["vocab_size"]) and (specs[1].low, specs[1].high) == (0, 2)


def test_weights_from_a_local_hugging_face_folder(tmp_path):
    from examples.models.bert_models import import_transformers

    transformers = import_transformers()
    torch.manual_seed(1)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, num_labels=3)
    saved = transformers.BertForSequenceClassification(config).eval()
    saved.save_pretrained(tmp_path)  # config.json + model.safetensors
    loaded = load_model(SPEC, str(tmp_path))
    assert loaded.weights == str(tmp_path)
    ids, mask = loaded.example_inputs
    assert int(ids.max()) < 100
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(ids, mask), saved(input_ids=ids, attention_mask=mask).logits)


def test_weights_from_a_state_dict_file(tmp_path, bert_tiny):
    state = {k: v.clone() for k, v in bert_tiny.model.model.state_dict().items()}
    state["classifier.bias"] = torch.tensor([0.5, -0.5])
    torch.save(state, tmp_path / "bert.pt")
    loaded = load_model(SPEC, str(tmp_path / "bert.pt"))
    assert torch.equal(loaded.model.model.classifier.bias, torch.tensor([0.5, -0.5]))


def test_a_folder_without_a_model_is_a_weights_error(tmp_path):
    with pytest.raises(WeightsError, match="cannot load 'bert_tiny'"):
        load_model(SPEC, str(tmp_path))


@pytest.mark.slow
def test_bert_tiny_is_one_delegated_graph_and_matches_eager(bert_tiny):
    from executorch.runtime import Runtime

    from examples.export.lowering import export_program
    from examples.export.report import fragmentation

    inputs = tuple(t[:, :16] for t in bert_tiny.example_inputs)
    result = export_program(bert_tiny.model, inputs)
    assert fragmentation(result)[0] <= 3
    out = Runtime.get().load_program(result.buffer).load_method("forward").execute(list(inputs))[0]
    with torch.no_grad():
        torch.testing.assert_close(out, bert_tiny.model(*inputs), rtol=1e-4, atol=1e-4)
