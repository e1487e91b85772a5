"""The generators given the wrong program (one that is not a language model, a truncated copy)
and a tokenizer made offline from local text (``examples.backend.train_tokenizer``)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.helpers_generation import STORY


def run(module: str, *args, cwd, env, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def error_line(proc: subprocess.CompletedProcess, code: int) -> str:
    """The one ``error:`` line a failed command printed (after any ``warning:`` lines; nothing else)."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert proc.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory, repo_root, python_env):
    """A SentencePiece tokenizer made by the command, from a local text file."""
    folder = tmp_path_factory.mktemp("tokenizer")
    (folder / "story.txt").write_text(STORY)
    proc = run("examples.backend.train_tokenizer", "--text", folder / "story.txt", "--output",
               folder / "tokenizer.model", "--vocab_size", 200, cwd=repo_root, env=python_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {folder / 'tokenizer.model'} (sentencepiece, ")
    return folder / "tokenizer.model"


@pytest.mark.parametrize("name", ["tokenizer.model", "tokenizer.json"])
def test_train_tokenizer_from_local_text(tokenizer, name, tmp_path, repo_root, python_env):
    from examples.evaluation.tokenizer import TextTokenizer
    from examples.generation.tokenizer import StreamingDecoder

    path = tokenizer
    if name.endswith(".json"):
        (tmp_path / "a.txt").write_text(STORY[:300])
        (tmp_path / "b.txt").write_text(STORY[300:])
        proc = run("examples.backend.train_tokenizer", f"--text={tmp_path / 'a.txt'},{tmp_path / 'b.txt'}",
                   "--output", tmp_path / name, cwd=repo_root, env=python_env)
        assert proc.returncode == 0 and "(huggingface, " in proc.stdout, proc.stderr
        path = tmp_path / name
    loaded = TextTokenizer(path)
    text = "Lily and her dog ran to the big tree."
    ids = loaded.encode(text)
    assert ids[0] == loaded.bos_id == 1 and loaded.stop_ids == [2] and len(ids) > 2
    assert loaded.decode(ids[1:]) == text
    stream = StreamingDecoder(loaded)
    assert "".join(stream.push(i) for i in ids[1:]) == text


@pytest.mark.parametrize("args, fragment", [
    ((), "--text is required"),
    (("--text", "missing.txt"), "--text: no such file: missing.txt"),
    (("--text", "README.md", "--output", "tokenizer.txt"), "name the output tokenizer.model"),
    (("--text", "README.md", "--vocab_size", "3"), "--vocab_size must be at least 16"),
    (("--text", "README.md", "--output", "no/such/folder/tokenizer.model"), "does not exist"),
])
def test_train_tokenizer_bad_input(args, fragment, repo_root, python_env):
    assert fragment in error_line(run("examples.backend.train_tokenizer", *args, cwd=repo_root,
                                      env=python_env), 2)


@pytest.mark.slow
def test_generate_refuses_a_program_that_is_not_a_language_model(programs, tokenizer, repo_root, python_env):
    """Checked from forward's signature before anything runs: no runtime log line, no error code."""
    program = programs.get("add", "fp32")
    line = error_line(run("examples.backend.generate", "--model_path", program, "--tokenizer", tokenizer,
                          "--prompt", "Once upon a time", cwd=repo_root, env=python_env), 2)
    assert line.startswith(f"error: {program} is not a language-model program: its forward takes "
                           "(float32[1, 8], float32[1, 8]); generation needs")


def native_error(program) -> str | None:
    """The native text runner's error line for ``program`` (None when it is not built)."""
    from examples.runner.text_generation_client import DEFAULT_TEXT_RUNNER

    if not DEFAULT_TEXT_RUNNER.is_file():
        return None
    proc = subprocess.run([str(DEFAULT_TEXT_RUNNER), f"--model_path={program}", "--prompt_tokens=1"],
                          capture_output=True, text=True, timeout=60)
    return [line for line in proc.stderr.splitlines() if line.startswith("error: ")][-1]


def test_truncated_program_is_explained_as_the_native_runner_does(programs, tokenizer, tmp_path, repo_root,
                                                                   python_env):
    source = programs.get("add", "fp32")
    data = source.read_bytes()
    truncated = tmp_path / "trunc_llm.pte"
    truncated.write_bytes(data[:len(data) - 200])  # the delegate's segment cut short
    segments = "its header puts "
    generate = ("examples.backend.generate", "--tokenizer", tokenizer, "--prompt", "Once")
    standin = ("examples.backend.token_runner", "--prompt_tokens", "1")
    for command in (generate, standin):
        line = error_line(run(command[0], "--model_path", truncated, *command[1:], cwd=repo_root, env=python_env), 1)
        assert line.startswith(f"error: {truncated} is not a valid ExecuTorch program: {segments}"), line
        assert line.endswith(f"but the file has {len(data) - 200} bytes (damaged header or file)"), line
        assert native_error(truncated) in (None, line)
    shutil.copy(f"{source}.json", f"{truncated}.json")  # its card beside it: the size check comes first
    line = error_line(run(generate[0], "--model_path", truncated, *generate[1:], cwd=repo_root, env=python_env), 5)
    assert line == f"error: {truncated} is {len(data) - 200} bytes but its card says {len(data)} (truncated or " \
                   "damaged copy)"
    assert native_error(truncated) in (None, line)
