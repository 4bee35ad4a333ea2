"""One model vocabulary for both engines: a builder must take its spec's options, and the spec
says which engines have the model."""

import subprocess
import sys

import pytest

from striate.numpy import models as numpy_models
from striate.registry import SPECS, ModelRegistry, builder_options, describe_models
from striate.torch import init as torch_init
from striate.torch import models as torch_models

REGISTRIES = {"torch": torch_models.MODELS, "numpy": numpy_models.MODELS}


def fcnet_builder(input_shape, num_classes, hidden_dims=(100, 100), activation="relu",
                  batchnorm=False, dropout=0.0, init=None, weight_scale=1e-2, **common):
    """The spec's options exactly."""


def test_a_builder_with_the_specs_options_registers():
    registry = ModelRegistry("numpy")
    registry.register("fcnet")(fcnet_builder)
    assert registry["fcnet"] is fcnet_builder


def keep_ratio_builder(input_shape, num_classes, hidden_dims=(100, 100), activation="relu",
                       batchnorm=False, dropout_keep_ratio=1.0, init=None, weight_scale=1e-2):
    """cs231n's name and meaning for dropout."""


def other_default_builder(input_shape, num_classes, hidden_dims=(100, 100), activation="relu",
                          batchnorm=False, dropout=0.0, init=None, weight_scale=1e-3):
    """cs231n's weight_scale."""


def reordered_builder(input_shape, num_classes, hidden_dims=(100, 100), batchnorm=False,
                      activation="relu", dropout=0.0, init=None, weight_scale=1e-2):
    """The spec's options in another order."""


def missing_option_builder(input_shape, num_classes, hidden_dims=(100, 100), activation="relu",
                           batchnorm=False, dropout=0.0, weight_scale=1e-2):
    """No init."""


@pytest.mark.parametrize("builder", [keep_ratio_builder, other_default_builder,
                                     reordered_builder, missing_option_builder])
def test_a_builder_whose_options_differ_from_the_spec_is_refused(builder):
    registry = ModelRegistry("numpy")
    with pytest.raises(TypeError, match="the numpy builder of fcnet takes options .* but its "
                                        "spec declares"):
        registry.register("fcnet")(builder)
    assert "fcnet" not in registry


@pytest.mark.parametrize("engine, name", [("numpy", "resnet"), ("torch", "svm"),
                                          ("torch", "alexnet")])
def test_a_model_the_vocabulary_does_not_give_the_engine_is_refused(engine, name):
    with pytest.raises(TypeError, match=f"the {engine} engine registers a model '{name}'"):
        ModelRegistry(engine).register(name)(lambda input_shape, num_classes: None)


def test_an_engine_missing_a_builder_is_refused():
    registry = ModelRegistry("numpy")
    registry.register("fcnet")(fcnet_builder)
    with pytest.raises(TypeError, match="gives the numpy engine logreg, svm, twolayer, mlp"):
        registry.check_complete()


def test_describe_models_lists_every_model_with_the_engines_that_build_it():
    described = describe_models()
    assert [spec.name for spec in described] == sorted(set(torch_models.MODELS)
                                                       | set(numpy_models.MODELS))
    for spec in described:
        assert set(spec.engines) == {engine for engine, registry in REGISTRIES.items()
                                     if spec.name in registry}
        assert "\n" not in spec.description and spec.description
        for registry in REGISTRIES.values():
            if spec.name in registry:
                assert builder_options(registry[spec.name]) == spec.options
    assert SPECS["fcnet"].options == {"hidden_dims": (100, 100), "activation": "relu",
                                      "batchnorm": False, "dropout": 0.0, "init": None,
                                      "weight_scale": 1e-2}


def test_both_engines_know_the_same_init_schemes():
    assert tuple(numpy_models.INIT_SCHEMES) == torch_init.SCHEMES


def test_the_numpy_models_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"   # `import torch` now raises ImportError
            "import striate.registry, striate.numpy.models\n"
            "print(' '.join(sorted(striate.numpy.models.MODELS)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "convnet3 fcnet lenet logreg mlp svm twolayer vgg\n"
