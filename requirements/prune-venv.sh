#!/bin/sh
# Trim a venv installed from one of these lock files to what lbctl and
# nodeproxy import. Run by the Dockerfile's venv stages as
#   prune-venv.sh VENV
# docs/images.md gives the sizes each step saves.
#
# - kubernetes/aio, the client's asyncio copy of itself, and aiohttp with the
#   packages only aiohttp needs (see the "via" notes in the lock files): no
#   program here imports them;
# - the kubernetes client's own tests;
# - the kubernetes client (about 880 generated modules: 43 MB as sources plus
#   bytecode) becomes one zip of the same sources and bytecode (about 6 MB)
#   that zipimport loads as fast, tracebacks keeping their source lines; so
#   does google.cloud.compute_v1 (69 MB as files, 11 MB zipped) when present;
# - botocore's service models, except those of the services the aws provider
#   calls (ec2, elbv2) and those its credential chain may call (sts for IRSA,
#   sso and sso-oidc), and of those only the newest API version; boto3's
#   resource models (the provider uses clients only).
set -eu
venv=$1
site=$venv/lib/python3.11/site-packages
python=$venv/bin/python3.11
pip="/opt/build/bin/pip --python=$python"

# zip_tree DIR: the package tree DIR (relative to site-packages) becomes one
# zip of its sources and their bytecode, on sys.path through a .pth file.
zip_tree() {
    tree=$1
    zip=$(echo "$tree" | tr / -).zip
    find "$tree" -name __pycache__ -prune -exec rm -rf {} +
    "$python" -m compileall -q -b -d "$site/$zip/$tree" "$tree"
    "$python" - "$tree" "$zip" <<'PY'
import os
import sys
import zipfile

tree, name = sys.argv[1:]
with zipfile.ZipFile(name, "w", zipfile.ZIP_DEFLATED) as archive:
    parts = tree.split("/")
    for depth in range(1, len(parts)):
        archive.writestr("/".join(parts[:depth]) + "/", b"")
    for top, dirs, files in os.walk(tree):
        dirs.sort()
        archive.write(top)
        for file in sorted(files):
            archive.write(os.path.join(top, file))
PY
    rm -rf "$tree"
    echo "$zip" > "${zip%.zip}.pth"
}

$pip uninstall --yes aiohttp aiohappyeyeballs aiosignal attrs frozenlist multidict propcache yarl
cd "$site"
rm -rf kubernetes/aio
find kubernetes -name '*_test.py' -delete
zip_tree kubernetes

if [ -d google/cloud/compute_v1 ]; then
    zip_tree google/cloud/compute_v1
fi

if [ -d botocore/data ]; then
    rm -rf boto3/data
    cd botocore/data
    for service in */; do
        service=${service%/}
        case " ec2 elbv2 sts sso sso-oidc " in
        *" $service "*)
            ls -d "$service"/*/ | sort | head -n -1 | xargs -r rm -rf ;;
        *)
            rm -rf "$service" ;;
        esac
    done
fi
