"""User-facing errors, raised at validation boundaries (driver and worker alike)."""


class InputError(ValueError):
    """A user mistake. The message is one line: what is wrong and how to fix it."""
