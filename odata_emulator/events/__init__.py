"""System jobs from real events: after a record changes, every enabled asynchronous step registered
for its message and table files a system job (operationtype 1) carrying the RemoteExecutionContext.

- `pipeline.create/update/delete`: change a record and fire, in the caller's transaction
- `fire(conn, change, ...)`: file the jobs a `records.Change` fires
- `context.build(change, step, origin, operation_id=...)`: the RemoteExecutionContext JSON
- `depth.running_job(depth, correlation_id)`: changes made inside carry the job's depth + 1
"""

from . import context, depth, pipeline
from .fire import fire, matching_steps

__all__ = ["context", "depth", "fire", "matching_steps", "pipeline"]
