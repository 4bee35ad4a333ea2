"""Models by name, the mechanism both engines' registries share.

A builder is `builder(input_shape, num_classes, *, <its own options with defaults>, **engine
settings)`; its signature is the one source of the options and defaults that `striate models`
shows and that --model-arg is checked against.
"""

import inspect

from striate.errors import StriateError


class ModelRegistry(dict):
    """name -> builder."""

    def register(self, name: str):
        def add(builder):
            self[name] = builder
            return builder
        return add

    def options(self, name: str) -> dict:
        """The keyword options of a model and their defaults."""
        parameters = list(inspect.signature(self[name]).parameters.values())[2:]
        return {p.name: p.default for p in parameters if p.kind is not p.VAR_KEYWORD}

    def describe(self, name: str) -> str:
        return inspect.getdoc(self[name]).splitlines()[0]

    def check(self, name: str, options: dict) -> None:
        """Refuse an unknown model or option name; cheap, so it runs before any data is loaded."""
        if name not in self:
            raise StriateError(f"unknown model {name!r}; choose one of {', '.join(sorted(self))} "
                               "(see `striate models`)")
        accepted = self.options(name)
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise StriateError(f"model {name} has no option {unknown[0]!r}; its options are "
                               f"{', '.join(accepted) or 'none'}")

    def build(self, name: str, input_shape, num_classes: int, options: dict,
              errors: tuple = (TypeError, ValueError, ZeroDivisionError), **settings):
        """builder(input_shape, num_classes, **settings, **options); an option value the model
        cannot be built with becomes a one-line StriateError."""
        self.check(name, options)
        try:
            return self[name](tuple(int(s) for s in input_shape), num_classes, **settings,
                              **options)
        except errors as error:
            raise StriateError(f"cannot build {name} with options {options} for input "
                               f"{tuple(input_shape)}: {error}; check --model-arg values") from None
