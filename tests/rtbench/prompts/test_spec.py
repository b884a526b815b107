"""The [prompts] keys of a scenario: parsed into `RunConfig.prompts`, with paths taken from the
scenario's folder, and every mistake one line naming file:line and key (through the CLI too)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.tokenizer_files import word_level_tokenizer
from typer.testing import CliRunner

from rtbench.cli.main import app
from rtbench.config import RunConfig
from rtbench.errors import ConfigError
from rtbench.prompts.config import DEFAULT_TEXTS, PromptsConfig
from rtbench.scenario import load_scenario

HEAD = '[scenario]\nname = "p"\n[target]\nurl = "http://127.0.0.1:9/v1/chat/completions"\nprotocol = "openai-chat"\n'


def _scenario(folder: Path, prompts: str, extra: str = "") -> Path:
    path = folder / "scenario.toml"
    path.write_text(f"{HEAD}[prompts]\n{prompts}\n{extra}")
    return path


def test_the_keys_land_in_prompts_config_with_paths_from_the_scenarios_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "p.jsonl").write_text(json.dumps({"prompt": "hi"}) + "\n")
    word_level_tokenizer(data)
    lines = 'file = "data/p.jsonl"\nprefix_tokens = 40\nmax_tokens = "uniform:10:20"\n'
    config = load_scenario(_scenario(tmp_path, lines + 'tokenizer = "data/word-level-tokenizer.json"'))
    assert config.prompts == PromptsConfig(
        DEFAULT_TEXTS, str(data / "p.jsonl"), None, 40, "uniform:10:20", str(data / "word-level-tokenizer.json")
    )
    assert RunConfig.from_dict(config.to_dict()).prompts == config.prompts
    synthetic = load_scenario(_scenario(tmp_path, 'input_tokens = "lognormal:200:800"\nmax_tokens = 64'))
    assert synthetic.prompts.input_tokens == "lognormal:200:800" and synthetic.prompts.max_tokens == 64


@pytest.mark.parametrize(
    ("prompts", "extra", "message"),
    [
        ('input_tokens = "zipf:2"', "", ":7: [prompts].input_tokens: expected a number of tokens as an integer >= 1"),
        ("max_tokens = 0", "", ":7: [prompts].max_tokens: expected a number of tokens as an integer >= 1"),
        ('max_tokens = "lognormal:900:100"', "", ':7: [prompts].max_tokens: expected a number of tokens as "lognormal'),
        (
            'texts = ["a"]\nfile = "p.txt"',
            "",
            ":8: [prompts].file: give one of texts, file, input_tokens; [prompts] has both texts and file",
        ),
        ('file = "p.txt"\ninput_tokens = 5', "", ":8: [prompts].input_tokens: give one of texts, file, input_tokens"),
        ('file = "missing.txt"', "", ":7: [prompts].file: no such dataset file: "),
        ('tokenizer = "p.txt"', "", ":7: [prompts].tokenizer: "),
        ("prefix_tokens = -1", "", ":7: [prompts].prefix_tokens: expected an integer that is not negative"),
        ("promt = 3", "", ":7: [prompts].promt: unknown key; known: texts, file, input_tokens"),
        ('file = "p.txt"', "[conversation]\nturns = 3\n", ":9: [conversation].turns: a dataset ([prompts] file) sets"),
    ],
)
def test_a_mistake_is_one_line_naming_file_line_and_key(tmp_path: Path, prompts: str, extra: str, message: str) -> None:
    (tmp_path / "p.txt").write_text("a prompt\n")
    path = _scenario(tmp_path, prompts, extra)
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}{message}") and "\n" not in str(caught.value)


def test_a_tokenizer_that_does_not_load_names_the_key_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "tok.json").write_text('{"model": {"type": "BPE"')
    path = _scenario(tmp_path, 'tokenizer = "tok.json"')
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:7: [prompts].tokenizer: {tmp_path / 'tok.json'}: not a tokenizer.json")


runner = CliRunner()


@pytest.mark.parametrize(
    ("prompts", "dataset", "says"),
    [
        (
            'input_tokens = "lognormal:200"',
            None,
            "scenario.toml:7: [prompts].input_tokens: expected a number of tokens as",
        ),
        ('file = "d.json"', '[{"conversations": [{"from": "gpt", "value": "hi"}]}]', "d.json:1: no human turn"),
        ('file = "d.jsonl"', '{"prompt": "fine"}\n{"prompt": \n', "d.jsonl:2: invalid JSON: Expecting value"),
        ('file = "d.txt"', "", "d.txt:1: empty dataset: no prompts in it"),
        ('file = "gone.txt"', None, "scenario.toml:7: [prompts].file: no such dataset file:"),
        ('tokenizer = "d.json"', "not json", "scenario.toml:7: [prompts].tokenizer:"),
    ],
)
def test_rtbench_run_says_what_is_wrong_in_one_line(
    tmp_path: Path, prompts: str, dataset: str | None, says: str
) -> None:
    if dataset is not None:
        (tmp_path / prompts.split('"')[1]).write_text(dataset)
    result = runner.invoke(app, ["run", str(_scenario(tmp_path, prompts))])
    assert result.exit_code == 3, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in result.output


def test_the_example_scenario_loads() -> None:
    path = Path(__file__).resolve().parents[3] / "scenarios" / "token-lengths.toml"
    config = load_scenario(path)
    assert config.prompts.input_tokens == "lognormal:200:800" and config.prompts.prefix_tokens == 200
    assert config.target.adapter_options["extra"] == {"ignore_eos": True}
