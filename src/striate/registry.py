"""Models by name: one vocabulary, declared once, that both engines' registries build from.

SPECS declares every model: a one-line description, the engines that have it, and its options
with their defaults. The conventions are PyTorch's: `dropout` is the probability of zeroing a
unit, batch norm is `batchnorm: bool`, and `init` is None (the model's own tutorial init) or a
scheme name (small, lecun, he, glorot). Each engine keeps a ModelRegistry of builders,

    builder(input_shape, num_classes, <the spec's options, in its order, with its defaults>,
            **engine settings)

and registering a builder whose options differ from its spec fails at import: the engines cannot
drift apart. An engine that cannot honour an option's value refuses it rather than ignoring it.
`striate models` lists describe_models(); --model-arg is checked against the spec.

Nothing here imports torch: the NumPy engine must work without it.
"""

import functools
import importlib
import inspect
from dataclasses import dataclass

from striate.errors import StriateError

BOTH = ("torch", "numpy")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str           # one line, for `striate models`
    engines: tuple[str, ...]   # the engines that have a builder for it
    options: dict              # option -> default, in the builders' order
    convolves: bool = False    # needs images, not PCA component scores


SPECS = {spec.name: spec for spec in [
    ModelSpec("logreg", "Softmax (multinomial logistic) regression, as in the tutorial's "
              "logistic_sgd.py.", BOTH, {}),
    ModelSpec("svm", "Linear multiclass SVM (hinge loss), as in cs231n.", ("numpy",),
              {"weight_scale": 1e-3}),
    ModelSpec("twolayer", "cs231n TwoLayerNet: affine - relu - affine.", ("numpy",),
              {"hidden_dim": 100, "weight_scale": 1e-3}),
    ModelSpec("mlp", "Multilayer perceptron (tutorial mlp.py): Glorot-uniform init, x4 for "
              "sigmoid, He for relu.", BOTH, {"hidden": (500,), "activation": "tanh"}),
    ModelSpec("lenet", "LeNet-5 as in the tutorial's convolutional_mlp.py: two conv-pool-tanh "
              "stages, 500 tanh units.", BOTH,
              {"nkerns": (20, 50), "filter_size": 5, "pool": 2, "hidden": 500,
               "activation": "tanh"}, convolves=True),
    ModelSpec("convnet3", "cs231n ThreeLayerConvNet: conv - relu - 2x2 max pool - affine - relu "
              "- affine.", BOTH,
              {"num_filters": 32, "filter_size": 7, "hidden_dim": 100, "weight_scale": None},
              convolves=True),
    ModelSpec("fcnet", "cs231n FullyConnectedNet: (affine - [batch norm] - activation - "
              "[dropout]) x L - affine.", BOTH,
              {"hidden_dims": (100, 100), "activation": "relu", "batchnorm": False,
               "dropout": 0.0, "init": None, "weight_scale": 1e-2}),
    ModelSpec("vgg", "cs231n VGG-like: [(conv3x3-bn-relu) x A - 2x2 max pool] x B - "
              "(fc-bn-relu-[dropout]) x K.", BOTH,
              {"num_filters": (64, 64, 128, 256), "As": (2, 2, 3, 3), "hidden_dims": (64, 64),
               "dropout": 0.0, "init": None, "weight_scale": 1e-2, "pool_first": False},
              convolves=True),
    ModelSpec("resnet", "ResNet-9 (DAWNBench, Page 2018): prep - 3 x [conv-bn-relu - pool - "
              "residual blocks].", ("torch",),
              {"width": 64, "residual": (1, 0, 1), "init": None, "weight_scale": 1e-2,
               "pool_first": False},
              convolves=True),
]}


def describe_models() -> list[ModelSpec]:
    """Every model of either engine, by name: what `striate models` lists."""
    return [SPECS[name] for name in sorted(SPECS)]


def builder_options(builder) -> dict:
    """The keyword options of a builder and their defaults (after input_shape, num_classes)."""
    parameters = list(inspect.signature(builder).parameters.values())[2:]
    return {p.name: p.default for p in parameters if p.kind is not p.VAR_KEYWORD}


def check_builder(engine: str, name: str, builder) -> None:
    """Refuse, at import, a builder the vocabulary does not give this engine or whose options
    differ from its spec's."""
    spec = SPECS.get(name)
    if spec is None or engine not in spec.engines:
        raise TypeError(f"the {engine} engine registers a model {name!r} that striate.registry."
                        f"SPECS does not give it; declare it there")
    options = builder_options(builder)
    if list(options.items()) != list(spec.options.items()):
        raise TypeError(f"the {engine} builder of {name} takes options {options}, but its spec "
                        f"declares {spec.options}; both engines take the spec's names and "
                        "defaults, in its order")


# ---- the value rules of options that several models share -----------------------------------

def positive_sizes(value, name: str) -> list[int]:
    """An int or a list of ints, each >= 1 (layer sizes, filter counts)."""
    sizes = [value] if isinstance(value, int) else list(value)
    if not sizes or not all(isinstance(s, int) and s >= 1 for s in sizes):
        raise ValueError(f"{name} must be one or more positive integers, got {value!r}")
    return sizes


def check_dropout(p: float) -> None:
    if not 0 <= p < 1:
        raise ValueError(f"dropout is the probability of zeroing a unit, in [0, 1), got {p}")


class ModelRegistry(dict):
    """One engine's builders, name -> builder, each checked against its spec as it registers."""

    def __init__(self, engine: str):
        super().__init__()
        self.engine = engine

    def register(self, name: str):
        def add(builder):
            check_builder(self.engine, name, builder)
            self[name] = builder
            return builder
        return add

    def check_complete(self) -> None:
        """Every model the vocabulary gives this engine has a builder (call after the last)."""
        missing = [name for name, spec in SPECS.items()
                   if self.engine in spec.engines and name not in self]
        if missing:
            raise TypeError(f"striate.registry.SPECS gives the {self.engine} engine "
                            f"{', '.join(missing)}, but it registers no builder for them")

    def check(self, name: str, options: dict) -> None:
        """Refuse an unknown model or option name; cheap, so it runs before any data is loaded.
        A class of the user's own (package.module:Class) is checked when it is built."""
        if is_import_path(name):
            return
        if name in SPECS and name not in self:
            engines = SPECS[name].engines
            raise StriateError(f"model {name} runs on the {' and '.join(engines)} engine only; "
                               f"use --engine {engines[0]}")
        if name not in self:
            raise StriateError(f"unknown model {name!r}; choose one of {', '.join(sorted(self))} "
                               "(see `striate models`), or a class of your own as "
                               "package.module:Class")
        accepted = SPECS[name].options
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise StriateError(f"model {name} has no option {unknown[0]!r}; its options are "
                               f"{', '.join(accepted) or 'none'}")

    def build(self, name: str, input_shape, num_classes: int, options: dict,
              errors: tuple = (TypeError, ValueError, ZeroDivisionError), trusted: bool = False,
              refuse_class=lambda cls: None, **settings):
        """builder(input_shape, num_classes, **settings, **options), or a class of the user's own
        (see build_own); an option value the model cannot be built with becomes a one-line
        StriateError. trusted: whether a class of the user's own may be imported;
        refuse_class(cls): why this engine cannot train such a class (None: it can), asked
        before the class is built."""
        self.check(name, options)
        input_shape = tuple(int(s) for s in input_shape)
        if is_import_path(name):
            cls = import_model_class(name, trusted)
            if refuse_class(cls):
                raise StriateError(f"model {name}: {refuse_class(cls)}")
            return build_own(name, cls, input_shape, num_classes, options, settings)
        try:
            return self[name](input_shape, num_classes, **settings, **options)
        except errors as error:
            raise StriateError(f"cannot build {name} with options {options} for input "
                               f"{tuple(input_shape)}: {error}; check --model-arg values") from None


# ---- models of the user's own: `--model package.module:Class` ---------------------------------

def is_import_path(name: str) -> bool:
    """package.module:Class names a class of the user's own; built-in names have no colon."""
    return ":" in name


def import_path(cls: type) -> str:
    """What `--model` and a checkpoint call a class: package.module:Class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def import_model_class(path: str, trusted: bool) -> type:
    """The class `package.module:Class` names. Importing a module runs its code, and building a
    class runs its constructor with the run's model_args, so a path read from a run or
    checkpoint (not named by the user now) is refused unless trusted, but for the tutorials'
    classes striate ships (striate.dlt's __all__), which only allocate their weights."""
    module_name, _, qualname = path.partition(":")
    shipped = module_name == SHIPPED_MODULE
    if not (trusted or shipped):
        refuse_untrusted(path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise StriateError(f"--model {path}: cannot import {module_name} ({error}); give "
                           "package.module:Class of a module on the Python path (PYTHONPATH=. "
                           "for one in this directory)") from None
    except Exception as error:   # the user's module failed while it ran
        raise StriateError(f"--model {path}: importing {module_name} failed "
                           f"({type(error).__name__}: {error})") from None
    try:
        cls = functools.reduce(getattr, qualname.split("."), module)
    except AttributeError:
        raise StriateError(f"--model {path}: {module_name} has no {qualname}") from None
    if not isinstance(cls, type):
        raise StriateError(f"--model {path} is not a class; give package.module:Class")
    if shipped and not trusted and qualname not in getattr(module, "__all__", ()):
        refuse_untrusted(path)       # anything else reachable from it: np.memmap, ...
    return cls


SHIPPED_MODULE = "striate.dlt"   # the tutorials' classes: building one only allocates weights


def check_trusted(model: str, trusted: bool) -> None:
    """Refuse a model of the user's own read from a run or checkpoint unless trusted (see
    import_model_class); the built-in models never need it."""
    if is_import_path(model) and not trusted:
        import_model_class(model, trusted)


def refuse_untrusted(path: str):
    raise StriateError(f"the model is {path}, code from the module {path.partition(':')[0]}: "
                       "loading it imports and runs that module; if you trust it, pass "
                       "--trust-model-code (trust_model_code=True in Python)")


def build_own(name: str, cls: type, input_shape: tuple, num_classes: int, options: dict,
              settings: dict):
    """cls(**options), given input_shape (C, H, W) and num_classes, and the engine's settings
    (seed, dtype, ...), each if its constructor has a parameter of that name and options do not
    set it. Whatever the user's constructor raises is one line."""
    parameters = inspect.signature(cls).parameters
    offered = {"input_shape": input_shape, "num_classes": num_classes, **settings}
    given = {key: value for key, value in offered.items() if key in parameters
             and key not in options}
    try:
        return cls(**given, **options)
    except Exception as error:  # the user's code: it may raise anything
        raise StriateError(f"cannot build {name} with options {options} for input "
                           f"{input_shape}: {type(error).__name__}: {error}; check --model-arg "
                           "values") from None
