"""The printable prescription (fpdf2). Core PDF fonts only, so nothing is shipped or downloaded;
text they cannot encode is transliterated where possible and otherwise replaced with '?'."""

from __future__ import annotations

import unicodedata

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from clinical.models import Prescription, PrescriptionStatus
from clinical.prescriptions import selectors

PLATFORM_NAME = "Telehealth"


def _latin1(text: object) -> str:
    value = str(text or "")
    value = value.replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'")
    try:
        value.encode("latin-1")
        return value
    except UnicodeEncodeError:
        decomposed = unicodedata.normalize("NFKD", value)
        return decomposed.encode("latin-1", "replace").decode("latin-1")


def _line(pdf: FPDF, text: object, *, size: float = 10, bold: bool = False, height: float = 5) -> None:
    pdf.set_font("helvetica", "B" if bold else "", size)
    pdf.multi_cell(0, height, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render_prescription_pdf(prescription: Prescription, *, verify_url: str) -> bytes:
    """A one-page (or longer) A4 prescription with the doctor's registration and the verification
    code a pharmacy checks at ``verify_url``."""
    doctor = prescription.doctor
    patient = prescription.patient
    profile = selectors.doctor_profile(doctor)
    patient_profile = selectors.patient_profile(patient)
    zone = selectors.user_zone(doctor)
    issued = prescription.issued_at.astimezone(zone)
    clinic = prescription.consultation.clinic
    code = selectors.format_code(prescription.verification_code)

    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"Prescription {code}"))
    pdf.set_author(_latin1(f"Dr {doctor.full_name}"))
    pdf.set_creator(PLATFORM_NAME)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()

    _line(pdf, clinic.name if clinic else PLATFORM_NAME, size=16, bold=True, height=8)
    if clinic:
        address = ", ".join(p for p in (clinic.address_line, clinic.city, clinic.state) if p)
        if address:
            _line(pdf, address, size=9)
    _line(pdf, f"Dr {doctor.full_name}".strip(), size=12, bold=True, height=6)
    if profile:
        _line(pdf, f"Registration no. {profile.registration_number} ({profile.council})", size=10)
    else:
        _line(pdf, "Registration no.: not on file", size=10)
    pdf.ln(3)

    if prescription.status == PrescriptionStatus.SUPERSEDED:
        pdf.set_text_color(180, 0, 0)
        _line(pdf, "SUPERSEDED - replaced by a corrected version; not valid for dispensing.", bold=True)
        pdf.set_text_color(0, 0, 0)
        pdf.ln(2)

    details = [patient.full_name or "Patient"]
    if patient_profile:
        if patient_profile.date_of_birth:
            details.append(f"{selectors.age_on(patient_profile.date_of_birth, issued.date())} y")
        if patient_profile.sex and patient_profile.sex != "unknown":
            details.append(patient_profile.get_sex_display())
    _line(pdf, f"Patient: {', '.join(details)}", bold=True)
    _line(pdf, f"Date: {issued:%d %b %Y %H:%M} ({zone})")
    version = f"Version {prescription.version}"
    if prescription.previous_id:
        version += f" (corrects version {prescription.version - 1})"
    _line(pdf, version, size=9)
    pdf.ln(3)

    _line(pdf, "Rx", size=14, bold=True, height=7)
    pdf.set_font("helvetica", "", 9)
    with pdf.table(
        col_widths=(6, 46, 18, 14, 14, 14, 10, 38),
        text_align="LEFT",
        line_height=5,
        first_row_as_headings=True,
    ) as table:
        table.row(["#", "Medicine", "Dose", "Route", "Frequency", "Days", "Qty", "Instructions"])
        for number, item in enumerate(prescription.items.all(), start=1):
            table.row(
                [
                    str(number),
                    _latin1(selectors.medication_label(item)),
                    _latin1(item.dose),
                    _latin1(item.get_route_display()),
                    _latin1(item.frequency),
                    str(item.duration_days),
                    str(item.quantity),
                    _latin1(item.instructions),
                ]
            )
    pdf.ln(3)

    if prescription.notes:
        _line(pdf, "Instructions", bold=True)
        _line(pdf, prescription.notes)
        pdf.ln(2)

    _line(pdf, f"Dr {doctor.full_name}".strip(), bold=True)
    _line(pdf, f"Issued electronically through {PLATFORM_NAME}.", size=8)
    pdf.ln(4)
    _line(pdf, f"Verification code: {code}", size=12, bold=True, height=6)
    _line(pdf, f"Pharmacies: check this prescription at {verify_url}", size=9)
    return bytes(pdf.output())
