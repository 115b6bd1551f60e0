"""Errors and problem reports of the item bank.

Importers collect every :class:`Problem` they find instead of stopping at the first, so an
author fixes a whole file in one pass. Bank-file failures raise one :class:`BankError`
whose message says what failed; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place in one source file."""

    source: str
    #: Where in the source: "line 12", "row 7", "item TIU-0001", "imsmanifest.xml".
    location: str
    reason: str
    #: A warning keeps the item (what it holds is kept or harmlessly left out); an error
    #: keeps it out of the bank.
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.source}: {self.location}" if self.location else self.source
        return f"{where}: {'warning: ' if self.warning else ''}{self.reason}"


class ImportFailed(Exception):
    """Raised when sources hold problems; carries all of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        count = len(problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the sources")


class BankError(Exception):
    """A bank file could not be opened or trusted. The message names what failed."""


class BankFormatError(BankError):
    """The file is not a .catbank, or its structure is damaged."""


class BankTampered(BankError):
    """A signature or an authentication tag did not verify: the file was changed."""


class WrongKey(BankError):
    """The passphrase or site key given does not unlock this bank."""


class NotARecipient(BankError):
    """The bank was issued to other holders (another test site)."""
