"""Text classification accuracy: labelled texts (CSV / JSONL) + a local tokenizer.json -> token ids
and attention masks at the program's sequence length -> the accuracy report of the image path.

The tokenizer is trained here, on the test's own texts (no downloads). bert_tiny has random
weights: the figures test the plumbing (tokenization, label ids, agreement with eager), not
accuracy; the expected numbers are computed independently of examples/evaluation.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip("tokenizers")

from examples.evaluation.dataset import DatasetError  # noqa: E402
from examples.evaluation.text_dataset import TextDataset  # noqa: E402
from examples.evaluation.text_eval import TextInputs, evaluate_text, text_inputs_for  # noqa: E402
from examples.evaluation.tokenizer import TextTokenizer  # noqa: E402

SEQ_LEN = 16
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
TEXTS = [
    "the movie was great fun", "a dull and boring film", "great acting and a fine story",
    "boring plot with dull actors", "fun for the whole family", "not worth the ticket",
    "a fine cast in a great story that was fun from the first scene to the very last one",
    "dull", "the story was not great", "fine", "whole family loved the acting", "worth it",
]
ENCODER = "tests.helpers_transformers:encoder"  # vocab 100, one input (token ids), 4 classes


def train_tokenizer(path: Path, texts=TEXTS, extra_words: int = 0) -> Path:
    """A word-level tokenizer.json with BERT's special tokens, [CLS] text [SEP]."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    words = [f"word{i}" for i in range(extra_words)]
    tokenizer.train_from_iterator(list(texts) + words, trainers.WordLevelTrainer(special_tokens=SPECIALS))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[(t, tokenizer.token_to_id(t)) for t in ("[CLS]", "[SEP]")])
    tokenizer.save(str(path))
    return path


def expected_encoding(tokenizer_path: Path, text: str, seq_len: int = SEQ_LEN) -> tuple[list[int], list[int]]:
    """What the tool must feed, from the vocabulary itself: [CLS] words [SEP], cut, then [PAD]s."""
    vocab = json.loads(tokenizer_path.read_text())["model"]["vocab"]
    words = [vocab.get(w, vocab["[UNK]"]) for w in re.findall(r"\w+|[^\w\s]+", text)]
    ids = [vocab["[CLS]"]] + words[:seq_len - 2] + [vocab["[SEP]"]]
    return ids + [vocab["[PAD]"]] * (seq_len - len(ids)), [1] * len(ids) + [0] * (seq_len - len(ids))


def write_csv(path: Path, rows) -> Path:
    import csv

    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows))
    return path


# ---------------------------------------------------------------- datasets (fast)

def test_integer_and_string_labels(tmp_path):
    ints = TextDataset(write_csv(tmp_path / "a.csv", [("good", 1), ("bad", 0), ("meh", 3)]))
    assert ints.samples == [("good", 1), ("bad", 0), ("meh", 3)] and ints.classes == ["0", "1", "2", "3"]
    assert not ints.string_labels
    # Class names: ids in sorted order, not in order of appearance.
    names = TextDataset(write_jsonl(tmp_path / "b.jsonl", [("good", "pos"), ("bad", "neg"), ("so so", "mid")]))
    assert names.samples == [("good", 2), ("bad", 1), ("so so", 0)] and names.classes == ["mid", "neg", "pos"]
    assert names.labels_are() == "the string labels in sorted order (mid=0, neg=1, pos=2)"
    # A CSV's labels are integers only when every one is written as one.
    mixed = TextDataset(write_csv(tmp_path / "c.csv", [("a", "10"), ("b", "x")]))
    assert mixed.classes == ["10", "x"] and mixed.string_labels
    spread = TextDataset(write_csv(tmp_path / "d.csv", [(f"t{i}", i % 2) for i in range(10)]), limit=5)
    assert [t for t, _ in spread.samples] == ["t0", "t2", "t4", "t6", "t8"]


@pytest.mark.parametrize("name,content,message", [
    ("empty.csv", "", "is empty; expected a header line 'text,label'"),
    ("cols.csv", "sentence,label\nhello,1\n", "has no 'text' column (header: sentence,label)"),
    ("cols2.csv", "text\nhello\n", "has no 'label' column"),
    ("nolabel.csv", "text,label\nhello,\n", "line 2: empty label"),
    ("only_header.csv", "text,label\n", "holds no labelled texts"),
    ("empty.jsonl", "\n", "holds no labelled texts"),
    ("float.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 0.5}\n',
     "line 2: label 0.5 is a number with a fraction; labels must be integers (class ids) or strings"),
    ("bool.jsonl", '{"text": "a", "label": true}\n', "label true is a boolean"),
    ("null.jsonl", '{"text": "a", "label": null}\n', "label null is null"),
    ("mixed.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": "pos"}\n',
     "labels mix integers (line 1) and strings (line 2)"),
    ("keys.jsonl", '{"sentence": "a", "label": 1}\n', "line 1: expected an object with keys 'text' and 'label'"),
    ("json.jsonl", '{"text": "a", "label": 1\n', "line 1: not JSON"),
    ("neg.jsonl", '{"text": "a", "label": -1}\n', "label -1 is negative"),
])
def test_bad_text_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetError, match=re.escape(message)):
        TextDataset(path)


# ---------------------------------------------------------------- tokenizer (fast)

def test_texts_become_ids_and_mask_at_the_sequence_length(tmp_path):
    path = train_tokenizer(tmp_path / "tokenizer.json")
    tokenizer = TextTokenizer(path)
    for text in TEXTS[:2] + [TEXTS[6], "unknown words here"]:  # short, long (truncated), [UNK]
        ids, mask = tokenizer.encode_fixed(text, SEQ_LEN)
        assert ids.dtype == mask.dtype == torch.int64 and ids.shape == mask.shape == (1, SEQ_LEN)
        assert (ids[0].tolist(), mask[0].tolist()) == expected_encoding(path, text), text
    assert TextTokenizer(tmp_path).path == path  # a folder holding tokenizer.json


def test_unreadable_tokenizers(tmp_path):
    with pytest.raises(DatasetError, match="tokenizer file not found"):
        TextTokenizer(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"not": "a tokenizer"}')
    with pytest.raises(DatasetError, match="cannot read the tokenizer"):
        TextTokenizer(tmp_path / "bad.json")


def test_model_inputs_and_vocabulary_are_checked(tmp_path):
    from tests.helpers_transformers import VOCAB, encoder

    model, inputs = encoder()
    small = TextTokenizer(train_tokenizer(tmp_path / "small.json"))
    assert text_inputs_for(model, inputs, small) == TextInputs(inputs[0].shape[1], with_mask=False)
    assert text_inputs_for(model, inputs, small, max_seq_len=8).seq_len == 8
    big = TextTokenizer(train_tokenizer(tmp_path / "big.json", extra_words=VOCAB))
    with pytest.raises(DatasetError, match=f"has {big.vocab_size} tokens but the model's embedding has {VOCAB} rows"):
        text_inputs_for(model, inputs, big)
    with pytest.raises(DatasetError, match="the model takes float32 1x3x8x8"):
        text_inputs_for(torch.nn.Identity(), (torch.zeros(1, 3, 8, 8),), small)


def test_eager_accuracy_counts_against_the_class_ids(tmp_path):
    """Eager only: the loop and the label ids, against predictions made here."""
    from tests.helpers_transformers import encoder

    model, _ = encoder()
    path = train_tokenizer(tmp_path / "tokenizer.json")
    with torch.no_grad():
        predictions = [int(model(torch.tensor([expected_encoding(path, t)[0]])).argmax()) for t in TEXTS]
    labels = [p if i % 3 else (p + 1) % 4 for i, p in enumerate(predictions)]  # every third one wrong
    dataset = TextDataset(write_jsonl(tmp_path / "d.jsonl", zip(TEXTS, labels)))
    report = evaluate_text(model, {}, dataset, TextTokenizer(path), TextInputs(SEQ_LEN, with_mask=False))
    assert report.samples == len(TEXTS) and report["eager"].top1 == pytest.approx(8 / 12)
    assert f"({len(TEXTS)} texts, {max(labels) + 1} classes, batch 1)" in report.format()


# ---------------------------------------------------------------- CLI errors

def _export_cli(python_env, tmp_path, *args, model="bert_tiny"):
    return subprocess.run([sys.executable, "-m", "examples.backend.xnnpack_examples", f"--model_name={model}",
                           "--weights=random", f"--output_dir={tmp_path / 'out'}", *args],
                          capture_output=True, text=True, env=python_env, timeout=600)


def _one_error_line(done, code: int = 2) -> str:
    assert done.returncode == code, done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize("case,needle", [
    ("no_tokenizer", "holds texts: pass --tokenizer PATH"),
    ("missing_column", "--eval_data: "),  # completed below with the file's name
    ("empty", "is empty; expected a header line"),
    ("float_label", "label 0.5 is a number with a fraction"),
    ("tokenizer_missing", "--tokenizer: tokenizer file not found"),
])
def test_cli_bad_text_input_is_one_error_line(python_env, tmp_path, case, needle):
    tokenizer = train_tokenizer(tmp_path / "tokenizer.json")
    data = {
        "no_tokenizer": write_csv(tmp_path / "d.csv", [("a", 1)]),
        "missing_column": tmp_path / "cols.csv",
        "empty": tmp_path / "empty.csv",
        "float_label": tmp_path / "f.jsonl",
        "tokenizer_missing": write_csv(tmp_path / "d.csv", [("a", 1)]),
    }[case]
    (tmp_path / "cols.csv").write_text("sentence,label\nhello,1\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "f.jsonl").write_text('{"text": "a", "label": 0.5}\n')
    args = [f"--eval_data={data}"]
    if case != "no_tokenizer":
        args.append(f"--tokenizer={tmp_path / 'nope.json' if case == 'tokenizer_missing' else tokenizer}")
    line = _one_error_line(_export_cli(python_env, tmp_path, *args))
    if case == "missing_column":
        needle = f"--eval_data: {data} has no 'text' column (header: sentence,label)"
    assert needle in line, line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.pte"))


def test_cli_tokenizer_larger_than_the_embedding_stops_before_the_export(python_env, tmp_path):
    from tests.helpers_transformers import VOCAB

    tokenizer = train_tokenizer(tmp_path / "tokenizer.json", extra_words=VOCAB)
    data = write_csv(tmp_path / "d.csv", [("a", 1)])
    done = _export_cli(python_env, tmp_path, f"--eval_data={data}", f"--tokenizer={tokenizer}", model=ENCODER)
    line = _one_error_line(done)
    assert f"but the model's embedding has {VOCAB} rows" in line, line
    assert "exporting" not in done.stdout and not list((tmp_path / "out").glob("*.pte"))


def test_benchmark_refuses_text_eval_data(python_env, tmp_path):
    data = write_csv(tmp_path / "d.csv", [("a", 1)])
    done = subprocess.run([sys.executable, "-m", "examples.backend.benchmark", "--models=add", "--backends=eager",
                           f"--eval_data={data}", f"--output_dir={tmp_path / 'out'}"],
                          capture_output=True, text=True, env=python_env, timeout=300)
    assert "is labelled text (.csv/.jsonl); this tool evaluates image folders" in _one_error_line(done)


# ---------------------------------------------------------------- bert_tiny exported and evaluated (slow)

def _bert_tiny():
    from examples.models.weights import load_model
    from examples.models.zoo import MODELS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model(MODELS["bert_tiny"], "random").model  # seeded: the CLI's weights


def _encodings(tokenizer_path: Path):
    return [tuple(torch.tensor([row]) for row in expected_encoding(tokenizer_path, t)) for t in TEXTS]


@pytest.fixture(scope="module")
def text_case(tmp_path_factory):
    """A tokenizer, labels set from bert_tiny's own eager predictions (some of them wrong on
    purpose), and the eager predictions, all made here."""
    folder = tmp_path_factory.mktemp("text_cls")
    tokenizer = train_tokenizer(folder / "tokenizer.json")
    model = _bert_tiny()
    with torch.no_grad():
        eager = [int(model(ids, mask).argmax()) for ids, mask in _encodings(tokenizer)]
    # Row 0 is class 1 ("positive", last in sorted order): ids in order of appearance would differ.
    labels = [1] + [p if i % 4 else 1 - p for i, p in enumerate(eager) if i > 0]
    return folder, tokenizer, eager, labels


@pytest.fixture(scope="module")
def exported_with_csv(text_case, python_env):
    """bert_tiny exported by the CLI (fp32, sequence lengths 1..16) and evaluated on a CSV."""
    folder, tokenizer, _, labels = text_case
    data = write_csv(folder / "texts.csv", zip(TEXTS, labels))
    done = _export_cli(python_env, folder, f"--max_seq_len={SEQ_LEN}", f"--eval_data={data}",
                       f"--tokenizer={tokenizer}", "--eval_engine=python")
    assert done.returncode == 0, done.stderr
    return folder / "out" / "bert_tiny_xnnpack_fp32.pte", done.stdout


def _expected(pte: Path, text_case) -> dict:
    """Top-1 of eager and of the program, and their agreement, computed here (batch 1)."""
    from executorch.runtime import Runtime

    _, tokenizer, eager, labels = text_case
    method = Runtime.get().load_program(pte).load_method("forward")
    program = [int(method.execute([ids, mask])[0].argmax()) for ids, mask in _encodings(tokenizer)]
    n = len(TEXTS)
    return {"eager": sum(e == y for e, y in zip(eager, labels)) / n,
            "fp32": sum(p == y for p, y in zip(program, labels)) / n,
            "agreement": sum(p == e for p, e in zip(program, eager)) / n}


@pytest.mark.slow
def test_cli_reports_csv_accuracy_as_computed_independently(exported_with_csv, text_case):
    pte, stdout = exported_with_csv
    expected = _expected(pte, text_case)
    assert f"({len(TEXTS)} texts, 2 classes, batch 1)" in stdout
    rows = {m[1]: m for m in re.finditer(r"^(eager|fp32)\s+(?:torch eager|python runtime)\s+([\d.]+)%\s+[\d.]+%"
                                         r"\s+(-|[\d.]+%)", stdout, re.M)}
    assert rows["eager"][2] == f"{100 * expected['eager']:.2f}" and rows["eager"][3] == "-"
    assert rows["fp32"][2] == f"{100 * expected['fp32']:.2f}"
    assert rows["fp32"][3] == f"{100 * expected['agreement']:.1f}%"
    assert f"to {SEQ_LEN} tokens (padded/truncated)" in stdout
    assert "'bert_tiny' has RANDOM weights: these accuracy figures are meaningless" in stdout


@pytest.mark.slow
def test_cli_max_seq_len_writes_one_program_for_a_range(exported_with_csv, text_case):
    """The CLI's --max_seq_len: one program (no file per length) whose outputs equal eager
    bert_tiny's at a short and at the longest length."""
    from examples.runner.python_runtime import execute, load_method

    pte, stdout = exported_with_csv
    assert f"dynamic sequence length: the program accepts lengths 1..{SEQ_LEN}" in stdout
    assert [p.name for p in pte.parent.glob("*.pte")] == [pte.name]
    method, model = load_method(pte), _bert_tiny()
    ids, mask = _encodings(text_case[1])[0]
    for length in (3, SEQ_LEN):
        inputs = [ids[:, :length], mask[:, :length]]
        with torch.no_grad():
            expected = model(*inputs)
        torch.testing.assert_close(execute(method, inputs)[0], expected, rtol=1e-4, atol=1e-4)
        assert float(expected.abs().max()) > 0  # logits with signal, not zeros against zeros


@pytest.mark.slow
def test_jsonl_string_labels_in_the_native_runner(exported_with_csv, text_case):
    from examples.evaluation.cli_hooks import evaluate_export
    from tests.helpers_runner import BUILD_DIR, ensure_runner

    runner = ensure_runner(BUILD_DIR)
    pte, _ = exported_with_csv
    folder, tokenizer, _, labels = text_case
    names = {0: "negative", 1: "positive"}
    data = write_jsonl(folder / "texts.jsonl", [(t, names[y]) for t, y in zip(TEXTS, labels)])
    printed = []
    report = evaluate_export("bert_tiny", "random", {"fp32": pte}, str(data), engine="runner", runner=runner,
                             tokenizer=str(tokenizer), max_seq_len=SEQ_LEN, print_line=printed.append)
    expected = _expected(pte, text_case)
    assert report["fp32"].engine == "runner" and report.unit == "texts"
    assert (report["eager"].top1, report["fp32"].top1) == pytest.approx((expected["eager"], expected["fp32"]))
    assert report["fp32"].agreement == pytest.approx(expected["agreement"])
    assert "class ids: the string labels in sorted order (negative=0, positive=1)" in printed[-1]
    assert "RANDOM weights" in printed[-1]
