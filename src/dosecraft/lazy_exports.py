"""Package attributes imported on first use (PEP 562), for packages with costly members.

``from dosecraft.release import estimate_release`` should not import scipy.stats, which
only the calibration module needs and which costs ~0.4 s a process. A package lists its
public names and the submodule that defines each; `lazy_exports` gives the module-level
``__getattr__`` and ``__dir__`` that import the submodule when a name is first asked for.
"""

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for `package` that import its names on demand.

    Parameters
    ----------
    package : the package's ``__name__``.
    where : public name → submodule (relative to `package`) that defines it.
    namespace : the package's ``globals()``; an imported name is stored there, so the
        next access does not come back here.

    Returns
    -------
    (__getattr__, __dir__) to assign at module level in the package's ``__init__``.
    """

    def __getattr__(name: str) -> Any:
        try:
            submodule = where[name]
        except KeyError:
            raise AttributeError(f"module '{package}' has no attribute '{name}'") from None
        value = getattr(import_module(f"{package}.{submodule}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__
