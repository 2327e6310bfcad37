"""User-facing errors, raised at validation boundaries (driver and worker alike).

Defined at the bottom layer so that `evaluation` (prompts) can raise them without importing
`training`; `training.errors` re-exports the same class.
"""


class InputError(ValueError):
    """A user mistake. The message is one line: what is wrong and how to fix it."""
