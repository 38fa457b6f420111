"""What the cloud providers share: one way to plan and apply, one retry policy.

Modules, one job each: steps (the Step a diff emits and `plan` prints),
executor (applies steps in order; Replan and the bounded read-diff-apply
loop), retry (the one retry policy, honouring Retry-After, on an injectable
clock), locks (per-key locks and the readers-writer lock for shared
resources) and names (the upstream load-balancer name and ownership keys).
Nothing here knows a cloud API; gce and aws import it, never each other.
"""
