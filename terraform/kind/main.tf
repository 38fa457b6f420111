# A kind cluster (Docker required) for the conformance suite, made through
# the tehcyx/kind provider: one control-plane node and two workers (the
# suite's multi-node checks need two nodes that are not the one a pod runs
# on), kube-proxy in nftables mode, the node image pinned by digest to the
# one kind v0.33.0 (the version .github/workflows/e2e-kind.yml installs)
# was released with. The outputs give the kubeconfig and a pool range inside
# the kind Docker network for deploy/overlays/kind.
terraform {
  required_version = ">= 1.6"
  required_providers {
    kind   = { source = "tehcyx/kind", version = "~> 0.10.0" }
    docker = { source = "kreuzwerker/docker", version = "~> 3.0" }
  }
}

provider "kind" {}

provider "docker" {}

resource "kind_cluster" "conformance" {
  name            = var.name
  node_image      = var.node_image
  kubeconfig_path = pathexpand(var.kubeconfig_path)
  wait_for_ready  = true

  kind_config {
    kind        = "Cluster"
    api_version = "kind.x-k8s.io/v1alpha4"

    networking {
      ip_family       = "ipv4"
      kube_proxy_mode = "nftables"
    }

    node {
      role = "control-plane"
    }
    node {
      role = "worker"
    }
    node {
      role = "worker"
    }
  }
}

# kind attaches its nodes to the Docker network "kind" (made by the first
# cluster, kept after the last one is deleted).
data "docker_network" "kind" {
  name       = "kind"
  depends_on = [kind_cluster.conformance]
}

locals {
  # The IPv4 subnet of the network (its IPAM config may list an IPv6 one too).
  kind_subnet = one([for c in data.docker_network.kind.ipam_config : c.subnet if can(cidrnetmask(c.subnet))])
  # The top of the subnet: Docker hands addresses to containers from the
  # bottom, so these stay free for load balancers (docs/deploy.md).
  pool = "${cidrhost(local.kind_subnet, -56)}-${cidrhost(local.kind_subnet, -6)}"
}
