output "kubeconfig_path" {
  description = "The cluster's kubeconfig (--conformance-kubeconfig)"
  value       = kind_cluster.conformance.kubeconfig_path
}

output "kind_network_subnet" {
  description = "The IPv4 subnet of the kind Docker network"
  value       = local.kind_subnet
}

output "pool" {
  description = "A range of the kind network Docker does not hand out: POOL of deploy/overlays/kind (REPLACE_WITH_KIND_NETWORK_RANGE)"
  value       = local.pool
}

output "load_balancer_class" {
  description = "lbctl's class in deploy/overlays/kind (--conformance-lb-class)"
  value       = "lbctl.io/lbctl"
}
