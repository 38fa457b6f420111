output "cluster_name" {
  value = google_container_cluster.conformance.name
}

output "region" {
  value = var.region
}

output "endpoint" {
  value     = google_container_cluster.conformance.endpoint
  sensitive = true
}
