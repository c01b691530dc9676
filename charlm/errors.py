"""Errors that reach the user as one line, never as a traceback."""


class CharlmError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""

    exit_code = 1
    prefix = "Error"  # how the CLI introduces the message


class ConfigError(CharlmError):
    """A bad setting, caught before any work starts."""

    exit_code = 2


class CorpusError(CharlmError):
    """A corpus that cannot be read or yields nothing to train on."""


class CheckpointError(CharlmError):
    """A file that is not a usable charlm checkpoint."""


class CharlmWarning(UserWarning):
    """What charlm warns of when it is used from Python (the commands print it as a line)."""


def first_line(error: BaseException) -> str:
    """The start of an error's message, for a one-line report: its first line, at most 80
    characters ("" for an error without a message)."""
    lines = str(error).splitlines()
    return lines[0][:80] if lines else ""
