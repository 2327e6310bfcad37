"""User-facing errors, raised at validation boundaries (driver and worker alike).

`InputError` lives in `evaluation.errors` (the bottom layer, where prompts are built) and is the
same class here.
"""

from evaluation.errors import InputError

__all__ = ["InputError"]
