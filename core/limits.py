"""The database's own limits on the integers the hub takes from outside: an id, a version, a page
offset or a count beyond them cannot name a row, and PostgreSQL refuses it with "integer out of
range" (a server error, and a closed connection) where SQLite would quietly compare it."""

from __future__ import annotations

from typing import Annotated

import annotated_types

#: PostgreSQL's INTEGER, the type of nearly every id, version and count column (SQLite's INTEGER
#: is wider). The few BIGINT columns (ticket ids, money) are well inside it for any real hub.
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1

#: BIGINT, for a field that must say so explicitly (`Field(le=BIGINT_MAX)`).
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1

#: An integer the database can hold. The composition root (hotline/bounds.py) gives this bound to
#: every integer a route takes that does not declare its own, so a route may write plain `int`.
DbInt = Annotated[int, annotated_types.Ge(INT_MIN), annotated_types.Le(INT_MAX)]
