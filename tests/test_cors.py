import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def cors(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]


def test_allowed_origin_gets_cors_headers(api_client, cors):
    response = api_client.options(
        "/api/auth/send-otp/",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_other_origin_gets_no_cors_headers(api_client, cors):
    response = api_client.options(
        "/api/auth/send-otp/",
        HTTP_ORIGIN="https://evil.example.net",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "Access-Control-Allow-Origin" not in response


def test_request_id_header_is_exposed_to_browsers(api_client, cors):
    response = api_client.get("/health/", HTTP_ORIGIN="https://app.example.com")
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "x-request-id" in response["Access-Control-Expose-Headers"].lower()
