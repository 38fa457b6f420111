"""The shipped RBAC objects, the same with one verb taken away, and identities to test them.

Guarantees:
- `shipped` keeps exactly what docs/deploy.md's table covers from a rendered
  overlay: the Namespaces, the ServiceAccounts, the (Cluster)Roles and their
  bindings, as kustomize rendered them;
- `without(objects, grant)` returns copies in which exactly `grant` is
  missing: a rule that grants it together with other verbs, resources,
  groups or names is split so that everything else stays granted (checked
  with the deploy tests' own `granted`, so the two cannot disagree);
- `Identity.kubeconfig` authenticates as the ServiceAccount with a client
  certificate from the control plane's CA (user
  `system:serviceaccount:<namespace>:<name>`, the ServiceAccount groups as
  organisations), which RBAC's ServiceAccount subjects match;
- `allowed` asks the apiserver's own authorizer (a SubjectAccessReview), so
  a test waits for a role change to take effect instead of sleeping.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client

from localcluster import pki
from localcluster.controlplane import ControlPlane
from tests.kubehelpers import wait_for
from tests.unit.deploy.manifests import NAMESPACE, Grant, Obj, granted

RBAC_KINDS = (
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
)
ROLE_KINDS = ("Role", "ClusterRole")


def shipped(rendered: Iterable[Obj]) -> list[Obj]:
    """The objects of a rendered overlay that RBAC needs, Namespaces first."""
    kept = [o for o in rendered if o["kind"] in RBAC_KINDS]
    return sorted(kept, key=lambda o: RBAC_KINDS.index(o["kind"]))


def without(objects: Iterable[Obj], grant: Grant) -> list[Obj]:
    """Copies of `objects` granting everything they grant but `grant`."""
    objs = copy.deepcopy(list(objects))
    bound = _roles_bound_to(objs, grant)
    for obj in objs:
        if obj["kind"] in ROLE_KINDS and _ref(obj) in bound:
            obj["rules"] = [part for rule in obj.get("rules") or [] for part in _split(rule, grant)]
    before, after = granted(objects), granted(objs)
    if grant not in before or after != before - {grant}:
        raise AssertionError(f"cannot remove exactly {grant}: {sorted(before ^ after)}")
    return objs


def _ref(obj: Obj) -> tuple[str, str, str]:
    namespace = obj["metadata"].get("namespace", "") if obj["kind"] == "Role" else ""
    return obj["kind"], namespace, obj["metadata"]["name"]


def _roles_bound_to(objs: list[Obj], grant: Grant) -> set[tuple[str, str, str]]:
    want = "ClusterRoleBinding" if grant.scope == "cluster" else "RoleBinding"
    refs = set()
    for binding in objs:
        if binding["kind"] != want:
            continue
        if want == "RoleBinding" and binding["metadata"]["namespace"] != grant.scope:
            continue
        if any(s.get("name") == grant.account for s in binding.get("subjects") or []):
            ref = binding["roleRef"]
            namespace = binding["metadata"].get("namespace", "") if ref["kind"] == "Role" else ""
            refs.add((ref["kind"], namespace, ref["name"]))
    return refs


def _split(rule: Obj, grant: Grant) -> list[Obj]:
    """`rule` as rules that grant all it grants except `grant`."""
    group = "" if grant.group == "core" else grant.group
    groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
    names, verbs = rule.get("resourceNames") or [], rule["verbs"]
    if not (
        group in groups
        and grant.resource in resources
        and grant.verb in verbs
        and (not names or grant.name in names)
    ):
        return [rule]
    # Peel the grant off one dimension at a time: other verbs, then the verb
    # on other resources, on other groups, and on other names.
    parts = [
        {**rule, "verbs": [v for v in verbs if v != grant.verb]},
        {**rule, "verbs": [grant.verb], "resources": [r for r in resources if r != grant.resource]},
        {
            **rule,
            "verbs": [grant.verb],
            "resources": [grant.resource],
            "apiGroups": [g for g in groups if g != group],
        },
    ]
    if names:
        parts.append(
            {
                **rule,
                "verbs": [grant.verb],
                "resources": [grant.resource],
                "apiGroups": [group],
                "resourceNames": [n for n in names if n != grant.name],
            }
        )
    keys = ("verbs", "resources", "apiGroups", "resourceNames")
    return [p for p in parts if all(p.get(k) != [] for k in keys)]


# -- who the programs run as -------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A ServiceAccount as the apiserver sees its requests."""

    account: str
    namespace: str = NAMESPACE

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.account}"

    @property
    def groups(self) -> tuple[str, ...]:
        return ("system:serviceaccounts", f"system:serviceaccounts:{self.namespace}")

    def kubeconfig(self, cp: ControlPlane) -> Path:
        """A kubeconfig with a client certificate for this identity, in the control plane's dir."""
        pair = _issue(cp.pki_dir, f"sa-{self.account}", self.user, self.groups)
        path = cp.workdir / f"{self.account}.kubeconfig"
        return pki.write_kubeconfig(
            path, server=cp.url, ca=cp.ca.pair.cert, client=pair, user=self.account
        )


def _issue(directory: Path, name: str, user: str, groups: Iterable[str]) -> pki.KeyPair:
    """A client certificate signed by the CA in `directory` (several organisations:
    localcluster.pki issues one only)."""
    ca_cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pair = pki.KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pair.key.chmod(0o600)
    return pair


def allowed(api: client.ApiClient, who: Identity, grant: Grant) -> bool:
    """Whether the apiserver's authorizer lets `who` do `grant` (a SubjectAccessReview)."""
    resource, _, subresource = grant.resource.partition("/")
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=who.user,
            groups=[*who.groups, "system:authenticated"],
            resource_attributes=client.V1ResourceAttributes(
                namespace=None if grant.scope == "cluster" else grant.scope,
                verb=grant.verb,
                group="" if grant.group == "core" else grant.group,
                resource=resource,
                subresource=subresource or None,
                name=grant.name or None,
            ),
        )
    )
    answer = client.AuthorizationV1Api(api).create_subject_access_review(review)
    return bool(answer.status.allowed)


def wait_authorized(api: client.ApiClient, grant: Grant, *, allowed_now: bool) -> None:
    """Wait until the authorizer's cache agrees that `grant` is (not) allowed."""
    who = Identity(grant.account)
    state = "allowed" if allowed_now else "denied"
    wait_for(
        f"{grant} to be {state}",
        lambda: allowed(api, who, grant) == allowed_now,
        timeout=10,
    )
