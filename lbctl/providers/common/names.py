"""Names and ownership keys every cloud provider derives the same way: pure, no I/O.

Guarantees:
- `lb_name` is upstream's `cloudprovider.DefaultLoadBalancerName`: `"a"` +
  the Service UID without dashes, cut to 32 characters. It depends on the UID
  alone, so a retry after a crash finds what an earlier attempt made, and a
  cluster can move between lbctl and the cloud's own controller;
- `uid_hex` is the UID as providers embed it in longer names (lower case,
  no dashes);
- `SERVICE_NAME_KEY` is the key upstream writes the Service's
  `namespace/name` under (a GCE description field, an AWS tag).
"""

from __future__ import annotations

#: where upstream records the Service a resource serves
SERVICE_NAME_KEY = "kubernetes.io/service-name"
#: where lbctl records the UID of that Service
SERVICE_UID_KEY = "lbctl.io/service-uid"
LB_NAME_LENGTH = 32


def uid_hex(uid: str) -> str:
    """The UID without dashes, lower case: `0b1c2d3e-4f50-...` -> `0b1c2d3e4f50...`."""
    return uid.replace("-", "").lower()


def lb_name(uid: str) -> str:
    """`"a"` + the UID without dashes, cut to 32 characters (upstream's name)."""
    return ("a" + uid_hex(uid))[:LB_NAME_LENGTH]
