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
#   that zipimport loads as fast, tracebacks keeping their source lines;
# - botocore's service models, except those of the services the aws provider
#   calls (ec2, elbv2) and those its credential chain may call (sts for IRSA,
#   sso and sso-oidc), and of those only the newest API version.
set -eu
venv=$1
site=$venv/lib/python3.11/site-packages
pip="/opt/build/bin/pip --python=$venv/bin/python3.11"

$pip uninstall --yes aiohttp aiohappyeyeballs aiosignal attrs frozenlist multidict propcache yarl
cd "$site"
rm -rf kubernetes/aio
find kubernetes -name '*_test.py' -delete
find kubernetes -name __pycache__ -prune -exec rm -rf {} +
"$venv/bin/python3.11" -m compileall -q -b -d "$site/kubernetes.zip/kubernetes" kubernetes
"$venv/bin/python3.11" -m zipfile -c kubernetes.zip kubernetes
rm -rf kubernetes
echo kubernetes.zip > kubernetes-zip.pth

if [ -d botocore/data ]; then
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
