"""The docker-free local Kubernetes cluster: real upstream components built from
their Go modules, nodes as network namespaces, images built and imported
locally. Test infrastructure and the demo's stage; never part of lbctl's
install or image."""
