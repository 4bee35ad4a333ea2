import pytest

from striate.cli import build_parser
from striate.cli.flags import config_from_args
from striate.config import TrainConfig, config_from_yaml, section_fields, to_yaml
from striate.errors import StriateError


def resolve(*argv):
    return config_from_args(build_parser().parse_args(["train", *map(str, argv)]))[0]


def test_flags_override_yaml_which_overrides_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim: {lr: 0.13, batch_size: 600}\nmodel: {model: mlp, "
                    "model_args: {hidden: [20]}}\n")
    config = resolve("--config", path, "--lr", "0.5", "--model-arg", "activation=relu")
    assert config.optim.lr == 0.5 and config.optim.batch_size == 600
    assert config.model.model == "mlp"
    assert config.model.model_args == {"hidden": [20], "activation": "relu"}
    assert config.stop.epochs == TrainConfig().resolve().stop.epochs == 15


def test_model_args_parse_lists_and_numbers():
    config = resolve("--model-arg", "nkerns=20,50", "--model-arg", "hidden=500")
    assert config.model.model_args == {"nkerns": [20, 50], "hidden": 500}


def test_resolved_config_round_trips_through_yaml(tmp_path):
    config = resolve("--dataset", "digits", "--l2", "1e-4", "--no-download")
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(config))
    assert config_from_yaml(path) == config


@pytest.mark.parametrize("text, message", [
    ("optim: {lrate: 0.1}\n", "unknown setting optim.lrate"),
    ("training: {lr: 0.1}\n", "unknown section 'training'"),
    ("optim: {lr: fast}\n", "lr must be float"),
    ("optim: {batch_size: 2.5}\n", "batch_size must be int"),
    ("stop: {epochs: true}\n", "epochs must be int"),
    ("schedule: {schedule: linear}\n", "schedule must be one of"),
    ("- 1\n- 2\n", "expected sections"),
    ("optim: [1, 2]\n", "must be a mapping"),
    ("optim: {lr: 0.1\n", "not valid YAML"),
])
def test_bad_yaml_is_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(StriateError, match=message):
        config_from_yaml(path)


@pytest.mark.parametrize("argv, message", [
    (["--lr", "0"], "--lr must be a positive"),
    (["--lr", "-1"], "--lr must be a positive"),
    (["--batch-size", "0"], "--batch-size must be a positive"),
    (["--epochs", "-3"], "--epochs must be a positive"),
    (["--valid-size", "0"], "--valid-size"),
    (["--momentum", "1.5"], "--momentum must be in"),
    (["--l2", "-0.1"], "--l2 must be >= 0"),
    (["--image-size", "32by32"], "--image-size must look like"),
    (["--device", "tpu"], "--device must be"),
    (["--dataset", "folder"], "needs --data-dir"),
    (["--device", "cuda:x"], "--device must be"),
    (["--device", "cuda:-1"], "--device must be"),
    (["--seed", str(2 ** 32)], "--seed must be in"),
    (["--seed", "-1"], "--seed must be in"),
    (["--patience-increase", "inf"], "must be a finite number"),
    (["--l2", "nan"], "must be a finite number"),
    (["--name", "../elsewhere"], "--name must be a plain directory name"),
    (["--name", ".."], "--name must be a plain directory name"),
    (["--image-size", "100000x100000"], "--image-size sides must be between"),
])
def test_bad_values_are_refused(argv, message):
    with pytest.raises(StriateError, match=message):
        resolve(*argv)


def test_model_arg_values_are_yaml():
    config = resolve("--model-arg", "hidden=[50, 30]", "--model-arg", "activation=relu")
    assert config.model.model_args == {"hidden": [50, 30], "activation": "relu"}


def test_every_setting_has_a_flag_whose_help_states_its_real_default():
    import re
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    entries = re.split(r"\n  (?=-)", " ".join(text.split("\n  --", 1)[1:]).join(["\n  --", ""]))
    for _, leaf in section_fields():
        flag = "--model-arg" if leaf.name == "model_args" else "--" + leaf.name.replace("_", "-")
        entry = " ".join(next(e for e in entries if e.startswith(flag)).split())
        # "(default: 0.05)", or a default the help states in words ("(default for pca-whiten:")
        assert re.search(r"[(;] ?default[: ]", entry), entry
        assert "MISSING" not in entry and "object at" not in entry, entry
