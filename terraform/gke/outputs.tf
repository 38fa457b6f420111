# What the e2e-gke workflow and the conformance suite consume.

output "project" {
  description = "The project everything is in (LBCTL_GCE_PROJECT)"
  value       = var.project
}

output "region" {
  description = "The cluster's region (LBCTL_GCE_REGION)"
  value       = var.region
}

output "cluster_name" {
  description = "The GKE cluster's name"
  value       = google_container_cluster.conformance.name
}

output "cluster_id" {
  description = "lbctl's cluster id (LBCTL_CLUSTER_ID): names its shared health check and firewall"
  value       = var.name
}

output "get_credentials_command" {
  description = "Writes the cluster's credentials into the current kubeconfig"
  value       = "gcloud container clusters get-credentials ${google_container_cluster.conformance.name} --region ${var.region} --project ${var.project}"
}

output "network" {
  description = "The VPC network's name (LBCTL_GCE_NETWORK)"
  value       = google_compute_network.vpc.name
}

output "node_network_tag" {
  description = "The network tag every node carries (lbctl's firewalls target the nodes' tags)"
  value       = local.node_tag
}

output "static_ip" {
  description = "A reserved regional address for the suite's loadBalancerIP test"
  value       = google_compute_address.static.address
}

output "static_ip_name" {
  description = "The reserved address's name"
  value       = google_compute_address.static.name
}

output "image_repository" {
  description = "Where the workflow pushes images: REGION-docker.pkg.dev/PROJECT/REPOSITORY"
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}"
}

output "lbctl_service_account_email" {
  description = "lbctl's Google service account (the ServiceAccount's iam.gke.io/gcp-service-account)"
  value       = google_service_account.lbctl.email
}

output "node_service_account_email" {
  description = "The nodes' Google service account"
  value       = google_service_account.nodes.email
}
