"""
The run-time behaviour of `componentize_py_types` (the module in the folder
given as argument), as lines of text: compiler/tests/api_surface.rs prints
it for upstream componentize-py 0.25.1's module and for ours and compares.
"""

import copy
import dataclasses
import pickle
import sys

sys.path.insert(0, sys.argv[1])
from componentize_py_types import Err, Ok, Result, Some  # noqa: E402


def attempt(what, action):
    try:
        print(f"{what}: {action()!r}")
    except Exception as error:
        print(f"{what}: raises {type(error).__module__}.{type(error).__qualname__}")


for cls in (Some, Ok, Err):
    name = cls.__name__
    value = cls(3)
    attempt(f"{name} is_dataclass", lambda: dataclasses.is_dataclass(value))
    attempt(f"{name} fields", lambda: [(f.name, str(f.type)) for f in dataclasses.fields(value)])
    attempt(f"{name} params", lambda: repr(value.__dataclass_params__))
    attempt(f"{name} asdict", lambda: dataclasses.asdict(value))
    attempt(f"{name} astuple", lambda: dataclasses.astuple(value))
    attempt(f"{name} replace", lambda: dataclasses.replace(value, value=4))
    attempt(f"{name} repr", lambda: repr(value))
    attempt(f"{name} eq", lambda: (value == cls(3), value == cls(4), value == Ok(3) if cls is not Ok else value == Some(3)))
    attempt(f"{name} hash", lambda: hash(value) == hash(cls(3)))
    attempt(f"{name} match_args", lambda: cls.__match_args__)
    attempt(f"{name} keyword", lambda: cls(value=5))
    attempt(f"{name} generic", lambda: cls[int](6))
    attempt(f"{name} mro", lambda: [c.__name__ for c in cls.__mro__])
    attempt(f"{name} copy", lambda: copy.deepcopy(value))
    attempt(f"{name} pickle", lambda: pickle.loads(pickle.dumps(value)))

    def assign():
        cls(3).value = 7
        return "assigned"

    def delete():
        del cls(3).value
        return "deleted"

    attempt(f"{name} assign", assign)
    attempt(f"{name} delete", delete)

attempt("Err is an exception", lambda: issubclass(Err, Exception))
attempt("Err args", lambda: Err(3).args)
attempt("Err str", lambda: str(Err(3)))


def raised():
    try:
        raise Err("boom")
    except Err as error:
        return error.value


attempt("Err raised", raised)
attempt("Result", lambda: str(Result))
