"""A fake of the Compute Engine v1 REST API for the real google-cloud-compute clients.

Start with `GCEFake` (fake.py); the other modules are its parts: `server`
(HTTP routing), `state` (the store), one module per resource kind,
`operations`, `faults` (injection), `calls` (the call log), `filters`,
`validate`, `links`, `errors`, `stamps`.
"""

from tests.fakes.gce.calls import Call, CallLog
from tests.fakes.gce.errors import ApiError
from tests.fakes.gce.fake import GCEFake
from tests.fakes.gce.faults import Faults, Rule
from tests.fakes.gce.operations import OperationError
from tests.fakes.gce.state import DEFAULT_ADDRESS_RANGE

__all__ = [
    "DEFAULT_ADDRESS_RANGE",
    "ApiError",
    "Call",
    "CallLog",
    "Faults",
    "GCEFake",
    "OperationError",
    "Rule",
]
