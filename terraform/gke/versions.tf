# A throwaway GKE cluster for the conformance suite with lbctl's gce provider
# (e2e-gke workflow): its own VPC, a minimal node identity, and what a gce
# provider run needs (a static address, an image repository, lbctl's Google
# service account with a custom role, bound through workload identity).
# terraform/README.md has the prerequisites and the commands.
terraform {
  required_version = ">= 1.6"
  required_providers {
    google = { source = "hashicorp/google", version = "~> 6.0" }
  }
  # State lives in a GCS bucket (terraform/github-oidc makes one), so the
  # workflow's apply and destroy jobs share it:
  #   terraform init -backend-config=bucket=BUCKET -backend-config=prefix=lbctl/e2e-gke
  backend "gcs" {}
}

provider "google" {
  project = var.project
  region  = var.region
  default_labels = {
    "lbctl-io-purpose" = "conformance"
  }
}

# The APIs this configuration and lbctl call. Left enabled on destroy: other
# users of the project may need them.
resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "iam.googleapis.com",
  ])
  service            = each.value
  disable_on_destroy = false
}
