# A regional GKE cluster with workload identity, its control plane reachable
# from the runner only, and one node pool that runs as its own minimal
# service account (never the default compute one) with the metadata server
# hidden from pods.

resource "google_container_cluster" "conformance" {
  #checkov:skip=CKV_GCP_25:the runner probes NodePorts on the nodes' external addresses from outside the VPC (runner_cidr only)
  #checkov:skip=CKV_GCP_64:same as CKV_GCP_25: private nodes would hide the NodePorts the suite probes
  #checkov:skip=CKV_GCP_12:the suite tests Service routing (kube-proxy); a NetworkPolicy engine or Dataplane V2 would replace what it tests
  #checkov:skip=CKV_GCP_66:a throwaway test cluster running images this workflow just built; Binary Authorization has no attestor to check
  #checkov:skip=CKV_GCP_65:no Google Groups for RBAC in a throwaway test project; the workflow's own identity is the only user
  #checkov:skip=CKV_GCP_24:PodSecurityPolicy was removed from Kubernetes (1.25); the namespaces use Pod Security admission
  #checkov:skip=CKV_GCP_61:intranode visibility sends pod-to-pod traffic through the VPC, which the suite neither needs nor checks
  #checkov:skip=CKV_GCP_13:client certificates are disabled (issue_client_certificate = false); checkov misreads the block
  name                     = var.name
  location                 = var.region
  network                  = google_compute_network.vpc.id
  subnetwork               = google_compute_subnetwork.nodes.id
  networking_mode          = "VPC_NATIVE"
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = false
  enable_shielded_nodes    = true
  enable_legacy_abac       = false
  logging_service          = "logging.googleapis.com/kubernetes"
  monitoring_service       = "monitoring.googleapis.com/kubernetes"
  resource_labels          = { "lbctl-io-purpose" = "conformance" }

  release_channel {
    channel = "REGULAR"
  }

  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  workload_identity_config {
    workload_pool = "${var.project}.svc.id.goog"
  }

  master_authorized_networks_config {
    cidr_blocks {
      cidr_block   = var.runner_cidr
      display_name = "test runner"
    }
  }

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  # The default pool is removed at once; this only keeps it off the default
  # service account while it exists.
  node_config {
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }

  # After the default pool is removed GKE reports the remaining pool's
  # config here; without this every later apply (each e2e-gke job applies
  # again to admit its runner) would plan to replace the cluster.
  lifecycle {
    ignore_changes = [node_config, initial_node_count]
  }

  depends_on = [google_project_service.apis]
}

resource "google_container_node_pool" "workers" {
  name       = "workers"
  cluster    = google_container_cluster.conformance.id
  location   = var.region
  node_count = var.nodes_per_zone # per zone: three nodes in a three-zone region

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type = var.machine_type
    image_type   = "COS_CONTAINERD"
    disk_size_gb = 30
    # The scope is the broadest, but the identity is not: the node service
    # account holds only the roles in iam.tf (Google's recommended pairing).
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    tags            = [local.node_tag]
    labels          = { "lbctl.io/purpose" = "conformance" }
    metadata = {
      disable-legacy-endpoints = "true"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    # Pods see the GKE metadata server: workload identity, never the node's token.
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}
