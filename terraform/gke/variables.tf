variable "project" {
  description = "GCP project to create everything in"
  type        = string
}

variable "region" {
  description = "Region of the (regional) cluster, the subnet, the static address and the image repository"
  type        = string
  default     = "us-central1"
}

variable "name" {
  description = "Name of the cluster and prefix of everything else; also lbctl's cluster id (LBCTL_CLUSTER_ID), hence 1-40 of [a-z0-9-]"
  type        = string
  default     = "lbctl-conformance"
  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$", var.name))
    error_message = "name must be 1-40 characters of [a-z0-9-], starting with a letter and not ending with '-'."
  }
}

variable "runner_cidr" {
  description = "Where the test runner's traffic comes from (its public address as a /32): admitted to the node ports and the control plane"
  type        = string
  validation {
    condition     = can(cidrhost(var.runner_cidr, 0)) && var.runner_cidr != "0.0.0.0/0"
    error_message = "runner_cidr must be a CIDR narrower than 0.0.0.0/0."
  }
}

variable "machine_type" {
  description = "Machine type of the nodes"
  type        = string
  default     = "e2-standard-2"
}

variable "nodes_per_zone" {
  description = "Nodes in each of the region's zones (the suite needs two nodes or more)"
  type        = number
  default     = 1
}

variable "subnet_cidr" {
  description = "Primary range of the nodes' subnet"
  type        = string
  default     = "10.10.0.0/20"
}

variable "pods_cidr" {
  description = "Secondary range for pods"
  type        = string
  default     = "10.20.0.0/16"
}

variable "services_cidr" {
  description = "Secondary range for Service ClusterIPs"
  type        = string
  default     = "10.30.0.0/20"
}
