# One-time bootstrap for the e2e-gke workflow, applied by a human with
# project-owner rights (local state is fine: it changes rarely):
# - a workload identity pool and GitHub OIDC provider, limited to one
#   repository, so the workflow authenticates with no key;
# - the service account the workflow acts as, with the roles that applying
#   and destroying terraform/gke needs;
# - the bucket that holds terraform/gke's state between the workflow's jobs.
# Its outputs become the repository's Actions variables (terraform/README.md).
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

variable "project" {
  description = "GCP project the e2e-gke workflow runs in"
  type        = string
}

variable "region" {
  description = "Region of the state bucket"
  type        = string
  default     = "us-central1"
}

variable "github_owner" {
  description = "Owner (user or organisation) of the only repository whose workflows may act as the deployer"
  type        = string
}

variable "github_repo" {
  description = "Name of that repository"
  type        = string
}

variable "github_branch" {
  description = "The branch whose workflow runs may act as the deployer (e2e-gke is dispatched from it)"
  type        = string
  default     = "main"
}

data "google_project" "this" {}

resource "google_project_service" "apis" {
  for_each = toset([
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "serviceusage.googleapis.com",
    "sts.googleapis.com",
    "storage.googleapis.com",
  ])
  service            = each.value
  disable_on_destroy = false
}

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "github-actions"
  display_name              = "GitHub Actions"
  depends_on                = [google_project_service.apis]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub OIDC"
  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }
  # Tokens of any other repository or branch are refused before any
  # binding is read: the subject is exactly this repository's branch.
  attribute_condition = "assertion.sub == 'repo:${var.github_owner}/${var.github_repo}:ref:refs/heads/${var.github_branch}'"
  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  account_id   = "lbctl-e2e-deployer"
  display_name = "e2e-gke workflow (terraform/gke apply and destroy)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account_iam_member" "deployer_from_github" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_owner}/${var.github_repo}"
}

# What terraform/gke creates, and pushing images to its repository.
resource "google_project_iam_member" "deployer" {
  #checkov:skip=CKV_GCP_117:the deployer creates the custom role and the IAM bindings of terraform/gke, which needs these admin roles; only one branch of one repository can act as it
  #checkov:skip=CKV_GCP_49:terraform/gke creates the node and lbctl service accounts and binds lbctl's to workload identity (serviceAccountAdmin), and runs the nodes as theirs (serviceAccountUser); the accounts do not exist before, so no narrower scope exists
  #checkov:skip=CKV_GCP_41:the node pool runs as the node service account terraform/gke creates in the same apply, which needs iam.serviceAccounts.actAs on it; the deployer is a workflow identity, not a user
  for_each = toset([
    "roles/artifactregistry.admin",
    "roles/compute.networkAdmin",
    "roles/compute.securityAdmin",
    "roles/container.admin",
    "roles/iam.roleAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/resourcemanager.projectIamAdmin",
    "roles/serviceusage.serviceUsageAdmin",
  ])
  project = var.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_storage_bucket" "state" {
  #checkov:skip=CKV_GCP_62:access logs of a state bucket only the deployer reads add nothing that Cloud Audit Logs do not record
  name                        = "${var.project}-lbctl-e2e-tfstate"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }
}

resource "google_storage_bucket_iam_member" "deployer_state" {
  bucket = google_storage_bucket.state.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.deployer.email}"
}

output "workload_identity_provider" {
  description = "Actions variable GCP_WORKLOAD_IDENTITY_PROVIDER"
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "service_account" {
  description = "Actions variable GCP_SERVICE_ACCOUNT"
  value       = google_service_account.deployer.email
}

output "state_bucket" {
  description = "Actions variable GCP_TF_STATE_BUCKET"
  value       = google_storage_bucket.state.name
}

output "project" {
  description = "Actions variable GCP_PROJECT"
  value       = data.google_project.this.project_id
}
