"""PII detection and masking: emails, phone numbers, card numbers (Luhn-checked), IBANs (mod-97-checked), US
Social Security numbers and UK National Insurance numbers.

Each kind is a pattern for candidates, then, where the number carries one, its check digit: a 16-digit order
number is not a card unless it passes Luhn, and `GB00 ...` is not an IBAN unless it passes mod 97. A span one
kind claimed is not claimed by another (a card number is not also a phone number).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from stratus.exceptions import CheckTrigger, InputCheckError, OutputCheckError
from stratus.guardrails.base import BaseGuardrail

if TYPE_CHECKING:
    from stratus.run import RunInput, RunOutput

__all__ = ["PII_KINDS", "PIIDetectionGuardrail", "PIIMatch", "find_pii", "iban_valid", "luhn_valid", "mask_pii"]

PIIKind = Literal["email", "credit_card", "iban", "ssn", "uk_nino", "phone"]
PII_KINDS: tuple[PIIKind, ...] = ("email", "credit_card", "iban", "ssn", "uk_nino", "phone")
"""In the order they claim spans: the checked numbers before the looser phone pattern."""


@dataclass(frozen=True, slots=True)
class PIIMatch:
    kind: PIIKind
    start: int
    end: int
    text: str


def luhn_valid(digits: str) -> bool:
    """The Luhn check of a string of digits (card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip
"""IBAN lengths by country (the SWIFT registry's)."""


def iban_valid(text: str) -> bool:
    """Whether `text` (spaces allowed) is an IBAN: a known country's length and the ISO 7064 mod-97 check."""
    iban = text.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _card(text: str) -> bool:
    digits = _digits(text)
    # Card networks' numbers start with 2 to 6 (Mastercard, Amex/Diners/JCB, Visa, Mastercard, Discover).
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and len(set(digits)) > 1 and luhn_valid(digits)


def _phone(text: str) -> bool:
    digits = _digits(text)
    if text.startswith("+"):
        return 8 <= len(digits) <= 15
    return 10 <= len(digits) <= 11


_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})

_PATTERNS: dict[PIIKind, tuple[re.Pattern[str], Callable[[str], bool] | None]] = {
    "email": (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), None),
    "credit_card": (re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"), _card),
    "iban": (re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), iban_valid),
    "ssn": (re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])"), None),
    "uk_nino": (
        re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
        None,
    ),
    "phone": (
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,5}\)[ .-]?)?\d{1,5}(?:[ .-]?\d{2,5}){1,4}"
            r"|\(\d{3}\) ?\d{3}[ .-]\d{4}"
            r"|\d{3}[ .-]\d{3}[ .-]\d{4}"
            r"|0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4})(?![\w-])"
        ),
        _phone,
    ),
}


def find_pii(text: str, kinds: Iterable[PIIKind] = PII_KINDS) -> list[PIIMatch]:
    """The PII in `text` of the given kinds, in the order it appears; no two matches overlap."""
    wanted = set(kinds)
    taken: list[tuple[int, int]] = []
    found: list[PIIMatch] = []
    for kind in PII_KINDS:
        if kind not in wanted:
            continue
        pattern, valid = _PATTERNS[kind]
        for m in pattern.finditer(text):
            start, end = m.span()
            if any(start < e and s < end for s, e in taken):
                continue
            if valid is not None and not valid(m.group(0)):
                continue
            taken.append((start, end))
            found.append(PIIMatch(kind, start, end, m.group(0)))
    return sorted(found, key=lambda match: match.start)


def mask_pii(text: str, matches: Iterable[PIIMatch], *, placeholder: bool = False) -> str:
    """`text` with each match masked: by asterisks of its length (agno's way), or a `[KIND]` placeholder."""
    out: list[str] = []
    last = 0
    for m in sorted(matches, key=lambda match: match.start):
        out.append(text[last : m.start])
        out.append(f"[{m.kind.upper()}]" if placeholder else "*" * (m.end - m.start))
        last = m.end
    out.append(text[last:])
    return "".join(out)


class PIIDetectionGuardrail(BaseGuardrail):
    """Finds PII in a run's input (as a pre-hook) or its answer (as a post-hook), and masks it or refuses.

    Args:
        mask_pii: Mask what it finds and let the run go on, instead of stopping it (`InputCheckError` with
            `check_trigger=PII_DETECTED` and the kinds found in `additional_data["detected_pii"]`).
        placeholder: Mask with `[EMAIL]`, `[CREDIT_CARD]`, ... rather than asterisks.
        kinds: The kinds to look for (all of `PII_KINDS` by default).
        enable_ssn_check, enable_credit_card_check, enable_email_check, enable_phone_check: agno's switches.
    """

    def __init__(
        self,
        mask_pii: bool = False,
        *,
        placeholder: bool = False,
        kinds: Iterable[PIIKind] | None = None,
        enable_ssn_check: bool = True,
        enable_credit_card_check: bool = True,
        enable_email_check: bool = True,
        enable_phone_check: bool = True,
    ) -> None:
        chosen = set(kinds if kinds is not None else PII_KINDS)
        for kind, on in (
            ("ssn", enable_ssn_check),
            ("credit_card", enable_credit_card_check),
            ("email", enable_email_check),
            ("phone", enable_phone_check),
        ):
            if not on:
                chosen.discard(kind)
        self.mask_pii = mask_pii
        self.placeholder = placeholder
        self.kinds: tuple[PIIKind, ...] = tuple(k for k in PII_KINDS if k in chosen)

    def _masked(self, text: str, error: type[InputCheckError | OutputCheckError], where: str) -> str | None:
        matches = find_pii(text, self.kinds)
        if not matches:
            return None
        if not self.mask_pii:
            kinds = sorted({m.kind for m in matches}, key=PII_KINDS.index)
            raise error(
                f"Potential PII detected in {where}: {', '.join(kinds)}",
                check_trigger=CheckTrigger.PII_DETECTED,
                additional_data={"detected_pii": kinds},
            )
        return mask_pii(text, matches, placeholder=self.placeholder)

    async def async_check(self, run_input: RunInput) -> None:
        masked = self._masked(run_input.input_content, InputCheckError, "input")
        if masked is not None:
            run_input.input_content = masked

    async def async_check_output(self, run_output: RunOutput) -> None:
        """As a post-hook: the answer's text (when it is text) masked, or the run stopped."""
        if isinstance(run_output.content, str):
            masked = self._masked(run_output.content, OutputCheckError, "output")
            if masked is not None:
                run_output.content = masked
