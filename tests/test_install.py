"""pyproject.toml gives ranges, requirements.lock the exact versions tested: each of the lock's
pins must satisfy pyproject's range, so the two cannot drift apart."""

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")   # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared() -> list[Requirement]:
    """Every dependency pyproject declares, the optional ones (test, tensorboard) included."""
    groups = [project()["dependencies"], *project()["optional-dependencies"].values()]
    return [Requirement(line) for group in groups for line in group]


def locked() -> dict[str, str]:
    """requirements.lock's pins: canonical package name -> exact version."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_every_lock_line_is_an_exact_pin():
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            [specifier] = requirement.specifier
            assert specifier.operator == "==", line


@pytest.mark.parametrize("requirement", declared(), ids=str)
def test_pyproject_gives_a_range_that_the_locked_version_satisfies(requirement):
    assert not any(spec.operator in ("==", "===") for spec in requirement.specifier), (
        f"{requirement} pins a version: pyproject gives ranges, requirements.lock the pins")
    pinned = locked().get(canonicalize_name(requirement.name))
    assert pinned is not None, f"{requirement.name} is not pinned in requirements.lock"
    assert requirement.specifier.contains(pinned, prereleases=True), (
        f"requirements.lock's {requirement.name}=={pinned} is outside pyproject's {requirement}")


def test_torch_accepts_an_installed_older_torch_from_2_4_on():
    [torch] = [r for r in declared() if r.name == "torch"]
    assert torch.specifier.contains("2.4.0") and not torch.specifier.contains("2.3.1")
