from __future__ import annotations

from tests.accounts.conftest import login, new_phone, send_code

__all__ = ["login", "new_phone", "send_code"]
