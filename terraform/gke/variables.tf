variable "project" {
  description = "GCP project to create the cluster in"
  type        = string
}

variable "region" {
  description = "Region of the (regional) cluster"
  type        = string
  default     = "us-central1"
}

variable "name" {
  description = "Cluster name"
  type        = string
  default     = "lbctl-conformance"
}

variable "machine_type" {
  type    = string
  default = "e2-standard-2"
}
