"""lbctl: a service controller that gives LoadBalancer Services a real load balancer."""

__version__ = "0.1.0"
