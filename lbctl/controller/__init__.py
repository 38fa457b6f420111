"""The service controller: informers wired to a work queue, reconcile, node sync, events.

It needs from Kubernetes only what lbctl.controller.ports describes, and never
imports the client; lbctl.app fills those Protocols with lbctl.kube.gateway.
"""
