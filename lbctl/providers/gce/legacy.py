"""Legacy `httpHealthChecks` over plain REST: the one collection with no client library.

google-cloud-compute leaves out the legacy health checks, yet they are the
only kind a target pool accepts. This module speaks to
`{endpoint}/compute/v1/projects/{p}/global/httpHealthChecks` with an
`AuthorizedSession` and hands back JSON and `compute_v1.Operation` values, so
the rest of the provider treats it like any other client (same Caller, same
counting, retries, operation waits and error mapping).

Guarantees: an HTTP error raises the google.api_core exception of its status
(with GCE's `errors[].reason`), exactly as a generated client would; nothing
else in the provider builds URLs or parses raw responses for this collection.
"""

from __future__ import annotations

from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

JSON = dict[str, Any]


class HealthChecksRest:
    """get/list/insert/update/delete of legacy HTTP health checks."""

    def __init__(self, session: requests.Session, *, api_root: str, project: str) -> None:
        """`api_root` like `https://compute.googleapis.com/compute/v1`."""
        self._session = session
        self._collection = f"{api_root.rstrip('/')}/projects/{project}/global/httpHealthChecks"

    def close(self) -> None:
        self._session.close()

    def get(self, name: str, *, timeout: float) -> JSON:
        return self._json(self._session.get(f"{self._collection}/{name}", timeout=timeout))

    def list_page(self, *, filter: str, page_token: str, timeout: float) -> tuple[list[JSON], str]:
        params = {"filter": filter, "maxResults": "500"}
        if page_token:
            params["pageToken"] = page_token
        body = self._json(self._session.get(self._collection, params=params, timeout=timeout))
        items = body.get("items") or []
        return [item for item in items if isinstance(item, dict)], str(
            body.get("nextPageToken") or ""
        )

    def insert(self, body: JSON, *, request_id: str, timeout: float) -> compute_v1.Operation:
        response = self._session.post(
            self._collection, json=body, params={"requestId": request_id}, timeout=timeout
        )
        return self._operation(response)

    def update(
        self, name: str, body: JSON, *, request_id: str, timeout: float
    ) -> compute_v1.Operation:
        response = self._session.put(
            f"{self._collection}/{name}",
            json=body,
            params={"requestId": request_id},
            timeout=timeout,
        )
        return self._operation(response)

    def delete(self, name: str, *, request_id: str, timeout: float) -> compute_v1.Operation:
        response = self._session.delete(
            f"{self._collection}/{name}", params={"requestId": request_id}, timeout=timeout
        )
        return self._operation(response)

    @staticmethod
    def _json(response: requests.Response) -> JSON:
        if response.status_code >= 400:
            raise gexc.from_http_response(response)  # type: ignore[no-untyped-call]
        body = response.json()
        if not isinstance(body, dict):
            raise gexc.from_http_status(  # type: ignore[no-untyped-call]
                502, "httpHealthChecks: response is not a JSON object"
            )
        return body

    def _operation(self, response: requests.Response) -> compute_v1.Operation:
        self._json(response)  # raises on HTTP errors
        operation: compute_v1.Operation = compute_v1.Operation.from_json(
            response.text, ignore_unknown_fields=True
        )
        return operation
