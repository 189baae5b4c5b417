"""Webhook delivery: a system job's execution context POSTed to a serviceendpoint (contract 8),
as Dataverse's webhook service does (`../shared/reference/async-steps-and-webhooks.md` §2.5, §3).

- `endpoint.py`: the endpoint (`url`, `authtype`, `authvalue`) and what its auth adds to a request
  (`?code=`, headers or query parameters read from the `<settings>` XML);
- `delivery.py`: the POST itself (headers, the 256 KB trim, one more attempt on 502/503/504, the
  timeout) and its result, with the platform's webhook error codes.

Nothing here knows the store or the job engine: `jobs/system_event.py` reads what to deliver and
records the result.
"""

from .delivery import (
    MAX_PAYLOAD,
    RETRIED_STATUSES,
    Delivered,
    WebhookError,
    deliver,
    prepare_body,
)
from .endpoint import AuthType, BadAuthValue, Endpoint, request_auth

__all__ = ["MAX_PAYLOAD", "RETRIED_STATUSES", "AuthType", "BadAuthValue", "Delivered", "Endpoint", "WebhookError",
           "deliver", "prepare_body", "request_auth"]
