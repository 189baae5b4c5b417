"""The scheduler's queue, as SQL: which jobs may run, which are due to wake, which are held, and
when the next one wakes. Pure statements, compiled once, at their first use (`store/driver.py`); the
steps that run them are in `steps.py`.

These statements must agree with the partial indexes of `store/schema.py` (`_EXTRA_INDEXES`): the
queue's literal conditions `statecode < 3` and `dependencytoken IS NULL` are spelled exactly as
the indexes' conditions, so that SQLite uses them. Change one, change the other, and look at the
plan (`EXPLAIN QUERY PLAN`) and at the benchmark's scheduler figures.

Every state is named from `states.py`; a value the caller gives is a named `bindparam`:
- `QUEUE` (`now`, `limit`): the jobs that may run now, first in first out;
- `DUE` (`now`): Suspended jobs whose postponement has passed (not those waiting for an event);
- `LOCKED`: every Locked job, with its lease;
- `HOLDINGS` (`ids`, a JSON array): the pair, holder and operation type of given jobs;
- `NEXT_WAKE` (`now`): the earliest postponement still ahead (the virtual clock's next event).
"""

from __future__ import annotations

from sqlalchemy import ColumnClause, CompoundSelect, bindparam, func, literal_column, or_, select, union_all

from ..store import driver
from ..store.schema import JOBS, SIMULATIONS
from .states import COMPLETED_STATE, LOCKED_STATE, READY, READY_STATE, SUSPENDED_STATE, WAITING


def queue_statement(lane: str | None = None) -> CompoundSelect:
    """The jobs that may run now, first in first out: Ready, no longer postponed, and, for a job
    with a dependency token, the first unfinished job of its token (so a postponed or running one
    holds back those after it).

    Two ordered halves, merged: jobs without a token straight from their queue index, and the
    head of each token with unfinished jobs, the tokens found by skipping through an index (a
    recursive CTE) so that a long chain behind its head costs nothing. The literal conditions
    (`statecode < 3`, `dependencytoken IS NULL`) match the partial indexes of `store/schema.py`.

    `lane`: only the jobs created before (`"earlier"`) or since (`"since"`) the moment `since` (a
    bound parameter, epoch seconds): the real-clock loop runs the jobs that were in the store when it
    started on their own slots (`real_clock.py`).
    """
    unfinished: ColumnClause[int] = literal_column(str(COMPLETED_STATE))  # as the partial index spells it
    scan, step, first, queued = (JOBS.alias(name) for name in ("token_scan", "token_step", "first", "queued"))
    tokens = (
        select(func.min(scan.c.dependencytoken).label("token"))
        .where(scan.c.dependencytoken.is_not(None), scan.c.statecode < unfinished)
        .cte("tokens", recursive=True)
    )
    tokens = tokens.union_all(
        select(select(func.min(step.c.dependencytoken))
               .where(step.c.dependencytoken > tokens.c.token, step.c.statecode < unfinished)
               .scalar_subquery())
        .where(tokens.c.token.is_not(None))
    )
    heads = (
        select(select(first.c.asyncoperationid)
               .where(first.c.dependencytoken == tokens.c.token, first.c.statecode < unfinished)
               .order_by(first.c.createdon, first.c.sequence, first.c.asyncoperationid)
               .limit(1).scalar_subquery().label("asyncoperationid"))
        .where(tokens.c.token.is_not(None))
        .cte("heads")
    )

    lanes = {None: (), "earlier": (queued.c.createdon < bindparam("since"),),
             "since": (queued.c.createdon >= bindparam("since"),)}

    def ready(source, *conditions):
        conditions = (*conditions, *lanes[lane])
        return (
            select(queued.c.asyncoperationid.label("job"), queued.c.operationtype, queued.c.retrycount,
                   queued.c.recurrencepattern, queued.c.recurrencestarttime, queued.c.createdon.label("created"),
                   queued.c.sequence.label("position"), SIMULATIONS.c.settings)
            .select_from(source.outerjoin(SIMULATIONS, SIMULATIONS.c.asyncoperationid == queued.c.asyncoperationid))
            .where(queued.c.statecode == READY[0], queued.c.statuscode == READY[1],
                   or_(queued.c.postponeuntil.is_(None), queued.c.postponeuntil <= bindparam("now")), *conditions)
        )

    both = union_all(
        ready(queued, queued.c.dependencytoken.is_(None)),
        ready(heads.join(queued, queued.c.asyncoperationid == heads.c.asyncoperationid)),
    )
    columns = both.selected_columns
    return both.order_by(columns.created, columns.position, columns.job).limit(bindparam("limit"))


# The statements, each made and compiled at its first use (`__getattr__`, PEP 562; then a plain module
# attribute): together they take about 40 ms, which a start need not wait for before it answers (the
# scheduler's first look comes after, and a virtual clock or --no-scheduler may never look).
_STATEMENTS = {
    # Rows: (job, operationtype, retrycount, recurrencepattern, recurrencestarttime, created, position,
    # settings).
    "QUEUE": lambda: queue_statement(),
    # The same, for the jobs created before `since` and for those created since (parameters `now`,
    # `limit`, `since`).
    "QUEUE_EARLIER": lambda: queue_statement("earlier"),
    "QUEUE_SINCE": lambda: queue_statement("since"),
    # Rows: (asyncoperationid, operationtype), in wake order.
    "DUE": lambda: select(JOBS.c.asyncoperationid, JOBS.c.operationtype).where(
        JOBS.c.statecode == WAITING[0], JOBS.c.statuscode == WAITING[1], JOBS.c.postponeuntil.is_not(None),
        JOBS.c.postponeuntil <= bindparam("now"), func.coalesce(JOBS.c.iswaitingforevent, 0) == 0,
    ).order_by(JOBS.c.postponeuntil, JOBS.c.createdon),
    # Rows: (asyncoperationid, statecode, statuscode, operationtype, leaseexpires).
    "LOCKED": lambda: select(JOBS.c.asyncoperationid, JOBS.c.statecode, JOBS.c.statuscode, JOBS.c.operationtype,
                             JOBS.c.leaseexpires).where(JOBS.c.statecode == LOCKED_STATE),
    # Rows: (asyncoperationid, statecode, statuscode, hostid, operationtype). The ids arrive as one
    # JSON array, so that one compiled statement serves any number of them.
    "HOLDINGS": lambda: select(JOBS.c.asyncoperationid, JOBS.c.statecode, JOBS.c.statuscode, JOBS.c.hostid,
                               JOBS.c.operationtype).where(JOBS.c.asyncoperationid.in_(
                                   select(literal_column("value")).select_from(func.json_each(bindparam("ids"))))),
    # One row: (the earliest postponeuntil after `now` of a Ready or Suspended job not waiting for an
    # event, or None).
    "NEXT_WAKE": lambda: select(func.min(JOBS.c.postponeuntil)).where(
        JOBS.c.statecode.in_((READY_STATE, SUSPENDED_STATE)), JOBS.c.postponeuntil > bindparam("now"),
        func.coalesce(JOBS.c.iswaitingforevent, 0) == 0,
    ),
}


def __getattr__(name: str) -> driver.Sql:
    make = _STATEMENTS.get(name)
    if make is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    compiled = globals()[name] = driver.compile_sql(make())
    return compiled
