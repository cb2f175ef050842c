"""A realistic demo data set for local runs and benchmarks: patients with histories, doctors with
availability, clinics with stock, consultations in every state over the last 90 and next 14 days,
prescriptions, reviews.

The data is deterministic for a given ``--seed`` (names, phones, histories, which slots are booked);
times are relative to the moment of seeding. Demo accounts are recognised by their phone range
(``+91 9770 …``) *and* their e-mail domain (``@demo.invalid``): ``--reset`` deletes those accounts and
what hangs off them, and nothing else; it refuses when real data refers to them.

Writes that have rules of their own go through the services (prescriptions are drafted and issued by
``clinical.prescriptions.services``, so codes, warnings and the lock are right); plain rows are
bulk-inserted. Ratings are the exact sum and count of the reviews written, applied with ``F()``.
"""

from __future__ import annotations

import random
import time as clock
import uuid
import zoneinfo
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils import timezone

from clinical import error_codes
from clinical import vitals as vital_rules
from clinical.doctors.availability import candidate_slots
from clinical.doctors.reference_data import ensure_reference_data
from clinical.models import (
    Allergy,
    AvailabilityException,
    AvailabilityRule,
    BloodGroup,
    ChatMessage,
    Clinic,
    ClinicMember,
    ClinicReview,
    ClinicRole,
    ClinicService,
    Condition,
    Consultation,
    ConsultationEvent,
    ConsultationNote,
    ConsultationState,
    ConsultationType,
    CurrentMedication,
    DoctorProfile,
    Document,
    Education,
    EmergencyContact,
    EventKind,
    ExceptionKind,
    Experience,
    FamilyHistory,
    Insurance,
    InventoryItem,
    Language,
    MedicalRecord,
    Medication,
    PatientNote,
    PatientProfile,
    Prescription,
    PrescriptionItem,
    RecordType,
    Review,
    Severity,
    Sex,
    Specialisation,
    Surgery,
    VerificationStatus,
    VitalKind,
    VitalSign,
)
from clinical.models.patients import private_storage
from clinical.prescriptions import services as prescription_services
from clinical.prescriptions.catalogue import ensure_catalogue
from telehealth.accounts.models import PhoneOTP, Role, User
from telehealth.api.errors import ServiceError
from telehealth.audit.models import AuditEntry
from telehealth.audit.services import purge_entries

S = ConsultationState

# --- Who is demo ---------------------------------------------------------------------------------

DEMO_PHONE_PREFIX = "+919770"
DEMO_EMAIL_DOMAIN = "demo.invalid"  # RFC 2606: never a real mailbox
ADMIN_PHONE = "+919770000000"
MAX_PATIENTS = 100_000
MAX_DOCTORS = 10_000
MAX_CLINICS = 1_000


def doctor_phone(index: int) -> str:
    return f"+9197701{index:05d}"


def clinic_staff_phone(index: int) -> str:
    return f"+9197702{index:05d}"


def patient_phone(index: int) -> str:
    return f"+919770{300_000 + index:06d}"


def demo_users() -> QuerySet[User]:
    """The demo accounts: in the demo phone range and with a demo e-mail address."""
    return User.objects.filter(phone__startswith=DEMO_PHONE_PREFIX, email__iendswith=f"@{DEMO_EMAIL_DOMAIN}")


# --- Reference data: places, names, clinical cases -----------------------------------------------


@dataclass(frozen=True)
class City:
    name: str
    state: str
    country: str  # ISO 3166-1 alpha-2
    lat: float
    lng: float
    zone: str
    names: str  # which name pool
    postal: str  # prefix; random digits complete it
    streets: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    """A typical presentation: what the patient says, what the doctor finds and prescribes.
    ``medicines``: (generic name, form, dose, frequency, days, quantity, instructions)."""

    complaint: str
    symptoms: tuple[str, ...]
    diagnosis: str
    icd10: str
    plan: str
    medicines: tuple[tuple[str, str, str, str, int, int, str], ...]
    specialisations: tuple[str, ...]
    fever: bool = False
    weight: int = 1


# Data tables: one row per line reads better than the formatter's one value per line.
# fmt: off
_IN = ("MG Road", "Station Road", "Link Road", "Nehru Nagar", "Gandhi Marg", "Park Street", "Main Road")
CITIES: dict[str, City] = {c.name: c for c in (
    City("Mumbai", "Maharashtra", "IN", 19.0760, 72.8777, "Asia/Kolkata", "in", "4000", _IN),
    City("Delhi", "Delhi", "IN", 28.6139, 77.2090, "Asia/Kolkata", "in", "1100", _IN),
    City("Bengaluru", "Karnataka", "IN", 12.9716, 77.5946, "Asia/Kolkata", "in", "5600", _IN),
    City("Hyderabad", "Telangana", "IN", 17.3850, 78.4867, "Asia/Kolkata", "in", "5000", _IN),
    City("Chennai", "Tamil Nadu", "IN", 13.0827, 80.2707, "Asia/Kolkata", "in", "6000", _IN),
    City("Kolkata", "West Bengal", "IN", 22.5726, 88.3639, "Asia/Kolkata", "in", "7000", _IN),
    City("Pune", "Maharashtra", "IN", 18.5204, 73.8567, "Asia/Kolkata", "in", "4110", _IN),
    City("Ahmedabad", "Gujarat", "IN", 23.0225, 72.5714, "Asia/Kolkata", "in", "3800", _IN),
    City("Jaipur", "Rajasthan", "IN", 26.9124, 75.7873, "Asia/Kolkata", "in", "3020", _IN),
    City("Lucknow", "Uttar Pradesh", "IN", 26.8467, 80.9462, "Asia/Kolkata", "in", "2260", _IN),
    City("Kochi", "Kerala", "IN", 9.9312, 76.2673, "Asia/Kolkata", "in", "6820", _IN),
    City("New York", "NY", "US", 40.7128, -74.0060, "America/New_York", "west", "100",
         ("Broadway", "Lexington Ave", "W 57th St", "Amsterdam Ave")),
    City("San Francisco", "CA", "US", 37.7749, -122.4194, "America/Los_Angeles", "west", "941",
         ("Market St", "Mission St", "Valencia St", "Geary Blvd")),
    City("Houston", "TX", "US", 29.7604, -95.3698, "America/Chicago", "west", "770",
         ("Main St", "Westheimer Rd", "Kirby Dr")),
    City("London", "England", "GB", 51.5074, -0.1278, "Europe/London", "west", "EC1A ",
         ("High Street", "Church Road", "Station Road", "Victoria Road")),
    City("Manchester", "England", "GB", 53.4808, -2.2426, "Europe/London", "west", "M1 ",
         ("Oxford Road", "Deansgate", "Market Street")),
    City("Dubai", "Dubai", "AE", 25.2048, 55.2708, "Asia/Dubai", "gulf", "",
         ("Sheikh Zayed Road", "Al Wasl Road", "Jumeirah Beach Road")),
    City("Nairobi", "Nairobi", "KE", -1.2921, 36.8219, "Africa/Nairobi", "ke", "00",
         ("Moi Avenue", "Kenyatta Avenue", "Ngong Road")),
)}
# (city, weight): most demo patients are in India, some abroad.
PATIENT_CITIES = [
    ("Mumbai", 14), ("Delhi", 13), ("Bengaluru", 11), ("Hyderabad", 8), ("Chennai", 7), ("Kolkata", 6),
    ("Pune", 6), ("Ahmedabad", 4), ("Jaipur", 3), ("Lucknow", 3), ("Kochi", 3), ("New York", 4),
    ("San Francisco", 2), ("Houston", 2), ("London", 4), ("Manchester", 1), ("Dubai", 3), ("Nairobi", 2),
]
DOCTOR_CITIES = [
    ("Mumbai", 8), ("Delhi", 8), ("Bengaluru", 6), ("Hyderabad", 4), ("Chennai", 4), ("Kolkata", 3),
    ("Pune", 3), ("New York", 2), ("London", 2),
]
CLINIC_CITIES = ["Mumbai", "Delhi", "Bengaluru", "Hyderabad", "Chennai", "Pune", "Kolkata", "New York",
                 "London"]
CLINIC_CURRENCY = {"IN": "INR", "US": "USD", "GB": "GBP"}
# Who registers a doctor: the state council where they practise (India), or the national body.
COUNCILS = {
    "Mumbai": "Maharashtra Medical Council", "Pune": "Maharashtra Medical Council",
    "Delhi": "Delhi Medical Council", "Bengaluru": "Karnataka Medical Council",
    "Hyderabad": "Telangana State Medical Council", "Chennai": "Tamil Nadu Medical Council",
    "Kolkata": "West Bengal Medical Council", "IN": "National Medical Commission",
    "US": "New York State Board for Professional Medical Conduct", "GB": "General Medical Council",
}
MEDICAL_SCHOOLS = {
    "IN": ["AIIMS New Delhi", "Grant Medical College, Mumbai", "Madras Medical College",
           "B. J. Medical College, Pune", "Christian Medical College, Vellore"],
    "US": ["Columbia University Vagelos College of Physicians and Surgeons",
           "NYU Grossman School of Medicine"],
    "GB": ["King's College London", "University of Manchester"],
}
HOSPITALS = {
    "IN": ["Apollo Hospitals", "Fortis Healthcare", "Manipal Hospitals", "Max Healthcare",
           "Kokilaben Hospital"],
    "US": ["Mount Sinai Hospital", "NewYork-Presbyterian"],
    "GB": ["Guy's and St Thomas' NHS Foundation Trust", "Manchester University NHS Foundation Trust"],
}
LOCAL_LANGUAGES = {
    "Mumbai": ["mr", "gu"], "Delhi": ["pa", "ur"], "Bengaluru": ["kn", "ta"], "Hyderabad": ["te", "ur"],
    "Chennai": ["ta"], "Kolkata": ["bn"], "Pune": ["mr"], "New York": ["es"], "London": ["ur", "fr"],
}
# Per pool: (female first names, male first names, family names).
NAMES = {
    "in": (
        ["Aarti", "Ananya", "Priya", "Kavya", "Sneha", "Pooja", "Meera", "Divya", "Lakshmi", "Neha", "Isha",
         "Riya", "Sunita", "Fatima", "Zara", "Shreya", "Anjali", "Deepa", "Nandini", "Swati"],
        ["Aarav", "Rohan", "Vikram", "Arjun", "Rahul", "Amit", "Sanjay", "Karthik", "Imran", "Vivek",
         "Aditya", "Suresh", "Rajesh", "Manoj", "Farhan", "Nikhil", "Harish", "Pranav", "Siddharth", "Varun"],
        ["Sharma", "Verma", "Iyer", "Nair", "Reddy", "Patel", "Shah", "Mehta", "Gupta", "Singh", "Khan",
         "Das", "Banerjee", "Chatterjee", "Kulkarni", "Joshi", "Rao", "Pillai", "Menon", "Bose", "Agarwal",
         "Desai", "Mishra", "Naidu", "Fernandes", "Qureshi", "Kapoor", "Malhotra", "Chopra", "Ghosh"],
    ),
    "west": (
        ["Emily", "Olivia", "Sarah", "Jessica", "Hannah", "Grace", "Chloe", "Sophie", "Amelia", "Laura"],
        ["James", "Michael", "David", "Daniel", "Thomas", "Oliver", "William", "Jack", "Ethan", "Samuel"],
        ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Clarke", "Walker", "Robinson",
         "Garcia", "Martinez", "Lee", "Thompson", "White"],
    ),
    "gulf": (["Fatima", "Aisha", "Mariam", "Noor", "Layla"], ["Omar", "Khalid", "Yusuf", "Hamdan", "Tariq"],
             ["Haddad", "Nasser", "Saleh", "Rahman", "Aziz"]),
    "ke": (["Wanjiru", "Achieng", "Njeri", "Akinyi", "Wambui"], ["Kamau", "Otieno", "Mwangi", "Kiprop",
           "Omondi"], ["Kamau", "Otieno", "Mwangi", "Odhiambo", "Wanjiku"]),
}
BLOOD_GROUPS = [
    (BloodGroup.B_POS, 30), (BloodGroup.O_POS, 28), (BloodGroup.A_POS, 20), (BloodGroup.AB_POS, 7),
    (BloodGroup.B_NEG, 2), (BloodGroup.O_NEG, 2), (BloodGroup.A_NEG, 2), (BloodGroup.AB_NEG, 1),
    (BloodGroup.UNKNOWN, 8),
]
# Chronic conditions: (name, ICD-10, minimum age, the medicine taken for it or "").
CHRONIC = [
    ("Essential hypertension", "I10", 30, "Amlodipine 5 mg"),
    ("Type 2 diabetes mellitus", "E11.9", 30, "Metformin 500 mg"),
    ("Asthma", "J45.909", 5, "Salbutamol inhaler"),
    ("Hypothyroidism", "E03.9", 20, "Levothyroxine 50 mcg"),
    ("Hyperlipidaemia", "E78.5", 35, "Atorvastatin 20 mg"),
    ("Gastro-oesophageal reflux disease", "K21.9", 18, "Omeprazole 20 mg"),
    ("Migraine", "G43.909", 14, ""),
    ("Osteoarthritis of knee", "M17.9", 45, ""),
    ("Atrial fibrillation", "I48.91", 55, "Warfarin 5 mg"),
    ("Depression", "F32.9", 16, "Sertraline 50 mg"),
]
# Allergies as clinicians write them: (substance, reaction, severity, weight). The interaction
# table matches the drug classes among them against prescribed medicines.
ALLERGIES = [
    ("Penicillins", "Hives", Severity.MODERATE, 5),
    ("Penicillins", "Anaphylaxis", Severity.SEVERE, 1),
    ("Sulfa drugs", "Rash", Severity.MILD, 2),
    ("NSAIDs", "Wheezing", Severity.MODERATE, 2),
    ("Macrolides", "Nausea and vomiting", Severity.MILD, 1),
    ("Peanuts", "Swelling of lips", Severity.SEVERE, 2),
    ("Dust mites", "Sneezing, itchy eyes", Severity.MILD, 3),
    ("Shellfish", "Hives", Severity.MODERATE, 1),
    ("Latex", "Contact dermatitis", Severity.MILD, 1),
]
# The catalogue's drug class for each allergy that is one (a careful doctor avoids the class).
ALLERGY_CLASSES = {"Penicillins": "penicillins", "Sulfa drugs": "sulfonamide antibiotics",
                   "NSAIDs": "NSAIDs", "Macrolides": "macrolides"}
SURGERIES = ["Appendectomy", "Laparoscopic cholecystectomy", "Caesarean section", "Tonsillectomy",
             "Knee arthroscopy", "Cataract surgery", "Inguinal hernia repair"]
FAMILY = [("Father", "Type 2 diabetes"), ("Mother", "Hypertension"), ("Father", "Coronary artery disease"),
          ("Mother", "Hypothyroidism"), ("Sibling", "Asthma"), ("Grandparent", "Breast cancer"),
          ("Mother", "Osteoporosis")]
INSURERS = {"IN": ["Star Health", "HDFC ERGO", "ICICI Lombard", "Niva Bupa", "Care Health"],
            "US": ["Aetna", "Blue Cross Blue Shield", "UnitedHealthcare"], "GB": ["Bupa", "AXA Health"],
            "AE": ["Daman", "AXA Gulf"], "KE": ["NHIF", "Jubilee Health"]}
RECORDS = [
    (RecordType.LAB_REPORT, "Complete blood count", "Values within reference ranges."),
    (RecordType.LAB_REPORT, "HbA1c", "HbA1c 7.2%."),
    (RecordType.LAB_REPORT, "Lipid profile", "LDL 142 mg/dL, HDL 44 mg/dL."),
    (RecordType.LAB_REPORT, "Thyroid function tests", "TSH 6.1 mIU/L."),
    (RecordType.IMAGING, "Chest X-ray PA view", "No active lung lesion."),
    (RecordType.VACCINATION, "COVID-19 booster", "Second booster dose."),
    (RecordType.DISCHARGE_SUMMARY, "Discharge summary: dengue fever", "Platelets recovered."),
]
LABS = ["City Diagnostics", "Metropolis Labs", "SRL Diagnostics", "Apollo Diagnostics", "Quest Diagnostics"]
CASES = [
    Case("Fever and sore throat", ("fever", "sore throat", "pain on swallowing"),
         "Acute pharyngitis", "J02.9", "Warm saline gargles, fluids, rest.",
         (("paracetamol", "tablet", "1 tablet", "TDS", 3, 9, "After food, when feverish"),
          ("amoxicillin", "capsule", "1 capsule", "TDS", 5, 15, "Complete the course")),
         ("general-medicine", "family-medicine", "ent"), fever=True, weight=6),
    Case("Cough and runny nose", ("cough", "runny nose", "sneezing"),
         "Acute upper respiratory infection", "J06.9", "Steam inhalation, fluids; return if breathless.",
         (("paracetamol", "tablet", "1 tablet", "TDS", 3, 9, "When needed for fever"),
          ("cetirizine", "tablet", "1 tablet", "QHS", 5, 5, "May cause drowsiness")),
         ("general-medicine", "family-medicine", "paediatrics"), fever=True, weight=7),
    Case("Recurring headaches", ("headache", "nausea", "light sensitivity"),
         "Migraine without aura", "G43.009", "Headache diary; regular sleep and meals.",
         (("ibuprofen", "tablet", "1 tablet", "PRN", 10, 10, "At onset, with food; max 3 a day"),),
         ("neurology", "general-medicine"), weight=3),
    Case("High blood pressure readings at home", ("headache", "dizziness"),
         "Essential hypertension", "I10", "Low-salt diet, 30 minutes of walking daily; home BP log.",
         (("amlodipine", "tablet", "1 tablet", "OD", 30, 30, "Same time every day"),),
         ("cardiology", "internal-medicine", "general-medicine"), weight=5),
    Case("Increased thirst and frequent urination", ("thirst", "frequent urination", "fatigue"),
         "Type 2 diabetes mellitus without complications", "E11.9", "Diet counselling; HbA1c in 3 months.",
         (("metformin", "tablet", "1 tablet", "BD", 30, 60, "With breakfast and dinner"),),
         ("endocrinology", "internal-medicine", "general-medicine"), weight=5),
    Case("Burning on passing urine", ("burning urination", "frequency", "lower abdominal pain"),
         "Urinary tract infection", "N39.0", "Plenty of fluids; urine culture if not better in 48 h.",
         (("ciprofloxacin", "tablet", "1 tablet", "BD", 5, 10, "Avoid with milk or antacids"),),
         ("general-medicine", "urology", "obstetrics-gynaecology"), weight=3),
    Case("Heartburn after meals", ("heartburn", "sour taste", "bloating"),
         "Gastro-oesophageal reflux disease", "K21.9", "Small meals; nothing within 3 hours of bedtime.",
         (("pantoprazole", "tablet", "1 tablet", "OD", 14, 14, "Before breakfast"),),
         ("gastroenterology", "general-medicine"), weight=4),
    Case("Wheezing at night", ("wheezing", "cough at night", "chest tightness"),
         "Asthma, unspecified", "J45.909", "Inhaler technique reviewed; avoid triggers.",
         (("salbutamol", "inhaler", "2 puffs", "PRN", 30, 1, "When breathless"),
          ("budesonide", "inhaler", "1 puff", "BD", 30, 1, "Rinse mouth after use")),
         ("pulmonology", "general-medicine", "paediatrics"), weight=3),
    Case("Lower back pain", ("back pain", "stiffness"),
         "Low back pain, unspecified", "M54.50", "Stay active; physiotherapy exercises; heat packs.",
         (("diclofenac", "tablet", "1 tablet", "BD", 5, 10, "After food"),
          ("paracetamol", "tablet", "1 tablet", "TDS", 5, 15, "After food")),
         ("orthopaedics", "physiotherapy", "general-medicine"), weight=4),
    Case("Itchy rash on arms", ("itching", "dry skin", "rash"),
         "Atopic dermatitis", "L20.9", "Fragrance-free moisturiser twice daily.",
         (("hydrocortisone", "cream", "thin layer", "BD", 7, 1, "On affected skin only"),
          ("cetirizine", "tablet", "1 tablet", "QHS", 7, 7, "")),
         ("dermatology",), weight=3),
    Case("Low mood and poor sleep", ("low mood", "poor sleep", "loss of interest"),
         "Depressive episode, unspecified", "F32.9", "Counselling referral; review in 2 weeks.",
         (("sertraline", "tablet", "1 tablet", "OD", 30, 30, "In the morning"),),
         ("psychiatry", "psychology", "general-medicine"), weight=2),
    Case("Tiredness and weight gain", ("fatigue", "weight gain", "feeling cold"),
         "Hypothyroidism, unspecified", "E03.9", "Repeat TSH in 6 weeks.",
         (("levothyroxine", "tablet", "1 tablet", "OD", 42, 42, "Empty stomach, before breakfast"),),
         ("endocrinology", "general-medicine"), weight=2),
    Case("Loose stools and vomiting", ("diarrhoea", "vomiting", "abdominal cramps"),
         "Gastroenteritis and colitis of unspecified origin", "A09", "Oral rehydration; bland diet.",
         (("ondansetron", "tablet", "1 tablet", "TDS", 2, 6, "When nauseous"),),
         ("general-medicine", "gastroenterology", "paediatrics"), fever=True, weight=3),
    Case("Sneezing and blocked nose every morning", ("sneezing", "blocked nose", "itchy eyes"),
         "Allergic rhinitis due to other allergen", "J30.89", "Dust-mite covers for bedding.",
         (("cetirizine", "tablet", "1 tablet", "OD", 14, 14, ""),
          ("montelukast", "tablet", "1 tablet", "QHS", 14, 14, "")),
         ("ent", "general-medicine"), weight=2),
    Case("Red sticky eye", ("red eye", "discharge"),
         "Acute conjunctivitis, unspecified", "H10.30", "Hand hygiene; separate towels.",
         (("chloramphenicol", "drops", "1 drop", "QID", 5, 1, "Affected eye"),),
         ("ophthalmology", "general-medicine"), weight=2),
    Case("Fever, body ache and loss of smell", ("fever", "body ache", "loss of smell"),
         "COVID-19", "U07.1", "Isolate; pulse oximeter checks; seek care if SpO2 below 94%.",
         (("paracetamol", "tablet", "1 tablet", "TDS", 5, 15, "When feverish"),),
         ("general-medicine", "infectious-diseases", "pulmonology"), fever=True, weight=2),
    Case("Follow-up: cholesterol report", ("no symptoms",),
         "Hyperlipidaemia, unspecified", "E78.5", "Diet and exercise; lipid profile in 3 months.",
         (("atorvastatin", "tablet", "1 tablet", "QHS", 30, 30, ""),),
         ("cardiology", "internal-medicine", "general-medicine"), weight=3),
    Case("Painful swollen big toe", ("joint pain", "swelling", "redness"),
         "Gout, unspecified", "M10.9", "Avoid alcohol and red meat; fluids.",
         (("colchicine", "tablet", "1 tablet", "BD", 5, 10, "Stop if diarrhoea"),),
         ("rheumatology", "general-medicine"), weight=1),
    Case("Toothache", ("tooth pain", "sensitivity to cold"),
         "Dental caries, unspecified", "K02.9", "Book a filling; soft brush.",
         (("paracetamol", "tablet", "1 tablet", "TDS", 3, 9, "After food"),),
         ("dentistry",), weight=1),
    Case("Stress at work", ("anxiety", "poor sleep"),
         "Adjustment disorder, unspecified", "F43.20", "Cognitive behavioural therapy, weekly.",
         (), ("psychology", "psychiatry"), weight=1),
]
# Clinic services: (name, minutes, price in rupees; converted for clinics abroad).
SERVICES = [
    ("General consultation", 15, 500), ("Blood pressure check", 10, 100), ("HbA1c test", 10, 450),
    ("ECG", 20, 350), ("Vaccination", 15, 300), ("Wound dressing", 20, 250), ("Physiotherapy", 45, 800),
    ("Dental cleaning", 30, 1200), ("Eye examination", 20, 400), ("Lab sample collection", 10, 150),
]
CLINIC_NAMES = ["Sunrise", "Lotus", "Apollo Family", "Green Cross", "CarePoint", "Sanjeevani", "Lifeline",
                "Harmony", "Shanti", "Medicare Plus", "City Care", "Wellness First", "Arogya", "Nova",
                "Cedar"]
CLINIC_KINDS = ["Clinic", "Family Clinic", "Health Centre", "Polyclinic", "Medical Centre"]
REVIEW_TEXT = {
    5: ["Very thorough and kind.", "Explained everything clearly.", "Felt much better in two days.", ""],
    4: ["Helpful consultation.", "Good advice, a short wait.", ""],
    3: ["It was okay.", "Started late, but useful.", ""],
    2: ["Felt rushed.", "Video kept freezing."],
    1: ["Doctor did not listen.", "Very late start."],
}
CLINIC_REVIEW_TEXT = ["Clean and on time.", "Friendly staff.", "Long queue at reception.", ""]
PATIENT_NOTE_TEXT = ["Reliable historian.", "Anxious about symptoms; reassured.",
                     "Lives alone; check support at follow-up."]
# fmt: on
OVERRIDE_REASON = "Benefits outweigh the risk for this patient; counselled, monitoring arranged."


def _weighted(rng: random.Random, pairs: list[tuple[Any, int]]) -> Any:
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights)[0]


def _price(rupees: int, currency: str) -> int:
    """A price list in rupees, in the clinic's currency: minor units, rounded to 50."""
    per_unit = {"INR": 1, "USD": 83, "GBP": 105}[currency]
    return max(500, round(rupees * 100 / per_unit / 50) * 50) if per_unit > 1 else rupees * 100


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


# --- The seeder ------------------------------------------------------------------------------------


@dataclass
class _Doctor:
    user: User
    city: City
    profile: DoctorProfile | None = None
    clinic: Clinic | None = None
    past: list = field(default_factory=list)  # free slots that are over
    future: list = field(default_factory=list)  # free slots that start later
    specialisations: list[str] = field(default_factory=list)
    weight: float = 1.0


@dataclass
class _Patient:
    user: User
    city: City
    age: int
    sex: str
    allergy_classes: set[str] = field(default_factory=set)
    busy: list = field(default_factory=list)


class Seeder:
    """Builds the data set in memory with one seeded random generator, then writes it in bulk."""

    def __init__(self, *, patients: int, doctors: int, clinics: int, seed: int) -> None:
        self.sizes = {"patients": patients, "doctors": doctors, "clinics": clinics}
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        self.now = timezone.now().replace(second=0, microsecond=0)
        self.cutoff = timedelta(hours=settings.BOOKING_CHANGE_CUTOFF_HOURS)
        self.consultations: list[Consultation] = []
        self.used_slots: set[tuple[Any, datetime]] = set()
        self.verification_code = ""

    # Users --------------------------------------------------------------------------------------

    def _name(self, city: City, sex: str) -> tuple[str, str]:
        female, male, last = NAMES[city.names]
        first = self.rng.choice(female if sex == Sex.FEMALE else male)
        return first, self.rng.choice(last)

    def _user(
        self, phone: str, role: str, first: str, last: str, zone: str, joined: datetime, tag: str
    ) -> User:
        return User(
            id=_uuid(self.rng),
            phone=phone,
            role=role,
            first_name=first,
            last_name=last,
            email=f"{first}.{last}.{tag}@{DEMO_EMAIL_DOMAIN}".lower().replace(" ", ""),
            timezone=zone,
            language="en",
            date_joined=joined,
            phone_verified_at=joined,
            password=make_password(None),
            is_staff=False,
            is_superuser=False,
        )

    def _days_ago(self, low: float, high: float) -> datetime:
        return self.now - timedelta(days=self.rng.uniform(low, high))

    def create_admin(self) -> None:
        self.admin = User.objects.create_user(
            ADMIN_PHONE,
            role=Role.ADMIN,
            first_name="Asha",
            last_name="Menon",
            email=f"admin@{DEMO_EMAIL_DOMAIN}",
            timezone="Asia/Kolkata",
            date_joined=self.now - timedelta(days=720),
            phone_verified_at=self.now - timedelta(days=720),
        )

    # Doctors ------------------------------------------------------------------------------------

    def create_doctors(self) -> None:
        rng, n = self.rng, self.sizes["doctors"]
        specialisations = {s.slug: s.pk for s in Specialisation.objects.all()}
        languages = {lang.code: lang.pk for lang in Language.objects.all()}
        n_rejected = n // 20
        n_pending = max(1, n // 10) if n >= 3 else 0
        statuses = (
            [VerificationStatus.VERIFIED] * (n - n_pending - n_rejected)
            + [VerificationStatus.PENDING] * n_pending
            + [VerificationStatus.REJECTED] * n_rejected
        )
        self.doctors: list[_Doctor] = []
        profiles, m2m_spec, m2m_lang, education, experience = [], [], [], [], []
        for i in range(n):
            city = CITIES["Mumbai"] if i == 0 else CITIES[_weighted(rng, DOCTOR_CITIES)]
            sex = rng.choice([Sex.FEMALE, Sex.MALE])
            first, last = self._name(city, sex)
            joined = self._days_ago(120, 900)
            user = self._user(doctor_phone(i), Role.DOCTOR, first, last, city.zone, joined, f"dr{i}")
            doctor = _Doctor(user=user, city=city, weight=rng.lognormvariate(0, 0.6))
            slugs = (
                ["general-medicine"]
                if i == 0
                else rng.sample(sorted(specialisations), k=rng.choice([1, 1, 2]))
            )
            if i and rng.random() < 0.35:
                slugs = ["general-medicine", *[s for s in slugs if s != "general-medicine"]][:2]
            doctor.specialisations = slugs
            status = statuses[i]
            years = rng.randint(2, 35)
            currency = "INR" if city.country == "IN" else "USD"
            fee = rng.randrange(300, 1550, 50) * 100 if currency == "INR" else rng.randrange(40, 155, 5) * 100
            profile = DoctorProfile(
                user=user,
                registration_number=f"DEMO-{city.country}-{i:05d}",
                council=COUNCILS.get(city.name, COUNCILS[city.country]),
                fee_amount=fee,
                fee_currency=currency,
                bio=f"{years} years in {', '.join(s.replace('-', ' ') for s in slugs)}. Consults in English"
                + ("" if city.country != "IN" else " and Hindi")
                + ".",
                years_of_experience=years,
                verification_status=status,
                verified_by=self.admin if status == VerificationStatus.VERIFIED else None,
                verified_at=joined + timedelta(days=2) if status == VerificationStatus.VERIFIED else None,
                rejection_reason=(
                    "The registration number does not match the council's register; upload your certificate."
                    if status == VerificationStatus.REJECTED
                    else ""
                ),
                slot_minutes=30 if i == 0 else rng.choice([15, 20, 30, 30]),
                buffer_minutes=rng.choice([0, 0, 5]),
                created_at=joined,
            )
            doctor.profile = profile
            profiles.append(profile)
            self.doctors.append(doctor)
        User.objects.bulk_create([d.user for d in self.doctors])
        DoctorProfile.objects.bulk_create(profiles)
        for doctor in self.doctors:
            profile, city = doctor.profile, doctor.city
            for slug in doctor.specialisations:
                m2m_spec.append(
                    DoctorProfile.specialisations.through(
                        doctorprofile_id=profile.pk, specialisation_id=specialisations[slug]
                    )
                )
            codes = ["en"] + (["hi"] if city.country == "IN" else [])
            codes += [c for c in LOCAL_LANGUAGES.get(city.name, []) if rng.random() < 0.6]
            for code in dict.fromkeys(codes):
                m2m_lang.append(
                    DoctorProfile.languages.through(doctorprofile_id=profile.pk, language_id=languages[code])
                )
            graduated = self.now.year - profile.years_of_experience - 1
            school = rng.choice(MEDICAL_SCHOOLS[city.country])
            education.append(
                Education(
                    doctor=profile,
                    degree="MBBS" if city.country != "US" else "MD",
                    institution=school,
                    year=graduated,
                )
            )
            if profile.years_of_experience > 6 and city.country == "IN":
                education.append(
                    Education(doctor=profile, degree="MD", institution=school, year=graduated + 4)
                )
            experience.append(
                Experience(
                    doctor=profile,
                    organisation=rng.choice(HOSPITALS[city.country]),
                    title="Consultant" if profile.years_of_experience > 8 else "Resident",
                    start_date=date(graduated + 1, rng.randint(1, 12), 1),
                    end_date=None,
                )
            )
        DoctorProfile.specialisations.through.objects.bulk_create(m2m_spec)
        DoctorProfile.languages.through.objects.bulk_create(m2m_lang)
        Education.objects.bulk_create(education)
        Experience.objects.bulk_create(experience)

    # Clinics ------------------------------------------------------------------------------------

    def create_clinics(self) -> None:
        rng, n = self.rng, self.sizes["clinics"]
        self.clinics: list[Clinic] = []
        staff: list[User] = []
        medications = list(Medication.objects.order_by("id"))
        for c in range(n):
            city = CITIES["Mumbai"] if c == 0 else CITIES[CLINIC_CITIES[c % len(CLINIC_CITIES)]]
            manager_sex, assistant_sex = (
                rng.choice([Sex.FEMALE, Sex.MALE]),
                rng.choice([Sex.FEMALE, Sex.MALE]),
            )
            joined = self._days_ago(200, 800)
            manager = self._user(
                clinic_staff_phone(2 * c),
                Role.PATIENT,
                *self._name(city, manager_sex),
                city.zone,
                joined,
                f"clinic{c}",
            )
            assistant = self._user(
                clinic_staff_phone(2 * c + 1),
                Role.PATIENT,
                *self._name(city, assistant_sex),
                city.zone,
                joined,
                f"clinic{c}-staff",
            )
            staff += [manager, assistant]
            if n >= 3 and c == n - 1:
                status = VerificationStatus.PENDING
            elif n >= 8 and c == n - 2:
                status = VerificationStatus.REJECTED
            else:
                status = VerificationStatus.VERIFIED
            name = f"{CLINIC_NAMES[c % len(CLINIC_NAMES)]} {rng.choice(CLINIC_KINDS)}"
            if c >= len(CLINIC_NAMES):
                name += f" {city.name} {c // len(CLINIC_NAMES) + 1}"
            self.clinics.append(
                Clinic(
                    name=name,
                    description=f"Walk-in and booked consultations in {city.name}.",
                    phone=clinic_staff_phone(2 * c),
                    email=f"clinic{c}@{DEMO_EMAIL_DOMAIN}",
                    verification_status=status,
                    rejection_reason="Licence document is illegible."
                    if status == VerificationStatus.REJECTED
                    else "",
                    verified_by=self.admin if status == VerificationStatus.VERIFIED else None,
                    verified_at=joined + timedelta(days=3) if status == VerificationStatus.VERIFIED else None,
                    created_by=manager,
                    created_at=joined,
                    **self._address(city, spread=0.06),
                )
            )
        User.objects.bulk_create(staff)
        Clinic.objects.bulk_create(self.clinics)
        members, services, stock = [], [], []
        for c, clinic in enumerate(self.clinics):
            manager, assistant = staff[2 * c], staff[2 * c + 1]
            members += [
                ClinicMember(clinic=clinic, user=manager, role=ClinicRole.ADMIN, joined_at=clinic.created_at),
                ClinicMember(
                    clinic=clinic, user=assistant, role=ClinicRole.STAFF, joined_at=clinic.created_at
                ),
            ]
            currency = CLINIC_CURRENCY[clinic.country]
            for name, minutes, rupees in rng.sample(SERVICES, k=rng.randint(3, 6)):
                services.append(
                    ClinicService(
                        clinic=clinic,
                        name=name,
                        price_amount=_price(rupees, currency),
                        price_currency=currency,
                        duration_minutes=minutes,
                        active=rng.random() > 0.1,
                    )
                )
            for medication in rng.sample(medications, k=min(len(medications), rng.randint(8, 15))):
                threshold = rng.choice([10, 20, 50])
                low = rng.random() < 0.2
                stock.append(
                    InventoryItem(
                        clinic=clinic,
                        medication=medication,
                        stock=rng.randint(0, threshold)
                        if low
                        else rng.randint(threshold + 1, threshold * 10),
                        low_stock_threshold=threshold,
                        unit="strips" if medication.form in ("tablet", "capsule") else "units",
                    )
                )
        # Verified doctors practise at a verified clinic in their country, at most one each.
        verified_clinics = [c for c in self.clinics if c.verification_status == VerificationStatus.VERIFIED]
        for doctor in self.doctors:
            if doctor.profile.verification_status != VerificationStatus.VERIFIED:
                continue
            options = [c for c in verified_clinics if c.country == doctor.city.country]
            same_city = [c for c in options if c.city == doctor.city.name]
            if doctor.user.phone == doctor_phone(0) and verified_clinics:
                doctor.clinic = self.clinics[0]
            elif (same_city or options) and rng.random() < 0.5:
                doctor.clinic = rng.choice(same_city or options)
            if doctor.clinic is not None:
                members.append(
                    ClinicMember(
                        clinic=doctor.clinic,
                        user=doctor.user,
                        role=ClinicRole.DOCTOR,
                        joined_at=doctor.clinic.created_at,
                    )
                )
        ClinicMember.objects.bulk_create(members)
        ClinicService.objects.bulk_create(services)
        InventoryItem.objects.bulk_create(stock)

    def _address(self, city: City, *, spread: float) -> dict[str, Any]:
        rng = self.rng
        postal = city.postal
        if city.country in ("IN", "US"):
            postal += f"{rng.randint(1, 99):02d}"
        elif city.country == "GB":
            postal += (
                f"{rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
            )
        elif city.country == "KE":
            postal += f"{rng.randint(100, 999)}"
        return {
            "address_line": f"{rng.randint(1, 250)}, {rng.choice(city.streets)}",
            "city": city.name,
            "state": city.state,
            "country": city.country,
            "postal_code": postal,
            "latitude": Decimal(f"{city.lat + rng.uniform(-spread, spread):.6f}"),
            "longitude": Decimal(f"{city.lng + rng.uniform(-spread, spread):.6f}"),
        }

    # Availability -------------------------------------------------------------------------------

    def create_availability(self) -> None:
        rng = self.rng
        rules, exceptions = [], []
        patterns = [
            [(d, time(9), time(13)) for d in range(5)],
            [(d, t0, t1) for d in (0, 2, 4) for t0, t1 in ((time(10), time(13)), (time(17), time(20)))],
            [(d, time(8), time(12)) for d in range(1, 6)],
        ]
        for i, doctor in enumerate(self.doctors):
            profile = doctor.profile
            for weekday, start, end in patterns[0 if i == 0 else rng.randrange(len(patterns))]:
                rules.append(
                    AvailabilityRule(doctor=profile, weekday=weekday, start_time=start, end_time=end)
                )
            if doctor.clinic is not None:
                for weekday in sorted(rng.sample(range(5), k=2)):
                    rules.append(
                        AvailabilityRule(
                            doctor=profile,
                            weekday=weekday,
                            start_time=time(14),
                            end_time=time(17),
                            clinic=doctor.clinic,
                        )
                    )
            if profile.verification_status != VerificationStatus.VERIFIED or i == 0:
                continue
            today = self.now.astimezone(zoneinfo.ZoneInfo(doctor.city.zone)).date()
            if rng.random() < 0.25:
                day = today + timedelta(days=rng.randint(3, 13))
                exceptions.append(
                    AvailabilityException(
                        doctor=profile,
                        date=day,
                        kind=ExceptionKind.LEAVE,
                        reason=rng.choice(["Conference", "Personal leave"]),
                    )
                )
            if rng.random() < 0.15:
                saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
                exceptions.append(
                    AvailabilityException(
                        doctor=profile,
                        date=saturday,
                        kind=ExceptionKind.EXTRA,
                        start_time=time(14),
                        end_time=time(16),
                        reason="Extra Saturday hours",
                    )
                )
        AvailabilityRule.objects.bulk_create(rules)
        AvailabilityException.objects.bulk_create(exceptions)
        by_profile: dict[int, list] = defaultdict(list)
        for rule in rules:
            by_profile[rule.doctor_id].append(rule)
        leave: dict[int, list] = defaultdict(list)
        for exception in exceptions:
            leave[exception.doctor_id].append(exception)
        for doctor in self.doctors:
            if doctor.profile.verification_status != VerificationStatus.VERIFIED:
                continue
            profile = doctor.profile
            profile.user = doctor.user
            # Fill the prefetch caches candidate_slots() reads, so computing slots costs no query.
            profile._prefetched_objects_cache = {
                "availability_rules": by_profile[profile.pk],
                "availability_exceptions": leave[profile.pk],
            }
            self._load_slots(doctor)

    def _load_slots(self, doctor: _Doctor) -> None:
        zone = zoneinfo.ZoneInfo(doctor.city.zone)
        today = self.now.astimezone(zone).date()
        # An hour's margin on either side of now: those slots are neither over nor bookable ahead.
        past = (self.now - timedelta(days=90), self.now - timedelta(hours=1))
        future = (self.now + timedelta(hours=1), self.now + timedelta(days=14))
        for offset in range(-91, 15):
            for slot in candidate_slots(doctor.profile, today + timedelta(days=offset)):
                if past[0] <= slot.start and slot.end <= past[1]:
                    doctor.past.append(slot)
                elif future[0] <= slot.start <= future[1]:
                    doctor.future.append(slot)

    # Patients -----------------------------------------------------------------------------------

    def create_patients(self) -> None:
        rng = self.rng
        self.patients: list[_Patient] = []
        profiles = []
        rows: dict[type, list] = defaultdict(list)
        for i in range(self.sizes["patients"]):
            city = CITIES["Mumbai"] if i == 0 else CITIES[_weighted(rng, PATIENT_CITIES)]
            sex = _weighted(rng, [(Sex.FEMALE, 49), (Sex.MALE, 49), (Sex.OTHER, 1), (Sex.UNKNOWN, 1)])
            age = 34 if i == 0 else max(1, min(90, int(rng.gauss(38, 18))))
            first, last = self._name(city, Sex.FEMALE if sex == Sex.FEMALE else Sex.MALE)
            joined = self._days_ago(95, 700)
            user = self._user(patient_phone(i), Role.PATIENT, first, last, city.zone, joined, f"p{i}")
            patient = _Patient(user=user, city=city, age=age, sex=sex)
            self.patients.append(patient)
            born = self.now.date() - timedelta(days=age * 365 + rng.randint(0, 364))
            height = self._height(age, sex)
            bmi = rng.uniform(18.5, 31) if age >= 18 else rng.uniform(14, 21)
            profiles.append(
                PatientProfile(
                    user=user,
                    date_of_birth=born,
                    sex=sex,
                    blood_group=_weighted(rng, BLOOD_GROUPS),
                    height_cm=Decimal(f"{height:.1f}"),
                    weight_kg=Decimal(f"{bmi * (height / 100) ** 2:.1f}"),
                    created_at=joined,
                    **self._address(city, spread=0.08),
                )
            )
            self._history(patient, joined, rows, showcase=i == 0)
        User.objects.bulk_create([p.user for p in self.patients])
        PatientProfile.objects.bulk_create(profiles)
        for model, objects in rows.items():
            model.objects.bulk_create(objects)

    def _height(self, age: int, sex: str) -> float:
        adult = self.rng.gauss(171, 7) if sex == Sex.MALE else self.rng.gauss(158, 6)
        if age >= 18:
            return max(140.0, min(200.0, adult))
        return max(75.0, min(adult, 75 + age * 6.0))

    def _history(
        self, patient: _Patient, joined: datetime, rows: dict[type, list], *, showcase: bool
    ) -> None:
        """A medical history; the ``showcase`` patient (the demo login) has an entry of every kind."""
        rng, user, age = self.rng, patient.user, patient.age
        today = self.now.date()
        eligible = [c for c in CHRONIC if age >= c[2]]
        chances = 0.15 + min(age, 70) / 100
        for n, (name, code, _min_age, medicine) in enumerate(rng.sample(eligible, k=min(len(eligible), 3))):
            if not (showcase and n == 0) and rng.random() > chances / 2:
                continue
            since = today - timedelta(days=rng.randint(200, 365 * max(1, min(age - 5, 20))))
            rows[Condition].append(
                Condition(patient=user, name=name, icd10_code=code, since=since, created_at=joined)
            )
            if medicine:
                rows[CurrentMedication].append(
                    CurrentMedication(
                        patient=user,
                        name=medicine,
                        dose="1 tablet" if "inhaler" not in medicine else "2 puffs",
                        frequency="Once a day",
                        started_on=since,
                        created_at=joined,
                    )
                )
        if showcase or rng.random() < 0.25:
            substance, reaction, severity, _ = _weighted(rng, [(a, a[3]) for a in ALLERGIES])
            rows[Allergy].append(
                Allergy(
                    patient=user, substance=substance, reaction=reaction, severity=severity, created_at=joined
                )
            )
            if substance in ALLERGY_CLASSES:
                patient.allergy_classes.add(ALLERGY_CLASSES[substance])
        if age > 12 and (showcase or rng.random() < 0.15):
            procedure = rng.choice(
                SURGERIES if patient.sex == Sex.FEMALE else [s for s in SURGERIES if s != "Caesarean section"]
            )
            rows[Surgery].append(
                Surgery(
                    patient=user,
                    procedure=procedure,
                    created_at=joined,
                    performed_on=today - timedelta(days=rng.randint(365, 365 * max(2, age - 10))),
                )
            )
        for relation, condition in rng.sample(FAMILY, k=2 if showcase else rng.choice([0, 0, 1, 2])):
            rows[FamilyHistory].append(
                FamilyHistory(patient=user, relation=relation, condition=condition, created_at=joined)
            )
        if showcase or rng.random() < 0.4:
            provider = rng.choice(INSURERS[patient.city.country])
            start = today - timedelta(days=rng.randint(30, 300))
            rows[Insurance].append(
                Insurance(
                    patient=user,
                    provider=provider,
                    policy_number=f"{provider[:3].upper()}{rng.randint(10**7, 10**8 - 1)}",
                    valid_from=start,
                    valid_until=start + timedelta(days=365),
                    created_at=joined,
                )
            )
        if showcase or rng.random() < 0.7:
            female, male, last = NAMES[patient.city.names]
            relation = rng.choice(["Spouse", "Parent", "Sibling", "Friend"])
            rows[EmergencyContact].append(
                EmergencyContact(
                    patient=user,
                    name=f"{rng.choice(female + male)} {rng.choice(last)}",
                    relation=relation,
                    phone=f"+9198{rng.randint(10**7, 10**8 - 1)}",
                    created_at=joined,
                )
            )
        if showcase or rng.random() < 0.3:
            for record_type, title, description in rng.sample(RECORDS, k=rng.randint(1, 3)):
                rows[MedicalRecord].append(
                    MedicalRecord(
                        patient=user,
                        record_type=record_type,
                        title=title,
                        description=description,
                        record_date=today - timedelta(days=rng.randint(10, 700)),
                        author_name=rng.choice(LABS),
                        created_at=joined,
                    )
                )

    # Consultations ------------------------------------------------------------------------------

    def _take_slot(self, pool: list, *, after: datetime | None = None, before: datetime | None = None):
        """Remove and return a random free slot of ``pool`` (between ``after`` and ``before``)."""
        if after is None and before is None:
            return pool.pop(self.rng.randrange(len(pool))) if pool else None
        candidates = [
            i
            for i, s in enumerate(pool)
            if (after is None or s.start > after) and (before is None or s.start < before)
        ]
        if not candidates:
            return None
        return pool.pop(self.rng.choice(candidates))

    def _free_patient(self, start: datetime, end: datetime) -> _Patient | None:
        """A patient (frequent ones more often) with nothing else booked at that time."""
        for patient in self.rng.choices(self.patients, cum_weights=self.patient_cum_weights, k=6):
            if all(end <= s or start >= e for s, e in patient.busy):
                return patient
        return None

    def _consultation(
        self,
        doctor: _Doctor,
        patient: _Patient,
        start: datetime,
        state: str,
        *,
        slot_clinic=None,
        booked_at: datetime | None = None,
        **extra: Any,
    ) -> Consultation:
        rng = self.rng
        duration = doctor.profile.slot_minutes
        if slot_clinic is not None and rng.random() < 0.8:
            kind, clinic = ConsultationType.IN_CLINIC, doctor.clinic
        else:
            kind = _weighted(
                rng, [(ConsultationType.VIDEO, 65), (ConsultationType.AUDIO, 20), (ConsultationType.CHAT, 15)]
            )
            clinic = None
        if booked_at is None:
            earliest = max(start - timedelta(days=10), patient.user.date_joined)
            booked_at = min(
                self.now - timedelta(minutes=5), earliest + (start - earliest) * rng.uniform(0.1, 0.95)
            )
        assert (doctor.user.pk, start) not in self.used_slots
        self.used_slots.add((doctor.user.pk, start))
        patient.busy.append((start, start + timedelta(minutes=duration)))
        consultation = Consultation(
            id=_uuid(rng),
            patient=patient.user,
            doctor=doctor.user,
            type=kind,
            state=state,
            scheduled_start=start,
            duration_minutes=duration,
            clinic=clinic,
            booked_by=patient.user if rng.random() < 0.9 else self.admin,
            fee_amount=doctor.profile.fee_amount,
            fee_currency=doctor.profile.fee_currency,
            created_at=booked_at,
            **extra,
        )
        consultation._doctor = doctor  # the seeder's bookkeeping, not a model field
        consultation._patient = patient
        self._fill(consultation)
        self.consultations.append(consultation)
        return consultation

    def _fill(self, c: Consultation) -> None:
        """The timestamps and clinical record a consultation in its state would have."""
        rng = self.rng
        patient, doctor = c._patient, c._doctor
        weights = [
            (case, case.weight * (4 if set(case.specialisations) & set(doctor.specialisations) else 1))
            for case in CASES
        ]
        case: Case = _weighted(rng, weights)
        c._case = case
        end = c.scheduled_start + timedelta(minutes=c.duration_minutes)
        if c.state in (S.SCHEDULED, S.WAITING, S.IN_PROGRESS, S.COMPLETED) and rng.random() < 0.75:
            c.chief_complaint, c.symptoms = case.complaint, list(case.symptoms)
        if c.state in (S.WAITING, S.IN_PROGRESS, S.COMPLETED):
            c.waiting_since = c.scheduled_start - timedelta(minutes=rng.randint(0, 6))
        if c.state in (S.IN_PROGRESS, S.COMPLETED):
            c.started_at = min(c.scheduled_start + timedelta(minutes=rng.randint(0, 6)), self.now)
            c.started_at = max(c.started_at, c.waiting_since)
        if c.state == S.COMPLETED:
            c.ended_at = min(
                c.started_at + timedelta(minutes=c.duration_minutes + rng.randint(-5, 5)), self.now
            )
            c.chief_complaint, c.symptoms = case.complaint, list(case.symptoms)
            c.diagnosis, c.icd10_code, c.treatment_plan = case.diagnosis, case.icd10, case.plan
            if rng.random() < 0.3:
                c.follow_up_date = (c.ended_at + timedelta(days=rng.choice([7, 14, 30]))).date()
        elif c.state == S.CANCELLED:
            by_patient = rng.random() < 0.7
            c.cancelled_by = patient.user if by_patient else doctor.user
            c.cancellation_reason = rng.choice(
                ["Feeling better", "Travelling", "Clash with work", "Booked by mistake"]
                if by_patient
                else ["Emergency at the hospital", "Doctor unwell"]
            )
            latest = min(self.now, c.scheduled_start - self.cutoff)
            c.ended_at = c.created_at + (max(latest, c.created_at) - c.created_at) * rng.uniform(0.2, 1)
        elif c.state == S.NO_SHOW:
            c.ended_at = end + timedelta(minutes=settings.ROOM_JOIN_LATE_MINUTES)
        c.changed_at = c.ended_at or c.started_at or c.waiting_since or c.created_at

    def create_consultations(self) -> None:
        rng = self.rng
        bookable = [d for d in self.doctors if d.profile.verification_status == VerificationStatus.VERIFIED]
        self.patient_cum_weights = list(accumulate(rng.lognormvariate(0, 0.8) for _ in self.patients))
        if bookable:
            self._stories(bookable)
        target = round(len(self.patients) * 3.2)
        forced = [S.NO_SHOW, S.CANCELLED, S.RESCHEDULED, S.COMPLETED]
        forced_future = [S.PENDING_PAYMENT]
        weights = [d.weight for d in bookable]
        attempts = 0
        while bookable and len(self.consultations) < target and attempts < target * 4:
            attempts += 1
            doctor = rng.choices(bookable, weights=weights)[0]
            past = rng.random() < 0.85
            slot = self._take_slot(doctor.past if past else doctor.future)
            if slot is None:
                continue
            patient = self._free_patient(slot.start, slot.end)
            if patient is None:
                continue
            if past:
                state = (
                    forced.pop(0)
                    if forced
                    else _weighted(
                        rng, [(S.COMPLETED, 72), (S.CANCELLED, 12), (S.NO_SHOW, 7), (S.RESCHEDULED, 9)]
                    )
                )
            else:
                state = (
                    forced_future.pop(0)
                    if forced_future
                    else _weighted(
                        rng,
                        [(S.SCHEDULED, 82), (S.PENDING_PAYMENT, 3), (S.CANCELLED, 10), (S.RESCHEDULED, 5)],
                    )
                )
            if state == S.RESCHEDULED:
                self._rescheduled(doctor, patient, slot)
            elif state == S.PENDING_PAYMENT:
                # Booked a moment ago and not paid yet: older ones would have expired.
                booked_at = self.now - timedelta(minutes=rng.randint(1, 10))
                self._consultation(
                    doctor, patient, slot.start, state, slot_clinic=slot.clinic_id, booked_at=booked_at
                )
            else:
                self._consultation(doctor, patient, slot.start, state, slot_clinic=slot.clinic_id)

    def _rescheduled(self, doctor: _Doctor, patient: _Patient, slot) -> Consultation:
        """A booking moved to a later slot of the same doctor: the old one is ``rescheduled``, the
        replacement points back at it and lives its own life."""
        rng = self.rng
        window = (slot.start + timedelta(days=1), slot.start + timedelta(days=10))
        new = self._take_slot(doctor.past, after=window[0], before=window[1]) or self._take_slot(
            doctor.future, after=window[0], before=window[1]
        )
        if new is None or any(not (new.end <= s or new.start >= e) for s, e in patient.busy):
            return self._consultation(doctor, patient, slot.start, S.CANCELLED, slot_clinic=slot.clinic_id)
        booked_at = min(self.now - timedelta(hours=1), slot.start - timedelta(days=rng.uniform(1, 10)))
        old = self._consultation(
            doctor, patient, slot.start, S.RESCHEDULED, slot_clinic=slot.clinic_id, booked_at=booked_at
        )
        latest = min(self.now, slot.start - self.cutoff)
        moved_at = max(booked_at, booked_at + (latest - booked_at) * rng.uniform(0.3, 1))
        old.changed_at = moved_at
        state = S.SCHEDULED
        if new.end <= self.now:
            state = S.COMPLETED if rng.random() < 0.9 else S.NO_SHOW
        replacement = self._consultation(
            doctor,
            patient,
            new.start,
            state,
            slot_clinic=new.clinic_id,
            booked_at=moved_at,
            rescheduled_from=old,
        )
        replacement.type, replacement.clinic = old.type, old.clinic
        replacement.booked_by = old.booked_by
        return replacement

    def _stories(self, bookable: list[_Doctor]) -> None:
        """What the demo logins find: the demo patient has a past visit with a running prescription,
        a reviewed visit at the doctor's clinic, an upcoming booking (that was rescheduled once), and
        is waiting in the demo doctor's room right now; another doctor is in a consultation."""
        rng = self.rng
        demo_doctor = bookable[0]
        demo_patient = self.patients[0]
        if demo_doctor.past:
            slot = demo_doctor.past[-1]  # the latest one that is over: its medicines still run
            demo_doctor.past.remove(slot)
            c = self._consultation(demo_doctor, demo_patient, slot.start, S.COMPLETED)
            c._case = CASES[0]
            c.chief_complaint, c.symptoms = CASES[0].complaint, list(CASES[0].symptoms)
            c.diagnosis, c.icd10_code, c.treatment_plan = CASES[0].diagnosis, CASES[0].icd10, CASES[0].plan
            c._story = True
        clinic_slots = [s for s in demo_doctor.past if s.clinic_id is not None]
        if clinic_slots:  # and an earlier visit at the doctor's clinic, reviewed
            slot = clinic_slots[-1]
            demo_doctor.past.remove(slot)
            c = self._consultation(demo_doctor, demo_patient, slot.start, S.COMPLETED)
            c.type, c.clinic, c._reviewed = ConsultationType.IN_CLINIC, demo_doctor.clinic, True
        upcoming = [s for s in demo_doctor.future if s.start >= self.now + timedelta(hours=26)]
        earlier = [s for s in demo_doctor.past if s.start >= self.now - timedelta(days=5)]
        if upcoming and earlier:
            first, second = earlier[0], upcoming[0]
            demo_doctor.past.remove(first)
            demo_doctor.future.remove(second)
            old = self._consultation(
                demo_doctor,
                demo_patient,
                first.start,
                S.RESCHEDULED,
                booked_at=first.start - timedelta(days=3),
            )
            old.changed_at = first.start - self.cutoff - timedelta(hours=2)
            new = self._consultation(
                demo_doctor,
                demo_patient,
                second.start,
                S.SCHEDULED,
                booked_at=old.changed_at,
                rescheduled_from=old,
            )
            new.type, new.clinic, new.booked_by = old.type, old.clinic, old.booked_by
        # Right now: walk-in style consultations that do not come from the weekly slots.
        start = self.now - timedelta(minutes=self.now.minute % 5)
        if (demo_doctor.user.pk, start) not in self.used_slots:
            self._consultation(
                demo_doctor, demo_patient, start, S.WAITING, booked_at=start - timedelta(minutes=20)
            )
        if len(bookable) > 1:
            doctor = rng.choice(bookable[1:])
            start = self.now - timedelta(minutes=10)
            patient = self._free_patient(start, start + timedelta(minutes=doctor.profile.slot_minutes))
            if patient is not None and (doctor.user.pk, start) not in self.used_slots:
                self._consultation(
                    doctor, patient, start, S.IN_PROGRESS, booked_at=start - timedelta(hours=3)
                )

    def save_consultations(self) -> None:
        # Originals first: a replacement points at the consultation it replaced.
        Consultation.objects.bulk_create([c for c in self.consultations if c.rescheduled_from_id is None])
        Consultation.objects.bulk_create([c for c in self.consultations if c.rescheduled_from_id is not None])
        for model, rows in self.room_logs.items():
            model.objects.bulk_create(rows, batch_size=1000)
        # bulk_create stamped auto_now; put back when each consultation last changed.
        for c in self.consultations:
            c.updated_at = c.changed_at
        Consultation.objects.bulk_update(self.consultations, ["updated_at"], batch_size=1000)

    # The room log: state events, chat, vitals, notes -------------------------------------------

    def _log(
        self,
        c: Consultation,
        events: list,
        payload: dict,
        actor: User | None,
        at: datetime,
        kind: str = EventKind.STATE,
    ) -> None:
        """Append a room event with the consultation's next sequence number."""
        c.last_seq += 1
        events.append(
            ConsultationEvent(
                consultation=c, seq=c.last_seq, kind=kind, actor=actor, payload=payload, created_at=at
            )
        )

    def build_room_logs(self) -> None:
        """Numbered state events (as ``transition_consultation`` writes them), chat, vitals with
        their alerts, and doctors' notes; room seqs have no gaps. Built before the consultations
        are written, so their ``last_seq`` goes in with the insert."""
        rng = self.rng
        events, messages, vitals, notes = [], [], [], []
        for c in self.consultations:
            c.last_seq = 0
            patient, doctor = c.patient, c.doctor
            if c.state in (S.WAITING, S.IN_PROGRESS, S.COMPLETED):
                self._log(c, events, {"from": S.SCHEDULED, "to": S.WAITING}, patient, c.waiting_since)
            if c.state in (S.IN_PROGRESS, S.COMPLETED):
                self._log(c, events, {"from": S.WAITING, "to": S.IN_PROGRESS}, doctor, c.started_at)
                showcase = getattr(c, "_story", False)
                if c.type == ConsultationType.CHAT or showcase or rng.random() < 0.25:
                    for sender, role, text in self._chat(c):
                        c.last_seq += 1
                        messages.append(
                            ChatMessage(
                                consultation=c,
                                seq=c.last_seq,
                                sender=sender,
                                sender_role=role,
                                client_id=f"demo-{c.last_seq}",
                                text=text,
                                created_at=c.started_at + timedelta(seconds=40 * c.last_seq),
                            )
                        )
                in_person = c.type in (ConsultationType.VIDEO, ConsultationType.IN_CLINIC)
                if showcase or (in_person and rng.random() < 0.45):
                    for reading in self._vitals(c):
                        vitals.append(reading)
                        value2 = None if reading.value2 is None else float(reading.value2)
                        abnormal = vital_rules.abnormal_fields(
                            reading.kind, reading.unit, float(reading.value), value2
                        )
                        if abnormal:
                            payload = {
                                "kind": reading.kind,
                                "unit": reading.unit,
                                "value": float(reading.value),
                                "value2": value2,
                                "measured_at": reading.measured_at.isoformat(),
                                "normal_range": {f: list(bounds) for f, bounds in abnormal.items()},
                            }
                            self._log(
                                c, events, payload, reading.recorded_by, reading.measured_at, EventKind.ALERT
                            )
            if c.state == S.COMPLETED:
                self._log(c, events, {"from": S.IN_PROGRESS, "to": S.COMPLETED}, doctor, c.ended_at)
                if getattr(c, "_story", False) or rng.random() < 0.3:
                    notes.append(
                        ConsultationNote(
                            consultation=c,
                            author=doctor,
                            created_at=c.ended_at,
                            text=f"{c.diagnosis}. {c.treatment_plan} Review if no better in a week.",
                        )
                    )
            elif c.state == S.CANCELLED:
                self._log(c, events, {"from": S.SCHEDULED, "to": S.CANCELLED}, c.cancelled_by, c.ended_at)
            elif c.state == S.NO_SHOW:
                self._log(c, events, {"from": S.SCHEDULED, "to": S.NO_SHOW}, doctor, c.ended_at)
            elif c.state == S.RESCHEDULED:
                self._log(c, events, {"from": S.SCHEDULED, "to": S.RESCHEDULED}, c.booked_by, c.changed_at)
            if c.state in (S.COMPLETED, S.CANCELLED, S.NO_SHOW, S.RESCHEDULED):
                c.patient_read_seq = c.doctor_read_seq = c.last_seq
        self.room_logs = {
            ConsultationEvent: events,
            ChatMessage: messages,
            VitalSign: vitals,
            ConsultationNote: notes,
        }
        self.counts["chat messages"] = len(messages)
        self.counts["vital signs"] = len(vitals)

    def _chat(self, c: Consultation) -> list[tuple[User, str, str]]:
        case: Case = c._case
        first = c.patient.first_name
        lines = [
            (c.patient, "patient", f"Hello doctor, {case.complaint.lower()}."),
            (c.doctor, "doctor", f"Hello {first}. Since when, and is it getting better or worse?"),
            (c.patient, "patient", f"About {self.rng.randint(2, 6)} days. Mostly {case.symptoms[0]}."),
            (c.doctor, "doctor", "Any allergies to medicines, and are you taking anything regularly?"),
            (c.patient, "patient", "No allergies that I know of."),
        ]
        if c.state == S.COMPLETED:
            lines.append((c.doctor, "doctor", f"This looks like {case.diagnosis.lower()}. {case.plan}"))
            lines.append((c.patient, "patient", "Thank you, doctor."))
        return lines[: self.rng.randint(3, len(lines))]

    def _vitals(self, c: Consultation) -> list[VitalSign]:
        rng = self.rng
        at = c.started_at + timedelta(minutes=2)
        by = c.doctor if c.type == ConsultationType.IN_CLINIC else c.patient
        hypertensive = c._case.icd10 == "I10"
        systolic = rng.randint(142, 165) if hypertensive else rng.randint(108, 136)
        readings = [
            (VitalKind.HEART_RATE, "bpm", rng.randint(62, 104), None),
            (VitalKind.BLOOD_PRESSURE, "mmHg", systolic, rng.randint(70, min(systolic - 30, 98))),
            (VitalKind.SPO2, "%", rng.randint(94, 100), None),
            (
                VitalKind.TEMPERATURE,
                "C",
                round(rng.uniform(37.8, 39.2) if c._case.fever else rng.uniform(36.3, 37.2), 1),
                None,
            ),
        ]
        rows = []
        for kind, unit, value, value2 in readings:
            abnormal = vital_rules.abnormal_fields(
                kind, unit, float(value), None if value2 is None else float(value2)
            )
            rows.append(
                VitalSign(
                    consultation=c,
                    patient=c.patient,
                    kind=kind,
                    unit=unit,
                    value=Decimal(str(value)),
                    value2=None if value2 is None else Decimal(str(value2)),
                    measured_at=at,
                    recorded_at=at,
                    recorded_by=by,
                    is_abnormal=bool(abnormal),
                )
            )
        return rows

    # Prescriptions (through the services) -------------------------------------------------------

    def create_prescriptions(self) -> None:
        rng = self.rng
        catalogue = {(m.generic_name, m.form): m for m in Medication.objects.order_by("-id")}
        completed = sorted(
            (c for c in self.consultations if c.state == S.COMPLETED), key=lambda c: c.ended_at
        )
        issued, overridden = [], 0
        for c in completed:
            if not getattr(c, "_story", False) and rng.random() > 0.8:
                continue
            items = self._items(c, catalogue)
            if not items:
                continue
            if getattr(c, "_story", False):  # a week's course: still running when the demo is tried
                for item in items:
                    item["quantity"] = -(-item["quantity"] * 7 // item["duration_days"])
                    item["duration_days"] = 7
            prescription = prescription_services.create_prescription(
                c.doctor, c, notes=c.treatment_plan, items=items
            )
            at = min(c.ended_at + timedelta(minutes=rng.randint(1, 10)), self.now)
            prescription, was_overridden = self._issue(c.doctor, prescription, drafted_at=c.ended_at, at=at)
            overridden += was_overridden
            issued.append((c, prescription))
            if getattr(c, "_story", False):
                self.verification_code = prescription.verification_code
        # A few corrections: version 2 with a longer course supersedes version 1.
        revised = 0
        for c, prescription in issued:
            if getattr(c, "_story", False) or rng.random() > 0.04:
                continue
            at = prescription.issued_at + timedelta(hours=rng.randint(1, 20))
            if at >= self.now:
                continue
            draft = prescription_services.revise_prescription(c.doctor, prescription)
            items = [
                {name: getattr(item, name) for name in prescription_services.ITEM_FIELDS}
                for item in draft.items.select_related("medication")
            ]
            items[0]["duration_days"] += 2
            prescription_services.update_prescription(
                c.doctor, draft, items=items, notes=draft.notes + " Extended."
            )
            self._issue(c.doctor, draft, drafted_at=at - timedelta(minutes=15), at=at)
            revised += 1
        # The consultation under way right now has a draft the doctor is still writing.
        for c in self.consultations:
            if c.state == S.IN_PROGRESS and (items := self._items(c, catalogue)):
                prescription_services.create_prescription(c.doctor, c, notes="Draft", items=items)
        self.counts["prescriptions issued"] = len(issued) + revised
        self.counts["severe warnings overridden"] = overridden
        self.counts["prescriptions revised"] = revised

    def _issue(
        self, doctor: User, draft: Prescription, *, drafted_at: datetime, at: datetime
    ) -> tuple[Prescription, bool]:
        """Issue through the service as of ``at``. A severe finding is overridden with a reason, as
        a doctor who weighed it would; returns whether that happened."""
        # Still a draft, so not locked: date it to when the doctor wrote it.
        Prescription.objects.filter(pk=draft.pk).update(created_at=drafted_at)
        try:
            return prescription_services.issue_prescription(doctor, draft, now=at), False
        except ServiceError as error:
            if error.code != error_codes.INTERACTION_BLOCKED:
                raise
        return prescription_services.issue_prescription(
            doctor, draft, now=at, override_reason=OVERRIDE_REASON
        ), True

    def _items(self, c: Consultation, catalogue: dict) -> list[dict[str, Any]]:
        items = []
        allergic = c._patient.allergy_classes
        for generic, form, dose, frequency, days, quantity, note in c._case.medicines:
            medication = catalogue.get((generic, form))
            if medication is None or medication.drug_class in allergic:
                continue
            route = {"inhaler": "inhaled", "cream": "topical", "drops": "ophthalmic"}.get(form, "oral")
            items.append(
                {
                    "medication": medication,
                    "dose": dose,
                    "route": route,
                    "frequency": frequency,
                    "duration_days": days,
                    "quantity": quantity,
                    "instructions": note,
                }
            )
        return items

    # Reviews and care-team notes ----------------------------------------------------------------

    def create_reviews(self) -> None:
        rng = self.rng
        reviews, clinic_reviews = [], []
        for c in self.consultations:
            reviewed = getattr(c, "_reviewed", False)
            if c.state != S.COMPLETED or (rng.random() > 0.55 and not reviewed):
                continue
            rating = _weighted(rng, [(5, 45), (4, 35), (3, 12), (2, 5), (1, 3)])
            at = min(self.now, c.ended_at + timedelta(hours=rng.uniform(1, 72)))
            reviews.append(
                Review(
                    consultation=c,
                    patient=c.patient,
                    doctor=c.doctor,
                    rating=rating,
                    comment=rng.choice(REVIEW_TEXT[rating]),
                    created_at=at,
                )
            )
            if c.clinic is not None and (rng.random() < 0.5 or reviewed):
                clinic_rating = max(1, min(5, rating + rng.choice([-1, 0, 0, 1])))
                clinic_reviews.append(
                    ClinicReview(
                        clinic=c.clinic,
                        consultation=c,
                        patient=c.patient,
                        rating=clinic_rating,
                        comment=rng.choice(CLINIC_REVIEW_TEXT),
                        created_at=at,
                    )
                )
        Review.objects.bulk_create(reviews, batch_size=1000)
        ClinicReview.objects.bulk_create(clinic_reviews, batch_size=1000)
        # The running sums move with F(), as the review services do, by exactly what was written.
        by_doctor: dict[Any, Counter] = defaultdict(Counter)
        for review in reviews:
            by_doctor[review.doctor_id].update(sum=review.rating, count=1)
        for doctor_id, totals in by_doctor.items():
            DoctorProfile.objects.filter(user_id=doctor_id).update(
                rating_sum=F("rating_sum") + totals["sum"], rating_count=F("rating_count") + totals["count"]
            )
        by_clinic: dict[int, Counter] = defaultdict(Counter)
        for review in clinic_reviews:
            by_clinic[review.clinic_id].update(sum=review.rating, count=1)
        for clinic_id, totals in by_clinic.items():
            Clinic.objects.filter(pk=clinic_id).update(
                rating_sum=F("rating_sum") + totals["sum"], rating_count=F("rating_count") + totals["count"]
            )
        self.counts["doctor reviews"] = len(reviews)
        self.counts["clinic reviews"] = len(clinic_reviews)

    def create_patient_notes(self) -> None:
        rng, notes, seen = self.rng, [], set()
        for c in self.consultations:
            key = (c.patient_id, c.doctor_id)
            showcase = getattr(c, "_story", False)
            if c.state != S.COMPLETED or key in seen or (not showcase and rng.random() > 0.15):
                continue
            seen.add(key)
            notes.append(
                PatientNote(
                    patient=c.patient,
                    author=c.doctor,
                    created_at=c.ended_at,
                    text=f"Seen for {c.diagnosis.lower()}. {rng.choice(PATIENT_NOTE_TEXT)}",
                )
            )
        PatientNote.objects.bulk_create(notes)

    # Everything ---------------------------------------------------------------------------------

    def run(self) -> dict[str, int]:
        self.counts: dict[str, int] = {}
        self.create_admin()
        self.create_doctors()
        self.create_clinics()
        self.create_availability()
        self.create_patients()
        self.create_consultations()
        self.build_room_logs()
        self.save_consultations()
        self.create_prescriptions()
        self.create_reviews()
        self.create_patient_notes()
        states = Counter(c.state for c in self.consultations)
        doctor_states = Counter(d.profile.verification_status for d in self.doctors)
        return {
            "patients": len(self.patients),
            "doctors": len(self.doctors),
            **{f"doctors {s}": n for s, n in sorted(doctor_states.items())},
            "clinics": len(self.clinics),
            "consultations": len(self.consultations),
            **{f"consultations {s}": n for s, n in sorted(states.items())},
            **self.counts,
        }


# --- Reset -----------------------------------------------------------------------------------------


def reset_demo() -> int:
    """Delete the demo accounts and everything that hangs off them; returns how many accounts.
    Refuses (and deletes nothing) when real accounts' data refers to demo accounts."""
    demo = demo_users().values("pk")
    count = demo_users().count()
    mixed = Consultation.objects.filter(
        (Q(patient__in=demo) & ~Q(doctor__in=demo)) | (~Q(patient__in=demo) & Q(doctor__in=demo))
    ).count()
    if mixed:
        raise CommandError(
            f"{mixed} consultation(s) link a demo account with a real one; they are real data, so --reset "
            "stops here. Delete or cancel them yourself first."
        )
    consultations = Consultation.objects.filter(patient__in=demo, doctor__in=demo)
    try:
        with transaction.atomic():
            # Who looked at demo records is about fake people only.
            # (Audit entries are append-only; purge_entries is the one sanctioned way past that.)
            purge_entries(AuditEntry.objects.filter(Q(actor__in=demo) | Q(subject__in=demo)))
            # Issued prescriptions refuse ORM deletes (the lock guards real records); demo ones go
            # below the signal layer. Foreign keys are checked at commit.
            prescriptions = Prescription.objects.filter(Q(patient__in=demo) | Q(doctor__in=demo))
            PrescriptionItem.objects.filter(prescription__in=prescriptions.values("pk"))._raw_delete(
                DEFAULT_DB_ALIAS
            )
            prescriptions._raw_delete(DEFAULT_DB_ALIAS)
            Review.objects.filter(Q(patient__in=demo) | Q(doctor__in=demo)).delete()
            ClinicReview.objects.filter(Q(patient__in=demo) | Q(consultation__in=consultations)).delete()
            VitalSign.objects.filter(Q(patient__in=demo) | Q(recorded_by__in=demo)).delete()
            documents = Document.objects.filter(Q(owner__in=demo) | Q(uploaded_by__in=demo))
            files = [d.file.name for d in documents.only("file")]
            documents.delete()
            consultations.update(rescheduled_from=None)
            consultations.delete()
            MedicalRecord.objects.filter(Q(patient__in=demo) | Q(authored_by__in=demo)).delete()
            PatientNote.objects.filter(Q(patient__in=demo) | Q(author__in=demo)).delete()
            Clinic.objects.filter(created_by__in=demo).delete()
            DoctorProfile.objects.filter(user__in=demo).delete()
            demo_users().delete()
            PhoneOTP.objects.filter(phone__startswith=DEMO_PHONE_PREFIX).delete()
    except (ProtectedError, RestrictedError) as error:
        blockers = sorted(
            {type(obj).__name__ for obj in error.protected_objects}
            if isinstance(error, ProtectedError)
            else {type(obj).__name__ for obj in error.restricted_objects}
        )
        raise CommandError(
            "Real data refers to demo accounts (" + ", ".join(blockers) + "); nothing was deleted."
        ) from error
    for name in files:  # after the rows are gone for good
        transaction.on_commit(lambda name=name: private_storage.delete(name))
    return count


# --- The command -----------------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Seed a deterministic demo data set (patients, doctors, clinics, consultations, prescriptions, "
        "reviews). Refuses when demo data exists; --reset replaces it (demo data only)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, default=300, help="Demo patients (default 300)")
        parser.add_argument("--doctors", type=int, default=40, help="Demo doctors (default 40)")
        parser.add_argument("--clinics", type=int, default=15, help="Demo clinics (default 15)")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42)")
        parser.add_argument("--reset", action="store_true", help="Delete the demo data first, then seed")

    def handle(
        self, *args, patients: int, doctors: int, clinics: int, seed: int, reset: bool, **options
    ) -> None:
        for name, value, low, high in (
            ("--patients", patients, 1, MAX_PATIENTS),
            ("--doctors", doctors, 1, MAX_DOCTORS),
            ("--clinics", clinics, 0, MAX_CLINICS),
        ):
            if not low <= value <= high:
                raise CommandError(f"{name} must be between {low} and {high}.")
        started = clock.monotonic()
        with transaction.atomic():
            if reset:
                removed = reset_demo()
                self.stdout.write(f"Removed {removed} demo accounts and their data.")
            elif existing := demo_users().count():
                raise CommandError(
                    f"Demo data is already seeded ({existing} demo accounts). Run with --reset to replace it."
                )
            foreign = User.objects.filter(phone__startswith=DEMO_PHONE_PREFIX).exclude(
                pk__in=demo_users().values("pk")
            )
            if foreign.exists():
                raise CommandError(
                    f"{foreign.count()} account(s) in the demo phone range {DEMO_PHONE_PREFIX}… are not demo "
                    "accounts; not seeding over them."
                )
            ensure_reference_data()
            ensure_catalogue()
            seeder = Seeder(patients=patients, doctors=doctors, clinics=clinics, seed=seed)
            counts = seeder.run()
        elapsed = clock.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Demo data seeded in {elapsed:.1f} s (seed {seed}):"))
        for label, value in counts.items():
            self.stdout.write(f"  {label:<28} {value}")
        self._how_to_log_in(seeder)

    def _how_to_log_in(self, seeder: Seeder) -> None:
        doctor = seeder.doctors[0].user
        patient = seeder.patients[0].user
        lines = [
            "",
            "Log in with a one-time code (the console SMS backend prints it in the server log):",
            f"  admin         {ADMIN_PHONE}   {seeder.admin.full_name}",
            f"  doctor        {doctor.phone}   Dr {doctor.full_name} (verified, general medicine, Mumbai)",
            f"  patient       {patient.phone}   {patient.full_name} (waiting in that doctor's room now)",
        ]
        if seeder.clinics:
            lines.append(f"  clinic admin  {clinic_staff_phone(0)}   {seeder.clinics[0].name}, Mumbai")
        lines += [
            "",
            "  curl -s -X POST localhost:8000/api/auth/send-otp/ -H 'Content-Type: application/json' \\",
            f'       -d \'{{"phone": "{patient.phone}"}}\'',
            "  curl -s -X POST localhost:8000/api/auth/verify-otp/ -H 'Content-Type: application/json' \\",
            f'       -d \'{{"phone": "{patient.phone}", "code": "<code from the log>"}}\'',
        ]
        if seeder.verification_code:
            code = seeder.verification_code
            lines.append(f"\nA prescription to check (public): GET /api/prescriptions/verify/{code}/")
        lines.append("/admin/ needs a password: create a superuser with `make superuser`.")
        self.stdout.write("\n".join(lines))
