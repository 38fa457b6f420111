# A small, throwaway GKE cluster for the conformance suite (e2e-gke workflow).
terraform {
  required_version = ">= 1.6"
  required_providers {
    google = { source = "hashicorp/google", version = "~> 6.0" }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

resource "google_container_cluster" "conformance" {
  name                     = var.name
  location                 = var.region
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = false
  release_channel { channel = "REGULAR" }
}

resource "google_container_node_pool" "workers" {
  name       = "workers"
  cluster    = google_container_cluster.conformance.id
  location   = var.region
  node_count = 1 # per zone: three nodes in a regional cluster

  node_config {
    machine_type = var.machine_type
    disk_size_gb = 30
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    labels       = { "lbctl.io/purpose" = "conformance" }
  }
}
