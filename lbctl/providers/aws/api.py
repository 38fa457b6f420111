"""The one door to AWS: every call is counted, retried when worth it, and mapped.

Guarantees:
- every HTTP attempt increments `lbctl_provider_calls{provider="aws",
  method="<service>.<Operation>", result="ok"|<error code>}`; botocore's own
  retries are off, so the count is exact;
- throttling (Throttling, RequestLimitExceeded, ...), 5xx, connection errors
  and unparseable responses are retried with exponential backoff and jitter, bounded by the
  `RetryPolicy` the provider was built with; once exhausted they become
  ThrottledError / TemporaryError;
- every other failure becomes an lbctl error, chaining the ClientError, so no
  caller matches on message text; codes a caller declares harmless (say
  TargetGroupNotFound on a delete) return an empty response instead;
- boto3 is untyped: responses leave this module as `dict[str, Any]` and are
  translated into domain values by lbctl.providers.aws.state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import tenacity
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from lbcommon.errors import LbctlError, ProviderError, TemporaryError, ThrottledError
from lbctl.metrics import Metrics

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

#: operations that change nothing; everything else counts as mutating
READ_PREFIXES = ("Describe", "Get", "List")


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for throttled or transient calls, within one reconcile."""

    attempts: int = 5
    initial: float = 0.5
    maximum: float = 20.0
    jitter: float = 0.5
    #: how long the controller should wait before retrying a busy resource
    busy_retry_after: float = 10.0


DEFAULT_RETRY = RetryPolicy()


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", "Unknown"))


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


#: failures below the API: no response, or one botocore cannot parse (an HTML 5xx page)
TRANSPORT = (BotoCoreError, ResponseParserError)


def retryable(err: BaseException) -> bool:
    if isinstance(err, TRANSPORT):
        return True
    if isinstance(err, ClientError):
        return error_code(err) in THROTTLING | TRANSIENT or _status(err) >= 500
    return False


def translate(err: Exception, what: str, policy: RetryPolicy) -> LbctlError:
    """The lbctl error for a failed call (the caller chains `err`)."""
    if isinstance(err, TRANSPORT):
        return TemporaryError(f"{what}: {type(err).__name__}: {err}")
    assert isinstance(err, ClientError)
    code, message = error_code(err), err.response.get("Error", {}).get("Message", "")
    text = f"{what}: {code}: {message}"
    if code in THROTTLING:
        return ThrottledError(text, retry_after=policy.maximum)
    if code in BUSY:
        return TemporaryError(text, retry_after=policy.busy_retry_after)
    if code in TRANSIENT or _status(err) >= 500 or code.endswith("NotFound"):
        # NotFound here means the world changed under us: re-read and retry.
        return TemporaryError(text)
    return ProviderError(text)


class AwsApi:
    """elbv2 and ec2 clients behind counted, retried, translated calls."""

    def __init__(
        self, *, elbv2: Any, ec2: Any, metrics: Metrics, retry: RetryPolicy = DEFAULT_RETRY
    ) -> None:
        self._clients: dict[Service, Any] = {"elbv2": elbv2, "ec2": ec2}
        self._calls = metrics.provider_calls
        self.retry_policy = retry

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
        policy = self.retry_policy
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.attempts),
            wait=tenacity.wait_exponential_jitter(
                multiplier=policy.initial, max=policy.maximum, jitter=policy.jitter
            ),
            retry=tenacity.retry_if_exception(retryable),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(method, label, params)
        except ClientError as err:
            if error_code(err) in ok_codes:
                return {}
            raise translate(err, label, policy) from err
        except TRANSPORT as err:
            raise translate(err, label, policy) from err
        raise AssertionError("unreachable: tenacity either returns or raises")

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
