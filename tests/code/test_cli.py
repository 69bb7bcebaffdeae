"""The `gait` command: installed, documented, and strict about its input."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import build_parser, main
from pipeline.cli.synth import config_from_args

SYNTH_OPTIONS = [
    "--preset",
    "--subjects",
    "--conditions",
    "--sequences",
    "--views",
    "--frames",
    "--size",
    "--fps",
    "--seed",
    "--layout",
    "--output",
    "--silhouette-png",
    "--background-frames",
    "--jitter",
    "--no-ray",
    "--address",
    "--overwrite",
    "--quiet",
]


def _synth_args(*argv: str):
    return build_parser().parse_args(["synth", "OUT", *argv])


def test_console_script_is_installed_and_helps():
    exe = shutil.which("gait") or str(__import__("pathlib").Path(sys.executable).with_name("gait"))
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "synth" in out
    out = subprocess.run([exe, "synth", "--help"], capture_output=True, text=True, check=True).stdout
    for opt in SYNTH_OPTIONS:
        # Every option is listed with a sentence of help after it.
        assert re.search(rf"{re.escape(opt)}\b[^\n]*\n?\s+\S", out), opt
    for preset in ("demo", "casia-a", "casia-b"):
        assert f"  {preset}" in out


def test_options_override_the_preset():
    cfg = config_from_args(
        _synth_args(
            "--subjects",
            "5",
            "--views",
            "0:180:90",
            "--size",
            "96x64",
            "--frames",
            "9",
            "--conditions",
            "nm,sh",
            "--sequences",
            "3",
            "--seed",
            "4",
        )
    )
    assert (cfg.subjects, cfg.views, cfg.width, cfg.height, cfg.frames, cfg.seed) == (5, (0, 90, 180), 96, 64, 9, 4)
    assert cfg.sequences == {"nm": 3, "sh": 3}
    cfg = config_from_args(_synth_args("--preset", "casia-b", "--sequences", "nm=1,cl=2"))
    assert cfg.sequences == {"nm": 1, "cl": 2} and len(cfg.views) == 11 and cfg.subjects == 124
    cfg = config_from_args(_synth_args("--conditions", "nm,sh"))
    assert cfg.sequences == {"nm": 4, "sh": 2}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--views", "0,200"], "views are degrees"),
        (["--conditions", "nm,xx"], "unknown conditions"),
        (["--frames", "1"], "frames must be at least 2"),
        (["--preset", "casia-a", "--output", "video"], "casia-a layout"),
    ],
)
def test_bad_options_get_a_clear_message(argv, message):
    with pytest.raises(SystemExit, match=message):
        config_from_args(_synth_args(*argv))


@pytest.mark.parametrize("argv", [["--views", "a,b"], ["--size", "128"], ["--sequences", "nm=x"]])
def test_malformed_values_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        _synth_args(*argv)
    assert exc.value.code == 2
    assert "must look like" in capsys.readouterr().err


def test_synth_command_writes_a_dataset_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "d"
    code = main(
        [
            "synth",
            str(out),
            "--subjects",
            "1",
            "--views",
            "90",
            "--frames",
            "5",
            "--size",
            "64x64",
            "--sequences",
            "1",
            "--conditions",
            "nm",
            "--background-frames",
            "0",
            "--no-ray",
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "sequences 1" in printed and "frames 5" in printed
    assert json.loads((out / "dataset.json").read_text())["counts"]["sequences"] == 1
    with pytest.raises(SystemExit, match="--overwrite"):
        main(["synth", str(out), "--subjects", "2", "--no-ray", "--quiet"])


@pytest.mark.parametrize("command", ["synth", "preprocess", "train", "pose", "index", "svm", "evaluate"])
def test_every_option_of_every_subcommand_is_documented(command):
    parser = build_parser()
    sub = next(a for a in parser._subparsers._group_actions if a.dest == "command").choices[command]
    help_text = sub.format_help()
    assert len(sub.description) > 80
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and len(action.help) > 10, action.option_strings
            assert action.option_strings[0] in help_text


def test_each_flags_help_says_what_applies_when_it_is_not_given():
    """Flags default to None so that a run config's layers show through; --help still names the value a user
    gets without --config and --preset: the section's setting (the demo preset where it has presets), or the
    flag's own default."""
    from pipeline.cli.gait import subcommands
    from pipeline.identify.config import IndexConfig
    from pipeline.train.config import PRESETS as TRAIN_PRESETS

    commands = subcommands(build_parser())

    def help_of(command: str, flag: str) -> str:
        return next(a.help for a in commands[command]._actions if flag in a.option_strings)

    assert help_of("watch", "--window").endswith("(default: 48)")
    assert help_of("index", "--batch-size").endswith(f"(default: {IndexConfig().batch_size})")
    assert help_of("train", "--gait-epochs").endswith(f"(default: {TRAIN_PRESETS['demo'].gait.epochs})")
    assert help_of("preprocess", "--train-fraction").endswith("(default: 0.75)")  # the demo preset's
    assert help_of("svm", "--far").endswith("(default: 0.01)")
    assert help_of("serve", "--port") == help_of("deploy", "--port") == "HTTP port (default: 8000)"
    assert help_of("serve", "--registry-url").endswith("(default: sqlite file beside the model)")  # its own words
    for name, command in commands.items():
        for action in command._actions:
            text = action.help or ""
            assert "(default: None)" not in text and text.count("default") <= 1, (name, action.option_strings)
            assert not re.search(r"\(default: (True|False)\)", text), (name, action.option_strings)  # switches
        command.format_help()  # every help text still formats (a % in a default would break it)


def test_train_on_missing_shards_is_a_clear_exit(tmp_path):
    with pytest.raises(SystemExit, match=r"gait train: .*_manifest\.json"):
        main(["train", str(tmp_path / "no-shards"), str(tmp_path / "model")])
    assert not (tmp_path / "model").exists()


def test_every_flag_the_docs_give_a_gait_command_exists():
    """A `gait COMMAND … --flag` line in the docs, the README or a message is what users type: each flag must be
    one COMMAND takes (`--onnx-model` was named by the docs and the camera-motion error, and did not exist)."""
    sub = next(a for a in build_parser()._subparsers._group_actions if a.dest == "command").choices
    root = Path(__file__).resolve().parents[2]
    files = [*sorted((root / "docs").glob("*.md")), root / "README.md", *sorted((root / "pipeline").rglob("*.py"))]
    command = re.compile(r"\bgait (\w[\w-]*)((?: +(?:--?[\w-]+|[^\s`'\"|;&()]+))*)")
    checked, unknown = 0, []
    for f in files:
        for ln, line in enumerate(f.read_text().splitlines(), 1):
            for m in command.finditer(line):
                if m.group(1) not in sub:
                    continue
                known = {o for a in sub[m.group(1)]._actions for o in a.option_strings}
                for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", m.group(2)):
                    checked += 1
                    if flag not in known:
                        unknown.append(f"{f.relative_to(root)}:{ln}: gait {m.group(1)} {flag}")
    assert checked > 100 and not unknown, unknown
