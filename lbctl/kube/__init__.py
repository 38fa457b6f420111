"""The one package that talks to the Kubernetes API: informers, translation, writes."""
