"""Exceptions and warnings raised by synthlib."""


class SynthlibError(Exception):
    """Base class of every error that synthlib raises on purpose."""


class DictionaryError(SynthlibError, ValueError):
    """A data dictionary file is invalid (unknown type, bad range, duplicated name)."""


class DataValidationError(SynthlibError, ValueError):
    """A table does not match its data dictionary.

    Parameters
    ----------
    problems : list of str
        One message per mismatch, each naming the column, the values and the fix.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        header = f"{len(self.problems)} problem(s) found while validating the table:"
        super().__init__("\n".join([header, *(f"- {p}" for p in self.problems)]))


class ConfigError(SynthlibError, ValueError):
    """A run configuration is invalid or names a file that does not exist."""


class TokenBudgetError(SynthlibError, ValueError):
    """Encoded rows do not fit in the model's context window."""


class ConditionError(SynthlibError, ValueError):
    """A sampling condition or a list of training levels names an unknown column or a value it cannot take."""


class SamplingError(SynthlibError, RuntimeError):
    """Sampling could not produce the requested number of valid rows."""


class NotebookError(SynthlibError, RuntimeError):
    """A study notebook failed while papermill executed it."""


class BatchError(SynthlibError, RuntimeError):
    """One or more configurations of a batch failed; the others ran."""


class BookError(SynthlibError, RuntimeError):
    """Jupyter Book failed to build a run's book."""


class DisclosureError(SynthlibError, RuntimeError):
    """An executed notebook or a book page shows a row of the real input."""


class PrivacyAttackError(SynthlibError, RuntimeError):
    """A privacy attack could not run as requested (too few queries, a missing package)."""


class SynthlibWarning(UserWarning):
    """Base class of synthlib warnings."""


class IncomputableMetricWarning(SynthlibWarning):
    """A metric could not be computed on this input and was set to NaN."""
