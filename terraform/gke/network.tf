# The cluster's own VPC: one subnet with secondary ranges for pods and
# Services (VPC-native), and the firewall rules the suite needs. lbctl adds
# its own rules per load balancer (k8s-fw-*) and for its health checks.

locals {
  node_tag = "${var.name}-node"
  # Google's health-check and network load balancer probe ranges: the newer
  # two, and the two that legacy target-pool health checks come from.
  health_check_ranges = ["35.191.0.0/16", "130.211.0.0/22", "209.85.152.0/22", "209.85.204.0/22"]
}

resource "google_compute_network" "vpc" {
  name                    = var.name
  auto_create_subnetworks = false
  depends_on              = [google_project_service.apis]
}

resource "google_compute_subnetwork" "nodes" {
  name                     = "${var.name}-nodes"
  network                  = google_compute_network.vpc.id
  region                   = var.region
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.pods_cidr
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.services_cidr
  }

  log_config {
    aggregation_interval = "INTERVAL_5_SEC"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# The runner probes NodePorts (and, through them, what the suite checks)
# from its own address only.
resource "google_compute_firewall" "runner_to_node_ports" {
  name          = "${var.name}-runner-node-ports"
  network       = google_compute_network.vpc.name
  direction     = "INGRESS"
  source_ranges = [var.runner_cidr]
  target_tags   = [local.node_tag]

  allow {
    protocol = "tcp"
    ports    = ["30000-32767"]
  }
  allow {
    protocol = "udp"
    ports    = ["30000-32767"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# Google's health checkers reach kube-proxy's /healthz (10256, shared check
# of Cluster-policy Services) and each Local Service's healthCheckNodePort.
resource "google_compute_firewall" "health_checks_to_nodes" {
  name          = "${var.name}-health-checks"
  network       = google_compute_network.vpc.name
  direction     = "INGRESS"
  source_ranges = local.health_check_ranges
  target_tags   = [local.node_tag]

  allow {
    protocol = "tcp"
    ports    = ["10256", "30000-32767"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# The suite's loadBalancerIP test asks for this address; lbctl uses a
# reserved address and never releases it.
resource "google_compute_address" "static" {
  name         = "${var.name}-static"
  region       = var.region
  address_type = "EXTERNAL"
  network_tier = "PREMIUM"
  depends_on   = [google_project_service.apis]
}
