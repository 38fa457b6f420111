"""The one door to AWS: every call is counted, retried when worth it, and mapped.

Guarantees:
- every HTTP attempt increments `lbctl_provider_calls{provider="aws",
  method="<service>.<Operation>", result="ok"|<error code>}`; botocore's own
  retries are off, so the count is exact;
- throttling (Throttling, RequestLimitExceeded, ...), 5xx, connection errors
  and unparseable responses are retried by the providers' one `Retrier`
  (lbctl.providers.common.retry: bounded backoff that honours a
  Retry-After header); once exhausted they become ThrottledError (with the
  Retry-After, else the policy's longest wait) / TemporaryError;
- every other failure becomes an lbctl error, chaining the ClientError, so no
  caller matches on message text: `*NotFound` is ResourceMissingError (a
  cloud resource, never the Service), AccessDenied/UnauthorizedOperation is
  ForbiddenError, a busy resource is TemporaryError to retry after
  `BUSY_RETRY_AFTER`, the rest ProviderError (permanent); codes a caller
  declares harmless (say TargetGroupNotFound on a delete) return an empty
  response instead;
- boto3 is untyped: responses leave this module as `dict[str, Any]` and are
  translated into domain values by lbctl.providers.aws.state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from lbcommon.errors import LbctlError, TemporaryError, parse_retry_after
from lbctl.metrics import Metrics
from lbctl.providers.common.failures import by_status
from lbctl.providers.common.retry import Retrier

Service = Literal["elbv2", "ec2"]

THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "TooManyRequestsException",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
TRANSIENT = frozenset(
    {"InternalFailure", "InternalError", "ServiceUnavailable", "Unavailable", "RequestTimeout"}
)
#: the resource is busy or another still depends on it: retry the reconcile later
BUSY = frozenset({"DependencyViolation", "ResourceInUse", "IncorrectState"})
#: seconds the work queue should wait before retrying a busy resource
BUSY_RETRY_AFTER = 10.0
FORBIDDEN = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", "Unknown"))


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


#: failures below the API: no response, or one botocore cannot parse (an HTML 5xx page)
TRANSPORT = (BotoCoreError, ResponseParserError)


def retry_after(err: BaseException) -> float | None:
    """The Retry-After header of the response behind `err`, in seconds, if it had one."""
    if not isinstance(err, ClientError):
        return None
    headers = err.response.get("ResponseMetadata", {}).get("HTTPHeaders") or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    return parse_retry_after(value)


def retryable(err: BaseException) -> bool:
    if isinstance(err, TRANSPORT):
        return True
    if isinstance(err, ClientError):
        return error_code(err) in THROTTLING | TRANSIENT or _status(err) >= 500
    return False


def translate(err: Exception, what: str, *, retry_after: float) -> LbctlError:
    """The lbctl error for a failed call (the caller chains `err`); `retry_after`
    is how long to wait once throttling outlasted the retries."""
    if isinstance(err, TRANSPORT):
        return TemporaryError(f"{what}: {type(err).__name__}: {err}")
    assert isinstance(err, ClientError)
    code, message = error_code(err), err.response.get("Error", {}).get("Message", "")
    text = f"{what}: {code}: {message}"
    if code in BUSY:
        return TemporaryError(text, retry_after=BUSY_RETRY_AFTER)
    # AWS answers most failures with 400 and a code: read the code as its status.
    status = _status(err)
    if code in TRANSIENT:
        status = max(status, 500)
    elif code.endswith("NotFound"):
        status = 404  # the world changed under us: the provider re-reads and plans again
    elif code in FORBIDDEN:
        status = 403
    return by_status(status, text, throttled=code in THROTTLING, retry_after=retry_after)


class AwsApi:
    """elbv2 and ec2 clients behind counted, retried, translated calls."""

    def __init__(self, *, elbv2: Any, ec2: Any, metrics: Metrics, retrier: Retrier) -> None:
        self._clients: dict[Service, Any] = {"elbv2": elbv2, "ec2": ec2}
        self._calls = metrics.provider_calls
        self._retrier = retrier

    def call(
        self,
        service: Service,
        operation: str,
        *,
        ok_codes: frozenset[str] = frozenset(),
        **params: Any,
    ) -> dict[str, Any]:
        """One API operation, e.g. `call("elbv2", "DescribeTags", ResourceArns=[...])`."""
        method = getattr(self._clients[service], _snake(operation))
        label = f"{service}.{operation}"
        try:
            return self._retrier.call(label, lambda: self._attempt(method, label, params))
        except ClientError as err:
            if error_code(err) in ok_codes:
                return {}
            raise translate(err, label, retry_after=self._retrier.after_giving_up(err)) from err
        except TRANSPORT as err:
            raise translate(err, label, retry_after=self._retrier.after_giving_up(err)) from err

    def _attempt(self, method: Any, label: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response: dict[str, Any] = method(**params)
        except ClientError as err:
            self._calls.labels(provider="aws", method=label, result=error_code(err)).inc()
            raise
        except TRANSPORT:
            self._calls.labels(provider="aws", method=label, result="transport").inc()
            raise
        self._calls.labels(provider="aws", method=label, result="ok").inc()
        return response

    def pages(
        self,
        service: Service,
        operation: str,
        *,
        token: tuple[str, str],
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Every page of a listing; `token` is (request field, response field)."""
        request_field, response_field = token
        while True:
            page = self.call(service, operation, **params)
            yield page
            marker = page.get(response_field)
            if not marker:
                return
            params[request_field] = marker


def _snake(operation: str) -> str:
    out: list[str] = []
    for index, char in enumerate(operation):
        if char.isupper() and index and not operation[index - 1].isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out)


#: pagination tokens of the listings we use
ELB_MARKER = ("Marker", "NextMarker")
EC2_TOKEN = ("NextToken", "NextToken")
