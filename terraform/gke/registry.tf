# The repository the workflow pushes lbctl's image to; the nodes pull from
# it (roles/artifactregistry.reader on this repository only, iam.tf).
resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:holds only this run's test images, deleted with the run; Google-managed encryption is enough
  repository_id = var.name
  location      = var.region
  format        = "DOCKER"
  description   = "lbctl images for the conformance run"

  docker_config {
    immutable_tags = true
  }

  depends_on = [google_project_service.apis]
}
