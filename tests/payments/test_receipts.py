"""The payment receipt PDF: every field, the arithmetic lines, odd names and currencies."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pypdf import PdfReader

from payments.receipts import ReceiptData, format_money, pdf_text, render_receipt_pdf

ISSUED = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
STARTS = datetime(2026, 11, 27, 4, 30, tzinfo=UTC)


@pytest.fixture
def receipt() -> ReceiptData:
    return ReceiptData(
        receipt_number="RCPT-2026-000042",
        issued_at=ISSUED,
        patient_name="Alice Fernandes",
        patient_phone="+919800000001",
        doctor_name="Dana Rao",
        doctor_specialisation="Cardiology",
        consultation_id="6f0c2a52-2f7e-4a4e-9b8e-3d7d51c0a001",
        consultation_type="Video",
        consultation_start=STARTS,
        clinic_name="Sunrise Clinic",
        line_items=[("Consultation fee", 123_450), ("Platform fee", 5_000)],
        discount=10_000,
        coupon_code="WELCOME10",
        total=118_450,
        currency="INR",
        gateway="Razorpay",
        provider_payment_id="pay_NfR2xk9Q1",
        status="paid",
        time_zone="Asia/Kolkata",
        platform_name="CareNow",
    )


@pytest.fixture
def plain(receipt) -> ReceiptData:
    """No clinic, no discount, no refund."""
    return replace(receipt, clinic_name="", discount=0, coupon_code="", total=128_450)


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def lines_of(pdf: bytes) -> list[str]:
    return [line.strip() for line in text_of(pdf).splitlines()]


# --- Content -------------------------------------------------------------------------------------


def test_receipt_shows_every_field(receipt):
    pdf = render_receipt_pdf(receipt)

    assert pdf.startswith(b"%PDF-")
    lines = lines_of(pdf)
    for expected in [
        "CareNow",
        "Sunrise Clinic",
        "Payment receipt",
        "Receipt no.: RCPT-2026-000042",
        "Issued: 26 Nov 2026 15:30 (Asia/Kolkata)",
        "Status: Paid",
        "Alice Fernandes",
        "Phone: +919800000001",
        "Dr Dana Rao (Cardiology)",
        "Type: Video",
        "Scheduled: 27 Nov 2026 10:00 (Asia/Kolkata)",
        "Clinic: Sunrise Clinic",
        "Consultation ID: 6f0c2a52-2f7e-4a4e-9b8e-3d7d51c0a001",
        "Description Amount (INR)",
        "Consultation fee INR 1,234.50",
        "Platform fee INR 50.00",
        "Paid via: Razorpay",
        "Payment ID: pay_NfR2xk9Q1",
        "Issued electronically by CareNow; valid without a signature.",
    ]:
        assert expected in lines, f"{expected!r} not in {lines}"


def test_pdf_metadata_names_the_receipt(receipt):
    reader = PdfReader(io.BytesIO(render_receipt_pdf(receipt)))

    assert reader.metadata.title == "Receipt RCPT-2026-000042"
    assert reader.metadata.author == "CareNow"


def test_discount_shows_subtotal_coupon_and_total(receipt):
    lines = lines_of(render_receipt_pdf(receipt))

    table = lines[lines.index("Description Amount (INR)") :]
    assert table[1:6] == [
        "Consultation fee INR 1,234.50",
        "Platform fee INR 50.00",
        "Subtotal INR 1,284.50",
        "Discount (WELCOME10) -INR 100.00",
        "Total INR 1,184.50",
    ]


def test_discount_without_coupon_code(receipt):
    lines = lines_of(render_receipt_pdf(replace(receipt, coupon_code="")))

    assert "Discount -INR 100.00" in lines


def test_without_discount_or_refund_only_items_and_total(plain):
    lines = lines_of(render_receipt_pdf(plain))

    table = lines[lines.index("Description Amount (INR)") :]
    assert table[1:4] == ["Consultation fee INR 1,234.50", "Platform fee INR 50.00", "Total INR 1,284.50"]
    assert not any(line.startswith(("Subtotal", "Discount", "Refunded", "Net paid")) for line in lines)
    assert not any(line.startswith("Clinic") or line == "Sunrise Clinic" for line in lines)


def test_refund_shows_refunded_and_net_paid(receipt):
    refunded = replace(receipt, refunded_amount=18_450, status="partially_refunded")

    lines = lines_of(render_receipt_pdf(refunded))

    assert "Status: Partially refunded" in lines
    total = lines.index("Total INR 1,184.50")
    assert lines[total + 1 : total + 3] == ["Refunded -INR 184.50", "Net paid INR 1,000.00"]


def test_full_refund_nets_to_zero(receipt):
    lines = lines_of(render_receipt_pdf(replace(receipt, refunded_amount=118_450, status="refunded")))

    assert "Refunded -INR 1,184.50" in lines
    assert "Net paid INR 0.00" in lines


def test_doctor_title_is_not_doubled(receipt):
    lines = lines_of(
        render_receipt_pdf(replace(receipt, doctor_name="Dr. Dana Rao", doctor_specialisation=""))
    )

    assert "Dr. Dana Rao" in lines


def test_many_line_items_flow_onto_a_second_page(plain):
    items = [(f"Item {n} with a fairly long description of the service", 100) for n in range(80)]
    long = replace(plain, line_items=items, total=8_000)

    pdf = render_receipt_pdf(long)

    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 2
    assert "Total INR 80.00" in lines_of(pdf)


def test_same_input_renders_the_same_bytes(receipt):
    assert render_receipt_pdf(receipt) == render_receipt_pdf(replace(receipt))


# --- Names the core fonts cannot print -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "printed"),
    [
        ("Łukasz Żółć", "Lukasz Zólc"),
        ("Ayşe Öztürk", "Ayse Öztürk"),  # the Latin-1 letters survive next to a foreign one
        ("Nguyễn Văn An", "Nguyen Van An"),
        ("Zoë O\u2019Brien", "Zoë O'Brien"),
    ],
)
def test_non_latin1_patient_name_is_transliterated(receipt, name, printed):
    lines = lines_of(render_receipt_pdf(replace(receipt, patient_name=name)))

    assert printed in lines


def test_name_without_latin_spelling_is_replaced_not_fatal(receipt):
    lines = lines_of(render_receipt_pdf(replace(receipt, patient_name="राम शर्मा", doctor_name="Иван Петров")))

    billed_to = lines.index("Billed to")
    assert set(lines[billed_to + 1]) <= {"?", " "}
    assert lines[billed_to + 2] == "Phone: +919800000001"
    assert "Dr ???? ?????? (Cardiology)" in lines


def test_pdf_text_keeps_latin1_and_drops_stray_marks():
    assert pdf_text("Müller\u2013Groß") == "Müller-Groß"
    assert pdf_text("Jose\u0301") == "José"  # decomposed input is composed first
    assert pdf_text("\u0301") == ""
    assert pdf_text(None) == ""


# --- Currencies ----------------------------------------------------------------------------------


def test_zero_decimal_currency(plain):
    yen = replace(plain, currency="JPY", line_items=[("Consultation fee", 15_000)], total=15_000)

    lines = lines_of(render_receipt_pdf(yen))

    assert "Description Amount (JPY)" in lines
    assert "Consultation fee JPY 15,000" in lines
    assert "Total JPY 15,000" in lines


def test_three_decimal_currency(plain):
    dinar = replace(
        plain,
        currency="kwd",
        line_items=[("Consultation fee", 12_345), ("Platform fee", 5)],
        discount=350,
        coupon_code="EID",
        total=12_000,
    )

    lines = lines_of(render_receipt_pdf(dinar))

    assert dinar.currency == "KWD"
    assert "Consultation fee KWD 12.345" in lines
    assert "Platform fee KWD 0.005" in lines
    assert "Discount (EID) -KWD 0.350" in lines
    assert "Total KWD 12.000" in lines


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (123_450, "INR", "INR 1,234.50"),
        (0, "INR", "INR 0.00"),
        (5, "USD", "USD 0.05"),
        (100_000_000, "inr", "INR 1,000,000.00"),
        (-2_550, "EUR", "-EUR 25.50"),
        (1_500, "JPY", "JPY 1,500"),
        (1_000_000, "KRW", "KRW 1,000,000"),
        (1_234_567, "BHD", "BHD 1,234.567"),
        (5, "OMR", "OMR 0.005"),
        (-5, "KWD", "-KWD 0.005"),
    ],
)
def test_format_money(amount, currency, text):
    assert format_money(amount, currency) == text


@pytest.mark.parametrize("amount", [12.5, 1.0, True])
def test_format_money_refuses_non_integers(amount):
    with pytest.raises(TypeError):
        format_money(amount, "INR")


@pytest.mark.parametrize("currency", ["", "RUPEES", "IN", "12A"])
def test_format_money_refuses_malformed_currency(currency):
    with pytest.raises(ValueError, match="ISO 4217"):
        format_money(100, currency)


# --- Defaults and checks ---------------------------------------------------------------------------


def test_platform_name_comes_from_settings(receipt, settings):
    settings.PLATFORM_NAME = "MediLink"
    data = dict(vars(receipt))
    del data["platform_name"]

    assert ReceiptData(**data).platform_name == "MediLink"


def test_platform_name_defaults_to_telehealth(receipt, settings):
    if hasattr(settings, "PLATFORM_NAME"):
        del settings.PLATFORM_NAME
    data = dict(vars(receipt))
    del data["platform_name"]

    assert ReceiptData(**data).platform_name == "Telehealth"


def test_times_are_printed_in_the_receipt_time_zone(receipt):
    new_york = replace(
        receipt, time_zone="America/New_York", issued_at=ISSUED.astimezone(timezone(timedelta(hours=2)))
    )

    lines = lines_of(render_receipt_pdf(new_york))

    assert "Issued: 26 Nov 2026 05:00 (America/New_York)" in lines
    assert "Scheduled: 26 Nov 2026 23:30 (America/New_York)" in lines


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"issued_at": datetime(2026, 11, 26, 10, 0)}, "aware"),  # noqa: DTZ001 - the point of the test
        ({"consultation_start": datetime(2026, 11, 27, 4, 30)}, "aware"),  # noqa: DTZ001
        ({"total": 118_451}, "total"),
        ({"discount": 200_000, "total": 0}, "discount"),
        ({"refunded_amount": 118_451}, "refunded"),
        ({"line_items": [], "discount": 0, "total": 0}, "line item"),
        ({"line_items": [("Fee", 12.5)], "discount": 0, "total": 12.5}, "integers"),
        ({"discount": -1, "total": 128_451}, "integers"),
        ({"currency": "RUPEES"}, "ISO 4217"),
        ({"time_zone": "Mars/Olympus"}, "time zone"),
    ],
)
def test_receipt_that_does_not_add_up_is_refused(receipt, changes, message):
    with pytest.raises(ValueError, match=message):
        replace(receipt, **changes)
