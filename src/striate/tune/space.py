"""Search spaces: which training options a study varies, and over what.

A space maps an option to a spec, written the same way on the command line (`--param lr=SPEC`)
and in a YAML file (`lr: SPEC`):

    [0.01, 0.1]             these values (YAML; `choice(0.01, 0.1)` is the same)
    loguniform(1e-4, 1e-1)  floats, log-spaced: what the tutorials advise for lr and penalties
    uniform(0, 0.5)         floats, linear
    int(32, 512)            whole numbers, linear
    logint(32, 512)         whole numbers, log-spaced

An option is a TrainConfig field (lr, weight_decay, optimizer, epochs...) or `model_args.KEY`.
"""

import copy
import itertools
import json
import re
from dataclasses import dataclass

import yaml

from striate.config import (TrainConfig, apply_mapping, field_type, flag_name, load_yaml,
                            section_fields)
from striate.errors import StriateError

# Options that decide what is measured or where results go: varying them would compare trials
# on different validation sets, or scatter a study's runs.
NOT_SEARCHABLE = ("dataset", "data_dir", "download", "valid_size", "valid_split", "folds", "fold", "seed",
                  "out_dir", "name", "progress", "device", "model_args")
MODEL_ARG = "model_args."
RANGES = {"uniform": (float, False), "loguniform": (float, True), "int": (int, False),
          "logint": (int, True)}
NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True)
class Param:
    """One searched option: listed `values`, or a range [low, high] of `kind` (float or int)."""
    name: str
    values: tuple = ()
    kind: type | None = None
    low: float = 0.0
    high: float = 0.0
    log: bool = False

    def describe(self) -> str:
        """The spec in its canonical form: how the study records what it searches."""
        if self.values:
            return json.dumps(list(self.values))
        function = ("log" if self.log else "") + ("int" if self.kind is int else "uniform")
        return f"{function}({self.low!r}, {self.high!r})"

    def suggest(self, trial):
        """This option's value in an Optuna trial (drawn by the sampler, or fixed by the grid)."""
        if self.values:
            return decode(trial.suggest_categorical(self.name, [encode(v) for v in self.values]))
        if self.kind is int:
            return trial.suggest_int(self.name, self.low, self.high, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def grid(self, points: int) -> list:
        """Listed values as given; a range as `points` log-spaced (log ranges) or evenly spaced
        values, ends included."""
        import numpy as np

        if self.values:
            return list(self.values)
        spacing = np.geomspace if self.log else np.linspace
        values = spacing(self.low, self.high, points)
        if self.kind is int:
            return sorted({int(round(v)) for v in values})
        # 6 significant digits print as typed (1e-3, not 0.0010000000000000002), kept in range
        return [min(max(float(f"{v:.6g}"), self.low), self.high) for v in values]


def encode(value):
    """Optuna's categorical choices must be scalars: a list or mapping travels as JSON text."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def decode(value):
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def number(value):
    """YAML reads 1e-3 as a string (it wants 1.0e-3); take any number written as one."""
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        text = value.strip()
        return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
    return value


def searchable_names() -> list[str]:
    return [leaf.name for _, leaf in section_fields() if leaf.name not in NOT_SEARCHABLE]


def parse_param(name: str, spec) -> Param:
    """A Param from a spec: a YAML list, or text in one of the forms of the module docstring."""
    check_name(name)
    where = f"search space: {name}"
    if isinstance(spec, str):
        spec = spec.strip()
        match = re.fullmatch(r"(\w+)\s*\((.*)\)", spec, re.DOTALL)
        if match:
            return parse_call(name, match[1], read_list(f"[{match[2]}]", where), where)
        spec = read_list(spec, where) if spec.startswith("[") else spec
    if not isinstance(spec, list):
        raise StriateError(f"{where}: expected values [a, b] or a range like loguniform(1e-4, "
                           f"1e-1), got {spec!r}")
    return values_param(name, spec, where)


def read_list(text: str, where: str) -> list:
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError:
        raise StriateError(f"{where}: cannot read {text!r}; write values as [a, b, c]") from None
    if not isinstance(values, list):
        raise StriateError(f"{where}: expected a list of values, got {text!r}")
    return [number(value) for value in values]


def parse_call(name: str, function: str, arguments: list, where: str) -> Param:
    if function == "choice":
        return values_param(name, arguments, where)
    if function not in RANGES:
        raise StriateError(f"{where}: unknown function {function}(); use choice, "
                           f"{', '.join(RANGES)} or a list [a, b]")
    kind, log = RANGES[function]
    if len(arguments) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool)
                                      for a in arguments):
        raise StriateError(f"{where}: {function}() takes two numbers, LOW and HIGH")
    low, high = arguments
    if kind is int and not all(isinstance(a, int) for a in arguments):
        raise StriateError(f"{where}: {function}() takes whole numbers; for fractions use "
                           f"{'loguniform' if log else 'uniform'}()")
    if not low < high or (log and low <= 0):
        raise StriateError(f"{where}: {function}({low}, {high}) needs LOW < HIGH"
                           + (" and LOW > 0 (a log scale)" if log else ""))
    check_range_type(name, kind, where)
    return Param(name, kind=kind, low=kind(low), high=kind(high), log=log)


def values_param(name: str, values: list, where: str) -> Param:
    if not values:
        raise StriateError(f"{where}: give at least one value")
    encoded = [encode(value) for value in values]
    if len(set(map(json.dumps, encoded))) != len(encoded):
        raise StriateError(f"{where}: values {values} repeat; list each once")
    return Param(name, values=tuple(values))


def check_name(name: str) -> None:
    if name.startswith(MODEL_ARG) and len(name) > len(MODEL_ARG):
        return
    if name not in searchable_names():
        raise StriateError(f"search space: unknown option {name!r}; searchable: "
                           f"{', '.join(searchable_names())}, or model_args.KEY")


def check_range_type(name: str, kind: type, where: str) -> None:
    leaf = leaf_of(name)
    if leaf is None:  # model_args.KEY: the model checks its own options
        return
    declared = field_type(leaf)
    if declared is int and kind is float:
        raise StriateError(f"{where}: {flag_name(name)} takes whole numbers; use int() or logint()")
    if declared not in (int, float):
        raise StriateError(f"{where}: {flag_name(name)} is not a number; list its values instead, "
                           "like [a, b]")


def leaf_of(name: str):
    return next((leaf for _, leaf in section_fields() if leaf.name == name), None)


def parse_space(space_file: str | None, params: list[str]) -> dict[str, Param]:
    """The space of --space FILE.yaml and --param NAME=SPEC flags (a flag overrides the file)."""
    specs = {}
    if space_file:
        mapping = load_yaml(space_file)
        if not isinstance(mapping, dict):
            raise StriateError(f"{space_file}: expected `option: spec` lines, like "
                               "`lr: loguniform(1e-4, 1e-1)`")
        specs.update(mapping)
    for text in params:
        name, sep, spec = text.partition("=")
        if not sep or not name.strip():
            raise StriateError(f"--param expects NAME=SPEC, like lr=loguniform(1e-4,1e-1); "
                               f"got {text!r}")
        specs[name.strip()] = spec
    if not specs:
        raise StriateError("nothing to search: give --param NAME=SPEC (e.g. "
                           "--param 'lr=loguniform(1e-4,1e-1)') or --space FILE.yaml")
    return parse_specs(specs)


def parse_specs(specs: dict) -> dict[str, Param]:
    """{option: spec} (a list of values, or text as --param's) -> {option: Param}."""
    if not isinstance(specs, dict) or not specs:
        raise StriateError("nothing to search: give a space of {option: spec}, e.g. "
                           "{'lr': 'loguniform(1e-4, 1e-1)', 'optimizer': ['sgd', 'adam']}")
    return {name: parse_param(str(name), spec) for name, spec in specs.items()}


def describe_space(space: dict[str, Param]) -> dict[str, str]:
    return {name: param.describe() for name, param in space.items()}


def apply_params(config: TrainConfig, params: dict, where: str) -> TrainConfig:
    """A copy of `config` with the trial's values set, checked like a YAML file's."""
    config = copy.deepcopy(config)
    mapping = {}
    sections = {leaf.name: section for section, leaf in section_fields()}
    for name, value in params.items():
        if name.startswith(MODEL_ARG):
            model_args = mapping.setdefault("model", {}).setdefault(
                "model_args", dict(config.model.model_args))
            model_args[name[len(MODEL_ARG):]] = value
        else:
            mapping.setdefault(sections[name], {})[name] = value
    return apply_mapping(config, mapping, where)


def grid_points(space: dict[str, Param], points: int) -> list[dict]:
    """Every combination of every option's grid values, in a fixed order."""
    names = list(space)
    return [dict(zip(names, combination))
            for combination in itertools.product(*(space[n].grid(points) for n in names))]


def check_space(config: TrainConfig, space: dict[str, Param], check_model) -> None:
    """Refuse, before any training, a value the config or the model would refuse mid-study:
    every listed value and both ends of every range are tried (each against the base config)."""
    for name, param in space.items():
        for value in param.values or (param.low, param.high):
            trial_config = apply_params(config, {name: value},
                                        f"search space: {name}").resolve()
            check_model(trial_config.model.model, trial_config.model.model_args)
