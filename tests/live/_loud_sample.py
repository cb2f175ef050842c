"""Not collected by the suite (no ``test_`` prefix): ``test_fails_loudly.py`` runs it in a
subprocess to show that an unreachable service stops the run before any test."""


def test_would_pass():
    assert True
