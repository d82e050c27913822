"""A quicker ``__init__`` for the frozen, slotted dataclasses built on every request.

Layer: below everything (imports nothing of ours). A frozen dataclass's own ``__init__`` sets
each field through ``object.__setattr__``, around its refusing ``__setattr__``: a slot-wrapper
call that builds an argument tuple and looks the name up in the type each time, about 400
instructions a field. A key record has 31 fields and its first version 12: building the two was
about a seventh of a CreateKey on the memory store (docs/design.md "The door, measured").

``quick_init`` gives such a class an ``__init__`` of the same signature and defaults that
builds the instance as a private subclass of the same layout whose ``__setattr__`` is the plain
one (each field a specialized slot store), then makes it an instance of the class itself. Once
built, a record is exactly what the dataclass makes: the same type, fields, equality and hash,
and setting or deleting a field still raises ``FrozenInstanceError``.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

__all__ = ["quick_init"]

_T = TypeVar("_T")


def quick_init(cls: type[_T]) -> type[_T]:
    """Give the frozen, slotted dataclass ``cls`` the quicker ``__init__`` (see the module)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__ (not supported)")
    names: list[str] = []
    params_src: list[str] = []
    namespace: dict[str, object] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # a dataclass: checked above
        if not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: only plain fields are supported")
        names.append(f.name)
        if f.default is dataclasses.MISSING:
            params_src.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params_src.append(f"{f.name}=_default_{f.name}")
    # the same slots (none added), so its instances can become ``cls``'s; the plain
    # __setattr__ and __delattr__ both (one slot serves the two: a Python method left for
    # either makes every store call it)
    builder = type(
        f"_{cls.__name__}Builder",
        (cls,),
        {
            "__slots__": (),
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__module__": cls.__module__,
        },
    )
    # a subclass may add slots (another layout than the builder's): the dataclass's own init
    namespace.update(_cls=cls, _builder=builder, _set=object.__setattr__, _init=cls.__init__)
    body = "".join(f"    self.{name} = {name}\n" for name in names)
    source = (
        f"def __init__(self, {', '.join(params_src)}):\n"
        "    if type(self) is not _cls:\n"
        f"        return _init(self, {', '.join(names)})\n"
        "    _set(self, '__class__', _builder)\n"
        f"{body}"
        "    self.__class__ = _cls\n"
    )
    exec(source, namespace)  # our own text, built from the class's field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    init.__doc__ = cls.__init__.__doc__
    setattr(cls, "__init__", init)  # noqa: B010  # mypy refuses assigning to a method
    return cls
