"""A paginator for the admin changelists of big tables: no COUNT(*) over the whole table.

Django's changelist counts the filtered rows to draw its page links. On a table of millions of
messages or notifications that is a full scan per page view. This paginator counts exactly up
to ``exact_limit`` rows (a COUNT over a LIMITed subquery, which stops early) and beyond that
takes PostgreSQL's planner estimate for the same filtered query: the page links are then
approximate, which staff browsing millions of rows do not notice; the rows shown are exact.
"""

from __future__ import annotations

import json
import logging

from django.core.paginator import Paginator
from django.db import DatabaseError, connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

logger = logging.getLogger(__name__)


def planner_estimate(qs: QuerySet) -> int | None:
    """PostgreSQL's estimate of how many rows ``qs`` returns (EXPLAIN, nothing executed)."""
    if connections[qs.db].vendor != "postgresql":
        return None
    try:
        plan = json.loads(qs.order_by().explain(format="json"))
        return int(plan[0]["Plan"]["Plan Rows"])
    except (DatabaseError, ValueError, KeyError, IndexError, TypeError):
        logger.warning("no planner estimate for %s", qs.model._meta.label, exc_info=True)
        return None


class EstimatedCountPaginator(Paginator):
    exact_limit = 10_000

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if not isinstance(qs, QuerySet):
            return super().count
        capped = qs.order_by()[: self.exact_limit + 1].count()
        if capped <= self.exact_limit:
            return capped
        estimate = planner_estimate(qs)
        if estimate is None:
            # Not PostgreSQL (the embedded SQLite of `make run`): small enough to count.
            return qs.count()
        return max(capped, estimate)
