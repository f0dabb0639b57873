"""A helper module that greeter imports (a dep of the component)."""


def greeting(name: str) -> str:
    return f"Hello, {name}!"
