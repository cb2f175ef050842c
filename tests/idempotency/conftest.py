from __future__ import annotations

import uuid

import pytest

from tests.idempotency.urls import Runs

CHARGE = "/api/test-idem/charge/"


@pytest.fixture(autouse=True)
def runs() -> type[Runs]:
    Runs.reset()
    yield Runs
    Runs.release.set()  # never leave a slow view waiting


@pytest.fixture
def key() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def alice(patient, client_for):
    return client_for(patient)


@pytest.fixture
def bob(other_patient, client_for):
    return client_for(other_patient)
