def test_liveness(api_client, db):
    response = api_client.get("/health/")
    assert response.status_code == 200
    assert response.json()["success"] is True
