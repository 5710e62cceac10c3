"""ISO 4217 currencies the adapter accepts: alphabetic code -> (numeric code, minor units).

The numeric code travels in ISO 8583 field 49; the minor units decide how many decimals an
amount may carry (JPY 0, EUR 2, KWD 3, CLF 4) and how field 4 is scaled.
"""

from __future__ import annotations

from typing import NamedTuple


class Currency(NamedTuple):
    code: str
    numeric: str
    minor_units: int


_TABLE = """
AED 784 2  ARS 032 2  AUD 036 2  BGN 975 2  BHD 048 3  BIF 108 0  BRL 986 2  CAD 124 2
CHF 756 2  CLF 990 4  CLP 152 0  CNY 156 2  COP 170 2  CZK 203 2  DJF 262 0  DKK 208 2
EGP 818 2  EUR 978 2  GBP 826 2  GNF 324 0  HKD 344 2  HUF 348 2  IDR 360 2  ILS 376 2
INR 356 2  IQD 368 3  ISK 352 0  JOD 400 3  JPY 392 0  KES 404 2  KMF 174 0  KRW 410 0
KWD 414 3  LYD 434 3  MAD 504 2  MXN 484 2  MYR 458 2  NGN 566 2  NOK 578 2  NZD 554 2
OMR 512 3  PEN 604 2  PHP 608 2  PKR 586 2  PLN 985 2  PYG 600 0  QAR 634 2  RON 946 2
RSD 941 2  RWF 646 0  SAR 682 2  SEK 752 2  SGD 702 2  THB 764 2  TND 788 3  TRY 949 2
TWD 901 2  UAH 980 2  UGX 800 0  USD 840 2  UYW 927 4  VND 704 0  VUV 548 0  XAF 950 0
XOF 952 0  XPF 953 0  ZAR 710 2
"""


def _parse(table: str) -> dict[str, Currency]:
    words = table.split()
    triples = zip(words[0::3], words[1::3], words[2::3], strict=True)
    return {code: Currency(code, num, int(minor)) for code, num, minor in triples}


CURRENCIES: dict[str, Currency] = _parse(_TABLE)
BY_NUMERIC: dict[str, Currency] = {c.numeric: c for c in CURRENCIES.values()}


def lookup(code: str) -> Currency | None:
    return CURRENCIES.get(code)
