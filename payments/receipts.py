"""The printable payment receipt (fpdf2), and money formatting.

Rendering is a pure function of ``ReceiptData``: no database, no network, no clock. Core PDF fonts
only, so nothing is shipped or downloaded; text they cannot encode is transliterated where possible
and otherwise replaced with '?'.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

# ISO 4217 minor-unit exponents that differ from 2.
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"], 0),
    **dict.fromkeys(["RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
_CURRENCY_RE = re.compile(r"[A-Z]{3}")


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point in ``currency`` (2 unless the table says otherwise)."""
    code = currency.upper()
    if not _CURRENCY_RE.fullmatch(code):
        raise ValueError(f"Not an ISO 4217 currency code: {currency!r}")
    return CURRENCY_EXPONENTS.get(code, 2)


def format_money(amount: int, currency: str) -> str:
    """Integer minor units as text: ``format_money(123450, "INR") == "INR 1,234.50"``,
    ``format_money(1500, "JPY") == "JPY 1,500"``, ``format_money(-5, "KWD") == "-KWD 0.005"``."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"Money is integer minor units, got {type(amount).__name__}")
    exponent = minor_unit_exponent(currency)
    major, minor = divmod(abs(amount), 10**exponent)
    number = f"{major:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    return f"{'-' if amount < 0 else ''}{currency.upper()} {number}"


# Characters outside Latin-1 that have a fair Latin-1 spelling but no Unicode decomposition.
_FALLBACKS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": ",",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u2022": "*",
        "\u0141": "L",
        "\u0142": "l",
        "\u0110": "D",
        "\u0111": "d",
        "\u0131": "i",
        "\u0152": "OE",
        "\u0153": "oe",
        "\u20ac": "EUR",
        "\u20b9": "INR",
    }
)


def pdf_text(value: object) -> str:
    """``value`` as text the core PDF fonts (Latin-1) can print.

    Latin-1 characters stay as they are (``Müller``); others lose their accents (``Ayşe`` becomes
    ``Ayse``, ``Nguyễn`` becomes ``Nguyen``) or, with no Latin spelling (Devanagari, Cyrillic, CJK),
    become ``?``. Each character is handled on its own, so one foreign letter never disturbs the
    rest of the string.
    """
    out = []
    for char in unicodedata.normalize("NFC", str(value or "")).translate(_FALLBACKS):
        if ord(char) < 256:
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        if base:  # empty for a stray combining mark: dropped
            out.append(base if all(ord(c) < 256 for c in base) else "?")
    return "".join(out)


def _platform_name() -> str:
    return getattr(settings, "PLATFORM_NAME", "") or "Telehealth"


@dataclass(frozen=True, kw_only=True)
class ReceiptData:
    """Everything a receipt shows, already in display form (names, labels, ``gateway`` such as
    "Razorpay"). Money is integer minor units of ``currency``; times are aware and printed in
    ``time_zone`` (an IANA name, usually the patient's).

    Checked on creation: ``total`` must equal the line items less ``discount``, and
    ``refunded_amount`` may not exceed ``total``; a receipt that does not add up is a bug upstream.
    """

    receipt_number: str
    issued_at: datetime
    patient_name: str
    patient_phone: str
    doctor_name: str
    doctor_specialisation: str
    consultation_id: str
    consultation_type: str
    consultation_start: datetime
    line_items: Sequence[tuple[str, int]]
    total: int
    currency: str
    gateway: str
    provider_payment_id: str
    status: str
    clinic_name: str = ""
    discount: int = 0
    coupon_code: str = ""
    refunded_amount: int = 0
    time_zone: str = "UTC"
    platform_name: str = field(default_factory=_platform_name)

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", self.currency.upper())
        object.__setattr__(
            self, "line_items", tuple((str(label), amount) for label, amount in self.line_items)
        )
        minor_unit_exponent(self.currency)  # raises on a malformed code
        for name in ("issued_at", "consultation_start"):
            moment = getattr(self, name)
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ValueError(f"{name} must be an aware datetime")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"Unknown time zone {self.time_zone!r}") from exc
        amounts = [amount for _, amount in self.line_items]
        amounts += [self.discount, self.total, self.refunded_amount]
        if any(not isinstance(a, int) or isinstance(a, bool) or a < 0 for a in amounts):
            raise ValueError("Amounts must be non-negative integers (minor units)")
        if not self.line_items:
            raise ValueError("A receipt needs at least one line item")
        if self.discount > self.subtotal:
            raise ValueError("The discount exceeds the line items")
        if self.total != self.subtotal - self.discount:
            raise ValueError(f"total {self.total} != line items {self.subtotal} - discount {self.discount}")
        if self.refunded_amount > self.total:
            raise ValueError("More refunded than paid")

    @property
    def subtotal(self) -> int:
        return sum(amount for _, amount in self.line_items)

    @property
    def net_paid(self) -> int:
        return self.total - self.refunded_amount


def _line(pdf: FPDF, text: object, *, size: float = 10, bold: bool = False, height: float = 5) -> None:
    pdf.set_font("helvetica", "B" if bold else "", size)
    pdf.multi_cell(0, height, pdf_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _when(moment: datetime, zone: str) -> str:
    return f"{moment.astimezone(ZoneInfo(zone)):%d %b %Y %H:%M} ({zone})"


def _doctor(name: str) -> str:
    return name if name.lower().startswith(("dr ", "dr.")) else f"Dr {name}"


def render_receipt_pdf(receipt: ReceiptData) -> bytes:
    """An A4 payment receipt: who paid whom for which consultation, the amounts line by line
    (discount, total, refunds) and the gateway's payment reference. Same input, same bytes."""
    money = receipt.currency

    pdf = FPDF(format="A4")
    pdf.set_title(pdf_text(f"Receipt {receipt.receipt_number}"))
    pdf.set_author(pdf_text(receipt.platform_name))
    pdf.set_creator(pdf_text(receipt.platform_name))
    pdf.set_creation_date(receipt.issued_at)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()

    _line(pdf, receipt.platform_name, size=16, bold=True, height=8)
    if receipt.clinic_name:
        _line(pdf, receipt.clinic_name, size=11)
    pdf.ln(2)
    _line(pdf, "Payment receipt", size=14, bold=True, height=7)
    _line(pdf, f"Receipt no.: {receipt.receipt_number}")
    _line(pdf, f"Issued: {_when(receipt.issued_at, receipt.time_zone)}")
    _line(pdf, f"Status: {receipt.status.replace('_', ' ').capitalize()}")
    pdf.ln(3)

    _line(pdf, "Billed to", bold=True)
    _line(pdf, receipt.patient_name)
    _line(pdf, f"Phone: {receipt.patient_phone}")
    pdf.ln(3)

    _line(pdf, "Consultation", bold=True)
    doctor = _doctor(receipt.doctor_name)
    _line(pdf, f"{doctor} ({receipt.doctor_specialisation})" if receipt.doctor_specialisation else doctor)
    _line(pdf, f"Type: {receipt.consultation_type}")
    _line(pdf, f"Scheduled: {_when(receipt.consultation_start, receipt.time_zone)}")
    if receipt.clinic_name:
        _line(pdf, f"Clinic: {receipt.clinic_name}")
    _line(pdf, f"Consultation ID: {receipt.consultation_id}", size=9)
    pdf.ln(3)

    bold = FontFace(emphasis="BOLD")
    pdf.set_font("helvetica", "", 10)
    with pdf.table(
        col_widths=(3, 1),
        text_align=("LEFT", "RIGHT"),
        borders_layout="HORIZONTAL_LINES",
        line_height=6,
    ) as table:
        table.row(["Description", f"Amount ({money})"])
        for label, amount in receipt.line_items:
            table.row([pdf_text(label), format_money(amount, money)])
        if receipt.discount:
            table.row(["Subtotal", format_money(receipt.subtotal, money)])
            coupon = f" ({receipt.coupon_code})" if receipt.coupon_code else ""
            table.row([pdf_text(f"Discount{coupon}"), format_money(-receipt.discount, money)])
        table.row(["Total", format_money(receipt.total, money)], style=bold)
        if receipt.refunded_amount:
            table.row(["Refunded", format_money(-receipt.refunded_amount, money)])
            table.row(["Net paid", format_money(receipt.net_paid, money)], style=bold)
    pdf.ln(4)

    _line(pdf, "Payment", bold=True)
    _line(pdf, f"Paid via: {receipt.gateway}")
    _line(pdf, f"Payment ID: {receipt.provider_payment_id}")
    pdf.ln(6)
    _line(pdf, f"Issued electronically by {receipt.platform_name}; valid without a signature.", size=8)
    return bytes(pdf.output())
