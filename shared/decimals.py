"""The ONE grammar of an exchange decimal string, used by the streaming service (which DLQs what fails it) and by
bronze (which quarantines what fails it), so a record one side accepts is never refused by the other — a
record that streaming publishes and bronze quarantines is a hole in the dense trade ids.

Binance sends prices and quantities as plain decimal strings ("117850.01000000"; signed for price changes).
Accepted: an optional '-', 1–20 ASCII digits, optionally '.' and 1–18 ASCII digits — exactly what
DECIMAL(38,18), bronze's type, holds without rounding or overflow. Refused, although Python's float() or
Java's BigDecimal take some of them: "inf", "NaN", "1e999", "1e5", "1_0", "+1", ".5", "1.", " 1", "1\\n",
non-ASCII digits ("١٢٣", "１２"), more than 18 decimals, more than 20 integer digits."""
from __future__ import annotations

import re

INT_DIGITS, FRACTION_DIGITS = 20, 18  # DECIMAL(38,18)
BODY = rf"-?[0-9]{{1,{INT_DIGITS}}}(?:\.[0-9]{{1,{FRACTION_DIGITS}}})?"
# for Spark's rlike (java.util.regex, find()): anchored; \z, not $, which would let a final "\n" through
JAVA_PATTERN = rf"^{BODY}\z"
match_decimal = re.compile(BODY, re.ASCII).fullmatch  # hot paths call it directly (no type check)
_match = match_decimal
# a trade's quote quantity (price × quantity) must fit DECIMAL(38,18) too; one below the limit, so that Spark's
# rounding of a product just under 10^20 can never overflow where the exact product did not
QUOTE_LIMIT = 10 ** INT_DIGITS - 1
# ids and times are Spark LongType: a larger JSON integer parses to null there
LONG_LIMIT = 2 ** 63


def is_decimal(value: object) -> bool:
    """True when ``value`` is a str in the grammar (any other type is not a decimal string)."""
    return type(value) is str and _match(value) is not None


def positive(value: object) -> bool:
    """In the grammar and > 0 (the float is exact enough for the sign of a grammar-valid string)."""
    return is_decimal(value) and float(value) > 0  # type: ignore[arg-type]


def non_negative(value: object) -> bool:
    return is_decimal(value) and float(value) >= 0  # type: ignore[arg-type]
