"""
`componentize_py_types`: the generic wrappers shared by the generated
bindings and the runtime, as in upstream componentize-py: `Some` (an
`option` nested in an `option`), `Ok` and `Err` (a `result` used as a
value; `Err` is also raised by functions whose WIT result is a `result`),
and `Result`. They are dataclasses, as upstream's (`Err` frozen), for type
checkers and at run time alike.
"""
from dataclasses import dataclass
from typing import Generic, TypeVar, Union

S = TypeVar("S")
T = TypeVar("T")
E = TypeVar("E")


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


Result = Union[Ok[T], Err[E]]
"""
A `result` used as a value: `Ok(value)` or `Err(value)`.
"""
