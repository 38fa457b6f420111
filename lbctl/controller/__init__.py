"""The service controller: informers, work queue, reconcile, node sync, leader election, events."""
