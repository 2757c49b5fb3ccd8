"""The errors opl reports to users: one line naming what was wrong and what was expected.

Shared by ``opl`` and ``data_gen`` (both packages of the distribution); importing it needs
neither torch nor h5py. The command line (``opl.cli``) prints an ``OplInputError`` as one line
and exits with status 2.
"""

from types import ModuleType


class OplInputError(ValueError):
    """Bad input from a user (a config, a file, an argument); the message is shown as is."""


class ConfigError(OplInputError):
    """A generator or training config that is malformed, mistyped or out of range."""


class DatasetFileError(OplInputError):
    """An HDF5 file that is not a readable opl dataset, or not the one a run expects."""


class SolverError(OplInputError):
    """A sample whose solve failed (e.g. diverged): usually a config asking too much of a solver."""


class RunStopped(OplInputError):
    """A run its environment stopped (a worker process killed, e.g. out of memory); what was
    written is kept, and running the same command again resumes it."""


class MissingExtra(OplInputError):
    """An optional dependency a command needs is not installed; the message names the extra."""


def require_extra(module: str, extra: str, purpose: str) -> ModuleType:
    """``import module``, or ``MissingExtra`` naming ``pip install 'opl[extra]'``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(
            f"{purpose} needs {module.split('.')[0]}: pip install 'opl[{extra}]'"
        ) from None
