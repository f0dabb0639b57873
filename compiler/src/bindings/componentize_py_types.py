"""
`componentize_py_types`: the generic wrappers shared by the generated
bindings and the runtime, as in upstream componentize-py: `Some` (an
`option` nested in an `option`), `Ok` and `Err` (a `result` used as a
value; `Err` is also raised by functions whose WIT result is a `result`),
and `Result`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar, Union

S = TypeVar("S")
T = TypeVar("T")
E = TypeVar("E")

if TYPE_CHECKING:
    from dataclasses import dataclass

    @dataclass
    class Some(Generic[S]):
        """
        A present value of an `option` whose payload is itself an `option`.
        """
        value: S

    @dataclass
    class Ok(Generic[T]):
        """
        The `ok` case of a `result`.
        """
        value: T

    @dataclass(frozen=True)
    class Err(Generic[E], Exception):
        """
        The `error` case of a `result`; raised by functions whose WIT result is a
        `result`.
        """
        value: E

else:
    # At run time, the same classes written out: what @dataclass would
    # generate (__init__, __repr__, __eq__, __match_args__; Some and Ok
    # unhashable, Err frozen and hashable). Importing `dataclasses` would
    # import inspect, ast, dis and tokenize into every component's snapshot.

    def _repr(self):
        return f"{type(self).__qualname__}(value={self.value!r})"

    def _eq(self, other):
        if other.__class__ is self.__class__:
            return (self.value,) == (other.value,)
        return NotImplemented

    class Some(Generic[S]):
        """
        A present value of an `option` whose payload is itself an `option`.
        """
        __match_args__ = ("value",)
        __hash__ = None
        __repr__ = _repr
        __eq__ = _eq

        def __init__(self, value):
            self.value = value

    class Ok(Generic[T]):
        """
        The `ok` case of a `result`.
        """
        __match_args__ = ("value",)
        __hash__ = None
        __repr__ = _repr
        __eq__ = _eq

        def __init__(self, value):
            self.value = value

    class Err(Generic[E], Exception):
        """
        The `error` case of a `result`; raised by functions whose WIT result is a
    `result`.
        """
        __match_args__ = ("value",)
        __repr__ = _repr
        __eq__ = _eq

        def __init__(self, value):
            object.__setattr__(self, "value", value)

        def __hash__(self):
            return hash((self.value,))

        def __setattr__(self, name, value):
            if type(self) is Err or name == "value":
                raise AttributeError(f"cannot assign to field {name!r}")
            super().__setattr__(name, value)

        def __delattr__(self, name):
            if type(self) is Err or name == "value":
                raise AttributeError(f"cannot delete field {name!r}")
            super().__delattr__(name)


Result = Union[Ok[T], Err[E]]
"""
A `result` used as a value: `Ok(value)` or `Err(value)`.
"""
