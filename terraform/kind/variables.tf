variable "name" {
  description = "Name of the kind cluster"
  type        = string
  default     = "lbctl-conformance"
}

variable "node_image" {
  description = "kindest/node image, pinned by digest: kind v0.33.0's own default"
  type        = string
  default     = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
}

variable "kubeconfig_path" {
  description = "Where the cluster's kubeconfig is written"
  type        = string
  default     = "~/.kube/lbctl-conformance"
}
