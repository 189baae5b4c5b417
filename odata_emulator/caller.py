"""Who asks: the user a request (or a job) runs as, with that user's business unit and organization.

The store records the data set's caller when it is loaded (`store/fixtures.py`); the Web API may
act for another user (`api/auth.py`); queries read the ids for EqualUserId and its kin
(`query/execute.py`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    user_id: str
    business_unit_id: str
    organization_id: str
