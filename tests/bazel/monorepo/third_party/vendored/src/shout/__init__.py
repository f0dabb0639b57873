"""On the Python path through `imports = ["src"]`."""


def shout(text: str) -> str:
    return text.upper()
