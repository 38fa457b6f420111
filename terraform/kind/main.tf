# A kind cluster (Docker required) with one control-plane node and two
# workers, kube-proxy in nftables mode, as the conformance suite expects.
terraform {
  required_version = ">= 1.6"
  required_providers {
    kind = { source = "tehcyx/kind", version = "~> 0.6" }
  }
}

resource "kind_cluster" "conformance" {
  name           = var.name
  node_image     = var.node_image
  wait_for_ready = true

  kind_config {
    kind        = "Cluster"
    api_version = "kind.x-k8s.io/v1alpha4"

    networking {
      kube_proxy_mode = "nftables"
    }

    node { role = "control-plane" }
    node { role = "worker" }
    node { role = "worker" }
  }
}

variable "name" {
  type    = string
  default = "lbctl-conformance"
}

variable "node_image" {
  description = "kindest/node image matching the pinned Kubernetes version"
  type        = string
  default     = "kindest/node:v1.37.2"
}

output "kubeconfig_path" {
  value = kind_cluster.conformance.kubeconfig_path
}
