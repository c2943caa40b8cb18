"""Errors defined once. Callers (CLI, pyfunc wrapper) translate them at their own boundary."""


class TagifaiError(Exception):
    """Base class for every error this package raises on purpose."""


class DataValidationError(TagifaiError):
    """The labeled data file breaks a rule (missing column, duplicate id, ...)."""


class InvalidArgsError(TagifaiError):
    """A training argument is unknown or out of range."""


class InvalidInputError(TagifaiError, ValueError):
    """Texts given for prediction break a rule (empty list, missing or non-string text, ...)."""
