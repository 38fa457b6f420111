# Two identities, each with no more than it uses:
# - the nodes' service account: write logs and metrics, pull this run's images;
# - lbctl's service account: a custom role with exactly the Compute
#   permissions the gce provider's calls need, which pods of the Kubernetes
#   ServiceAccount lbctl-system/lbctl (deploy/overlays/gce) act as through
#   workload identity.

resource "google_service_account" "nodes" {
  account_id   = "${substr(var.name, 0, 24)}-nodes"
  display_name = "GKE nodes of ${var.name}"
  depends_on   = [google_project_service.apis]
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
  ])
  project = var.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_artifact_registry_repository_iam_member" "nodes_pull" {
  repository = google_artifact_registry_repository.images.name
  location   = google_artifact_registry_repository.images.location
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_service_account" "lbctl" {
  account_id   = "${substr(var.name, 0, 24)}-lbctl"
  display_name = "lbctl gce provider of ${var.name}"
  depends_on   = [google_project_service.apis]
}

# Exactly what the gce provider calls, and what GCE checks for each call
# (tests/integration/infra/test_gce_role.py derives this list from the GCE
# fake's call log of a create, update and delete cycle: keep the two equal).
# GCE keeps a deleted custom role for 7 to 37 days under its id; the
# provider undeletes it when the next apply creates the same id again.
resource "google_project_iam_custom_role" "lbctl" {
  role_id     = "${replace(var.name, "-", "_")}_lbctl_gce"
  title       = "lbctl gce provider (${var.name})"
  description = "The Compute Engine calls of lbctl's gce provider: target-pool network load balancers"
  permissions = [
    "compute.addresses.create",
    "compute.addresses.delete",
    "compute.addresses.get",
    "compute.addresses.list",
    "compute.addresses.use",
    "compute.firewalls.create",
    "compute.firewalls.delete",
    "compute.firewalls.get",
    "compute.firewalls.list",
    "compute.firewalls.update",
    "compute.forwardingRules.create",
    "compute.forwardingRules.delete",
    "compute.forwardingRules.get",
    "compute.forwardingRules.list",
    "compute.forwardingRules.setTarget",
    "compute.globalOperations.get",
    "compute.httpHealthChecks.create",
    "compute.httpHealthChecks.delete",
    "compute.httpHealthChecks.get",
    "compute.httpHealthChecks.list",
    "compute.httpHealthChecks.update",
    "compute.httpHealthChecks.useReadOnly",
    "compute.instances.list",
    "compute.instances.use",
    "compute.networks.updatePolicy",
    "compute.regionOperations.get",
    "compute.targetPools.addHealthCheck",
    "compute.targetPools.addInstance",
    "compute.targetPools.create",
    "compute.targetPools.delete",
    "compute.targetPools.get",
    "compute.targetPools.list",
    "compute.targetPools.removeHealthCheck",
    "compute.targetPools.removeInstance",
    "compute.targetPools.use",
  ]
}

resource "google_project_iam_member" "lbctl" {
  project = var.project
  role    = google_project_iam_custom_role.lbctl.id
  member  = "serviceAccount:${google_service_account.lbctl.email}"
}

# deploy/overlays/gce: the ServiceAccount lbctl in lbctl-system, annotated
# iam.gke.io/gcp-service-account with this account's email.
resource "google_service_account_iam_member" "lbctl_workload_identity" {
  service_account_id = google_service_account.lbctl.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${google_container_cluster.conformance.workload_identity_config[0].workload_pool}[lbctl-system/lbctl]"
}
