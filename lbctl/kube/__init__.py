"""lbctl's side of the Kubernetes boundary: the gateway the controller's Protocols describe.

Lists and watches in wire form with their translation into domain values
(lbcommon.kube.convert), Service writes and events, and the mapping of API
errors onto lbcommon.errors.
"""
